// HiP decode through a hot copy of the attended K/V (kernels/hip-decode.cuh: HipHotKv, hip_hot_kv_gather).
#pragma once

void test_hip_hot_kv();
