// How much host memory the system can still give out, for budgets derived from it.
#pragma once

#include <cstdint>

namespace hipcode {

// MemAvailable from /proc/meminfo where there is one (else free physical pages), at most what the process's
// cgroup memory limit leaves; bytes.
uint64_t available_host_memory();

}  // namespace hipcode
