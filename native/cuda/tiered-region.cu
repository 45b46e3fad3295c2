// TieredRegion: reserves one address range and maps GPU and pinned host allocations into it, piece by piece,
// through the driver's virtual memory calls (looked up at run time; the engine links only the runtime).
#include <cuda.h>
#include <cuda_runtime.h>

#include <numeric>
#include <string>

#include "core/error.h"
#include "cuda/tiered-region.h"

namespace hipcode::cuda {
namespace {

struct VmmCalls {
  decltype(&cuMemAddressReserve) reserve = nullptr;
  decltype(&cuMemAddressFree) free = nullptr;
  decltype(&cuMemCreate) create = nullptr;
  decltype(&cuMemRelease) release = nullptr;
  decltype(&cuMemMap) map = nullptr;
  decltype(&cuMemUnmap) unmap = nullptr;
  decltype(&cuMemSetAccess) set_access = nullptr;
  decltype(&cuMemGetAllocationGranularity) granularity = nullptr;
};

template <typename Fn>
bool look_up(const char* symbol, Fn& fn) {
  void* address = nullptr;
  cudaDriverEntryPointQueryResult found{};
  if (cudaGetDriverEntryPointByVersion(symbol, &address, 12000, cudaEnableDefault, &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess) {
    cudaGetLastError();
    return false;
  }
  fn = reinterpret_cast<Fn>(address);
  return true;
}

const VmmCalls& vmm() {
  static const VmmCalls calls = [] {
    VmmCalls c;
    const bool found = look_up("cuMemAddressReserve", c.reserve) && look_up("cuMemAddressFree", c.free) &&
                       look_up("cuMemCreate", c.create) && look_up("cuMemRelease", c.release) &&
                       look_up("cuMemMap", c.map) && look_up("cuMemUnmap", c.unmap) &&
                       look_up("cuMemSetAccess", c.set_access) &&
                       look_up("cuMemGetAllocationGranularity", c.granularity);
    if (!found) {
      throw EngineError(
          ErrorCode::BACKEND_UNAVAILABLE,
          "the NVIDIA driver lacks virtual memory management (cuMemCreate), which the host KV tier "
          "needs; update the driver (CUDA 12.2 or newer) or set --host-kv-budget 0");
    }
    return c;
  }();
  return calls;
}

CUmemAllocationProp properties(int device, bool host) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = host ? CU_MEM_LOCATION_TYPE_HOST : CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = host ? 0 : device;
  return prop;
}

std::string driver_error(CUresult result) {
  return "CUDA driver error " + std::to_string(int(result));
}

}  // namespace

size_t TieredRegion::granularity(int device, bool host) {
  const CUmemAllocationProp prop = properties(device, host);
  size_t bytes = 0;
  const CUresult result = vmm().granularity(&bytes, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  if (result != CUDA_SUCCESS || bytes == 0) {
    throw EngineError(ErrorCode::BACKEND_UNAVAILABLE,
                      std::string("this GPU or driver cannot map ") + (host ? "host" : "GPU") +
                          " memory into a reserved range (" + driver_error(result) +
                          "); set --host-kv-budget 0 to keep the KV cache in GPU memory only");
  }
  return bytes;
}

TieredRegion::TieredRegion(int device, const std::vector<Piece>& pieces, const char* setting)
    : device_(device) {
  const VmmCalls& calls = vmm();
  const size_t alignment = std::lcm(granularity(device, false), granularity(device, true));
  for (const Piece& piece : pieces) {
    if (piece.bytes == 0 || piece.bytes % alignment != 0) {
      throw EngineError(ErrorCode::INTERNAL, "a KV cache piece of " + std::to_string(piece.bytes) +
                                                 " bytes is not a multiple of the " +
                                                 std::to_string(alignment) + "-byte mapping granule");
    }
    bytes_ += piece.bytes;
  }
  const CUresult reserved = calls.reserve(&base_, bytes_, alignment, 0, 0);
  if (reserved != CUDA_SUCCESS) {
    throw EngineError(ErrorCode::OUT_OF_MEMORY, "reserving " + std::to_string(bytes_ >> 20) +
                                                    " MiB of addresses for the KV cache failed (" +
                                                    driver_error(reserved) + "); lower " + setting);
  }
  for (const Piece& piece : pieces) {
    const CUmemAllocationProp prop = properties(device, piece.host);
    CUmemGenericAllocationHandle handle = 0;
    const CUresult created = calls.create(&handle, piece.bytes, &prop, 0);
    if (created != CUDA_SUCCESS) {
      unmap();
      const std::string tier = piece.host ? "pinned host memory" : "GPU memory";
      throw EngineError(ErrorCode::OUT_OF_MEMORY, "could not take " + std::to_string(piece.bytes >> 20) +
                                                      " MiB of " + tier + " for the KV cache (" +
                                                      driver_error(created) + "); lower " + setting +
                                                      ", use a shorter context, or free memory");
    }
    const CUresult mapped = calls.map(base_ + mapped_bytes(), piece.bytes, 0, handle, 0);
    calls.release(handle);
    if (mapped != CUDA_SUCCESS) {
      unmap();
      throw EngineError(ErrorCode::INTERNAL, "mapping the KV cache's memory failed: " + driver_error(mapped));
    }
    mapped_.push_back(piece.bytes);
  }
  CUmemAccessDesc access{};
  access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  access.location.id = device;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  const CUresult granted = calls.set_access(base_, bytes_, &access, 1);
  if (granted != CUDA_SUCCESS) {
    unmap();
    throw EngineError(ErrorCode::INTERNAL,
                      "giving the GPU access to the KV cache's memory failed: " + driver_error(granted));
  }
}

TieredRegion::~TieredRegion() {
  unmap();
}

void TieredRegion::unmap() {
  if (base_ == 0) return;
  int current = 0;
  cudaGetDevice(&current);
  cudaSetDevice(device_);
  cudaDeviceSynchronize();
  const VmmCalls& calls = vmm();
  CUdeviceptr piece_base = base_;
  for (size_t bytes : mapped_) {
    calls.unmap(piece_base, bytes);
    piece_base += bytes;
  }
  calls.free(base_, bytes_);
  base_ = 0;
  mapped_.clear();
  cudaSetDevice(current);
}

size_t TieredRegion::mapped_bytes() const {
  size_t bytes = 0;
  for (size_t piece : mapped_) bytes += piece;
  return bytes;
}

}  // namespace hipcode::cuda
