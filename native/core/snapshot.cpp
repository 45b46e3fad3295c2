// Snapshot files: header encoding, the atomic write (temporary file, fsync, rename) and the read that checks
// the header, then every chunk as it streams.
#include "core/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>

#include "core/error.h"
#include "core/xxhash64.h"

namespace hipcode {
namespace {

// Chunks a load reads and checks at once, each on its own thread: reading from the page cache and hashing run
// at a few GB/s per thread.
constexpr int64_t kReadThreads = 4;

constexpr char kMagic[8] = {'H', 'I', 'P', 'C', 'S', 'N', 'A', 'P'};
// magic, version, dtype, layers, kv heads, head_dim, tokens, chunk tokens, fingerprint bytes
constexpr uint64_t kFixedHeaderBytes = 8 + 4 + 4 + 8 * 5 + 4;
constexpr uint32_t kMaxFingerprintBytes = 1 << 16;
constexpr int64_t kMaxDimension = 1 << 16;  // layers, KV heads, head_dim: anything larger is a damaged header

EngineError snapshot_error(const std::string& path, const std::string& what) {
  return EngineError(ErrorCode::SNAPSHOT, "snapshot " + path + ": " + what);
}

EngineError io_error(const std::string& path, const std::string& what) {
  return snapshot_error(path, what + " (" + std::strerror(errno) + ")");
}

EngineError cancelled_error(const std::string& path) {
  return EngineError(ErrorCode::CANCELLED, "snapshot " + path + ": cancelled");
}

uint32_t dtype_code(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 1;
    case DType::BF16:
      return 2;
    case DType::F16:
      return 3;
    case DType::FP8_E4M3:
      return 4;
  }
  return 0;
}

bool dtype_from_code(uint32_t code, DType* dtype) {
  constexpr DType kByCode[] = {DType::F32, DType::BF16, DType::F16, DType::FP8_E4M3};
  if (code < 1 || code > 4) return false;
  *dtype = kByCode[code - 1];
  return true;
}

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

void put_u64(std::vector<uint8_t>& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

uint32_t get_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

uint64_t get_u64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

std::vector<uint8_t> encode_header(const SnapshotHeader& header) {
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  put_u32(out, kSnapshotFormatVersion);
  put_u32(out, dtype_code(header.shape.kv_dtype));
  put_u64(out, uint64_t(header.shape.num_layers));
  put_u64(out, uint64_t(header.shape.num_kv_heads));
  put_u64(out, uint64_t(header.shape.head_dim));
  put_u64(out, uint64_t(header.ids.size()));
  put_u64(out, uint64_t(header.chunk_tokens));
  put_u32(out, uint32_t(header.fingerprint.size()));
  out.insert(out.end(), header.fingerprint.begin(), header.fingerprint.end());
  for (int32_t id : header.ids) put_u32(out, uint32_t(id));
  return out;
}

// A file descriptor closed on scope exit.
class File {
 public:
  File(const std::string& path, int flags, mode_t mode = 0)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {}
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { close(); }
  int fd() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  bool close() {
    const bool ok = fd_ < 0 || ::close(fd_) == 0;
    fd_ = -1;
    return ok;
  }

 private:
  int fd_;
};

bool write_all(int fd, const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes += written;
    size -= size_t(written);
  }
  return true;
}

// Reads exactly `size` bytes at `offset`; false at an early end of file or an error.
bool read_at(int fd, void* data, size_t size, uint64_t offset) {
  auto* bytes = static_cast<uint8_t*>(data);
  while (size > 0) {
    const ssize_t got = ::pread(fd, bytes, size, off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    bytes += got;
    size -= size_t(got);
    offset += uint64_t(got);
  }
  return true;
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string temporary_path(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Bytes of K/V data for `tokens` positions.
uint64_t kv_bytes(const SnapshotShape& shape, int64_t tokens) {
  return uint64_t(shape.token_bytes()) * uint64_t(tokens);
}

// XXH64 of chunk `index`'s bytes; the seed ties the checksum to the chunk's place in the file.
uint64_t chunk_checksum(const uint8_t* data, size_t bytes, int64_t index) {
  Xxh64 hash(uint64_t(index) + 1);
  hash.update(data, bytes);
  return hash.digest();
}

// Chunk data [layers, 2, count, kv_heads, head_dim] becomes [layers, 2, kept, kv_heads, head_dim] in place:
// the first `kept` positions of every layer's K and V.
void keep_first_rows(const SnapshotShape& shape, uint8_t* data, int64_t count, int64_t kept) {
  if (kept == count) return;
  const auto row_bytes = size_t(shape.token_bytes() / (2 * shape.num_layers));
  for (int64_t block = 1; block < 2 * shape.num_layers; ++block) {
    std::memmove(data + size_t(block * kept) * row_bytes, data + size_t(block * count) * row_bytes,
                 size_t(kept) * row_bytes);
  }
}

// Number of K/V chunks of a snapshot of `tokens` positions.
int64_t chunk_count(int64_t tokens, int64_t chunk_tokens) {
  return (tokens + chunk_tokens - 1) / chunk_tokens;
}

// Positions chunk `index` of `tokens` positions covers (all but the last chunk hold chunk_tokens).
int64_t chunk_length(int64_t tokens, int64_t chunk_tokens, int64_t index) {
  return std::min(chunk_tokens, tokens - index * chunk_tokens);
}

bool write_checksum(int fd, uint64_t checksum) {
  std::vector<uint8_t> bytes;
  put_u64(bytes, checksum);
  return write_all(fd, bytes.data(), bytes.size());
}

// Writes the header and the chunks, each followed by its checksum, to `fd`.
void write_body(int fd, const std::string& path, const SnapshotHeader& header,
                const SnapshotChunkSource& source, const SnapshotCancelled& cancelled,
                const HostBufferMaker& buffer) {
  const std::vector<uint8_t> head = encode_header(header);
  Xxh64 head_hash;
  head_hash.update(head.data(), head.size());
  if (!write_all(fd, head.data(), head.size()) || !write_checksum(fd, head_hash.digest()))
    throw io_error(path, "writing the header");
  const auto tokens = int64_t(header.ids.size());
  const HostBuffer chunk = buffer(size_t(kv_bytes(header.shape, std::min(tokens, header.chunk_tokens))));
  for (int64_t index = 0; index < chunk_count(tokens, header.chunk_tokens); ++index) {
    if (cancelled && cancelled()) throw cancelled_error(path);
    const int64_t first = index * header.chunk_tokens;
    const int64_t count = chunk_length(tokens, header.chunk_tokens, index);
    const auto bytes = size_t(kv_bytes(header.shape, count));
    source(first, count, chunk.data());
    if (!write_all(fd, chunk.data(), bytes) ||
        !write_checksum(fd, chunk_checksum(chunk.data(), bytes, index)))
      throw io_error(path, "writing K/V data");
  }
}

// The fixed part of a header, decoded and checked for plausibility.
struct FixedHeader {
  SnapshotHeader header;  // shape and chunk_tokens
  uint64_t tokens;
  uint32_t fingerprint_bytes;
};

FixedHeader decode_fixed_header(const uint8_t* fixed, uint64_t file_size, const std::string& path) {
  if (std::memcmp(fixed, kMagic, 8) != 0) throw snapshot_error(path, "not a snapshot (bad magic)");
  const uint32_t version = get_u32(fixed + 8);
  if (version != kSnapshotFormatVersion) {
    throw snapshot_error(path, "format version " + std::to_string(version) + ", this engine reads " +
                                   std::to_string(kSnapshotFormatVersion));
  }
  FixedHeader head{};
  SnapshotShape& shape = head.header.shape;
  if (!dtype_from_code(get_u32(fixed + 12), &shape.kv_dtype))
    throw snapshot_error(path, "corrupt header (KV dtype)");
  shape.num_layers = int64_t(get_u64(fixed + 16));
  shape.num_kv_heads = int64_t(get_u64(fixed + 24));
  shape.head_dim = int64_t(get_u64(fixed + 32));
  head.tokens = get_u64(fixed + 40);
  head.header.chunk_tokens = int64_t(get_u64(fixed + 48));
  head.fingerprint_bytes = get_u32(fixed + 56);
  const bool plausible = shape.num_layers > 0 && shape.num_layers <= kMaxDimension &&
                         shape.num_kv_heads > 0 && shape.num_kv_heads <= kMaxDimension &&
                         shape.head_dim > 0 && shape.head_dim <= kMaxDimension &&
                         head.header.chunk_tokens > 0 && head.fingerprint_bytes <= kMaxFingerprintBytes &&
                         head.tokens <= file_size;
  if (!plausible) throw snapshot_error(path, "corrupt header (impossible sizes)");
  return head;
}

// Throws E_SNAPSHOT unless the header is what the session accepts.
void check_expected(const std::string& path, const SnapshotHeader& header,
                    const SnapshotExpectation& expected) {
  if (header.fingerprint != expected.fingerprint) {
    throw snapshot_error(path, "made for another model or engine (fingerprint '" + header.fingerprint +
                                   "', expected '" + expected.fingerprint + "')");
  }
  if (!(header.shape == expected.shape)) {
    throw snapshot_error(path, "its K/V shape (" + std::string(dtype_name(header.shape.kv_dtype)) + ", " +
                                   std::to_string(header.shape.num_layers) +
                                   " layers) differs from the session's");
  }
  if (int64_t(header.ids.size()) > expected.max_tokens) {
    throw snapshot_error(path, "holds " + std::to_string(header.ids.size()) +
                                   " tokens, more than the session's capacity of " +
                                   std::to_string(expected.max_tokens));
  }
  for (size_t i = 0; i < header.ids.size(); ++i) {
    if (header.ids[i] < 0 || header.ids[i] >= expected.vocab_size) {
      throw snapshot_error(path, "corrupt: ids[" + std::to_string(i) +
                                     "] = " + std::to_string(header.ids[i]) + " lies outside the vocabulary");
    }
  }
}

}  // namespace

int64_t SnapshotShape::token_bytes() const {
  return 2 * num_layers * num_kv_heads * int64_t(kv_row_bytes(kv_dtype, head_dim));
}

bool SnapshotShape::operator==(const SnapshotShape& other) const {
  return kv_dtype == other.kv_dtype && num_layers == other.num_layers && num_kv_heads == other.num_kv_heads &&
         head_dim == other.head_dim;
}

void snapshot_save(const std::string& path, const SnapshotHeader& header, const SnapshotChunkSource& source,
                   const SnapshotCancelled& cancelled, const HostBufferMaker& buffer) {
  if (header.chunk_tokens <= 0)
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "snapshot chunk_tokens must be > 0");
  const std::string temporary = temporary_path(path);
  File file(temporary, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (file.fd() < 0) throw io_error(path, "creating " + temporary);
  try {
    write_body(file.fd(), path, header, source, cancelled, buffer);
    if (::fsync(file.fd()) != 0) throw io_error(path, "flushing to disk");
    if (!file.close()) throw io_error(path, "closing");
    if (cancelled && cancelled()) throw cancelled_error(path);
    if (::rename(temporary.c_str(), path.c_str()) != 0) throw io_error(path, "renaming " + temporary);
  } catch (...) {
    file.close();
    ::unlink(temporary.c_str());
    throw;
  }
  // The rename itself is durable once the folder is flushed.
  File folder(folder_of(path), O_RDONLY | O_DIRECTORY);
  if (folder.fd() >= 0) ::fsync(folder.fd());
}

SnapshotReader::SnapshotReader(const std::string& path, const SnapshotExpectation& expected) : path_(path) {
  File file(path, O_RDONLY);
  if (file.fd() < 0) throw io_error(path, "cannot open");
  struct stat info {};
  if (::fstat(file.fd(), &info) != 0) throw io_error(path, "cannot stat");
  const auto size = uint64_t(info.st_size);
  uint8_t fixed[kFixedHeaderBytes];
  if (size < kFixedHeaderBytes + 8 || !read_at(file.fd(), fixed, sizeof fixed, 0)) {
    throw snapshot_error(path, "truncated (" + std::to_string(size) + " bytes, shorter than a header)");
  }
  const FixedHeader head = decode_fixed_header(fixed, size, path);
  header_ = head.header;
  const uint64_t head_bytes = kFixedHeaderBytes + head.fingerprint_bytes + 4 * head.tokens;
  header_bytes_ = head_bytes + 8;
  const auto tokens = int64_t(head.tokens);
  const uint64_t expected_size = header_bytes_ + kv_bytes(header_.shape, tokens) +
                                 8 * uint64_t(chunk_count(tokens, header_.chunk_tokens));
  if (size != expected_size) {
    throw snapshot_error(path, (size < expected_size ? "truncated: " : "corrupt: ") + std::to_string(size) +
                                   " bytes, its header describes " + std::to_string(expected_size));
  }
  std::vector<uint8_t> whole(static_cast<size_t>(header_bytes_));
  if (!read_at(file.fd(), whole.data(), whole.size(), 0)) throw io_error(path, "reading the header");
  Xxh64 hash;
  hash.update(whole.data(), size_t(head_bytes));
  if (hash.digest() != get_u64(whole.data() + head_bytes))
    throw snapshot_error(path, "corrupt header (checksum mismatch)");
  const uint8_t* rest = whole.data() + kFixedHeaderBytes;
  header_.fingerprint.assign(reinterpret_cast<const char*>(rest), head.fingerprint_bytes);
  header_.ids.resize(size_t(head.tokens));
  for (size_t i = 0; i < header_.ids.size(); ++i) {
    header_.ids[i] = int32_t(get_u32(rest + head.fingerprint_bytes + 4 * i));
  }
  check_expected(path, header_, expected);
  fd_ = file.release();
}

SnapshotReader::~SnapshotReader() {
  if (fd_ >= 0) ::close(fd_);
}

std::string SnapshotReader::read_chunk(int64_t index, int64_t count, uint8_t* buffer) const {
  const auto bytes = size_t(kv_bytes(header_.shape, count));
  const uint64_t offset =
      header_bytes_ + uint64_t(index) * (kv_bytes(header_.shape, header_.chunk_tokens) + 8);
  errno = 0;
  if (!read_at(fd_, buffer, bytes + 8, offset))
    return std::string("reading K/V data (") + (errno ? std::strerror(errno) : "the file ended early") + ")";
  if (chunk_checksum(buffer, bytes, index) != get_u64(buffer + bytes)) {
    const int64_t first = index * header_.chunk_tokens;
    return "corrupt: the K/V of positions " + std::to_string(first) + " to " + std::to_string(first + count) +
           " fail their checksum";
  }
  return "";
}

void SnapshotReader::read_kv(const SnapshotChunkSink& sink, const SnapshotCancelled& cancelled,
                             int64_t tokens, const HostBufferMaker& buffer) {
  const auto held = int64_t(header_.ids.size());
  if (tokens < 0 || tokens > held) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "snapshot " + path_ + ": cannot read " +
                                                       std::to_string(tokens) + " positions of " +
                                                       std::to_string(held));
  }
  const int64_t chunk = header_.chunk_tokens;
  const int64_t chunks = chunk_count(tokens, chunk);
  // Up to kReadThreads chunks (as stored, with their checksums) are read and checked at once on their own
  // threads while the sink takes the oldest: one buffer more than readers, used in turn.
  const int64_t readers = std::min(kReadThreads, chunks);
  const size_t chunk_bytes = size_t(kv_bytes(header_.shape, std::min(held, chunk))) + 8;
  std::vector<HostBuffer> buffers;
  for (int64_t i = 0; i < std::min(chunks, readers + 1); ++i) buffers.push_back(buffer(chunk_bytes));
  const auto ring = int64_t(buffers.size());
  // Declared after the buffers: on a throw, the reads in flight finish before their buffers go.
  std::deque<std::future<std::string>> reads;
  // A chunk is read and checked whole (as stored), even the last one a prefix needs only part of.
  const auto read = [&](int64_t index) {
    uint8_t* data = buffers[size_t(index % ring)].data();
    reads.push_back(std::async(std::launch::async, [this, index, count = chunk_length(held, chunk, index),
                                                    data] { return read_chunk(index, count, data); }));
  };
  for (int64_t index = 0; index < readers; ++index) read(index);
  for (int64_t index = 0; index < chunks; ++index) {
    const std::string problem = reads.front().get();
    reads.pop_front();
    if (!problem.empty()) throw snapshot_error(path_, problem);
    // Into the buffer of chunk index - 1, which the sink is done with.
    if (index + readers < chunks) read(index + readers);
    if (cancelled && cancelled()) throw cancelled_error(path_);
    const int64_t wanted = chunk_length(tokens, chunk, index);
    uint8_t* data = buffers[size_t(index % ring)].data();
    keep_first_rows(header_.shape, data, chunk_length(held, chunk, index), wanted);
    sink(index * chunk, wanted, data);
  }
}

}  // namespace hipcode
