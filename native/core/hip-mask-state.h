// HipMaskState: one layer's HiP decode mask kept between decode steps, in the backend's memory. The model
// owns one per session (in its KV cache) and layer, and decides when the backend re-estimates it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace hipcode {

class HipMaskState {
 public:
  virtual ~HipMaskState() = default;
  int64_t estimated_at = -1;  // position of the query it was last estimated for from scratch; -1 = never
};

// A session's masks, one slot per layer (null until the layer's first HiP step).
using HipMaskStates = std::vector<std::unique_ptr<HipMaskState>>;

}  // namespace hipcode
