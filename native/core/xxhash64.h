// XXH64: the 64-bit xxHash checksum (Yann Collet's spec), computed incrementally over a stream of bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hipcode {

// Feed bytes with update() in any split; digest() gives the same value as one call over them all.
class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  // Runs `count` 32-byte stripes through the four lanes.
  void consume_stripes(const uint8_t* stripes, size_t count);

  uint64_t lanes_[4];
  uint8_t pending_[32];  // bytes not yet forming a full 32-byte stripe
  size_t pending_size_ = 0;
  uint64_t total_size_ = 0;
  uint64_t seed_;
};

}  // namespace hipcode
