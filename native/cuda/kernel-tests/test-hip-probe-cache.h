// HiP's stage-0 probe cache (kernels/hip-mask.cuh: HipProbeCache, hip_probe_cache_fill).
#pragma once

void test_hip_probe_cache();
