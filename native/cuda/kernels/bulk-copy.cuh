// Large copies within the device's address space by a few CTAs with many loads in flight: host memory mapped
// into that space (the KV cache's host tier) is read over the bus faster this way than by cudaMemcpy.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace hipcode::cuda {

// CTAs bulk_copy uses by default: enough loads in flight for the bus, few enough SMs left to other streams.
constexpr int kBulkCopyCtas = 32;

// Copies `bytes` (a multiple of 16; both pointers 16-byte aligned) from src to dst on `stream` with `ctas`
// CTAs.
void bulk_copy(void* dst, const void* src, size_t bytes, cudaStream_t stream, int ctas = kBulkCopyCtas);

}  // namespace hipcode::cuda
