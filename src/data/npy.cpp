#include "nncompress/data/npy.hpp"

#include <ATen/ATen.h>

#include <cstring>
#include <regex>

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

at::Tensor read_npy(const std::filesystem::path& path) {
  auto bytes = read_file_bytes(path);
  const std::string what = path.string();
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
  std::string header(reinterpret_cast<const char*>(bytes.data() + offset), header_len);
  std::smatch m;
  NNC_CHECK_CODE(std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")), kCorrupt,
                 "{}: NPY header has no dtype", what);
  std::string descr = m[1];
  NNC_CHECK_CODE(!std::regex_search(header, std::regex("'fortran_order':\\s*True")), kUnsupported,
                 "{}: Fortran-order NPY arrays are unsupported", what);
  NNC_CHECK_CODE(std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), kCorrupt,
                 "{}: NPY header has no shape", what);
  std::vector<int64_t> shape;
  std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoll(it->str()));
  c10::ScalarType type = at::kFloat;
  bool found = false;
  for (const auto& d : kDtypes)
    if (descr == d.descr) {
      type = d.type;
      found = true;
    }
  NNC_CHECK_CODE(found, kUnsupported, "{}: NPY dtype '{}' is unsupported", what, descr);
  auto t = at::empty(shape, type);
  const std::size_t nbytes = static_cast<std::size_t>(t.numel()) * t.element_size();
  const std::size_t data = offset + header_len;
  NNC_CHECK_CODE(bytes.size() - data == nbytes, kCorrupt, "{}: NPY data has {} bytes but shape and dtype need {}",
                 what, bytes.size() - data, nbytes);
  if (nbytes) std::memcpy(t.data_ptr(), bytes.data() + data, nbytes);
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
