#pragma once
// Which inputs of a node carry learned weights: the kernels and matrices that weight sharing
// quantises and pruning sparsifies, and the biases that go with them. One table for every
// compression method, so an operator with weights is added in one place.
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace nnc::onnxio {

struct WeightInputs {
  std::vector<int> weights;  // Conv/ConvTranspose kernel, Gemm/MatMul matrix, LSTM/GRU/RNN W and R
  std::vector<int> biases;   // Conv/ConvTranspose/Gemm bias, LSTM/GRU/RNN B
};

// The operators weight_inputs() knows, for messages: "Conv/ConvTranspose/Gemm/...".
const std::string& weight_operators();

// Empty for operators without learned weights. Indices may exceed the node's input count
// (optional inputs): callers check.
WeightInputs weight_inputs(const onnx::NodeProto& node);

}  // namespace nnc::onnxio
