#pragma once
// Which inputs of a node carry learned weights: the kernels and matrices that weight sharing
// quantises and pruning sparsifies, and the biases that go with them. One table for every
// compression method, so an operator with weights is added in one place.
#include <onnx/onnx_pb.h>

#include <map>
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

// The biases of linear layers written as MatMul + Add (how exporters write a linear layer on
// inputs of rank > 2, e.g. a transformer's projections): MatMul weight initializer -> the float
// initializer added to its output, when that holds one value per output column. The bias is a
// learned weight of the layer as much as a Gemm's third input is.
std::map<std::string, std::string> matmul_biases(const onnx::GraphProto& graph);

// The bias initializers of one node's layer: its own bias inputs (Conv/Gemm/RNN), then the bias
// `matmul_biases` (of its graph) gives its MatMul weight.
std::vector<std::string> layer_bias_names(const onnx::NodeProto& node,
                                          const std::map<std::string, std::string>& matmul_biases);

// The learned parameters that are neither a layer's weight nor its bias: float initializers of at
// least `min_values` values read only where a tensor is used as data (Add, Sub, Mul, Div, Concat,
// Expand, Where's branches, Gather's table, PRelu's slope, the scale and shift of
// Layer/Instance/Group/BatchNormalization): LayerNorm scales and shifts, position embeddings,
// class tokens. Tensors read as a shape, a scale factor or a statistic (Resize, Reshape, a
// BatchNormalization's mean and variance, ...) are not among them, nor are tensors holding a value
// that is not finite or beyond ±1e6 (attention masks). In initializer order.
std::vector<std::string> other_parameters(const onnx::GraphProto& graph, int64_t min_values = 16);

}  // namespace nnc::onnxio
