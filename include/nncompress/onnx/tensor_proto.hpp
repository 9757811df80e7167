#pragma once
// ONNX tensors without LibTorch: element counts (overflow-checked), raw little-endian bytes of
// any numeric tensor, float32 values, and small float/int64 initializers for writers. The
// conversion to and from LibTorch tensors lives in exec/tensor_proto.hpp.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::onnxio {

// Product of the dims; a negative dimension or a product beyond 2^63 is a corrupt tensor.
int64_t element_count(const onnx::TensorProto& tensor);
// Bytes per element of an ONNX numeric type (0 for strings and unknown types).
std::size_t element_size(int onnx_type);
// The tensor's values as little-endian bytes of its own type (raw_data, or the typed fields
// narrowed to the type's width); sizes are checked against the shape.
std::string raw_bytes(const onnx::TensorProto& tensor);

// Values of a FLOAT tensor (raw_data or float_data).
std::vector<float> float_values(const onnx::TensorProto& tensor);

// A FLOAT / INT64 / INT8 tensor with raw data.
onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& values);
onnx::TensorProto int64_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<int64_t>& values);
onnx::TensorProto int8_tensor(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<int8_t>& values);

}  // namespace nnc::onnxio
