// Hopper (sm_90a) prefill attention for head_dim 128 over the paged KV cache: wgmma tensor-core
// flash attention with a producer warpgroup (cp.async K/V tiles) and two consumer warpgroups.
// attention_prefill dispatches here when attention_prefill_sm90_available(); the launcher is also
// public so the kernel tests can force it.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// True when the current device is compute capability 9.0 and this binary carries the sm_90a code of
// the kernel (a build for other architectures compiles it as an empty stub). Cached per device.
bool attention_prefill_sm90_available();

// Same contract as attention_prefill (kernels/attention-prefill.cuh), restricted to
// cache.head_dim == 128 and 16-byte aligned q / out / k_pages / v_pages; throws std::runtime_error
// when those or attention_prefill_sm90_available() do not hold. n_splits > 1 cuts each CTA's key range into
// that many pieces run side by side, merged through `partials` (split_partials_bytes(n_q * n_heads, 128,
// n_splits) bytes, split-combine.cuh).
void attention_prefill_sm90(const __nv_bfloat16* q,  // [n_q, n_heads, 128]
                            const PagedKv& cache,
                            __nv_bfloat16* out,  // [n_q, n_heads, 128]
                            int n_q, int n_heads, int pos0, int window, float scale, cudaStream_t stream,
                            int n_splits = 1, float* partials = nullptr);

// Test / benchmark switch (default on): when off, attention_prefill never picks the sm90 kernel.
void attention_prefill_sm90_set_enabled(bool enabled);
bool attention_prefill_sm90_enabled();

}  // namespace hipcode::cuda
