#include "nncompress/onnx/tensor_proto.hpp"

#include <cstring>
#include <limits>

#include "nncompress/core/error.hpp"

namespace nnc::onnxio {

using TP = onnx::TensorProto;

int64_t element_count(const TP& t) {
  int64_t n = 1;
  for (auto d : t.dims()) {
    NNC_CHECK_CODE(d >= 0, kCorrupt, "tensor '{}': negative dimension {}", t.name(), d);
    NNC_CHECK_CODE(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, kCorrupt,
                   "tensor '{}': its dimensions multiply beyond 2^63 elements", t.name());
    n *= d;
  }
  return n;
}

std::size_t element_size(int onnx_type) {
  switch (onnx_type) {
    case TP::FLOAT: case TP::INT32: case TP::UINT32: return 4;
    case TP::DOUBLE: case TP::INT64: case TP::UINT64: return 8;
    case TP::FLOAT16: case TP::BFLOAT16: case TP::INT16: case TP::UINT16: return 2;
    case TP::INT8: case TP::UINT8: case TP::BOOL: return 1;
    default: return 0;
  }
}

std::string raw_bytes(const TP& t) {
  const std::size_t width = element_size(t.data_type());
  NNC_CHECK_CODE(width > 0, kUnsupported, "tensor '{}': unsupported element type {}", t.name(), t.data_type());
  const auto n = static_cast<std::size_t>(element_count(t));
  if (t.has_raw_data()) {
    NNC_CHECK_CODE(t.raw_data().size() / width == n && t.raw_data().size() % width == 0, kCorrupt,
                   "tensor '{}': raw data has {} bytes but its shape needs {} elements of {} bytes", t.name(),
                   t.raw_data().size(), n, width);
    return t.raw_data();
  }
  auto check = [&](int have) {
    NNC_CHECK_CODE(static_cast<std::size_t>(have) == n, kCorrupt, "tensor '{}': has {} values but its shape needs {}",
                   t.name(), have, n);
  };
  // The declared count is checked against the values present before anything is allocated.
  switch (t.data_type()) {
    case TP::FLOAT: check(t.float_data_size()); break;
    case TP::DOUBLE: check(t.double_data_size()); break;
    case TP::INT64: check(t.int64_data_size()); break;
    case TP::UINT32: case TP::UINT64: check(t.uint64_data_size()); break;
    default: check(t.int32_data_size());
  }
  std::string out(n * width, '\0');
  auto put = [&](std::size_t i, auto v) { std::memcpy(out.data() + i * width, &v, width); };
  switch (t.data_type()) {
    case TP::FLOAT: check(t.float_data_size()); for (std::size_t i = 0; i < n; ++i) put(i, t.float_data(static_cast<int>(i))); break;
    case TP::DOUBLE: check(t.double_data_size()); for (std::size_t i = 0; i < n; ++i) put(i, t.double_data(static_cast<int>(i))); break;
    case TP::INT64: check(t.int64_data_size()); for (std::size_t i = 0; i < n; ++i) put(i, t.int64_data(static_cast<int>(i))); break;
    case TP::UINT32: check(t.uint64_data_size()); for (std::size_t i = 0; i < n; ++i) put(i, static_cast<uint32_t>(t.uint64_data(static_cast<int>(i)))); break;
    case TP::UINT64: check(t.uint64_data_size()); for (std::size_t i = 0; i < n; ++i) put(i, t.uint64_data(static_cast<int>(i))); break;
    default:  // narrower types and float16/bfloat16 bits live in int32_data
      check(t.int32_data_size());
      for (std::size_t i = 0; i < n; ++i) {
        const int32_t v = t.int32_data(static_cast<int>(i));
        if (width == 4) put(i, v);
        else if (width == 2) put(i, static_cast<uint16_t>(v));
        else put(i, static_cast<uint8_t>(v));
      }
  }
  return out;
}

std::vector<float> float_values(const TP& t) {
  NNC_CHECK_CODE(t.data_type() == TP::FLOAT, kInternal, "tensor '{}' is not float32", t.name());
  const auto n = static_cast<std::size_t>(element_count(t));
  std::vector<float> v(n);
  if (t.has_raw_data()) {
    NNC_CHECK_CODE(t.raw_data().size() / 4 == n && t.raw_data().size() % 4 == 0, kCorrupt,
                   "initializer '{}': raw data size mismatch", t.name());
    if (n) std::memcpy(v.data(), t.raw_data().data(), n * 4);
  } else {
    NNC_CHECK_CODE(static_cast<std::size_t>(t.float_data_size()) == n, kCorrupt, "initializer '{}': value count mismatch",
                   t.name());
    for (std::size_t i = 0; i < n; ++i) v[i] = t.float_data(static_cast<int>(i));
  }
  return v;
}

namespace {

TP raw_tensor(const std::string& name, TP::DataType type, const std::vector<int64_t>& dims, std::string raw) {
  TP t;
  t.set_name(name);
  t.set_data_type(type);
  for (auto d : dims) t.add_dims(d);
  t.set_raw_data(std::move(raw));
  return t;
}

}  // namespace

TP float_tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
  return raw_tensor(name, TP::FLOAT, dims, std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
}

TP int64_tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& values) {
  std::string raw(values.size() * 8, '\0');  // little endian whatever the host
  for (std::size_t i = 0; i < values.size(); ++i)
    for (int b = 0; b < 8; ++b) raw[i * 8 + b] = static_cast<char>((static_cast<uint64_t>(values[i]) >> (8 * b)) & 0xff);
  return raw_tensor(name, TP::INT64, dims, std::move(raw));
}

TP int8_tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int8_t>& values) {
  return raw_tensor(name, TP::INT8, dims, std::string(reinterpret_cast<const char*>(values.data()), values.size()));
}

}  // namespace nnc::onnxio
