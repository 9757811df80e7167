#include "nncompress/exec/tensor_proto.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::exec {
namespace {

using TP = onnx::TensorProto;

std::vector<int64_t> dims_of(const TP& p) { return {p.dims().begin(), p.dims().end()}; }

template <typename Src>
at::Tensor from_repeated(const google::protobuf::RepeatedField<Src>& field, std::vector<int64_t> dims,
                         c10::ScalarType type, int64_t numel, const std::string& name) {
  NNC_CHECK_CODE(static_cast<int64_t>(field.size()) == numel, kCorrupt,
                 "tensor '{}': has {} values but its shape needs {}", name, field.size(), numel);
  auto out = at::empty(dims, at::TensorOptions().dtype(type));
  for (int64_t i = 0; i < numel; ++i) {
    switch (type) {
      case at::kFloat: out.data_ptr<float>()[i] = static_cast<float>(field.Get(static_cast<int>(i))); break;
      case at::kDouble: out.data_ptr<double>()[i] = static_cast<double>(field.Get(static_cast<int>(i))); break;
      case at::kLong: out.data_ptr<int64_t>()[i] = static_cast<int64_t>(field.Get(static_cast<int>(i))); break;
      case at::kInt: out.data_ptr<int32_t>()[i] = static_cast<int32_t>(field.Get(static_cast<int>(i))); break;
      case at::kShort: out.data_ptr<int16_t>()[i] = static_cast<int16_t>(field.Get(static_cast<int>(i))); break;
      case at::kChar: out.data_ptr<int8_t>()[i] = static_cast<int8_t>(field.Get(static_cast<int>(i))); break;
      case at::kByte: out.data_ptr<uint8_t>()[i] = static_cast<uint8_t>(field.Get(static_cast<int>(i))); break;
      case at::kBool: out.data_ptr<bool>()[i] = field.Get(static_cast<int>(i)) != 0; break;
      case at::kHalf: {
        uint16_t bits = static_cast<uint16_t>(field.Get(static_cast<int>(i)));
        std::memcpy(out.data_ptr<at::Half>() + i, &bits, 2);
        break;
      }
      default: fail(ErrorCode::kUnsupported, "tensor '{}': unsupported element type", name);
    }
  }
  return out;
}

}  // namespace

c10::ScalarType scalar_type_from_onnx(int t, const std::string& what) {
  switch (t) {
    case TP::FLOAT: return at::kFloat;
    case TP::DOUBLE: return at::kDouble;
    case TP::FLOAT16: return at::kHalf;
    case TP::INT64: return at::kLong;
    case TP::INT32: return at::kInt;
    case TP::INT16: return at::kShort;
    case TP::INT8: return at::kChar;
    case TP::UINT8: return at::kByte;
    case TP::BOOL: return at::kBool;
    // ATen has no unsigned 16/32-bit types: widened losslessly to the next signed type.
    case TP::UINT16: return at::kInt;
    case TP::UINT32: return at::kLong;
    default: fail(ErrorCode::kUnsupported, "{}: unsupported tensor element type {}", what, t);
  }
}

int onnx_type_from_scalar(c10::ScalarType type) {
  switch (type) {
    case at::kFloat: return TP::FLOAT;
    case at::kDouble: return TP::DOUBLE;
    case at::kHalf: return TP::FLOAT16;
    case at::kLong: return TP::INT64;
    case at::kInt: return TP::INT32;
    case at::kShort: return TP::INT16;
    case at::kChar: return TP::INT8;
    case at::kByte: return TP::UINT8;
    case at::kBool: return TP::BOOL;
    default: fail(ErrorCode::kUnsupported, "unsupported tensor element type {}", c10::toString(type));
  }
}

at::Tensor to_tensor(const TP& p) {
  const std::string& name = p.name();
  NNC_CHECK_CODE(p.data_location() != TP::EXTERNAL, kInternal, "tensor '{}': external data was not inlined", name);
  auto dims = dims_of(p);
  const int64_t numel = onnxio::element_count(p);
  const int t = p.data_type();
  NNC_CHECK_CODE(t != TP::STRING, kUnsupported, "tensor '{}': string tensors are unsupported", name);
  auto type = scalar_type_from_onnx(t, "tensor '" + name + "'");
  if (p.has_raw_data()) {
    // Raw data holds the ONNX type's own width (uint16/uint32 are narrower than our tensors).
    std::size_t width = t == TP::UINT16 ? 2 : t == TP::UINT32 ? 4 : c10::elementSize(type);
    const std::string& raw = p.raw_data();
    // Compared by division: numel * width may not fit in 64 bits.
    NNC_CHECK_CODE(raw.size() % width == 0 && raw.size() / width == static_cast<std::size_t>(numel), kCorrupt,
                   "tensor '{}': raw data has {} bytes but its shape needs {} elements of {} bytes", name, raw.size(),
                   numel, width);
    auto out = at::empty(dims, at::TensorOptions().dtype(type));
    if (t == TP::UINT16) {
      auto* dst = out.data_ptr<int32_t>();
      for (int64_t i = 0; i < numel; ++i) {
        uint16_t v;
        std::memcpy(&v, raw.data() + i * 2, 2);
        dst[i] = v;
      }
    } else if (t == TP::UINT32) {
      auto* dst = out.data_ptr<int64_t>();
      for (int64_t i = 0; i < numel; ++i) {
        uint32_t v;
        std::memcpy(&v, raw.data() + i * 4, 4);
        dst[i] = v;
      }
    } else if (numel) {
      std::memcpy(out.data_ptr(), raw.data(), raw.size());
    }
    return out;
  }
  switch (t) {
    case TP::FLOAT: return from_repeated(p.float_data(), dims, type, numel, name);
    case TP::DOUBLE: return from_repeated(p.double_data(), dims, type, numel, name);
    case TP::INT64: return from_repeated(p.int64_data(), dims, type, numel, name);
    case TP::UINT32:
    case TP::UINT64: return from_repeated(p.uint64_data(), dims, type, numel, name);
    default: return from_repeated(p.int32_data(), dims, type, numel, name);
  }
}

TP from_tensor(const at::Tensor& tensor, const std::string& name) {
  TP p;
  p.set_name(name);
  auto t = tensor.detach().contiguous().cpu();
  p.set_data_type(onnx_type_from_scalar(t.scalar_type()));
  for (auto d : t.sizes()) p.add_dims(d);
  p.set_raw_data(std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
  return p;
}

}  // namespace nnc::exec
