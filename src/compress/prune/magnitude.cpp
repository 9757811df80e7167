#include "nncompress/compress/prune/magnitude.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/onnx/weight_inputs.hpp"

namespace nnc::prune {

std::vector<PrunableLayer> prunable_layers(const onnx::ModelProto& model) {
  std::vector<PrunableLayer> out;
  const auto& g = model.graph();
  for (const auto& n : g.node()) {
    const auto inputs = onnxio::weight_inputs(n).weights;
    for (int i : inputs) {
      if (i >= n.input_size() || n.input(i).empty()) continue;
      const auto* w = onnxio::find_initializer(g, n.input(i));
      if (!w || w->data_type() != onnx::TensorProto::FLOAT) continue;
      bool seen = false;
      for (const auto& l : out) seen = seen || l.weight == n.input(i);
      if (seen) continue;
      int64_t params = 1;
      for (auto d : w->dims()) params *= d;
      // A recurrent node has two weights (input W, recurrent R): each is its own layer.
      std::string label = onnxio::node_label(n);
      if (inputs.size() > 1) label += i == 1 ? " W" : " R";
      out.push_back({label, n.input(i), params});
    }
  }
  return out;
}

std::vector<LayerTensor> layer_tensors(const onnx::ModelProto& model, bool biases, bool other) {
  std::vector<LayerTensor> out;
  for (const auto& l : prunable_layers(model)) out.push_back({l.node, l.weight, l.params, false});
  const auto& g = model.graph();
  if (biases) {
    const auto linear_biases = onnxio::matmul_biases(g);
    for (const auto& n : g.node()) {
      for (const auto& name : onnxio::layer_bias_names(n, linear_biases)) {
        const auto* b = onnxio::find_initializer(g, name);
        if (!b || b->data_type() != onnx::TensorProto::FLOAT) continue;
        if (std::any_of(out.begin(), out.end(), [&](const LayerTensor& t) { return t.name == b->name(); })) continue;
        if (const auto params = onnxio::element_count(*b); params > 0)
          out.push_back({onnxio::node_label(n) + " bias", b->name(), params, true});
      }
    }
  }
  if (other)
    for (const auto& name : onnxio::other_parameters(g))
      out.push_back({name, name, onnxio::element_count(*onnxio::find_initializer(g, name)), true});
  return out;
}

int64_t kept_after(int64_t params, double fraction) {
  auto pruned = static_cast<int64_t>(std::llround(fraction * static_cast<double>(params)));
  return params - std::clamp<int64_t>(pruned, 0, params);
}

at::Tensor magnitude_mask(const at::Tensor& weight, double fraction) {
  const int64_t n = weight.numel();
  const int64_t prune = n - kept_after(n, fraction);
  auto flat = weight.detach().reshape({-1}).abs();
  auto mask = at::ones({n}, at::kFloat);
  if (prune > 0) {
    auto order = std::get<1>(at::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/false));
    mask.index_fill_(0, order.narrow(0, 0, prune), 0.0);
  }
  return mask.reshape(weight.sizes());
}

}  // namespace nnc::prune
