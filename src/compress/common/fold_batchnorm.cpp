#include "nncompress/compress/common/fold_batchnorm.hpp"

#include <ATen/ATen.h>

#include <map>
#include <set>

#include "nncompress/onnx/attributes.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::compress {

onnx::ModelProto fold_batchnorm(const onnx::ModelProto& model, int* folded) {
  onnx::ModelProto out = model;
  auto* g = out.mutable_graph();
  std::map<std::string, int> readers, producer;
  for (int i = 0; i < g->node_size(); ++i) {
    for (const auto& in : g->node(i).input()) ++readers[in];
    for (const auto& o : g->node(i).output()) producer[o] = i;
  }
  std::set<std::string> graph_outputs;
  for (const auto& o : g->output()) graph_outputs.insert(o.name());
  std::set<int> drop;
  int count = 0;
  for (int i = 0; i < g->node_size(); ++i) {
    const auto& bn = g->node(i);
    if (bn.op_type() != "BatchNormalization" || bn.input_size() < 5 || bn.output_size() < 1) continue;
    bool extra_outputs = false;
    for (int k = 1; k < bn.output_size(); ++k) extra_outputs = extra_outputs || !bn.output(k).empty();
    if (extra_outputs) continue;
    auto p = producer.find(bn.input(0));
    if (p == producer.end()) continue;
    auto& conv = *g->mutable_node(p->second);
    if (conv.op_type() != "Conv" || readers[bn.input(0)] != 1 || graph_outputs.count(bn.input(0))) continue;
    auto* w = onnxio::find_initializer(*g, conv.input(1));
    const onnx::TensorProto* params[4];
    bool ok = w && w->data_type() == onnx::TensorProto::FLOAT && readers[conv.input(1)] == 1;
    for (int k = 0; k < 4 && ok; ++k) {
      params[k] = onnxio::find_initializer(*g, bn.input(k + 1));
      ok = params[k] != nullptr;
    }
    const onnx::TensorProto* b = conv.input_size() > 2 && !conv.input(2).empty() ? onnxio::find_initializer(*g, conv.input(2)) : nullptr;
    if (!ok || (conv.input_size() > 2 && !conv.input(2).empty() && (!b || readers[conv.input(2)] != 1))) continue;
    const float eps = onnxio::attr_float(bn, "epsilon", 1e-5f);
    auto W = exec::to_tensor(*w).to(at::kDouble);
    auto gamma = exec::to_tensor(*params[0]).to(at::kDouble), beta = exec::to_tensor(*params[1]).to(at::kDouble);
    auto mean = exec::to_tensor(*params[2]).to(at::kDouble), var = exec::to_tensor(*params[3]).to(at::kDouble);
    auto inv = gamma / at::sqrt(var + eps);
    std::vector<int64_t> shape(static_cast<std::size_t>(W.dim()), 1);
    shape[0] = -1;
    auto W2 = (W * inv.reshape(shape)).to(at::kFloat);
    auto B = b ? exec::to_tensor(*b).to(at::kDouble) : at::zeros_like(mean);
    auto B2 = ((B - mean) * inv + beta).to(at::kFloat);
    const std::string wname = conv.input(1);
    *w = exec::from_tensor(W2, wname);
    std::string bname = b ? conv.input(2) : wname + ".folded_bias";
    if (b) *onnxio::find_initializer(*g, bname) = exec::from_tensor(B2, bname);
    else *g->add_initializer() = exec::from_tensor(B2, bname);
    while (conv.input_size() < 3) conv.add_input("");
    conv.set_input(2, bname);
    conv.set_output(0, bn.output(0));
    drop.insert(i);
    ++count;
  }
  // Remove folded BN nodes and initializers nobody reads any more.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g->node_size(); ++i)
    if (!drop.count(i)) *nodes.Add() = g->node(i);
  g->mutable_node()->Swap(&nodes);
  std::set<std::string> used;
  for (const auto& n : g->node())
    for (const auto& in : n.input()) used.insert(in);
  for (const auto& o : g->output()) used.insert(o.name());
  auto* inits = g->mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i)
    if (!used.count(inits->Get(i).name())) inits->DeleteSubrange(i, 1);
  auto* inputs = g->mutable_input();
  std::set<std::string> init_names;
  for (const auto& t : g->initializer()) init_names.insert(t.name());
  for (int i = inputs->size() - 1; i >= 0; --i) {
    const auto& name = inputs->Get(i).name();
    if (!used.count(name) && !init_names.count(name)) inputs->DeleteSubrange(i, 1);
  }
  if (folded) *folded = count;
  return out;
}

}  // namespace nnc::compress
