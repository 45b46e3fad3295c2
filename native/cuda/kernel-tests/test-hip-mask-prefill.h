// The prefill HiP mask estimation tests (hip_mask_prefill vs hip::estimate_hip_mask) and benchmark.
#pragma once

void test_hip_mask_prefill();
void bench_hip_mask_prefill();
