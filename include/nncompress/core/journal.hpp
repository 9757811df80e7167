#pragma once
// An append-only file of records for progress that must survive `kill -9` (docs/robustness.md,
// "Crash safety and resume"). Each record is [u32 payload bytes][u64 hash of the payload][payload],
// written with one write() and fdatasync'd, so a killed process leaves whole records and at most
// one torn last record; opening reads the whole records, ignores the rest and cuts it off so that
// appends continue after the last whole record. The first record is the header: a file whose
// header differs (another run's, another format's) is started afresh.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

class Journal {
 public:
  // Opens or creates `path` (its folder is created). Throws on an unwritable path.
  Journal(std::filesystem::path path, std::string_view header);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // The records found on opening (the header not included), oldest first.
  const std::vector<std::string>& records() const { return records_; }
  // Appends one record; it is on disk when this returns.
  void append(std::span<const std::uint8_t> payload);
  void append(std::string_view payload);
  // Drops record `index` and every later one, on disk too (they no longer match the run).
  void truncate(std::size_t index);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<std::string> records_;
  std::vector<std::uint64_t> ends_;  // file offset after the header (ends_[0]) and after each record
};

// Reads and writes the fields of a record: little-endian fixed-size values and byte strings.
class RecordWriter {
 public:
  template <typename T>
  RecordWriter& put(const T& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    bytes_.append(p, sizeof(T));
    return *this;
  }
  RecordWriter& put_bytes(std::string_view b) {
    put(static_cast<std::uint64_t>(b.size()));
    bytes_.append(b);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

class RecordReader {
 public:
  explicit RecordReader(std::string_view bytes) : bytes_(bytes) {}
  // False once a read ran past the end (the record is not what the reader expects).
  template <typename T>
  bool get(T& v) {
    if (bytes_.size() - pos_ < sizeof(T)) return ok_ = false;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return ok_;
  }
  bool get_bytes(std::string& b) {
    std::uint64_t n = 0;
    if (!get(n) || bytes_.size() - pos_ < n) return ok_ = false;
    b.assign(bytes_.data() + pos_, n);
    pos_ += n;
    return ok_;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace nnc
