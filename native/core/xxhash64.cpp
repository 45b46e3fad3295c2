// XXH64 rounds, stripe accumulation and the final avalanche.
#include "core/xxhash64.h"

#include <cstring>

namespace hipcode {
namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ull;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ull;

uint64_t rotl(uint64_t x, int bits) {
  return (x << bits) | (x >> (64 - bits));
}

// A little-endian load, whatever the host's alignment rules (memcpy compiles to one load).
template <typename T>
T read_le(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  if constexpr (sizeof value == 8) value = T(__builtin_bswap64(value));
  if constexpr (sizeof value == 4) value = T(__builtin_bswap32(value));
#endif
  return value;
}

uint64_t read64(const uint8_t* p) {
  return read_le<uint64_t>(p);
}

uint32_t read32(const uint8_t* p) {
  return read_le<uint32_t>(p);
}

uint64_t round(uint64_t acc, uint64_t input) {
  acc += input * kPrime2;
  return rotl(acc, 31) * kPrime1;
}

uint64_t merge_round(uint64_t acc, uint64_t lane) {
  acc ^= round(0, lane);
  return acc * kPrime1 + kPrime4;
}

}  // namespace

Xxh64::Xxh64(uint64_t seed) : seed_(seed) {
  lanes_[0] = seed + kPrime1 + kPrime2;
  lanes_[1] = seed + kPrime2;
  lanes_[2] = seed;
  lanes_[3] = seed - kPrime1;
}

void Xxh64::consume_stripes(const uint8_t* stripes, size_t count) {
  // The lanes stay in registers: stores to lanes_ could alias the input bytes, so they are made once.
  uint64_t v0 = lanes_[0], v1 = lanes_[1], v2 = lanes_[2], v3 = lanes_[3];
  for (const uint8_t* p = stripes; p < stripes + 32 * count; p += 32) {
    v0 = round(v0, read64(p));
    v1 = round(v1, read64(p + 8));
    v2 = round(v2, read64(p + 16));
    v3 = round(v3, read64(p + 24));
  }
  lanes_[0] = v0;
  lanes_[1] = v1;
  lanes_[2] = v2;
  lanes_[3] = v3;
}

void Xxh64::update(const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  total_size_ += size;
  if (pending_size_ > 0) {
    const size_t taken = size < 32 - pending_size_ ? size : 32 - pending_size_;
    std::memcpy(pending_ + pending_size_, bytes, taken);
    pending_size_ += taken;
    bytes += taken;
    size -= taken;
    if (pending_size_ < 32) return;
    consume_stripes(pending_, 1);
    pending_size_ = 0;
  }
  const size_t stripes = size / 32;
  consume_stripes(bytes, stripes);
  bytes += 32 * stripes;
  size -= 32 * stripes;
  std::memcpy(pending_, bytes, size);
  pending_size_ = size;
}

uint64_t Xxh64::digest() const {
  uint64_t hash;
  if (total_size_ >= 32) {
    hash = rotl(lanes_[0], 1) + rotl(lanes_[1], 7) + rotl(lanes_[2], 12) + rotl(lanes_[3], 18);
    for (uint64_t lane : lanes_) hash = merge_round(hash, lane);
  } else {
    hash = seed_ + kPrime5;
  }
  hash += total_size_;
  const uint8_t* p = pending_;
  size_t left = pending_size_;
  for (; left >= 8; p += 8, left -= 8) hash = rotl(hash ^ round(0, read64(p)), 27) * kPrime1 + kPrime4;
  if (left >= 4) {
    hash = rotl(hash ^ (uint64_t(read32(p)) * kPrime1), 23) * kPrime2 + kPrime3;
    p += 4;
    left -= 4;
  }
  for (; left > 0; ++p, --left) hash = rotl(hash ^ (uint64_t(*p) * kPrime5), 11) * kPrime1;
  hash ^= hash >> 33;
  hash *= kPrime2;
  hash ^= hash >> 29;
  hash *= kPrime3;
  hash ^= hash >> 32;
  return hash;
}

}  // namespace hipcode
