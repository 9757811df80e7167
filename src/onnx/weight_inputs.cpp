#include "nncompress/onnx/weight_inputs.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

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

std::map<std::string, std::string> matmul_biases(const onnx::GraphProto& graph) {
  auto float_init = [&](const std::string& name) {
    const auto* t = find_initializer(graph, name);
    return t && t->data_type() == onnx::TensorProto::FLOAT ? t : nullptr;
  };
  // MatMul output -> (weight, output columns) for MatMuls whose second input is a 2-D weight.
  std::map<std::string, std::pair<std::string, int64_t>> linear;
  for (const auto& n : graph.node()) {
    if (n.op_type() != "MatMul" || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() != 2 ||
        n.output_size() != 1)
      continue;
    const auto* w = float_init(n.input(1));
    if (w && w->dims_size() == 2) linear[n.output(0)] = {n.input(1), w->dims(1)};
  }
  std::map<std::string, std::string> out;
  for (const auto& n : graph.node()) {
    if (n.op_type() != "Add" || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() != 2) continue;
    for (int side = 0; side < 2; ++side) {
      auto l = linear.find(n.input(side));
      const auto* b = float_init(n.input(1 - side));
      if (l == linear.end() || !b || out.count(l->second.first)) continue;
      int64_t elems = 1;
      for (auto d : b->dims()) elems *= d;
      const bool per_column = elems == l->second.second && (b->dims_size() == 0 || b->dims(b->dims_size() - 1) == elems);
      if (per_column) out[l->second.first] = n.input(1 - side);
    }
  }
  return out;
}

std::vector<std::string> layer_bias_names(const onnx::NodeProto& node,
                                          const std::map<std::string, std::string>& matmul_biases) {
  const auto io = weight_inputs(node);
  std::vector<std::string> names;
  for (int i : io.biases)
    if (i < node.input_size() && !node.input(i).empty()) names.push_back(node.input(i));
  for (int i : io.weights)
    if (i < node.input_size())
      if (auto b = matmul_biases.find(node.input(i)); b != matmul_biases.end()) names.push_back(b->second);
  return names;
}

std::vector<std::string> other_parameters(const onnx::GraphProto& graph, int64_t min_values) {
  const auto biases = matmul_biases(graph);
  std::set<std::string> layer_params;
  for (const auto& n : graph.node()) {
    for (int i : weight_inputs(n).weights)
      if (i < n.input_size()) layer_params.insert(n.input(i));
    for (const auto& b : layer_bias_names(n, biases)) layer_params.insert(b);
  }
  // Whether input `i` of `n` reads its tensor as data.
  auto as_data = [](const onnx::NodeProto& n, int i) {
    if (!(n.domain().empty() || n.domain() == "ai.onnx")) return false;
    const auto& op = n.op_type();
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Concat") return true;
    if (op == "Expand" || op == "Gather") return i == 0;
    if (op == "PRelu") return i == 1;
    if (op == "Where") return i == 1 || i == 2;
    if (op == "LayerNormalization" || op == "InstanceNormalization" || op == "GroupNormalization" ||
        op == "BatchNormalization")
      return i == 1 || i == 2;
    return false;
  };
  std::map<std::string, bool> data_only;  // initializer -> every read is as data (and there is one)
  for (const auto& n : graph.node())
    for (int i = 0; i < n.input_size(); ++i) {
      auto it = data_only.try_emplace(n.input(i), true).first;
      it->second = it->second && as_data(n, i);
    }
  std::vector<std::string> out;
  for (const auto& t : graph.initializer()) {
    if (t.data_type() != onnx::TensorProto::FLOAT || layer_params.count(t.name())) continue;
    auto read = data_only.find(t.name());
    if (element_count(t) < min_values || read == data_only.end() || !read->second) continue;
    // An attention mask of -inf or -1e9 is a constant, not a parameter to quantise.
    const auto v = float_values(t);
    if (std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x) && std::abs(x) <= 1e6f; }))
      out.push_back(t.name());
  }
  return out;
}

}  // namespace nnc::onnxio
