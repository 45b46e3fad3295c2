// Backend selection: the CPU backend always; CUDA when this build has it and the probe finds a usable GPU.
#include "core/backend-factory.h"

#include "core/error.h"
#include "cpu/cpu-backend.h"
#include "cuda/cuda-backend.h"
#include "cuda/cuda-probe.h"

namespace hipcode {
namespace {

EngineError unavailable(const std::string& why) {
  return EngineError(ErrorCode::BACKEND_UNAVAILABLE, "the CUDA backend is unavailable: " + why);
}

// The KV row form a choice names, or the backend's own (`fallback`) for "auto"; E_INVALID_ARGUMENT for a form
// the backend does not keep.
DType kv_dtype_of(const BackendChoice& choice, DType fallback, std::initializer_list<DType> kept) {
  if (choice.kv_dtype == "auto") return fallback;
  for (DType dtype : kept) {
    if (choice.kv_dtype == dtype_name(dtype)) return dtype;
  }
  std::string names;
  for (DType dtype : kept) names += std::string(names.empty() ? "" : ", ") + "'" + dtype_name(dtype) + "'";
  throw EngineError(ErrorCode::INVALID_ARGUMENT, "spec.kvDtype: the " + choice.name +
                                                     " backend keeps the KV cache as 'auto', " + names +
                                                     "; got '" + choice.kv_dtype + "'");
}

}  // namespace

std::unique_ptr<Backend> create_backend(const BackendChoice& choice) {
  if (choice.name == "cpu") {
    const DType kv_dtype = kv_dtype_of(choice, DType::F32, {DType::F32, DType::BF16, DType::FP8_E4M3});
    return cpu::create_cpu_backend(choice.threads, kv_dtype);
  }
  if (choice.name != "cuda") {
    throw EngineError(ErrorCode::INVALID_ARGUMENT,
                      "spec.backend: expected 'cpu' or 'cuda', got '" + choice.name + "'");
  }
  const DType kv_dtype = kv_dtype_of(choice, DType::BF16, {DType::BF16, DType::FP8_E4M3});
  const cuda::Probe probe = cuda::probe();
  if (!probe.compiled || !probe.available) throw unavailable(probe.reason);
  if (choice.device < 0 || size_t(choice.device) >= probe.devices.size()) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "spec.device: expected a CUDA device in [0, " +
                                                       std::to_string(probe.devices.size()) + "), got " +
                                                       std::to_string(choice.device));
  }
  if (!probe.devices[size_t(choice.device)].supported) {
    throw unavailable("device " + std::to_string(choice.device) + " (" +
                      probe.devices[size_t(choice.device)].name + ") is below compute capability 8.0");
  }
  cuda::CudaBackendOptions options;
  options.device = choice.device;
  options.kv_budget_bytes = choice.gpu_kv_budget_bytes;
  options.host_kv_budget_bytes = choice.host_kv_budget_bytes;
  options.kv_dtype = kv_dtype;
  return cuda::create_cuda_backend(options);
}

}  // namespace hipcode
