#include "nncompress/core/files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "nncompress/core/error.hpp"
#include "nncompress/core/memory.hpp"

namespace nnc {
namespace fs = std::filesystem;

std::vector<std::uint8_t> read_file_bytes(const fs::path& path) {
  std::error_code ec;
  NNC_CHECK_CODE(fs::exists(path, ec), kIo, "{}: no such file", path.string());
  NNC_CHECK_CODE(!fs::is_directory(path, ec), kIo, "{}: is a directory, expected a file", path.string());
  // A FIFO or device would block or never end.
  NNC_CHECK_CODE(fs::is_regular_file(path, ec), kIo, "{}: not a regular file", path.string());
  std::ifstream in(path, std::ios::binary);
  NNC_CHECK_CODE(in.good(), kIo, "{}: cannot open: {}", path.string(), std::strerror(errno));
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(in.tellg());
  check_fits_in_memory(size, path.string());
  in.seekg(0);
  std::vector<std::uint8_t> bytes(size);
  if (size) in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  NNC_CHECK_CODE(in.good() || size == 0, kIo, "{}: read failed", path.string());
  return bytes;
}

std::string read_file_text(const fs::path& path) {
  auto bytes = read_file_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void check_not_same_file(const fs::path& output, const fs::path& input) {
  if (input.empty()) return;
  std::error_code ec;
  if (fs::exists(output, ec) && fs::exists(input, ec) && fs::equivalent(output, input, ec)) {
    fail(ErrorCode::kInvalidArgument, "{}: refusing to overwrite the input model", output.string());
  }
}

namespace {

// Temporary files of earlier writes to `name` in `dir` whose process no longer runs (killed
// mid-write: kill -9, a power cut) are removed; those of running processes are left alone.
void remove_stale_temporaries(const fs::path& dir, const std::string& name) {
  const std::string prefix = "." + name + ".tmp";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto file = it->path().filename().string();
    if (file.size() <= prefix.size() || file.compare(0, prefix.size(), prefix) != 0) continue;
    const auto dash = file.find('-', prefix.size());
    if (dash == std::string::npos) continue;
    long pid = 0;
    const auto digits = file.substr(prefix.size(), dash - prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    pid = std::stol(digits);
    std::error_code rm;
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(it->path(), rm);
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, std::span<const std::uint8_t> bytes, const fs::path& protect) {
  check_not_same_file(path, protect);
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::exists(dir, ec)) fs::create_directories(dir, ec);
  NNC_CHECK_CODE(fs::is_directory(dir, ec), kIo, "{}: output directory does not exist", dir.string());
  remove_stale_temporaries(dir, path.filename().string());
  // .NAME.tmpPID-RANDOM: the process id tells a later write whether its writer still runs.
  std::random_device rd;
  fs::path tmp = dir / fmt::format(".{}.tmp{}-{}", path.filename().string(), ::getpid(), rd() % 1000000);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  NNC_CHECK_CODE(fd >= 0, kIo, "{}: cannot write: {}", path.string(), std::strerror(errno));
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      fs::remove(tmp, ec);
      fail(ErrorCode::kIo, "{}: write failed: {}", path.string(), std::strerror(err));
    }
    off += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail(ErrorCode::kIo, "{}: cannot rename temporary file into place", path.string());
  }
}

void write_file_atomic(const fs::path& path, std::string_view text, const fs::path& protect) {
  write_file_atomic(path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                    protect);
}

}  // namespace nnc
