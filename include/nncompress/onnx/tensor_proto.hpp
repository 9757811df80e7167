#pragma once
// Conversion between onnx::TensorProto and at::Tensor (all ONNX numeric types we run:
// float/double/float16, int8..int64, uint8, bool). Tensors are CPU and contiguous.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace nnc::onnxio {

// Decodes raw_data or typed fields. External data must have been inlined by load_model.
at::Tensor to_tensor(const onnx::TensorProto& proto);

// Encodes into raw_data (little endian), with the given name.
onnx::TensorProto from_tensor(const at::Tensor& tensor, const std::string& name);

// Values of a FLOAT tensor (raw_data or float_data) without going through ATen.
std::vector<float> float_values(const onnx::TensorProto& proto);

// ONNX data type enum <-> ATen scalar type; throws "unsupported" for types we do not run.
c10::ScalarType scalar_type_from_onnx(int onnx_type, const std::string& what);
int onnx_type_from_scalar(c10::ScalarType type);

}  // namespace nnc::onnxio
