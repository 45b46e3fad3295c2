// KV snapshots: XXH64 against the reference vectors, save and load through sessions (identical K/V and next
// logits, whole or a prefix), chunks checked as they stream (a prefix loads without reading the chunks after
// it), and every damaged file (corrupt header or chunk, moved chunk, truncation, other fingerprint, a writer
// killed mid-write) refused with E_SNAPSHOT; the CUDA round trip where a GPU is present.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "core/backend-factory.h"
#include "core/error.h"
#include "core/model.h"
#include "core/session.h"
#include "core/snapshot.h"
#include "core/xxhash64.h"
#include "tests/backend-helpers.h"
#include "tests/check.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

uint64_t xxh64_of(const std::string& text) {
  Xxh64 hash;
  hash.update(text.data(), text.size());
  return hash.digest();
}

// A fresh empty folder under /tmp.
std::string temp_folder() {
  char name[] = "/tmp/hipcode-snapshot-XXXXXX";
  const char* made = ::mkdtemp(name);
  return made ? std::string(made) : std::string("/tmp");
}

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// The path of the first file in `folder` whose name starts with `prefix`, or "".
std::string temporary_of(const std::string& folder, const std::string& prefix) {
  std::string found;
  DIR* dir = ::opendir(folder.c_str());
  while (dir && found.empty()) {
    const dirent* entry = ::readdir(dir);
    if (!entry) break;
    if (std::string(entry->d_name).rfind(prefix, 0) == 0) found = folder + "/" + entry->d_name;
  }
  if (dir) ::closedir(dir);
  return found;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
}

// Every K/V byte of the session's first `tokens` positions.
std::vector<uint8_t> kv_bytes_of(Model& model, Session& session, int64_t tokens) {
  const ModelGeometry& g = model.geometry();
  const SnapshotShape shape{model.backend().kv_dtype(), g.num_layers, g.num_kv_heads, g.head_dim};
  std::vector<uint8_t> bytes(size_t(shape.token_bytes() * tokens));
  // A throwaway snapshot is the only reader of a session's K/V: save one and read it back whole.
  const std::string folder = temp_folder();
  session.save_snapshot(folder + "/kv", "read", tokens);
  SnapshotExpectation expected{"read", shape, tokens, g.vocab_size};
  SnapshotReader reader(folder + "/kv", expected);
  reader.read_kv(
      [&](int64_t first, int64_t count, const void* host) {
        std::memcpy(bytes.data() + size_t(first * shape.token_bytes()), host,
                    size_t(count * shape.token_bytes()));
      },
      nullptr, tokens);
  ::unlink((folder + "/kv").c_str());
  ::rmdir(folder.c_str());
  return bytes;
}

struct Fixture {
  std::shared_ptr<Model> model;
  std::vector<int32_t> prompt;
  std::string folder;
  std::string path;
};

// A synthetic model on `backend`, a session holding a 150-token prompt (three pages, the last partial), and
// that session saved to `path`.
Fixture saved_fixture(std::unique_ptr<Backend> backend) {
  SyntheticWeights weights;
  weights.seed = 11;
  Fixture f{Model::synthetic(small_decode_geometry(512), weights, std::move(backend)), {}, temp_folder(), ""};
  f.path = f.folder + "/context.kv";
  f.prompt = random_ids(150, f.model->geometry().vocab_size, 3);
  Session session(f.model, {512, 0});
  session.forward(f.prompt, LogitsMode::NONE);
  session.save_snapshot(f.path, "model-a", int64_t(f.prompt.size()));
  return f;
}

// A loaded session equals the one that was saved: same ids, same K/V bytes, same next-token logits.
void check_round_trip(Fixture& f, double logits_tolerance) {
  Session original(f.model, {512, 0});
  original.forward(f.prompt, LogitsMode::NONE);
  Session restored(f.model, {512, 0});
  restored.forward({1, 2, 3}, LogitsMode::NONE);  // replaced by the load
  CHECK(restored.load_snapshot(f.path, "model-a", -1) == f.prompt);
  CHECK(restored.length() == int64_t(f.prompt.size()));
  CHECK(restored.snapshot_tokens() == int64_t(f.prompt.size()));  // the progress count reached the end
  const int64_t n = int64_t(f.prompt.size());
  CHECK(kv_bytes_of(*f.model, restored, n) == kv_bytes_of(*f.model, original, n));
  const std::vector<float> expected = original.forward({7}, LogitsMode::LAST);
  const std::vector<float> actual = restored.forward({7}, LogitsMode::LAST);
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    worst = std::max(worst, double(std::fabs(actual[i] - expected[i])));
  CHECK(actual.size() == expected.size());
  CHECK_NEAR(worst, 0.0, logits_tolerance);
}

// Loading `path` into a session holding 5 tokens throws E_SNAPSHOT naming `what`, and leaves those 5 (or,
// for damage found while the K/V is copied in, nothing).
void check_refused(Fixture& f, const std::string& path, const std::string& fingerprint,
                   const std::string& what, bool found_while_copying = false) {
  Session session(f.model, {512, 0});
  session.forward({1, 2, 3, 4, 5}, LogitsMode::NONE);
  try {
    session.load_snapshot(path, fingerprint, -1);
    fail(__FILE__, __LINE__, "loaded a damaged snapshot (" + what + ")");
  } catch (const EngineError& error) {
    CHECK(error.code() == ErrorCode::SNAPSHOT);
    if (std::string(error.what()).find(what) == std::string::npos) {
      fail(__FILE__, __LINE__, std::string("message '") + error.what() + "' does not say '" + what + "'");
    }
  }
  if (found_while_copying) {
    CHECK(session.length() == 0 && session.history().empty());
  } else {
    CHECK(session.length() == 5 && session.history() == std::vector<int32_t>({1, 2, 3, 4, 5}));
  }
}

// A 10-token snapshot of a 2-layer, 1-head, 2-dim f32 cache in chunks of 3, each float naming its place.
SnapshotHeader small_snapshot(const std::string& path) {
  SnapshotHeader header{"f", SnapshotShape{DType::F32, 2, 1, 2}, 3, random_ids(10, 50, 1)};
  const int64_t token_floats = header.shape.token_bytes() / 4;  // [2 layers, 2, 1 head, 2 dims]
  snapshot_save(
      path, header,
      [&](int64_t first, int64_t count, void* host) {
        for (int64_t i = 0; i < count * token_floats; ++i)
          static_cast<float*>(host)[i] = float(first * 100 + i);
      },
      nullptr);
  return header;
}

// The positions read_kv streams of `path` (a small_snapshot) when asked for `tokens`, or its E_SNAPSHOT
// message.
std::string streamed(const std::string& path, int64_t tokens) {
  const SnapshotShape shape{DType::F32, 2, 1, 2};
  try {
    SnapshotReader reader(path, SnapshotExpectation{"f", shape, 10, 50});
    std::string positions;
    reader.read_kv(
        [&](int64_t first, int64_t count, const void*) {
          positions += std::to_string(first) + "+" + std::to_string(count) + " ";
        },
        nullptr, tokens);
    return positions;
  } catch (const EngineError& error) {
    return error.what();
  }
}

std::unique_ptr<Backend> cpu() {
  return create_backend(BackendChoice{"cpu", 0, 2});
}

}  // namespace

TEST(xxh64_matches_the_reference_vectors) {
  CHECK(xxh64_of("") == 0xEF46DB3751D8E999ull);
  CHECK(xxh64_of("a") == 0xD24EC4F1A98C6E5Bull);
  CHECK(xxh64_of("abc") == 0x44BC2CF5AD770999ull);
  CHECK(xxh64_of("Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1ull);
  // Fed in uneven pieces, the stream hashes as one call does.
  std::string text(1000, '\0');
  for (size_t i = 0; i < text.size(); ++i) text[i] = char(i * 31 + 7);
  Xxh64 pieces;
  for (size_t at = 0, step = 1; at < text.size(); at += step, step = step * 3 % 67 + 1) {
    pieces.update(text.data() + at, std::min(step, text.size() - at));
  }
  CHECK(pieces.digest() == xxh64_of(text));
}

TEST(snapshot_round_trip_cpu_gives_identical_kv_and_logits) {
  Fixture f = saved_fixture(cpu());
  check_round_trip(f, 0.0);
}

TEST(snapshot_chunks_stream_in_order) {
  const std::string folder = temp_folder();
  const SnapshotHeader header = small_snapshot(folder + "/s");
  const int64_t token_floats = header.shape.token_bytes() / 4;
  SnapshotReader reader(folder + "/s", SnapshotExpectation{"f", header.shape, 10, 50});
  CHECK(reader.header().ids == header.ids && reader.header().chunk_tokens == 3);
  int64_t next = 0;
  reader.read_kv(
      [&](int64_t first, int64_t count, const void* host) {
        CHECK(first == next && count == std::min<int64_t>(3, 10 - first));
        CHECK(static_cast<const float*>(host)[count * token_floats - 1] ==
              float(first * 100 + count * token_floats - 1));
        next += count;
      },
      nullptr, 10);
  CHECK(next == 10);
  CHECK(streamed(folder + "/s", 5) == "0+3 3+2 ");
  CHECK(streamed(folder + "/s", 0).empty());
}

// The chunks pass through buffers the caller makes (a backend's pinned memory): one for a save, and for a
// load one per chunk read at once (here all 4, fewer than the reading threads and their spare buffer), each
// the size of a stored chunk (with its checksum on a load), filled with garbage first.
TEST(snapshot_chunks_pass_through_the_callers_buffers) {
  const std::string folder = temp_folder();
  const SnapshotShape shape{DType::F32, 2, 1, 2};  // 32 bytes a position
  std::vector<size_t> made;
  const HostBufferMaker garbage = [&](size_t bytes) {
    made.push_back(bytes);
    HostBuffer buffer = plain_host_buffer(bytes);
    std::memset(buffer.data(), 0xAB, bytes);
    return buffer;
  };
  SnapshotHeader header{"f", shape, 3, random_ids(10, 50, 1)};
  snapshot_save(
      folder + "/s", header,
      [&](int64_t first, int64_t count, void* host) {
        for (int64_t i = 0; i < count * 8; ++i) static_cast<float*>(host)[i] = float(first * 8 + i);
      },
      nullptr, garbage);
  CHECK(made == std::vector<size_t>{3 * 32});
  made.clear();
  SnapshotReader reader(folder + "/s", SnapshotExpectation{"f", shape, 10, 50});
  int64_t checked = 0;
  reader.read_kv(
      [&](int64_t first, int64_t count, const void* host) {
        for (int64_t i = 0; i < count * 8; ++i)
          checked += static_cast<const float*>(host)[i] == float(first * 8 + i);
      },
      nullptr, 10, garbage);
  CHECK(made == std::vector<size_t>(4, 3 * 32 + 8));
  CHECK(checked == 80);
}

TEST(snapshot_chunks_are_checked_as_they_stream_and_a_prefix_reads_only_its_chunks) {
  const std::string folder = temp_folder();
  const SnapshotHeader header = small_snapshot(folder + "/s");
  const std::string bytes = read_file(folder + "/s");
  const size_t chunk_bytes = size_t(3 * header.shape.token_bytes()) + 8;  // with its checksum
  const size_t kv_start = bytes.size() - 3 * chunk_bytes - size_t(header.shape.token_bytes()) - 8;
  std::string corrupt = bytes;
  corrupt[kv_start + 2 * chunk_bytes + 5] ^= 0x01;  // chunk 2: positions 6 to 8
  write_file(folder + "/corrupt", corrupt);
  CHECK(streamed(folder + "/corrupt", 6) == "0+3 3+3 ");
  CHECK(streamed(folder + "/corrupt", 7).find("positions 6 to 9 fail their checksum") != std::string::npos);
  std::string moved = bytes;
  moved.replace(kv_start, chunk_bytes, bytes, kv_start + chunk_bytes, chunk_bytes);  // chunk 1 where 0 was
  moved.replace(kv_start + chunk_bytes, chunk_bytes, bytes, kv_start, chunk_bytes);
  write_file(folder + "/moved", moved);
  CHECK(streamed(folder + "/moved", 10).find("positions 0 to 3 fail their checksum") != std::string::npos);
}

TEST(snapshot_a_prefix_loads_as_the_session_that_ran_it) {
  Fixture f = saved_fixture(cpu());
  Session restored(f.model, {512, 0});
  const std::vector<int32_t> prefix(f.prompt.begin(), f.prompt.begin() + 100);
  CHECK(restored.load_snapshot(f.path, "model-a", 100) == prefix);
  CHECK(restored.length() == 100);
  Session original(f.model, {512, 0});
  original.forward(prefix, LogitsMode::NONE);
  CHECK_NEAR(relative_l2(restored.forward({7}, LogitsMode::LAST), original.forward({7}, LogitsMode::LAST)),
             0.0, 0.0);
  CHECK(restored.load_snapshot(f.path, "model-a", 1000).size() == 150);  // more than it holds: all of it
}

TEST(snapshot_damaged_files_are_refused_and_leave_the_session) {
  Fixture f = saved_fixture(cpu());
  const std::string bytes = read_file(f.path);
  std::string corrupt = bytes;
  corrupt[bytes.size() / 2] = char(corrupt[bytes.size() / 2] ^ 0x10);  // one bit of K/V data
  write_file(f.folder + "/corrupt", corrupt);
  check_refused(f, f.folder + "/corrupt", "model-a", "fail their checksum", true);
  std::string corrupt_id = bytes;
  corrupt_id[100] = char(corrupt_id[100] ^ 0x01);  // one bit of the ids in the header
  write_file(f.folder + "/corrupt-id", corrupt_id);
  check_refused(f, f.folder + "/corrupt-id", "model-a", "corrupt header (checksum mismatch)");
  write_file(f.folder + "/truncated", bytes.substr(0, bytes.size() - 100));
  check_refused(f, f.folder + "/truncated", "model-a", "truncated");
  write_file(f.folder + "/header-only", bytes.substr(0, 30));
  check_refused(f, f.folder + "/header-only", "model-a", "truncated");
  write_file(f.folder + "/not-a-snapshot", std::string(bytes.size(), 'x'));
  check_refused(f, f.folder + "/not-a-snapshot", "model-a", "magic");
  std::string newer = bytes;
  newer[8] = 3;  // the format version
  write_file(f.folder + "/newer", newer);
  check_refused(f, f.folder + "/newer", "model-a", "format version 3");
  std::string huge = bytes;
  huge[23] = 1;  // layers >= 2^56
  write_file(f.folder + "/huge", huge);
  check_refused(f, f.folder + "/huge", "model-a", "impossible sizes");
  check_refused(f, f.path, "model-b", "fingerprint");
  check_refused(f, f.folder + "/missing", "model-a", "cannot open");
  Session small(f.model, {100, 0});
  CHECK_THROWS_CODE(small.load_snapshot(f.path, "model-a", -1), ErrorCode::SNAPSHOT);  // over its capacity
  CHECK_THROWS_CODE(small.load_snapshot(f.path, "model-a", 120), ErrorCode::SNAPSHOT);
  CHECK(small.load_snapshot(f.path, "model-a", 80).size() == 80);  // a prefix that fits
}

TEST(snapshot_cancel_leaves_no_file) {
  Fixture f = saved_fixture(cpu());
  Session session(f.model, {512, 0});
  session.forward(f.prompt, LogitsMode::NONE);
  session.cancel();
  CHECK_THROWS_CODE(session.save_snapshot(f.folder + "/cancelled", "model-a", 150), ErrorCode::CANCELLED);
  CHECK(!exists(f.folder + "/cancelled"));
  CHECK_THROWS_CODE(session.load_snapshot(f.path, "model-a", -1), ErrorCode::CANCELLED);
  CHECK(session.length() == 150);  // cancelled before anything was read: untouched
  session.reset_cancel();
  CHECK(session.load_snapshot(f.path, "model-a", -1).size() == 150);
  CHECK_THROWS_CODE(session.save_snapshot(f.folder + "/x", "model-a", 151), ErrorCode::INVALID_ARGUMENT);
}

// A writer killed (SIGKILL) in the middle of a snapshot leaves the previous file in place and a temporary
// that no load accepts.
TEST(snapshot_writer_killed_mid_write_never_leaves_a_valid_file) {
  Fixture f = saved_fixture(cpu());
  const std::string before = read_file(f.path);
  SnapshotHeader header{"model-a", SnapshotShape{DType::F32, 2, 2, 64}, 64, random_ids(150, 300, 9)};
  const pid_t child = ::fork();
  if (child == 0) {
    snapshot_save(
        f.path, header,
        [&](int64_t first, int64_t, void*) {
          if (first > 0) ::pause();  // the first chunk reaches the disk, then the writer hangs
        },
        nullptr);
    ::_exit(0);
  }
  std::string temporary;
  for (int wait = 0; wait < 500 && temporary.empty(); ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::string candidate = temporary_of(f.folder, "context.kv.tmp-" + std::to_string(child) + "-");
    struct stat info {};
    if (!candidate.empty() && ::stat(candidate.c_str(), &info) == 0 &&
        info.st_size > 64 * header.shape.token_bytes()) {
      temporary = candidate;
    }
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(!temporary.empty());
  CHECK(read_file(f.path) == before);
  check_refused(f, temporary, "model-a", "truncated");
}

TEST(cuda_snapshot_round_trip_matches) {
  std::unique_ptr<Backend> cuda = cuda_backend_or_skip("cuda_snapshot_round_trip");
  if (!cuda) return;
  Fixture f = saved_fixture(std::move(cuda));
  check_round_trip(f, 0.0);
  check_refused(f, f.path, "model-b", "fingerprint");
}
