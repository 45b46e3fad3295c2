// Next-token selection on the GPU: greedy argmax, and temperature / top-k / top-p / min-p sampling
// with repetition penalty, without copying the logits to the host.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace hipcode::cuda {

// *out_token = index of the largest logit (ties -> lowest index; NaN never wins unless all are NaN).
void argmax(const float* logits,  // [vocab]
            int vocab,
            int32_t* out_token,  // [1], device memory
            cudaStream_t stream);

// Hugging Face semantics and order: repetition penalty, temperature, top-k, top-p, min-p.
struct SamplingParams {
  float temperature = 1.f;         // <= 0: greedy (argmax after the penalty)
  int top_k = 0;                   // <= 0: disabled; values above kSamplingMaxCandidates are capped
  float top_p = 1.f;               // >= 1: disabled
  float min_p = 0.f;               // <= 0: disabled
  float repetition_penalty = 1.f;  // 1: disabled
};

// At most this many candidates survive top-k. With top-k disabled the 1024 most likely tokens are the
// candidates for top-p / min-p / the draw; their probabilities are still normalised over the whole
// vocabulary (exactly HF), only a top-p that would need more than 1024 tokens is truncated.
constexpr int kSamplingMaxCandidates = 1024;

size_t sampling_workspace_bytes(int vocab);

// Draws one token with the uniform number u in [0, 1) (from the host RNG, so runs are reproducible;
// if u_dev is not null the value is read from device memory instead, for CUDA-graph replay).
// The repetition penalty is applied IN PLACE to logits: each distinct id of prev_ids once,
// x < 0 ? x * penalty : x / penalty. The draw walks the kept candidates in descending probability
// order (ties: lower token id first) and picks the first whose cumulative weight exceeds u * total.
void sample(float* logits,  // [vocab], modified in place by the repetition penalty
            int vocab,
            const int32_t* prev_ids,  // [n_prev] device memory, may be null when n_prev == 0
            int n_prev, const SamplingParams& params, float u, const float* u_dev,
            int32_t* out_token,  // [1], device memory
            void* workspace,     // sampling_workspace_bytes(vocab)
            size_t workspace_bytes, cudaStream_t stream);

}  // namespace hipcode::cuda
