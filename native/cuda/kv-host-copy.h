// Copies of a paged layer's keys or values between device pages and a host array, one cudaMemcpyAsync per run
// of consecutive pages (snapshots save and load whole contexts through these).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace hipcode::cuda {

// Positions [position, position + tokens) stored contiguously on the device from row `slot` (page id *
// page_tokens + offset in the page) on.
struct KvRun {
  int64_t position;
  int64_t tokens;
  int64_t slot;
};

// The runs covering positions [first, first + count): consecutive page ids merge into one run.
std::vector<KvRun> kv_runs(const std::vector<int32_t>& page_table, int64_t page_tokens, int64_t first,
                           int64_t count);

// Copies between the rows of `runs` in `pages` (one layer's K or V, [pages * page_tokens, row_bytes]) and
// rows [count, row_bytes] (host or device memory) whose row 0 is position `first`: into `rows` when to_rows,
// else from them. Enqueued on `stream`.
void kv_copy_runs(void* pages, const std::vector<KvRun>& runs, int64_t first, size_t row_bytes, void* rows,
                  bool to_rows, cudaStream_t stream);

}  // namespace hipcode::cuda
