#include "nncompress/compress/quantize/qdq.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/model_io.hpp"

namespace nnc::compress {

void QdqOptions::validate() const {
  NNC_CHECK_OPTION(calibration == "minmax" || calibration == "percentile", "calibration",
                   "'{}': expected minmax or percentile", calibration);
  NNC_CHECK_OPTION(percentile > 50 && percentile <= 100, "percentile", "{}: must be in (50, 100]", percentile);
  if (!keep_fp32.empty()) {
    try {
      std::regex re(keep_fp32);
    } catch (const std::regex_error& e) {
      fail_option("keep_fp32", "'{}': not a regular expression ({})", keep_fp32, e.what());
    }
  }
}

namespace {

// A node whose weight is quantised: which input is the weight, which the bias (-1: none), and
// the weight's output-channel axis.
struct Target {
  int node = 0;
  int weight = 1, bias = -1;
  int64_t axis = 0;
};

std::vector<Target> find_targets(const onnx::GraphProto& g, const std::map<std::string, const onnx::TensorProto*>& inits,
                                 const std::string& keep_fp32) {
  std::optional<std::regex> keep;
  if (!keep_fp32.empty()) keep.emplace(keep_fp32);
  std::vector<Target> out;
  bool kept_any = false;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (n.domain() != "" && n.domain() != "ai.onnx") continue;
    if (n.op_type() != "Conv" && n.op_type() != "Gemm" && n.op_type() != "MatMul") continue;
    if (n.input_size() < 2) continue;
    auto it = inits.find(n.input(1));
    if (it == inits.end() || it->second->data_type() != onnx::TensorProto::FLOAT || it->second->dims_size() < 2) continue;
    if (keep && (std::regex_search(n.name(), *keep) || std::regex_search(n.input(1), *keep))) {
      kept_any = true;
      continue;
    }
    Target t;
    t.node = i;
    if (n.op_type() == "Conv") {
      t.axis = 0;
    } else if (n.op_type() == "Gemm") {
      int64_t trans_b = 0;
      for (const auto& a : n.attribute())
        if (a.name() == "transB") trans_b = a.i();
      t.axis = trans_b ? 0 : 1;
    } else {
      if (it->second->dims_size() != 2) continue;  // batched MatMul weights stay float
      t.axis = 1;
    }
    if (n.op_type() != "MatMul" && n.input_size() > 2 && !n.input(2).empty()) {
      auto b = inits.find(n.input(2));
      const int64_t channels = it->second->dims(static_cast<int>(t.axis));
      if (b != inits.end() && b->second->data_type() == onnx::TensorProto::FLOAT && b->second->dims_size() == 1 &&
          b->second->dims(0) == channels)
        t.bias = 2;
    }
    out.push_back(t);
  }
  NNC_CHECK_OPTION(!keep || kept_any, "keep_fp32", "'{}' matches no layer", keep_fp32);
  return out;
}

// Quantisation nodes go unnamed (messages name a node by its output) and their values get short
// suffixes: in a ResNet-20 their names were 27 KB of the 316 KB file.
onnx::NodeProto make_node(const std::string& op, std::vector<std::string> inputs, const std::string& output,
                          std::optional<int64_t> axis = std::nullopt) {
  onnx::NodeProto n;
  n.set_op_type(op);
  for (auto& i : inputs) n.add_input(i);
  n.add_output(output);
  if (axis) {
    auto* a = n.add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(*axis);
  }
  return n;
}

// A weight of few distinct values (shared): the zero-aligned grid step s >= max|v| / qmax (so
// that every value fits in [-qmax, qmax]) with the least squared snapping error over its values,
// sum_k n_k (v_k - s round(v_k / s))^2, searched over s = max|v| / m for m from qmax down to
// about qmax / 2 in steps of 1/16. Values that fall between grid points move least when the step
// lines up with the codebook's own spacing.
float shared_grid_step(const at::Tensor& w, int qmax) {
  const auto [values, inverse, counts] = at::_unique2(w.reshape({-1}), true, false, true);
  const auto v = values.to(at::kDouble), n = counts.to(at::kDouble);
  const double absmax = v.abs().max().item<double>();
  if (absmax == 0) return 1.0f;
  double best = std::numeric_limits<double>::infinity(), best_step = absmax / qmax;
  for (int k = 0; k <= (qmax / 2) * 16; ++k) {
    const double step = absmax / (qmax - k / 16.0);
    const double err = (n * (v - at::round(v / step) * step).square()).sum().item<double>();
    if (err < best * (1 - 1e-9)) {
      best = err;
      best_step = step;
    }
  }
  return static_cast<float>(best_step);
}

// Symmetric int8 per channel along `axis` (or per tensor): q in [-qmax, qmax] (127, or 63 with
// reduce_range), scale = max|w| / qmax (a shared weight, per tensor: its best-fitting grid step,
// shared_grid_step).
struct QuantisedWeight {
  at::Tensor q, scale, dequantised;  // int8 values, scales, q x scale
};
QuantisedWeight quantise_weight(const at::Tensor& w, int64_t axis, bool per_channel, bool shared, int qmax) {
  at::Tensor absmax;
  if (per_channel) {
    absmax = w.abs().movedim(axis, 0).reshape({w.size(axis), -1}).amax(1);
  } else {
    absmax = w.abs().max().reshape({});
  }
  auto scale = at::where(absmax > 0, absmax / static_cast<float>(qmax), at::ones_like(absmax));
  if (shared && !per_channel) scale = at::scalar_tensor(shared_grid_step(w, qmax), at::kFloat);
  std::vector<int64_t> shape(w.dim(), 1);
  if (per_channel) shape[axis] = w.size(axis);
  auto q = at::round(w / scale.reshape(shape)).clamp(-qmax, qmax).to(at::kChar);
  return {q, scale, q.to(at::kFloat) * scale.reshape(shape)};
}

// The range [lo, hi] of a tensor's values over the calibration batches.
struct Range {
  float lo = 0, hi = 0;
};

// What the calibration images show: the ranges of `tensors` and the per-channel means (axis 1,
// over every other axis) of `mean_tensors`, in the float model.
struct Calibration {
  std::map<std::string, Range> ranges;
  std::map<std::string, at::Tensor> channel_means;
};

Calibration calibrate(const onnx::ModelProto& model, const std::vector<std::string>& tensors,
                      const std::vector<std::string>& mean_tensors, const std::vector<at::Tensor>& calib,
                      const QdqOptions& o) {
  auto probe = model;
  auto* g = probe.mutable_graph();
  std::set<std::string> outputs;
  for (const auto& out : g->output()) outputs.insert(out.name());
  std::set<std::string> probed(tensors.begin(), tensors.end());
  probed.insert(mean_tensors.begin(), mean_tensors.end());
  for (const auto& t : probed) {
    if (outputs.count(t)) continue;
    auto* vi = g->add_output();
    vi->set_name(t);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  exec::Engine engine(probe);
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < engine.outputs().size(); ++i) index[engine.outputs()[i].name] = i;
  Calibration c;
  auto& ranges = c.ranges;
  std::map<std::string, std::vector<at::Tensor>> samples;
  std::map<std::string, at::Tensor> sums;
  std::map<std::string, int64_t> counts;
  for (const auto& batch : calib) {
    const auto values = engine.run({batch});
    for (const auto& t : mean_tensors) {
      const auto v = values.at(index.at(t)).to(at::kDouble);
      if (v.dim() < 2) continue;
      const auto per_channel = v.movedim(1, 0).reshape({v.size(1), -1});
      auto sum = per_channel.sum(1);
      sums[t] = sums[t].defined() ? sums[t] + sum : sum;
      counts[t] += per_channel.size(1);
    }
    for (const auto& t : tensors) {
      const auto v = values.at(index.at(t)).to(at::kFloat).reshape({-1});
      if (o.calibration == "minmax") {
        auto& r = ranges[t];
        r.lo = std::min(r.lo, v.min().item<float>());
        r.hi = std::max(r.hi, v.max().item<float>());
      } else {
        // At most 2^18 values per batch (evenly strided) go into the percentile.
        const int64_t step = std::max<int64_t>(1, v.numel() >> 18);
        samples[t].push_back(v.slice(0, 0, v.numel(), step).clone());
      }
    }
  }
  if (o.calibration == "percentile") {
    const double q = o.percentile / 100.0;
    for (const auto& t : tensors) {
      auto all = at::cat(samples[t]);
      auto& r = ranges[t];
      r.lo = std::min(0.0f, at::quantile(all, 1.0 - q).item<float>());
      r.hi = std::max(0.0f, at::quantile(all, q).item<float>());
    }
  }
  for (const auto& [t, sum] : sums) c.channel_means[t] = (sum / static_cast<double>(counts.at(t))).to(at::kFloat);
  return c;
}

// Empirical bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and
// Bias Correction", ICCV 2019, Sec. 4.2, with the input means measured): the change to each
// output's bias that keeps its mean over the calibration images, (W - W_q) E[x]. For a shared
// weight the snapping moves whole codebook entries (the near-zero bin's mean to 0, say), a
// systematic shift this cancels. Undefined when the layer's form is not covered (MatMul, Gemm
// with transA, a mean of the wrong size).
at::Tensor bias_correction(const onnx::NodeProto& n, const at::Tensor& delta, const at::Tensor& mean) {
  if (n.op_type() == "Conv") {
    int64_t group = 1;
    for (const auto& a : n.attribute())
      if (a.name() == "group") group = a.i();
    const int64_t out = delta.size(0), cg = delta.size(1);
    if (group < 1 || out % group != 0 || mean.numel() != cg * group) return {};
    const auto per_input = delta.reshape({out, cg, -1}).sum(2);  // [O, C/g]
    return (per_input.reshape({group, out / group, cg}) * mean.reshape({group, 1, cg})).sum(2).reshape({out});
  }
  if (n.op_type() == "Gemm") {
    int64_t trans_a = 0, trans_b = 0;
    float alpha = 1, beta = 1;
    for (const auto& a : n.attribute()) {
      if (a.name() == "transA") trans_a = a.i();
      if (a.name() == "transB") trans_b = a.i();
      if (a.name() == "alpha") alpha = a.f();
      if (a.name() == "beta") beta = a.f();
    }
    if (trans_a || beta == 0) return {};
    const auto w = trans_b ? delta : delta.t();  // [O, K]
    if (mean.numel() != w.size(1)) return {};
    return at::mv(w, mean) * (alpha / beta);
  }
  return {};
}

}  // namespace

QdqModel quantize_qdq(const onnx::ModelProto& input, const QdqOptions& o, const std::vector<at::Tensor>& calib,
                      const std::set<std::string>& per_tensor) {
  o.validate();
  const int opset = onnxio::opset_version(input);
  NNC_CHECK_CODE(opset >= 10, kUnsupported,
                 "opset {}: QuantizeLinear/DequantizeLinear need opset 10 or later (convert the model first)", opset);
  NNC_CHECK(o.weights_only || !calib.empty(), "activation ranges need calibration images");
  int folded = 0;
  auto model = fold_batchnorm(input, &folded);
  const bool channels_allowed = opset >= 13;
  auto* g = model.mutable_graph();
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : g->initializer()) inits[t.name()] = &t;
  const auto targets = find_targets(*g, inits, o.keep_fp32);
  NNC_CHECK_CODE(!targets.empty(), kUnsupported, "no Conv, Gemm or MatMul with an initializer weight to quantise");

  // Activations: what the quantised operators read and write (not the graph's outputs: their names stay float).
  std::set<std::string> graph_outputs;
  for (const auto& out : g->output()) graph_outputs.insert(out.name());
  std::vector<std::string> activations;
  std::set<std::string> seen;
  // Outputs read only on the way to the graph's outputs (the logits through an Identity) stay float.
  std::map<std::string, int> real_consumers;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers;
  for (const auto& n : g->node()) {
    if (n.op_type() != "Identity")
      for (const auto& i : n.input()) ++real_consumers[i];
    for (const auto& i : n.input()) consumers[i].push_back(&n);
  }
  // A layer whose output only goes through Relu or Clip is quantised after them: the runtime folds
  // the activation into its int8 kernel (the quantised range starts at the clip), where a pair
  // before it would requantise.
  auto activation_after = [&](const std::string& name) {
    std::vector<std::string> outs;
    for (const auto* c : consumers[name]) {
      const bool act = (c->op_type() == "Relu" || c->op_type() == "Clip") && (c->domain().empty() || c->domain() == "ai.onnx") &&
                       c->output_size() == 1 && c->input(0) == name && !graph_outputs.count(c->output(0));
      if (!act) return std::vector<std::string>{};
      outs.push_back(c->output(0));
    }
    return outs;
  };
  if (!o.weights_only) {
    for (const auto& t : targets) {
      const auto& n = g->node(t.node);
      std::vector<std::string> names{n.input(0)};
      const auto after = activation_after(n.output(0));
      if (after.empty()) names.push_back(n.output(0));
      names.insert(names.end(), after.begin(), after.end());
      for (const auto& name : names) {
        if (graph_outputs.count(name) || inits.count(name) || !seen.insert(name).second) continue;
        if (name == n.output(0) && real_consumers[name] == 0) continue;
        activations.push_back(name);
      }
    }
  }
  // Inputs of the layers whose bias can take a correction: their channel means.
  std::vector<std::string> mean_tensors;
  if (o.bias_correction && !calib.empty())
    for (const auto& t : targets) {
      const auto& n = g->node(t.node);
      if (t.bias >= 0 && n.op_type() != "MatMul" &&
          std::find(mean_tensors.begin(), mean_tensors.end(), n.input(0)) == mean_tensors.end())
        mean_tensors.push_back(n.input(0));
    }
  const auto calibration = calib.empty() || (o.weights_only && mean_tensors.empty())
                               ? Calibration{}
                               : calibrate(model, o.weights_only ? std::vector<std::string>{} : activations, mean_tensors,
                                           calib, o);
  const auto& ranges = calibration.ranges;
  struct Act {
    float scale;
    uint8_t zero_point;
  };
  std::map<std::string, Act> acts;
  nlohmann::json act_report = nlohmann::json::array();
  for (const auto& name : activations) {
    const auto r = ranges.at(name);
    const float lo = std::min(0.0f, r.lo), hi = std::max(0.0f, r.hi);
    const float scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    const auto zp = static_cast<uint8_t>(std::clamp(std::nearbyint(-lo / scale), 0.0f, 255.0f));
    acts[name] = {scale, zp};
    act_report.push_back({{"tensor", name}, {"min", r.lo}, {"max", r.hi}, {"scale", scale}, {"zero_point", zp}});
  }
  // Operators that only move or select values (MaxPool, Flatten, Reshape, ...) pass their input's
  // quantisation on: their output gets the same scale and zero point (a max of values stays in
  // their range), so that a runtime runs them on int8 values or drops their Q/DQ pair instead of
  // dequantising, running them in float and quantising again (ONNX Runtime needs equal
  // parameters on both sides).
  static const std::set<std::string> kMovers{"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze"};
  if (!o.weights_only)
    for (const auto& n : g->node()) {
      if (!kMovers.count(n.op_type()) || (n.domain() != "" && n.domain() != "ai.onnx") || n.input_size() < 1 ||
          n.output_size() != 1 || !acts.count(n.input(0)) || graph_outputs.count(n.output(0)))
        continue;
      const auto& out = n.output(0);
      if (!acts.count(out)) {
        activations.push_back(out);
      } else {  // calibrated as a layer's input: inherited instead
        for (auto it = act_report.begin(); it != act_report.end(); ++it)
          if ((*it)["tensor"] == out) {
            act_report.erase(it);
            break;
          }
      }
      acts[out] = acts.at(n.input(0));
      act_report.push_back({{"tensor", out}, {"from", n.input(0)}, {"scale", acts[out].scale},
                            {"zero_point", acts[out].zero_point}});
    }

  // Every value name in use; new ones get a counter when their short name is taken.
  std::set<std::string> names;
  for (const auto& t : g->initializer()) names.insert(t.name());
  for (const auto& in : g->input()) names.insert(in.name());
  for (const auto& n : g->node())
    for (const auto& v : n.output()) names.insert(v);
  auto fresh = [&](const std::string& base) {
    std::string name = base;
    for (int i = 1; !names.insert(name).second; ++i) name = base + "_" + std::to_string(i);
    return name;
  };

  // New initializers and the weight DequantizeLinear nodes (before every other node).
  std::vector<onnx::TensorProto> new_inits;
  std::vector<onnx::NodeProto> head;
  std::map<std::pair<int, int>, std::string> rewired;  // (node, input) -> new input name
  std::map<std::string, int> uses;
  for (const auto& n : g->node())
    for (const auto& i : n.input()) ++uses[i];
  std::set<std::string> drop;
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& t : targets) {
    const auto& n = g->node(t.node);
    const std::string wname = n.input(t.weight);
    const auto w = exec::to_tensor(*inits.at(wname)).to(at::kFloat);
    const bool per_channel = channels_allowed && !per_tensor.count(wname);
    const auto qw = quantise_weight(w, t.axis, per_channel, per_tensor.count(wname) > 0, o.reduce_range ? 63 : 127);
    const std::string q = fresh(wname + ".i8"), sc = fresh(wname + ".s"), zp = fresh(wname + ".zp");
    const std::string dq = fresh(wname + ".dq");
    new_inits.push_back(exec::from_tensor(qw.q, q));
    new_inits.push_back(exec::from_tensor(qw.scale, sc));
    new_inits.push_back(exec::from_tensor(at::zeros_like(qw.scale, at::kChar), zp));
    head.push_back(make_node("DequantizeLinear", {q, sc, zp}, dq, per_channel ? std::optional<int64_t>(t.axis) : std::nullopt));
    rewired[{t.node, t.weight}] = dq;
    if (uses[wname] == 1) drop.insert(wname);
    // How far the grid moved the values (a shared weight's values are snapped to it).
    const auto error = (w - qw.dequantised).abs();  // and the bias corrected for it (below)
    nlohmann::json layer = {{"node", n.name()},
                            {"op", n.op_type()},
                            {"weight", wname},
                            {"int8", q},
                            {"params", w.numel()},
                            {"per_channel", per_channel},
                            {"axis", t.axis},
                            {"max_scale", qw.scale.max().item<float>()},
                            {"zeros", (qw.q == 0).sum().item<int64_t>()},
                            {"distinct", std::get<0>(at::_unique(qw.q)).numel()},
                            {"max_abs_error", error.max().item<float>()},
                            {"mean_abs_error", error.mean().item<float>()}};
    // The bias, corrected for the mean change of the outputs the grid made.
    at::Tensor correction;
    if (t.bias >= 0)
      if (auto m = calibration.channel_means.find(n.input(0)); m != calibration.channel_means.end())
        correction = bias_correction(n, w - qw.dequantised, m->second);
    if (correction.defined()) layer["bias_correction_max"] = correction.abs().max().item<float>();
    const std::string bname = t.bias >= 0 ? n.input(t.bias) : std::string();
    const auto bias = [&] {
      const auto b = exec::to_tensor(*inits.at(bname)).to(at::kFloat);
      return correction.defined() ? b + correction : b;
    };
    if (correction.defined() && !acts.count(n.input(0))) {  // float bias: a corrected copy
      const std::string bc = fresh(bname + ".bc");
      new_inits.push_back(exec::from_tensor(bias(), bc));
      rewired[{t.node, t.bias}] = bc;
      if (uses[bname] == 1) drop.insert(bname);
    }
    // The bias in int32 at the input's scale times the weight's (activations quantised only).
    if (t.bias >= 0 && acts.count(n.input(0))) {
      const auto b = bias();
      const auto bscale = qw.scale * acts.at(n.input(0)).scale;
      const auto bq = at::round(b / bscale).clamp(-2147483647.0, 2147483647.0).to(at::kInt);
      const std::string bi = fresh(bname + ".i32"), bs = fresh(bname + ".s"), bdq = fresh(bname + ".dq");
      new_inits.push_back(exec::from_tensor(bq, bi));
      new_inits.push_back(exec::from_tensor(bscale.reshape(per_channel ? std::vector<int64_t>{-1} : std::vector<int64_t>{}),
                                            bs));
      head.push_back(make_node("DequantizeLinear", {bi, bs}, bdq, per_channel ? std::optional<int64_t>(0) : std::nullopt));
      rewired[{t.node, t.bias}] = bdq;
      if (uses[bname] == 1) drop.insert(bname);
      layer["bias_int32"] = true;
    }
    layers.push_back(layer);
  }

  // Activation QuantizeLinear/DequantizeLinear pairs: after the producer (or first, for graph
  // inputs); every consumer then reads the dequantised value.
  std::map<std::string, std::string> dequantized;  // activation -> what its consumers read
  for (const auto& name : activations) dequantized[name] = fresh(name + ".dq");
  auto qdq_pair = [&](const std::string& name, std::vector<onnx::NodeProto>& out) {
    const auto& a = acts.at(name);
    const std::string sc = fresh(name + ".s"), zp = fresh(name + ".zp"), q = fresh(name + ".q");
    new_inits.push_back(exec::from_tensor(at::scalar_tensor(a.scale, at::kFloat), sc));
    new_inits.push_back(exec::from_tensor(at::scalar_tensor(a.zero_point, at::kByte), zp));
    out.push_back(make_node("QuantizeLinear", {name, sc, zp}, q));
    out.push_back(make_node("DequantizeLinear", {q, sc, zp}, dequantized.at(name)));
  };
  std::set<std::string> produced;
  for (const auto& n : g->node())
    for (const auto& out : n.output()) produced.insert(out);
  std::vector<onnx::NodeProto> nodes = head;
  for (const auto& name : activations)
    if (!produced.count(name)) qdq_pair(name, nodes);
  for (int i = 0; i < g->node_size(); ++i) {
    auto n = g->node(i);
    for (int j = 0; j < n.input_size(); ++j) {
      if (auto it = rewired.find({i, j}); it != rewired.end()) n.set_input(j, it->second);
      else if (acts.count(n.input(j))) n.set_input(j, dequantized.at(n.input(j)));
    }
    nodes.push_back(n);
    for (const auto& out : g->node(i).output())
      if (acts.count(out)) qdq_pair(out, nodes);
  }
  g->clear_node();
  for (auto& n : nodes) *g->add_node() = std::move(n);
  auto kept = *g->mutable_initializer();
  g->clear_initializer();
  for (auto& t : kept)
    if (!drop.count(t.name())) *g->add_initializer() = std::move(t);
  for (auto& t : new_inits) *g->add_initializer() = std::move(t);
  // Graph inputs listing dropped initializers (IR < 4 models) go too.
  auto inputs = *g->mutable_input();
  g->clear_input();
  for (auto& in : inputs)
    if (!drop.count(in.name())) *g->add_input() = std::move(in);
  g->clear_value_info();  // shapes of renamed values are re-inferred by runtimes

  QdqModel out;
  out.model = std::move(model);
  out.report = {{"per_channel", channels_allowed},
                {"weights_only", o.weights_only},
                {"calibration", o.weights_only ? "" : o.calibration},
                {"calib_batches", calib.size()},
                {"folded_batchnorm", folded},
                {"layers", layers},
                {"activations", act_report}};
  return out;
}

}  // namespace nnc::compress
