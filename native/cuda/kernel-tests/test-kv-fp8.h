// KV caches of fp8 rows: encode and decode against the CPU's, and the kernels reading them against bf16 rows.
#pragma once

void test_kv_fp8();
// One layer's 1M keys in host memory, bf16 and fp8 rows: HiP's stage-0 mask, stages 1-3 and the hot gather.
void bench_kv_fp8_tiers();
