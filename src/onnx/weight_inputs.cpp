#include "nncompress/onnx/weight_inputs.hpp"

#include <string_view>

namespace nnc::onnxio {
namespace {

struct Entry {
  std::string_view op;
  WeightInputs inputs;
};

// One row per operator with learned weights; weight_operators() lists them in this order.
const Entry kTable[] = {
    {"Conv", {{1}, {2}}}, {"ConvTranspose", {{1}, {2}}}, {"Gemm", {{1}, {2}}},    {"MatMul", {{1}, {}}},
    {"LSTM", {{1, 2}, {3}}}, {"GRU", {{1, 2}, {3}}},       {"RNN", {{1, 2}, {3}}},
};

}  // namespace

WeightInputs weight_inputs(const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return {};
  for (const auto& e : kTable)
    if (e.op == node.op_type()) return e.inputs;
  return {};
}

const std::string& weight_operators() {
  static const std::string names = [] {
    std::string s;
    for (const auto& e : kTable) s += (s.empty() ? "" : "/") + std::string(e.op);
    return s;
  }();
  return names;
}

}  // namespace nnc::onnxio
