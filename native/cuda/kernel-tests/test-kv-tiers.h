// The KV cache's host tier (cuda/tiered-region.h): kernels write and read GPU and host pieces of one range,
// and the bench of reading KV pages from host memory, mapped against copied.
#pragma once

void test_kv_tiers();
void bench_kv_tiers();
