// Runs of consecutive KV pages and their copies to and from host memory.
#include "cuda/device-memory.h"
#include "cuda/kv-host-copy.h"

namespace hipcode::cuda {

std::vector<KvRun> kv_runs(const std::vector<int32_t>& page_table, int64_t page_tokens, int64_t first,
                           int64_t count) {
  std::vector<KvRun> runs;
  for (int64_t position = first; position < first + count;) {
    const int64_t offset = position % page_tokens;
    const int64_t tokens = std::min(page_tokens - offset, first + count - position);
    const int64_t slot = int64_t(page_table[size_t(position / page_tokens)]) * page_tokens + offset;
    KvRun* last = runs.empty() ? nullptr : &runs.back();
    if (last && last->slot + last->tokens == slot) {
      last->tokens += tokens;
    } else {
      runs.push_back({position, tokens, slot});
    }
    position += tokens;
  }
  return runs;
}

void kv_copy_runs(void* pages, const std::vector<KvRun>& runs, int64_t first, size_t row_bytes, void* rows,
                  bool to_rows, cudaStream_t stream) {
  for (const KvRun& run : runs) {
    char* in_pages = static_cast<char*>(pages) + size_t(run.slot) * row_bytes;
    char* in_rows = static_cast<char*>(rows) + size_t(run.position - first) * row_bytes;
    check(cudaMemcpyAsync(to_rows ? in_rows : in_pages, to_rows ? in_pages : in_rows,
                          size_t(run.tokens) * row_bytes, cudaMemcpyDefault, stream),
          "copying KV pages between the GPU and the host");
  }
}

}  // namespace hipcode::cuda
