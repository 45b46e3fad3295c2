// The CUDA probe of builds made without a CUDA compiler: the backend is simply not there.
#include "cuda/cuda-probe.h"

namespace hipcode::cuda {

Probe probe() {
  Probe result;
  result.reason =
      "this build of hipcode.node has no CUDA backend (no CUDA compiler was found when it was built)";
  return result;
}

}  // namespace hipcode::cuda
