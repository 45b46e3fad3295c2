// HiP decode attention on the CPU backend: native/hip's reference (mask estimation and block-sparse
// attention) reading the paged KV cache in place.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
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

}  // namespace hipcode::cpu
