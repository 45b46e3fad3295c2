// Token embedding lookup: gathers rows of a bf16 table for int32 token ids.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hipcode::cuda {

// out[i, :] = table[ids[i], :]. Ids outside [0, vocab) give a row of zeros (the host validates ids
// before they reach the GPU; this only keeps a bad id from reading out of bounds).
void embedding(const __nv_bfloat16* table,  // [vocab, hidden]
               const int32_t* ids,          // [n]
               __nv_bfloat16* out,          // [n, hidden]
               int n, int vocab, int hidden, cudaStream_t stream);

}  // namespace hipcode::cuda
