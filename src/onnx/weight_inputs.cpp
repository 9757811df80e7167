#include "nncompress/onnx/weight_inputs.hpp"

namespace nnc::onnxio {

WeightInputs weight_inputs(const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return {};
  const std::string& op = node.op_type();
  if (op == "Conv" || op == "ConvTranspose" || op == "Gemm") return {{1}, {2}};
  if (op == "MatMul") return {{1}, {}};
  if (op == "LSTM" || op == "GRU" || op == "RNN") return {{1, 2}, {3}};
  return {};
}

}  // namespace nnc::onnxio
