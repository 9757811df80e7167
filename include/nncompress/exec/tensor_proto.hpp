#pragma once
// Conversion between onnx::TensorProto and LibTorch tensors (all ONNX numeric types we run:
// float/double/float16, int8..int64, uint8, bool). Tensors are CPU and contiguous.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <string>

#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::exec {

// Decodes raw_data or typed fields. External data must have been inlined by load_model.
at::Tensor to_tensor(const onnx::TensorProto& proto);

// Encodes into raw_data (little endian), with the given name.
onnx::TensorProto from_tensor(const at::Tensor& tensor, const std::string& name);

// ONNX data type enum <-> ATen scalar type; throws "unsupported" for types we do not run.
c10::ScalarType scalar_type_from_onnx(int onnx_type, const std::string& what);
int onnx_type_from_scalar(c10::ScalarType type);

// GraphBuilder::add_initializer for a LibTorch tensor.
inline void add_initializer(onnxio::GraphBuilder& builder, const std::string& name, const at::Tensor& value) {
  builder.add_initializer(from_tensor(value, name));
}

}  // namespace nnc::exec
