#include "nncompress/compress/share/bias_correction.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <set>

#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::share {
namespace {

int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return def;
}

double float_attr(const onnx::NodeProto& n, const std::string& name, double def) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return def;
}

}  // namespace

BiasCorrection::BiasCorrection(const onnx::ModelProto& model, const SharedSet& set, const at::Tensor& calib,
                               int64_t batch) {
  const auto& g = model.graph();
  std::map<std::string, const onnx::TensorProto*> init;
  for (const auto& t : g.initializer()) init[t.name()] = &t;
  std::map<std::string, std::size_t> tensor_of;
  for (std::size_t t = 0; t < set.names.size(); ++t) tensor_of[set.names[t]] = t;
  // A bias may be corrected only if it is read by its own layer alone and is not shared.
  std::map<std::string, int> readers;
  for (const auto& n : g.node())
    for (const auto& in : n.input()) ++readers[in];

  struct Pending {
    Layer layer;
    std::string input;  // the value whose channel means are needed
    int64_t groups = 1;
  };
  std::vector<Pending> pending;
  for (const auto& n : g.node()) {
    const bool conv = n.op_type() == "Conv", gemm = n.op_type() == "Gemm";
    if ((!conv && !gemm) || n.input_size() < 3 || n.input(2).empty()) continue;
    auto w = tensor_of.find(n.input(1));
    if (w == tensor_of.end() || !init.count(n.input(2)) || tensor_of.count(n.input(2)) || readers[n.input(2)] != 1)
      continue;
    const auto& bias = *init.at(n.input(2));
    if (bias.data_type() != onnx::TensorProto::FLOAT) continue;
    const auto& shape = set.shapes[w->second];
    Pending p;
    p.layer.tensor = w->second;
    p.layer.bias = n.input(2);
    p.layer.conv = conv;
    p.input = n.input(0);
    int64_t bias_elems = 1;
    for (auto d : bias.dims()) bias_elems *= d;
    if (conv) {
      p.groups = int_attr(n, "group", 1);
      if (shape.size() < 3 || bias_elems != shape[0]) continue;
    } else {
      if (int_attr(n, "transA", 0) != 0 || shape.size() != 2) continue;
      p.layer.transposed = int_attr(n, "transB", 0) == 0;
      const double beta = float_attr(n, "beta", 1.0);
      if (beta == 0) continue;
      p.layer.scale = float_attr(n, "alpha", 1.0) / beta;
      if (bias_elems != (p.layer.transposed ? shape[1] : shape[0])) continue;
    }
    pending.push_back(std::move(p));
  }
  if (pending.empty()) return;

  // One pass over the calibration set with the needed values as extra graph outputs.
  onnx::ModelProto probe = model;
  std::vector<std::string> values;
  std::map<std::string, std::size_t> slot;
  for (const auto& p : pending)
    if (!slot.count(p.input)) {
      slot[p.input] = values.size();
      values.push_back(p.input);
      probe.mutable_graph()->add_output()->set_name(p.input);
    }
  exec::Engine engine(probe);
  const auto base = static_cast<std::size_t>(g.output_size());
  std::vector<at::Tensor> sums(values.size());
  std::vector<int64_t> counts(values.size(), 0);  // elements per channel summed so far
  {
    c10::InferenceMode guard;
    for (const auto& b : data::split_batches(calib, batch)) {
      auto outs = engine.run({b});
      for (std::size_t v = 0; v < values.size(); ++v) {
        auto x = outs.at(base + v).to(at::kDouble);
        NNC_CHECK(x.dim() >= 2, "bias correction: value '{}' has rank {}, expected N x C...", values[v], x.dim());
        auto s = x.dim() > 2 ? x.flatten(2).sum(2).sum(0) : x.sum(0);  // per channel (dimension 1)
        sums[v] = sums[v].defined() ? sums[v] + s : s;
        counts[v] += x.numel() / x.size(1);
      }
    }
  }
  for (auto& p : pending) {
    const std::size_t v = slot.at(p.input);
    Layer l = p.layer;
    const auto& shape = set.shapes[l.tensor];
    const int64_t in = l.conv ? shape[1] : (l.transposed ? shape[0] : shape[1]);
    auto mean = (sums[v] / static_cast<double>(counts[v])).to(at::kFloat);
    if (mean.numel() != p.groups * in) continue;  // shapes disagree: leave the layer alone
    l.mean = mean.reshape({p.groups, in});
    l.bias0 = engine.weights().get(l.bias).detach().to(at::kFloat).flatten().clone();
    layers_.push_back(std::move(l));
  }
}

void BiasCorrection::apply(exec::Engine& engine, const SharedSet& set, std::span<const float> values) const {
  for (const auto& l : layers_) {
    const auto begin = set.offsets[l.tensor], n = set.offsets[l.tensor + 1] - begin;
    auto q = at::from_blob(const_cast<float*>(values.data() + begin), {static_cast<int64_t>(n)}, at::kFloat);
    auto w = at::from_blob(const_cast<float*>(set.values.data() + begin), {static_cast<int64_t>(n)}, at::kFloat);
    auto dw = (q - w).reshape(set.shapes[l.tensor]);
    at::Tensor shift;
    if (l.conv) {
      // [out, in/g, ...] -> per (out, in/g) sums over the kernel, then each output channel
      // against the input means of its group.
      auto per = dw.flatten(2).sum(2);  // [out, in/g]
      const int64_t groups = l.mean.size(0), out = per.size(0);
      auto per_g = per.reshape({groups, out / groups, per.size(1)});
      shift = at::bmm(per_g, l.mean.unsqueeze(2)).reshape({out});
    } else {
      shift = l.transposed ? at::matmul(l.mean.reshape({-1}), dw) : at::matmul(dw, l.mean.reshape({-1}));
      shift = shift * l.scale;
    }
    auto b = l.bias0 - shift;
    engine.weights().set(l.bias, b.reshape(engine.weights().get(l.bias).sizes()));
  }
}

void BiasCorrection::restore(exec::Engine& engine) const {
  for (const auto& l : layers_) engine.weights().set(l.bias, l.bias0.reshape(engine.weights().get(l.bias).sizes()));
}

}  // namespace nnc::share
