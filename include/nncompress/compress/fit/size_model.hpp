#pragma once
// What a model's .nnc file costs besides its layer weights' payloads: the graph, headers,
// fp32 leftovers (biases, BatchNorm) and the weights' empty records, measured by encoding the
// model with those weights all zero. fit's size model adds each layer's payload bytes
// (fit/projection.hpp) to this.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::fit {

int64_t fixed_container_bytes(const onnx::ModelProto& model, const std::vector<std::string>& weights);

}  // namespace nnc::fit
