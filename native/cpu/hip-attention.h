// HiP attention on the CPU backend, decode and prefill: native/hip's reference (mask estimation and
// block-sparse attention) reading the paged KV cache in place.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/thread-pool.h"
#include "cpu/attention.h"

namespace hipcode::cpu {

// One layer's decode mask: ascending starts of the selected key blocks, and every stage's input chunks.
class CpuHipMask : public HipMaskState {
 public:
  std::vector<int64_t> blocks;
  std::vector<std::vector<int64_t>> stage_inputs;
};

// out [heads * head_dim] for q [heads * head_dim] at `position` (see Backend::hip_attention).
void hip_decode(const KvView& kv, const AttentionShape& shape, int64_t position, const HipDecodeCall& call,
                CpuHipMask& mask, const float* q, float* out);

// out [n, heads * head_dim] for a prefill chunk q [n, heads * head_dim] at positions first_position + row
// (see Backend::hip_prefill_attention); query blocks run in parallel on `pool`.
void hip_prefill(ThreadPool& pool, const KvView& kv, const AttentionShape& shape, int64_t first_position,
                 int64_t n, const hip::HipConfig& config, bool seeds_generation, const float* q, float* out);

}  // namespace hipcode::cpu
