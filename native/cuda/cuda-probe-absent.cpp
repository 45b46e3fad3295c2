// The CUDA side of builds made without a CUDA compiler: the probe says so and the backend cannot be created.
#include "core/error.h"
#include "cuda/cuda-backend.h"
#include "cuda/cuda-probe.h"

namespace hipcode::cuda {

Probe probe() {
  Probe result;
  result.reason =
      "this build of hipcode.node has no CUDA backend (no CUDA compiler was found when it was built)";
  return result;
}

std::unique_ptr<Backend> create_cuda_backend(const CudaBackendOptions& /*options*/) {
  throw EngineError(ErrorCode::BACKEND_UNAVAILABLE, probe().reason);
}

}  // namespace hipcode::cuda
