#include "nncompress/compress/lowrank/surgery.hpp"

#include <ATen/ATen.h>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/attributes.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::lowrank {
namespace {

using onnxio::Attr;

std::string unique_name(const onnx::GraphProto& g, const std::string& base) {
  auto taken = [&](const std::string& n) {
    for (const auto& t : g.initializer())
      if (t.name() == n) return true;
    for (const auto& node : g.node())
      for (const auto& o : node.output())
        if (o == n) return true;
    return false;
  };
  std::string name = base;
  for (int i = 1; taken(name); ++i) name = base + "_" + std::to_string(i);
  return name;
}

// Builds the encoder and decoder nodes replacing `node` (which stays as the decoder, in place,
// so the graph's topological order and output names are unchanged).
void factor_node(onnx::GraphProto& g, int opset, const Layer& l, const GroupedSvd& s, const LayerChoice& c) {
  onnx::NodeProto& node = *g.mutable_node(l.node_index);
  const std::string enc_w = unique_name(g, l.weight + ".lowrank_encoder");
  const std::string dec_w = unique_name(g, l.weight + ".lowrank_decoder");
  const std::string hidden = unique_name(g, node.output(0) + ".lowrank_hidden");
  at::Tensor encoder = s.encoder(c.j);  // k*j x (c/k*kappa)
  at::Tensor decoder = s.decoder(c.j);  // f x k*j
  onnx::NodeProto enc = node;           // keeps kernel/strides/pads/dilations/auto_pad
  enc.set_name(unique_name(g, onnxio::node_label(node) + ".lowrank_encoder"));
  enc.clear_input();
  enc.add_input(node.input(0));
  enc.add_input(enc_w);
  enc.clear_output();
  enc.add_output(hidden);
  if (l.kind == LayerKind::kConv) {
    auto w = onnxio::find_initializer(g, l.weight);
    std::vector<int64_t> dims(w->dims().begin(), w->dims().end());
    std::vector<int64_t> enc_shape = dims;
    enc_shape[0] = c.k * c.j;
    enc_shape[1] = l.c / c.k;
    onnxio::set_attr(enc, Attr{"group", c.k});
    std::vector<int64_t> dec_shape(dims.size(), 1);
    dec_shape[0] = l.f;
    dec_shape[1] = c.k * c.j;
    // Decoder: 1x1 conv, no padding/stride/dilation, same output name and bias as the original.
    node.clear_attribute();
    onnxio::set_attr(node, Attr{"kernel_shape", std::vector<int64_t>(dims.size() - 2, 1)});
    node.set_input(0, hidden);
    node.set_input(1, dec_w);
    *g.add_initializer() = exec::from_tensor(encoder.reshape(enc_shape).contiguous(), enc_w);
    *g.add_initializer() = exec::from_tensor(decoder.reshape(dec_shape).contiguous(), dec_w);
  } else if (l.kind == LayerKind::kGemm) {
    // Y = alpha * op(A) W^T + beta * C with W ~= (U S) Vh: encoder H = op(A) Vh^T (keeps transA),
    // decoder Y = alpha H (US)^T + beta C (reads H as is).
    const int64_t trans_a = onnxio::attr_int(node, "transA", 0);
    enc.clear_attribute();
    onnxio::set_attr(enc, Attr{"transB", int64_t{1}});
    if (trans_a) onnxio::set_attr(enc, Attr{"transA", trans_a});
    if (opset < 11) {
      // Before opset 11 Gemm requires C: a scalar zero, weighted 0.
      const std::string zero = unique_name(g, enc_w + ".zero");
      *g.add_initializer() = exec::from_tensor(at::zeros({1}), zero);
      enc.add_input(zero);
      onnxio::set_attr(enc, Attr{"beta", 0.0f});
    }
    onnxio::set_attr(node, Attr{"transB", int64_t{1}});
    onnxio::set_attr(node, Attr{"transA", int64_t{0}});
    node.set_input(0, hidden);
    node.set_input(1, dec_w);
    *g.add_initializer() = exec::from_tensor(encoder, enc_w);  // j x c (k = 1 rows)
    *g.add_initializer() = exec::from_tensor(decoder, dec_w);  // f x j
  } else {
    // MatMul: X W with W stored c x f: X @ Vh^T @ (US)^T.
    node.set_input(0, hidden);
    node.set_input(1, dec_w);
    *g.add_initializer() = exec::from_tensor(encoder.t().contiguous(), enc_w);
    *g.add_initializer() = exec::from_tensor(decoder.t().contiguous(), dec_w);
  }
  onnxio::remove_initializer(g, l.weight);
  // Insert the encoder just before the decoder.
  auto* nodes = g.mutable_node();
  nodes->Add(std::move(enc));
  for (int i = nodes->size() - 1; i > l.node_index; --i) nodes->SwapElements(i, i - 1);
}

}  // namespace

onnx::ModelProto decompose(const onnx::ModelProto& model, AldsProblem& problem, const Allocation& allocation) {
  onnx::ModelProto out = model;
  auto& g = *out.mutable_graph();
  const auto& layers = problem.layers();
  NNC_CHECK(allocation.layers.size() == layers.size(), "allocation does not match the model's layers");
  const int opset = onnxio::opset_version(model);
  // Later nodes first so earlier node indices stay valid while encoders are inserted.
  for (std::size_t i = layers.size(); i-- > 0;) {
    const auto& c = allocation.layers[i];
    if (!c.factored) continue;
    const auto& l = layers[i];
    // Linear layers are always factored with k = 1 groups along their input dimension.
    NNC_CHECK(l.kind == LayerKind::kConv || c.k == 1, "layer '{}': grouped factoring of a {} is unsupported",
              l.node, l.kind == LayerKind::kGemm ? "Gemm" : "MatMul");
    factor_node(g, opset, l, problem.svd(i, c.k), c);
  }
  return out;
}

onnx::ModelProto reconstruct_weights(const onnx::ModelProto& model, AldsProblem& problem,
                                     const Allocation& allocation) {
  onnx::ModelProto out = model;
  auto& g = *out.mutable_graph();
  const auto& layers = problem.layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& c = allocation.layers[i];
    if (!c.factored) continue;
    const auto& l = layers[i];
    auto* w = onnxio::find_initializer(g, l.weight);
    auto original = exec::to_tensor(*w);
    at::Tensor m = problem.svd(i, c.k).reconstruct(c.j);  // f x c*kappa
    at::Tensor value = l.stored_transposed ? m.t().contiguous() : m.reshape(original.sizes()).contiguous();
    *w = exec::from_tensor(value, l.weight);
  }
  return out;
}

}  // namespace nnc::lowrank
