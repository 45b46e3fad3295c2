// available_host_memory: the kernel's estimate of memory available without swapping.
#include "core/host-memory.h"

#include <unistd.h>

#include <fstream>
#include <string>

namespace hipcode {

uint64_t available_host_memory() {
  std::ifstream meminfo("/proc/meminfo");
  const std::string key = "MemAvailable:";
  for (std::string line; std::getline(meminfo, line);) {
    if (line.compare(0, key.size(), key) == 0) return std::stoull(line.substr(key.size())) << 10;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? uint64_t(pages) * uint64_t(page_size) : 0;
}

}  // namespace hipcode
