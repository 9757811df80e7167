#include "nncompress/data/idx.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "nncompress/core/error.hpp"
#include "nncompress/core/memory.hpp"

namespace nnc::data {
namespace {

// zlib reads gzip and uncompressed files alike; a reader that fails half-way is closed.
struct GzFile {
  gzFile f = nullptr;
  std::string what;
  ~GzFile() {
    if (f) gzclose(f);
  }
  // Reads up to `n` bytes into `dst`; returns how many were read (fewer only at the end).
  std::size_t read(void* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, std::size_t{1} << 30));
      int got = gzread(f, static_cast<uint8_t*>(dst) + done, chunk);
      NNC_CHECK_CODE(got >= 0, kCorrupt, "{}: corrupt gzip data", what);
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }
};

}  // namespace

// The data go straight from zlib into the tensor: no intermediate buffer, so a 10,000-image
// file touches its 7.8 MB once (fresh memory is slow to fault in on virtual machines).
at::Tensor read_idx(const std::filesystem::path& path) {
  const std::string what = path.string();
  NNC_CHECK_CODE(std::filesystem::exists(path), kIo, "{}: no such file", what);
  NNC_CHECK_CODE(std::filesystem::is_regular_file(path), kIo, "{}: not a regular file", what);
  GzFile in{gzopen(path.c_str(), "rb"), what};
  NNC_CHECK_CODE(in.f != nullptr, kIo, "{}: cannot open", what);
  uint8_t magic[4] = {1, 1, 0, 0};
  const std::size_t got_magic = in.read(magic, 4);
  NNC_CHECK_CODE(got_magic == 4 && magic[0] == 0 && magic[1] == 0, kCorrupt, "{}: not an IDX file (bad magic)", what);
  const uint8_t type = magic[2], ndim = magic[3];
  NNC_CHECK_CODE(type == 0x08, kUnsupported, "{}: IDX element type 0x{:02x} is unsupported (only unsigned bytes)",
                 what, type);
  NNC_CHECK_CODE(ndim >= 1 && ndim <= 4, kCorrupt, "{}: IDX file with {} dimensions", what, ndim);
  uint8_t header[16];
  NNC_CHECK_CODE(in.read(header, 4u * ndim) == 4u * ndim, kCorrupt, "{}: truncated IDX header", what);
  std::vector<int64_t> dims;
  int64_t numel = 1;
  bool overflow = false;
  for (int d = 0; d < ndim; ++d) {
    const uint8_t* p = header + 4 * d;
    int64_t v = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | int64_t{p[3]};
    dims.push_back(v);
    overflow = overflow || __builtin_mul_overflow(numel, v, &numel);
  }
  NNC_CHECK_CODE(!overflow || std::find(dims.begin(), dims.end(), 0) != dims.end(), kCorrupt,
                 "{}: IDX header declares {} bytes: more than 2^63", what, fmt::join(dims, " x "));
  // An empty array whose other dimensions overflow is read as no data at all (LibTorch refuses
  // such a shape; whoever reads the tensor then finds it empty).
  if (overflow) numel = 0, dims = {0};
  // A header can declare more than the file could hold; count what is there before allocating.
  const auto on_disk = static_cast<int64_t>(std::filesystem::file_size(path));
  const int64_t limit = gzdirect(in.f) ? on_disk : on_disk * 1100;  // deflate expands at most ~1032:1
  if (numel <= limit) check_fits_in_memory(static_cast<uint64_t>(numel), what + ": IDX data");
  auto t = at::empty(numel <= limit ? dims : std::vector<int64_t>{0}, at::kByte);
  std::size_t have = t.numel() ? in.read(t.data_ptr(), static_cast<std::size_t>(numel)) : 0;
  // Whatever follows the declared data (or all of it, if it was not read) is counted, not kept.
  std::vector<uint8_t> rest(1 << 16);
  for (std::size_t n; (n = in.read(rest.data(), rest.size())) > 0;) have += n;
  NNC_CHECK_CODE(have == static_cast<std::size_t>(numel), kCorrupt,
                 "{}: IDX data has {} bytes but its header declares {}", what, have, numel);
  return t;
}

}  // namespace nnc::data
