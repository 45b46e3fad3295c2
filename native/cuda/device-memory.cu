// CUDA error reporting for the backend's device memory helpers.
#include "cuda/device-memory.h"

namespace hipcode::cuda {

void fail(cudaError_t error, const std::string& what) {
  if (error == cudaErrorMemoryAllocation) {
    throw EngineError(
        ErrorCode::OUT_OF_MEMORY,
        "out of GPU memory while " + what +
            "; lower --gpu-kv-budget to leave more room, free GPU memory (other processes), use a "
            "smaller model, or use --backend cpu");
  }
  throw EngineError(ErrorCode::INTERNAL, "CUDA error while " + what + ": " + cudaGetErrorName(error) + " (" +
                                             cudaGetErrorString(error) + ")");
}

}  // namespace hipcode::cuda
