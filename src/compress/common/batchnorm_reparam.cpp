#include "nncompress/compress/common/batchnorm_reparam.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>

#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/exec/weight_store.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::compress {

namespace {

constexpr float kEpsilon = 1e-5f;

}  // namespace

ReparamBatchnorm insert_identity_batchnorm(const onnx::ModelProto& model, const std::set<std::string>& skip,
                                           const std::vector<at::Tensor>& calib) {
  ReparamBatchnorm r{model, {}, {}};
  const auto& g = model.graph();
  std::map<std::string, std::vector<std::string>> readers;  // value -> op types reading it
  for (const auto& n : g.node())
    for (const auto& in : n.input()) readers[in].push_back(n.op_type());
  auto float_init = [&](const std::string& name) {
    const auto* t = onnxio::find_initializer(g, name);
    return t && t->data_type() == onnx::TensorProto::FLOAT ? t : nullptr;
  };
  auto* out = r.model.mutable_graph();
  out->clear_node();
  std::vector<std::string> stats;  // per inserted node: its parameter prefix
  for (const auto& n : g.node()) {
    *out->add_node() = n;
    if (n.op_type() != "Conv" || n.input_size() < 3 || n.output_size() != 1 || skip.count(n.input(1))) continue;
    const auto* w = float_init(n.input(1));
    const auto* b = float_init(n.input(2));
    if (!w || !b || w->dims_size() < 3) continue;
    const auto& users = readers[n.output(0)];
    if (std::find(users.begin(), users.end(), "BatchNormalization") != users.end()) continue;
    if (readers[n.input(1)].size() != 1 || readers[n.input(2)].size() != 1) continue;  // folded once
    const int64_t channels = w->dims(0);
    const std::string prefix = n.input(1) + ".reparam_bn";
    const std::string pre = n.output(0) + ".before_reparam_bn";
    out->mutable_node(out->node_size() - 1)->set_output(0, pre);
    auto* bn = out->add_node();
    bn->set_op_type("BatchNormalization");
    bn->set_name(prefix);
    for (const char* in : {"", ".scale", ".bias", ".mean", ".var"})
      bn->add_input(*in ? prefix + in : pre);
    bn->add_output(n.output(0));
    onnxio::set_attr(*bn, {"epsilon", kEpsilon});
    for (const char* p : {".scale", ".bias", ".mean", ".var"}) {
      const bool one = std::string(p) == ".scale" || std::string(p) == ".var";
      *out->add_initializer() = exec::from_tensor(one ? at::ones({channels}) : at::zeros({channels}), prefix + p);
    }
    r.weights.push_back(n.input(1));
    r.biases.push_back(n.input(2));
    stats.push_back(prefix);
  }
  if (stats.empty()) return {model, {}, {}};
  // Running statistics on the calibration images (recalibration re-estimates every BatchNorm: only
  // the inserted ones are taken), then the identity: scale = sqrt(var + eps), bias = mean, so
  // y = (x - mean) / sqrt(var + eps) * scale + bias = x in inference mode.
  exec::Engine engine(r.model);
  engine.recalibrate_batchnorm(calib);
  auto* graph = r.model.mutable_graph();
  auto put = [&](const std::string& name, const at::Tensor& value) {
    *onnxio::find_initializer(*graph, name) = exec::from_tensor(value.contiguous(), name);
  };
  for (const auto& prefix : stats) {
    const auto mean = engine.weights().get(prefix + ".mean"), var = engine.weights().get(prefix + ".var");
    put(prefix + ".mean", mean);
    put(prefix + ".var", var);
    put(prefix + ".scale", at::sqrt(var + kEpsilon));
    put(prefix + ".bias", mean);
  }
  return r;
}

void fold_reparam_batchnorm(const ReparamBatchnorm& reparam, const exec::WeightStore& trained,
                            exec::WeightStore& into) {
  c10::NoGradGuard no_grad;
  for (const auto& name : into.names())
    if (trained.contains(name)) into.set(name, trained.get(name));
  for (std::size_t i = 0; i < reparam.weights.size(); ++i) {
    const std::string prefix = reparam.weights[i] + ".reparam_bn";
    const auto k = trained.get(prefix + ".scale") / at::sqrt(trained.get(prefix + ".var") + kEpsilon);
    const auto& w = trained.get(reparam.weights[i]);
    std::vector<int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
    shape[0] = -1;
    into.set(reparam.weights[i], w * k.reshape(shape));
    into.set(reparam.biases[i], (trained.get(reparam.biases[i]) - trained.get(prefix + ".mean")) * k +
                                    trained.get(prefix + ".bias"));
  }
}

}  // namespace nnc::compress
