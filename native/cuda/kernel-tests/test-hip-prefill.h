// HiP block-sparse prefill attention (kernels/hip-prefill.cuh): tests against the CPU reference and the
// bench.
#pragma once

void test_hip_prefill();
void bench_hip_prefill();
