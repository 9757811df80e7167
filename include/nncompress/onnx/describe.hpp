#pragma once
// What an ONNX model holds, as JSON (what `nncompress info MODEL` prints): opset, producer, graph
// inputs and outputs with their shapes (symbolic dimensions by name, unknown ones as null),
// operators, every initializer's shape, elements and bytes, the totals, and the metadata.
#include <onnx/onnx_pb.h>

#include <nlohmann/json.hpp>

namespace nnc::onnxio {

nlohmann::json describe_model(const onnx::ModelProto& model);

}  // namespace nnc::onnxio
