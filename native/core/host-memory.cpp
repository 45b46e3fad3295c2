// available_host_memory: the kernel's estimate of memory available without swapping, within the process's
// cgroup limit where it has one (a container sees the whole host in /proc/meminfo).
#include "core/host-memory.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <string>

namespace hipcode {
namespace {

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// The number a file starts with, or kUnlimited when it is absent or says "max".
uint64_t read_bytes(const char* path) {
  std::ifstream file(path);
  std::string text;
  if (!(file >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    return kUnlimited;
  }
  return std::stoull(text);
}

// What the cgroup (v2, else v1) still lets the process take; kUnlimited without a limit.
uint64_t cgroup_headroom() {
  uint64_t limit = read_bytes("/sys/fs/cgroup/memory.max");
  uint64_t used = read_bytes("/sys/fs/cgroup/memory.current");
  if (limit == kUnlimited) {
    limit = read_bytes("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    used = read_bytes("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  if (limit == kUnlimited) return kUnlimited;
  if (used == kUnlimited) used = 0;
  return limit > used ? limit - used : 0;
}

uint64_t meminfo_available() {
  std::ifstream meminfo("/proc/meminfo");
  const std::string key = "MemAvailable:";
  for (std::string line; std::getline(meminfo, line);) {
    if (line.compare(0, key.size(), key) == 0) return std::stoull(line.substr(key.size())) << 10;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? uint64_t(pages) * uint64_t(page_size) : 0;
}

}  // namespace

uint64_t available_host_memory() {
  return std::min(meminfo_available(), cgroup_headroom());
}

}  // namespace hipcode
