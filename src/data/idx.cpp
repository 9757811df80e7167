#include "nncompress/data/idx.hpp"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstring>

#include "nncompress/core/error.hpp"

namespace nnc::data {
namespace {

// Reads a whole file through zlib (which also reads uncompressed files transparently).
std::vector<uint8_t> read_maybe_gzip(const std::filesystem::path& path) {
  NNC_CHECK_CODE(std::filesystem::exists(path), kIo, "{}: no such file", path.string());
  gzFile f = gzopen(path.c_str(), "rb");
  NNC_CHECK_CODE(f != nullptr, kIo, "{}: cannot open", path.string());
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  while (true) {
    int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      gzclose(f);
      fail(ErrorCode::kCorrupt, "{}: corrupt gzip data", path.string());
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  gzclose(f);
  return out;
}

}  // namespace

at::Tensor read_idx(const std::filesystem::path& path) {
  auto bytes = read_maybe_gzip(path);
  const std::string what = path.string();
  NNC_CHECK_CODE(bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0, kCorrupt, "{}: not an IDX file (bad magic)",
                 what);
  const uint8_t type = bytes[2], ndim = bytes[3];
  NNC_CHECK_CODE(type == 0x08, kUnsupported, "{}: IDX element type 0x{:02x} is unsupported (only unsigned bytes)",
                 what, type);
  NNC_CHECK_CODE(ndim >= 1 && ndim <= 4, kCorrupt, "{}: IDX file with {} dimensions", what, ndim);
  NNC_CHECK_CODE(bytes.size() >= 4u + 4u * ndim, kCorrupt, "{}: truncated IDX header", what);
  std::vector<int64_t> dims;
  int64_t numel = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint8_t* p = bytes.data() + 4 + 4 * d;
    int64_t v = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | int64_t{p[3]};
    dims.push_back(v);
    numel *= v;
  }
  const std::size_t header = 4u + 4u * ndim;
  NNC_CHECK_CODE(bytes.size() - header == static_cast<std::size_t>(numel), kCorrupt,
                 "{}: IDX data has {} bytes but its header declares {}", what, bytes.size() - header, numel);
  auto t = at::empty(dims, at::kByte);
  if (numel) std::memcpy(t.data_ptr(), bytes.data() + header, static_cast<std::size_t>(numel));
  return t;
}

}  // namespace nnc::data
