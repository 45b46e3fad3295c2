// What the CUDA side of this build can see: devices, driver/runtime versions and cuBLAS. Plain C++ (no CUDA
// types) so core and the addon can include it in any build.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hipcode::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::string compute_capability;  // "9.0"
  uint64_t total_memory = 0;       // bytes
  uint64_t free_memory = 0;        // bytes
  bool supported = false;          // sm_80 or newer
};

struct CublasInfo {
  bool found = false;
  std::string path;    // the libcublas that loaded
  std::string reason;  // why none loaded
};

struct Probe {
  bool compiled = false;  // this build contains the CUDA backend
  bool available = false;
  std::string reason;  // set when !available
  std::string driver_version;
  std::string runtime_version;
  std::optional<CublasInfo> cublas;
  std::vector<DeviceInfo> devices;
};

// Never throws; a machine without a driver or GPU gives available = false and a reason.
Probe probe();

}  // namespace hipcode::cuda
