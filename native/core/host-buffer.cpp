// plain_host_buffer: host memory from the C++ allocator, released with delete[].
#include "core/host-buffer.h"

#include <new>
#include <string>

#include "core/error.h"

namespace hipcode {

HostBuffer plain_host_buffer(size_t bytes) {
  uint8_t* data = new (std::nothrow) uint8_t[bytes > 0 ? bytes : 1];
  if (!data) {
    throw EngineError(ErrorCode::OUT_OF_MEMORY,
                      "no host memory left for a " + std::to_string(bytes) + "-byte copy buffer");
  }
  return HostBuffer(data, bytes, [](uint8_t* memory) { delete[] memory; });
}

}  // namespace hipcode
