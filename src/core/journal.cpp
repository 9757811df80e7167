#include "nncompress/core/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/hash.hpp"

namespace nnc {
namespace {

constexpr std::size_t kFrame = sizeof(std::uint32_t) + sizeof(std::uint64_t);

std::uint64_t payload_hash(const void* p, std::size_t n) {
  Hash64 h(0x6a6f75726e616c31ull);
  h.bytes(p, n);
  return h.digest();
}

void write_all(int fd, const std::string& bytes, const std::filesystem::path& path) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    NNC_CHECK_CODE(n > 0, kIo, "{}: write failed: {}", path.string(), std::strerror(errno));
    off += static_cast<std::size_t>(n);
  }
  // Survives a killed process without this; a power cut too with it.
  ::fdatasync(fd);
}

std::string frame(const void* p, std::size_t n) {
  NNC_CHECK(n <= 0xffffffffu, "journal record of {} bytes", n);
  std::string out(kFrame + n, '\0');
  const auto len = static_cast<std::uint32_t>(n);
  const auto hash = payload_hash(p, n);
  std::memcpy(out.data(), &len, sizeof len);
  std::memcpy(out.data() + sizeof len, &hash, sizeof hash);
  if (n) std::memcpy(out.data() + kFrame, p, n);
  return out;
}

}  // namespace

Journal::Journal(std::filesystem::path path, std::string_view header) : path_(std::move(path)) {
  std::error_code ec;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  NNC_CHECK_CODE(fd_ >= 0, kIo, "{}: cannot open: {}", path_.string(), std::strerror(errno));
  const auto bytes = read_file_bytes(path_);
  // Whole records with the right hash, up to the first that is not (a torn or damaged tail).
  std::vector<std::string> found;
  std::vector<std::uint64_t> ends;
  std::size_t pos = 0;
  while (bytes.size() - pos >= kFrame) {
    std::uint32_t len;
    std::uint64_t hash;
    std::memcpy(&len, bytes.data() + pos, sizeof len);
    std::memcpy(&hash, bytes.data() + pos + sizeof len, sizeof hash);
    if (bytes.size() - pos - kFrame < len || payload_hash(bytes.data() + pos + kFrame, len) != hash) break;
    found.emplace_back(reinterpret_cast<const char*>(bytes.data() + pos + kFrame), len);
    pos += kFrame + len;
    ends.push_back(pos);
  }
  if (found.empty() || found.front() != header) {
    found.clear();
    ends.clear();
    pos = 0;
  }
  NNC_CHECK_CODE(::ftruncate(fd_, static_cast<off_t>(pos)) == 0, kIo, "{}: cannot truncate: {}", path_.string(),
                 std::strerror(errno));
  ::lseek(fd_, 0, SEEK_END);
  if (found.empty()) {
    write_all(fd_, frame(header.data(), header.size()), path_);
    ends = {kFrame + header.size()};
  } else {
    found.erase(found.begin());
  }
  records_ = std::move(found);
  ends_ = std::move(ends);
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::append(std::span<const std::uint8_t> payload) {
  write_all(fd_, frame(payload.data(), payload.size()), path_);
  records_.emplace_back(reinterpret_cast<const char*>(payload.data()), payload.size());
  ends_.push_back(ends_.back() + kFrame + payload.size());
}

void Journal::append(std::string_view payload) {
  append(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
}

void Journal::truncate(std::size_t index) {
  if (index >= records_.size()) return;
  NNC_CHECK_CODE(::ftruncate(fd_, static_cast<off_t>(ends_[index])) == 0, kIo, "{}: cannot truncate: {}",
                 path_.string(), std::strerror(errno));
  ::lseek(fd_, 0, SEEK_END);
  records_.resize(index);
  ends_.resize(index + 1);
}

}  // namespace nnc
