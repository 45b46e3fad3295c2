// The CUDA device probe: runtime and driver versions, device list (via the statically linked runtime, which
// loads the driver lazily), and the run-time search for cuBLASLt.
#include <cuda_runtime.h>

#include <string>

#include "blas/cublas-loader.h"
#include "cuda/cuda-probe.h"

namespace hipcode::cuda {
namespace {

constexpr int kMinComputeMajor = 8;  // sm_80: bf16 tensor cores

std::string version_string(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

std::string describe(cudaError_t error) {
  return std::string(cudaGetErrorName(error)) + ": " + cudaGetErrorString(error);
}

DeviceInfo query_device(int index) {
  DeviceInfo info;
  info.index = index;
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, index) != cudaSuccess) return info;
  info.name = props.name;
  info.compute_capability = std::to_string(props.major) + "." + std::to_string(props.minor);
  info.total_memory = props.totalGlobalMem;
  info.supported = props.major >= kMinComputeMajor;
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  if (cudaSetDevice(index) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
    info.free_memory = free_bytes;
  }
  return info;
}

// Fills devices and sets `reason` when no usable device exists.
void probe_devices(Probe& result) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error == cudaErrorNoDevice || (error == cudaSuccess && count == 0)) {
    result.reason = "no CUDA GPU found";
    return;
  }
  if (error == cudaErrorInsufficientDriver) {
    result.reason = result.driver_version.empty() ? "no NVIDIA driver found"
                                                  : "the NVIDIA driver (CUDA " + result.driver_version +
                                                        ") is older than this build's CUDA runtime";
    return;
  }
  if (error != cudaSuccess) {
    result.reason = "the CUDA runtime could not list devices (" + describe(error) + ")";
    return;
  }
  for (int index = 0; index < count; ++index) result.devices.push_back(query_device(index));
  for (const DeviceInfo& device : result.devices) {
    if (device.supported) return;
  }
  result.reason = "no supported GPU: every device is below compute capability 8.0 (sm_80)";
}

// cuBLASLt is what the backend's GEMMs use; it is loaded once and stays loaded.
CublasInfo find_cublas() {
  CublasInfo info;
  const blas::CublasLtApi* api = blas::cublaslt_load(&info.reason);
  if (!api) return info;
  info.found = true;
  info.path = api->path;
  info.reason.clear();
  return info;
}

}  // namespace

Probe probe() {
  Probe result;
  result.compiled = true;
  int runtime_version = 0;
  if (cudaRuntimeGetVersion(&runtime_version) == cudaSuccess)
    result.runtime_version = version_string(runtime_version);
  int driver_version = 0;
  if (cudaDriverGetVersion(&driver_version) == cudaSuccess && driver_version > 0) {
    result.driver_version = version_string(driver_version);
  }
  probe_devices(result);
  result.cublas = find_cublas();
  if (!result.reason.empty()) return result;
  if (!result.cublas->found) {
    result.reason = "cuBLASLt not found: " + result.cublas->reason;
    return result;
  }
  result.available = true;
  return result;
}

}  // namespace hipcode::cuda
