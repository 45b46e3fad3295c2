// Session: one conversation's KV cache, token history and sampling RNG, with a busy flag against
// overlapping calls. A fork starts from another session's contents without copying its KV.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/kv-cache.h"
#include "core/model.h"
#include "core/sampler.h"
#include "core/snapshot.h"

namespace hipcode {

struct SessionOptions {
  int64_t max_tokens = 0;
  uint64_t seed = 0;
};

class Session {
 public:
  // Throws E_INVALID_ARGUMENT for a non-positive capacity.
  Session(std::shared_ptr<Model> model, const SessionOptions& options);
  // A fork of `parent` (which must not be running a call): it holds the parent's tokens on the parent's KV
  // pages, and its own capacity and RNG. Neither session's writes change what the other holds: the partly
  // filled page they share is copied by the first one to write after it. E_INVALID_ARGUMENT for a capacity
  // below the parent's length.
  Session(Session& parent, const SessionOptions& options);

  int64_t length() const { return cache_.length(); }
  int64_t capacity() const { return cache_.capacity(); }
  const Model& model() const { return *model_; }

  // Claims the session for one call; false when another call is in flight.
  bool try_begin() { return !busy_.exchange(true); }
  void end() { busy_ = false; }
  bool busy() const { return busy_; }

  // Appends ids (each checked against the vocabulary) and returns their logits per `mode`.
  std::vector<float> forward(const std::vector<int32_t>& ids, LogitsMode mode);
  // Appends ids, then samples the next token from the last position's logits.
  int32_t step(const std::vector<int32_t>& ids, const SamplingParams& params);
  // Drops positions >= new_length from the cache and the history.
  void truncate(int64_t new_length);
  const std::vector<int32_t>& history() const { return history_; }

  // Saves positions [0, tokens) (K/V, ids) with `fingerprint` to `path` atomically (core/snapshot.h).
  // E_INVALID_ARGUMENT for tokens outside [0, length], E_SNAPSHOT on I/O errors, E_CANCELLED after cancel().
  void save_snapshot(const std::string& path, const std::string& fingerprint, int64_t tokens);
  // Replaces the session's contents with the first `max_tokens` positions (all when negative or when it holds
  // fewer) of a snapshot made with `fingerprint` and returns their ids. E_SNAPSHOT for a missing, truncated
  // or mismatched file, or a corrupt header, leaves the session as it was, as does E_CANCELLED before
  // anything was read; a K/V chunk that fails its check while it is copied in (E_SNAPSHOT), or a cancel then,
  // leaves it empty.
  const std::vector<int32_t>& load_snapshot(const std::string& path, const std::string& fingerprint,
                                            int64_t max_tokens);
  // Positions the snapshot save or load in flight (or the last one) has copied so far, for progress reports.
  int64_t snapshot_tokens() const { return snapshot_tokens_; }
  // Makes the snapshot call in flight (or the next one, until reset_cancel()) stop at its next chunk.
  void cancel() { cancelled_ = true; }
  void reset_cancel() { cancelled_ = false; }

 private:
  void check_ids(const std::vector<int32_t>& ids) const;
  // Gives the cache its own copy of a partly filled last page that another session holds too, so that
  // writing after it changes only this session.
  void unshare_tail();
  // Host memory for snapshot chunks that the backend copies to and from fastest.
  HostBufferMaker staging_buffers() const;
  // The K/V layout snapshots of this session's model have.
  SnapshotShape snapshot_shape() const;

  std::shared_ptr<Model> model_;
  KvCache cache_;
  std::vector<int32_t> history_;  // [length] every token the cache holds
  std::mt19937_64 rng_;
  std::atomic<bool> busy_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> snapshot_tokens_{0};
};

}  // namespace hipcode
