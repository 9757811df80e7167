#include "nncompress/data/npy.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"

namespace nnc::data {
namespace {

struct Dtype {
  const char* descr;
  c10::ScalarType type;
};
const Dtype kDtypes[] = {{"<f4", at::kFloat}, {"<f8", at::kDouble}, {"<i8", at::kLong}, {"<i4", at::kInt},
                         {"|u1", at::kByte},  {"|i1", at::kChar},   {"|b1", at::kBool}, {"<i2", at::kShort}};

}  // namespace

namespace {

// The NPY header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
// A small scanner (no std::regex: its recursion overflows the stack on long headers) that finds
// each key and reads its value; anything else in the header is ignored, as numpy does.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

std::size_t skip_space(std::string_view h, std::size_t i) {
  while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r')) ++i;
  return i;
}

// Position just after "'key':" (single or double quotes), or npos.
std::size_t value_of(std::string_view h, std::string_view key) {
  for (char q : {'\'', '"'}) {
    const std::string quoted = std::string(1, q) + std::string(key) + std::string(1, q);
    std::size_t at = h.find(quoted);
    if (at == std::string_view::npos) continue;
    std::size_t i = skip_space(h, at + quoted.size());
    if (i < h.size() && h[i] == ':') return skip_space(h, i + 1);
  }
  return std::string_view::npos;
}

NpyHeader parse_npy_header(std::string_view h, const std::string& what) {
  NpyHeader out;
  std::size_t i = value_of(h, "descr");
  NNC_CHECK_CODE(i != std::string_view::npos && i < h.size() && (h[i] == '\'' || h[i] == '"'), kCorrupt,
                 "{}: NPY header has no dtype", what);
  const std::size_t close = h.find(h[i], i + 1);
  NNC_CHECK_CODE(close != std::string_view::npos, kCorrupt, "{}: NPY header has no dtype", what);
  out.descr = std::string(h.substr(i + 1, close - i - 1));
  i = value_of(h, "fortran_order");
  out.fortran_order = i != std::string_view::npos && h.substr(i, 4) == "True";
  i = value_of(h, "shape");
  NNC_CHECK_CODE(i != std::string_view::npos && i < h.size() && h[i] == '(', kCorrupt, "{}: NPY header has no shape",
                 what);
  for (++i;;) {
    i = skip_space(h, i);
    NNC_CHECK_CODE(i < h.size(), kCorrupt, "{}: NPY header has no shape", what);
    if (h[i] == ')') break;
    std::size_t digits = 0;
    int64_t d = 0;
    while (i < h.size() && h[i] >= '0' && h[i] <= '9') {
      NNC_CHECK_CODE(++digits <= 18, kCorrupt, "{}: NPY shape has a dimension of more than 18 digits", what);
      d = d * 10 + (h[i++] - '0');
    }
    NNC_CHECK_CODE(digits > 0, kCorrupt, "{}: NPY shape is not a tuple of sizes", what);
    NNC_CHECK_CODE(out.shape.size() < 64, kCorrupt, "{}: NPY shape has more than 64 dimensions", what);
    out.shape.push_back(d);
    i = skip_space(h, i);
    if (i < h.size() && h[i] == ',') ++i;
  }
  return out;
}

}  // namespace

at::Tensor read_npy(const std::filesystem::path& path) { return parse_npy(read_file_bytes(path), path.string()); }

at::Tensor parse_npy(std::span<const uint8_t> bytes, const std::string& what) {
  NNC_CHECK_CODE(bytes.size() >= 10 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0, kCorrupt,
                 "{}: not an NPY file (bad magic)", what);
  const uint8_t major = bytes[6];
  std::size_t header_len, offset;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    offset = 10;
  } else {
    NNC_CHECK_CODE(bytes.size() >= 12, kCorrupt, "{}: truncated NPY header", what);
    header_len = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (static_cast<std::size_t>(bytes[11]) << 24);
    offset = 12;
  }
  NNC_CHECK_CODE(bytes.size() >= offset + header_len, kCorrupt, "{}: truncated NPY header", what);
  const auto header = parse_npy_header(
      std::string_view(reinterpret_cast<const char*>(bytes.data() + offset), header_len), what);
  NNC_CHECK_CODE(!header.fortran_order, kUnsupported, "{}: Fortran-order NPY arrays are unsupported", what);
  c10::ScalarType type = at::kFloat;
  bool found = false;
  for (const auto& d : kDtypes)
    if (header.descr == d.descr) {
      type = d.type;
      found = true;
    }
  NNC_CHECK_CODE(found, kUnsupported, "{}: NPY dtype '{}' is unsupported", what, header.descr.substr(0, 40));
  // The shape is checked against the bytes present before anything is allocated.
  const std::size_t width = c10::elementSize(type), present = bytes.size() - offset - header_len;
  std::size_t nbytes = width;
  bool overflow = false;
  for (auto d : header.shape) overflow = __builtin_mul_overflow(nbytes, static_cast<std::size_t>(d), &nbytes) || overflow;
  if (std::find(header.shape.begin(), header.shape.end(), 0) != header.shape.end()) {
    // An empty array, whatever its other dimensions, as long as they could describe a tensor
    // (their product times the element width below 2^63: LibTorch refuses more).
    std::int64_t others = static_cast<std::int64_t>(width);
    overflow = false;
    for (auto d : header.shape)
      if (d != 0) overflow = __builtin_mul_overflow(others, static_cast<std::int64_t>(d), &others) || overflow;
    nbytes = 0;
  }
  NNC_CHECK_CODE(!overflow, kCorrupt, "{}: NPY shape and dtype need more than 2^64 bytes", what);
  NNC_CHECK_CODE(present == nbytes, kCorrupt, "{}: NPY data has {} bytes but shape and dtype need {}", what, present,
                 nbytes);
  auto t = at::empty(header.shape, type);
  if (nbytes) std::memcpy(t.data_ptr(), bytes.data() + offset + header_len, nbytes);
  return t;
}

void write_npy(const std::filesystem::path& path, const at::Tensor& tensor) {
  auto t = tensor.detach().contiguous().cpu();
  const char* descr = nullptr;
  for (const auto& d : kDtypes)
    if (d.type == t.scalar_type()) descr = d.descr;
  NNC_CHECK_CODE(descr, kUnsupported, "{}: cannot write dtype {} as NPY", path.string(), c10::toString(t.scalar_type()));
  std::string shape;
  for (auto d : t.sizes()) shape += std::to_string(d) + ",";
  if (t.dim() > 1) shape.pop_back();
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, shape);
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(path, std::string_view(out));
}

}  // namespace nnc::data
