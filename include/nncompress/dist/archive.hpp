#pragma once
// The bytes that travel between the ranks of a distributed run: values appended in order by an
// ArchiveWriter and read back in the same order by an ArchiveReader, which refuses to read past
// the end. Both ends are the same build on the same kind of machine (little-endian, one ABI).
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "nncompress/core/error.hpp"

namespace nnc::dist {

class ArchiveWriter {
 public:
  template <typename T>
    requires std::is_trivially_copyable_v<T>
  void put(const T& v) {
    raw(&v, sizeof(T));
  }
  void put(std::string_view s) {
    put<uint64_t>(s.size());
    raw(s.data(), s.size());
  }
  void put(const std::string& s) { put(std::string_view(s)); }
  template <typename T>
    requires std::is_trivially_copyable_v<T>
  void put(const std::vector<T>& v) {
    put<uint64_t>(v.size());
    raw(v.data(), v.size() * sizeof(T));
  }
  void put(const std::vector<std::string>& v) {
    put<uint64_t>(v.size());
    for (const auto& s : v) put(s);
  }
  template <typename T>
  void put(const std::vector<std::vector<T>>& v) {
    put<uint64_t>(v.size());
    for (const auto& e : v) put(e);
  }
  void raw(const void* p, std::size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  std::string take() { return std::move(bytes_); }
  std::size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

class ArchiveReader {
 public:
  explicit ArchiveReader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
    requires std::is_trivially_copyable_v<T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  template <typename T>
  void get(T& v) {
    if constexpr (std::is_trivially_copyable_v<T>) {
      v = get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      const auto n = count(1);
      v.assign(take(n), n);
    } else {  // a vector
      using E = typename T::value_type;
      if constexpr (std::is_trivially_copyable_v<E>) {
        const auto n = count(sizeof(E));
        v.resize(n);
        if (n) std::memcpy(v.data(), take(n * sizeof(E)), n * sizeof(E));
      } else {
        v.resize(count(1));
        for (auto& e : v) get(e);
      }
    }
  }
  std::string_view raw(std::size_t n) { return {take(n), n}; }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  // An element count that the bytes left can hold.
  std::size_t count(std::size_t element) {
    const auto n = get<uint64_t>();
    NNC_CHECK(n <= (bytes_.size() - pos_) / std::max<std::size_t>(1, element),
              "distributed message: {} elements claimed, {} bytes left", n, bytes_.size() - pos_);
    return static_cast<std::size_t>(n);
  }
  const char* take(std::size_t n) {
    NNC_CHECK(n <= bytes_.size() - pos_, "distributed message truncated: {} bytes wanted at {} of {}", n, pos_,
              bytes_.size());
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

}  // namespace nnc::dist
