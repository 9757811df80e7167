#include "nncompress/compress/lowrank/layers.hpp"

#include <ATen/ATen.h>

#include <map>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/attributes.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::lowrank {
namespace {

// Elements per sample of every node output listed, measured by one engine run.
std::map<std::string, int64_t> probe_spatial(const onnx::ModelProto& model, const std::vector<std::string>& values,
                                             const at::Tensor& sample) {
  exec::Engine engine(onnxio::with_graph_outputs(model, values));
  std::vector<at::Tensor> inputs;
  for (const auto& in : engine.inputs()) {
    NNC_CHECK_CODE(!in.shape.empty() || sample.defined(), kShape, "input '{}' has no declared shape; cannot count FLOPs",
                   in.name);
    if (in.shape.empty()) {
      inputs.push_back(at::zeros_like(sample.narrow(0, 0, 1)));
      continue;
    }
    // Symbolic non-batch dimensions (height and width exported as dynamic axes) take the
    // data's size.
    const bool fits = sample.defined() && sample.dim() == static_cast<int64_t>(in.shape.size());
    std::vector<int64_t> shape;
    for (std::size_t d = 0; d < in.shape.size(); ++d) {
      NNC_CHECK_CODE(in.shape[d] > 0 || d == 0 || fits, kShape,
                     "input '{}' has a symbolic non-batch dimension and no data of its rank; cannot count FLOPs",
                     in.name);
      shape.push_back(d == 0 ? 1 : in.shape[d] > 0 ? in.shape[d] : sample.size(static_cast<int64_t>(d)));
    }
    inputs.push_back(at::zeros(shape));
  }
  auto outs = engine.run(inputs);
  std::map<std::string, int64_t> spatial;
  for (std::size_t i = 0; i < engine.outputs().size(); ++i) {
    spatial[engine.outputs()[i].name] = outs[i].numel();  // batch 1
  }
  return spatial;
}

}  // namespace

int64_t total_initializer_elements(const onnx::ModelProto& model) {
  int64_t total = 0;
  for (const auto& t : model.graph().initializer()) {
    int64_t n = 1;
    for (auto d : t.dims()) n *= d;
    total += n;
  }
  return total;
}

std::vector<Layer> find_layers(const onnx::ModelProto& model, const at::Tensor& sample) {
  const auto& g = model.graph();
  std::map<std::string, int> readers, batchnorm_readers;
  for (const auto& n : g.node())
    for (int i = 0; i < n.input_size(); ++i) {
      ++readers[n.input(i)];
      if (i == 0 && n.op_type() == "BatchNormalization") ++batchnorm_readers[n.input(i)];
    }
  std::vector<Layer> layers;
  std::vector<std::string> outputs;
  for (int idx = 0; idx < g.node_size(); ++idx) {
    const auto& n = g.node(idx);
    const bool conv = n.op_type() == "Conv", gemm = n.op_type() == "Gemm", matmul = n.op_type() == "MatMul";
    if (!(conv || gemm || matmul) || n.input_size() < 2) continue;
    const auto* w = onnxio::find_initializer(g, n.input(1));
    if (!w || w->data_type() != onnx::TensorProto::FLOAT) continue;
    Layer l;
    l.node = onnxio::node_label(n);
    l.node_index = idx;
    l.weight = n.input(1);
    auto weight = exec::to_tensor(*w);
    if (conv) {
      l.kind = LayerKind::kConv;
      NNC_CHECK_CODE(weight.dim() >= 3, kShape, "node '{}': Conv weight '{}' has rank {}", l.node, l.weight,
                     weight.dim());
      const int64_t groups = onnxio::attr_int(n, "group", 1);
      l.f = weight.size(0);
      l.c = weight.size(1) * groups;
      l.kappa = weight.numel() / (weight.size(0) * weight.size(1));
      if (groups > 1) {
        l.skip_reason = groups == l.c ? "depthwise convolution" : fmt::format("grouped convolution (groups={})", groups);
        l.c = weight.size(1);
      }
      l.matrix = weight.reshape({l.f, -1});
    } else {
      l.kind = gemm ? LayerKind::kGemm : LayerKind::kMatMul;
      if (weight.dim() != 2) continue;
      bool trans_b = gemm && onnxio::attr_int(n, "transB", 0) != 0;
      if (gemm && onnxio::attr_int(n, "transA", 0) != 0) l.skip_reason = "Gemm with transA=1";
      l.stored_transposed = !trans_b;
      l.matrix = trans_b ? weight : weight.t().contiguous();
      l.f = l.matrix.size(0);
      l.c = l.matrix.size(1);
    }
    if (readers[l.weight] > 1 && l.skip_reason.empty()) l.skip_reason = "weight shared by several nodes";
    l.batchnorm_after = batchnorm_readers[n.output(0)] > 0 && batchnorm_readers[n.output(0)] == readers[n.output(0)];
    outputs.push_back(n.output(0));
    layers.push_back(std::move(l));
  }
  if (!layers.empty()) {
    auto spatial = probe_spatial(model, outputs, sample);
    for (std::size_t i = 0; i < layers.size(); ++i)
      layers[i].out_spatial = std::max<int64_t>(1, spatial.at(outputs[i]) / layers[i].f);
  }
  return layers;
}

}  // namespace nnc::lowrank
