// KV snapshot files: a context's token ids and K/V saved to disk atomically; the header is checked before a
// load and every K/V chunk as it is loaded, so a load reads the file once and may stop after a prefix.
//
// Layout (little-endian):
//   magic "HIPCSNAP" | u32 format version | u32 kv dtype (1 f32, 2 bf16, 3 f16, 4 fp8 e4m3 rows: head_dim
//   bytes then the row's f32 scale) | u64 layers | u64 kv heads | u64 head_dim | u64 tokens n | u64 chunk
//   tokens c | u32 fingerprint bytes f | fingerprint [f] | ids i32 [n] | u64 XXH64 (seed 0) of the header
//   before it | K/V chunks, chunk i for positions [i * c, min(n, (i + 1) * c)): [layers, 2 (K, V), count,
//   kv_heads] rows then u64 XXH64 of those bytes with seed i + 1 (a chunk moved to another place fails its
//   check).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/host-buffer.h"

namespace hipcode {

constexpr uint32_t kSnapshotFormatVersion = 2;

// What the K/V data of a snapshot looks like; a load needs the session's to match exactly.
struct SnapshotShape {
  DType kv_dtype = DType::F32;
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;

  // Bytes of one position's K and V rows over all layers (kv_row_bytes each).
  int64_t token_bytes() const;
  bool operator==(const SnapshotShape& other) const;
};

struct SnapshotHeader {
  std::string fingerprint;  // the caller's model/config identity; a load compares it byte for byte
  SnapshotShape shape;
  int64_t chunk_tokens = 0;
  std::vector<int32_t> ids;  // [n] the tokens whose K/V follow
};

// What a load accepts: anything else is E_SNAPSHOT.
struct SnapshotExpectation {
  std::string fingerprint;
  SnapshotShape shape;
  int64_t max_tokens = 0;  // the session's capacity
  int64_t vocab_size = 0;  // every id must lie in [0, vocab_size)
};

// host [layers, 2, count, kv_heads, head_dim] = positions [first, first + count) (saving)
using SnapshotChunkSource = std::function<void(int64_t first, int64_t count, void* host)>;
// positions [first, first + count) = host [layers, 2, count, kv_heads, head_dim] (loading)
using SnapshotChunkSink = std::function<void(int64_t first, int64_t count, const void* host)>;
// Polled between chunks; true ends the call with E_CANCELLED.
using SnapshotCancelled = std::function<bool()>;

// Writes the snapshot to a temporary file in path's folder, fsyncs it and renames it over `path`, so `path`
// is either the old file or the whole new one. Throws E_SNAPSHOT (I/O) or E_CANCELLED, removing the
// temporary.
// `buffer` makes the host memory the chunks pass through.
void snapshot_save(const std::string& path, const SnapshotHeader& header, const SnapshotChunkSource& source,
                   const SnapshotCancelled& cancelled, const HostBufferMaker& buffer = plain_host_buffer);

// An open snapshot whose header and size were verified; its K/V chunks are verified as they are read.
class SnapshotReader {
 public:
  // Reads the header, checks its checksum, checks it against `expected` and the file size against it. Throws
  // E_SNAPSHOT saying what is wrong (missing, truncated, corrupt, another fingerprint or shape).
  SnapshotReader(const std::string& path, const SnapshotExpectation& expected);
  SnapshotReader(const SnapshotReader&) = delete;
  SnapshotReader& operator=(const SnapshotReader&) = delete;
  ~SnapshotReader();

  const SnapshotHeader& header() const { return header_; }
  // Streams the K/V of positions [0, tokens) (tokens <= the header's) to `sink` in order, one chunk at a
  // time: the next chunks are read and checked on other threads while `sink` takes this one. E_SNAPSHOT when
  // a chunk fails its check or cannot be read (the caller must then drop what the sink received).
  // `buffer` makes the host memory the chunks pass through.
  void read_kv(const SnapshotChunkSink& sink, const SnapshotCancelled& cancelled, int64_t tokens,
               const HostBufferMaker& buffer = plain_host_buffer);

 private:
  // Reads chunk `index` ([count] positions) into `buffer` and checks it; an error message, or "" when good.
  std::string read_chunk(int64_t index, int64_t count, uint8_t* buffer) const;

  std::string path_;
  int fd_ = -1;
  SnapshotHeader header_;
  uint64_t header_bytes_ = 0;  // with its checksum
};

}  // namespace hipcode
