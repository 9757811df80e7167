#pragma once
// A 64-bit content hash for cache and run-state keys (not cryptographic): eight bytes per step,
// so hashing a data set of 200 MB takes a fraction of a second. The same bytes give the same key
// on every run and machine of the same endianness.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace nnc {

class Hash64 {
 public:
  explicit Hash64(uint64_t seed = 0x6e6e636f6d707265ull) : h_(seed) {}
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      mix(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    mix(tail ^ (static_cast<uint64_t>(n) << 56));
  }
  // A string and its end, so ("ab","c") and ("a","bc") differ.
  void str(std::string_view s) {
    bytes(s.data(), s.size());
    mix(0xff);
  }
  template <typename T>
  void value(const T& v) {
    bytes(&v, sizeof(T));
  }
  uint64_t digest() const { return finalize(h_); }
  std::string hex() const { return fmt::format("{:016x}", digest()); }

 private:
  // splitmix64's finaliser over (state + word): every input bit reaches every output bit.
  static uint64_t finalize(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  void mix(uint64_t w) { h_ = finalize(h_ + 0x9e3779b97f4a7c15ull + w) ^ (h_ << 1); }
  uint64_t h_;
};

}  // namespace nnc
