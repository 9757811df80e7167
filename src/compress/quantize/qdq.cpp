#include "nncompress/compress/quantize/qdq.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>
#include <optional>
#include <regex>
#include <set>

#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/job.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/model_store.hpp"

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
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (n.domain() != "" && n.domain() != "ai.onnx") continue;
    if (n.op_type() != "Conv" && n.op_type() != "Gemm" && n.op_type() != "MatMul") continue;
    if (n.input_size() < 2) continue;
    auto it = inits.find(n.input(1));
    if (it == inits.end() || it->second->data_type() != onnx::TensorProto::FLOAT || it->second->dims_size() < 2) continue;
    if (keep && (std::regex_search(n.name(), *keep) || std::regex_search(n.input(1), *keep))) continue;
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

// Symmetric int8 per channel along `axis` (or per tensor): q in [-127, 127], scale = max|w| / 127.
struct QuantisedWeight {
  at::Tensor q, scale;
};
QuantisedWeight quantise_weight(const at::Tensor& w, int64_t axis, bool per_channel) {
  at::Tensor absmax;
  if (per_channel) {
    absmax = w.abs().movedim(axis, 0).reshape({w.size(axis), -1}).amax(1);
  } else {
    absmax = w.abs().max().reshape({});
  }
  auto scale = at::where(absmax > 0, absmax / 127.0f, at::ones_like(absmax));
  std::vector<int64_t> shape(w.dim(), 1);
  if (per_channel) shape[axis] = w.size(axis);
  auto q = at::round(w / scale.reshape(shape)).clamp(-127, 127).to(at::kChar);
  return {q, scale};
}

// The range [lo, hi] of a tensor's values over the calibration batches.
struct Range {
  float lo = 0, hi = 0;
};

std::map<std::string, Range> calibrate(const onnx::ModelProto& model, const std::vector<std::string>& tensors,
                                       const std::vector<at::Tensor>& calib, const QdqOptions& o) {
  auto probe = model;
  auto* g = probe.mutable_graph();
  std::set<std::string> outputs;
  for (const auto& out : g->output()) outputs.insert(out.name());
  for (const auto& t : tensors) {
    if (outputs.count(t)) continue;
    auto* vi = g->add_output();
    vi->set_name(t);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  exec::Engine engine(probe);
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < engine.outputs().size(); ++i) index[engine.outputs()[i].name] = i;
  std::map<std::string, Range> ranges;
  std::map<std::string, std::vector<at::Tensor>> samples;
  for (const auto& batch : calib) {
    const auto values = engine.run({batch});
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
  return ranges;
}

}  // namespace

QdqModel quantize_qdq(const onnx::ModelProto& input, const QdqOptions& o, const std::vector<at::Tensor>& calib) {
  o.validate();
  const int opset = onnxio::opset_version(input);
  NNC_CHECK_CODE(opset >= 10, kUnsupported,
                 "opset {}: QuantizeLinear/DequantizeLinear need opset 10 or later (convert the model first)", opset);
  NNC_CHECK(o.weights_only || !calib.empty(), "activation ranges need calibration images");
  int folded = 0;
  auto model = fold_batchnorm(input, &folded);
  const bool per_channel = opset >= 13;
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
  for (const auto& n : g->node())
    if (n.op_type() != "Identity")
      for (const auto& i : n.input()) ++real_consumers[i];
  if (!o.weights_only) {
    for (const auto& t : targets) {
      const auto& n = g->node(t.node);
      for (const auto& name : {n.input(0), n.output(0)}) {
        if (graph_outputs.count(name) || inits.count(name) || !seen.insert(name).second) continue;
        if (name == n.output(0) && real_consumers[name] == 0) continue;
        activations.push_back(name);
      }
    }
  }
  const auto ranges = o.weights_only ? std::map<std::string, Range>{} : calibrate(model, activations, calib, o);
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
    const auto qw = quantise_weight(w, t.axis, per_channel);
    const std::string q = fresh(wname + ".i8"), sc = fresh(wname + ".s"), zp = fresh(wname + ".zp");
    const std::string dq = fresh(wname + ".dq");
    new_inits.push_back(exec::from_tensor(qw.q, q));
    new_inits.push_back(exec::from_tensor(qw.scale, sc));
    new_inits.push_back(exec::from_tensor(at::zeros_like(qw.scale, at::kChar), zp));
    head.push_back(make_node("DequantizeLinear", {q, sc, zp}, dq, per_channel ? std::optional<int64_t>(t.axis) : std::nullopt));
    rewired[{t.node, t.weight}] = dq;
    if (uses[wname] == 1) drop.insert(wname);
    nlohmann::json layer = {{"node", n.name()},
                            {"op", n.op_type()},
                            {"weight", wname},
                            {"params", w.numel()},
                            {"per_channel", per_channel},
                            {"axis", t.axis},
                            {"max_scale", qw.scale.max().item<float>()}};
    // The bias in int32 at the input's scale times the weight's (activations quantised only).
    if (t.bias >= 0 && acts.count(n.input(0))) {
      const std::string bname = n.input(t.bias);
      const auto b = exec::to_tensor(*inits.at(bname)).to(at::kFloat);
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
  out.report = {{"per_channel", per_channel},
                {"weights_only", o.weights_only},
                {"calibration", o.weights_only ? "" : o.calibration},
                {"calib_batches", calib.size()},
                {"folded_batchnorm", folded},
                {"layers", layers},
                {"activations", act_report}};
  return out;
}

nlohmann::json quantize_job(const std::filesystem::path& input, const std::filesystem::path& output,
                            const QdqOptions& o, data::DataOptions& data, const Control& control) {
  o.validate();
  data.validate();
  check_output_path(output, input);
  auto model = store::load_any_model(input, control);
  data::NormalisationChoice norm;
  auto splits = data::load_splits(data, model, control, &norm);
  const auto q = quantize_qdq(model, o, data::split_batches(splits.calib.images, data.batch));
  onnxio::save_model(q.model, output, input);  // checked, atomic, never over the input
  // Measured on the file as written (the engine runs QDQ graphs).
  const auto bytes = std::filesystem::file_size(output);
  data::Evaluator test(splits.test, data.batch), val(splits.val, data.batch);
  exec::Engine before(model), after(onnxio::load_model(output, {}, control));
  const auto tb = test.evaluate(before), ta = test.evaluate(after);
  const auto vb = val.evaluate(before), va = val.evaluate(after);
  const std::size_t fp32 = store::fp32_initializer_bytes(model);
  nlohmann::json j = q.report;
  j.update({{"model", input.string()},
            {"output", output.string()},
            {"top1_before", tb.top1},
            {"top1_after", ta.top1},
            {"top1_drop_pt", 100 * (tb.top1 - ta.top1)},
            {"top1_drop_se_pt", 100 * data::paired_top1_se(tb.correct, ta.correct)},
            {"val_top1_before", vb.top1},
            {"val_top1_after", va.top1},
            {"fp32_bytes", fp32},
            {"onnx_bytes", bytes},
            {"onnx_ratio", static_cast<double>(fp32) / static_cast<double>(bytes)},
            {"normalisation", data::normalisation_json(norm)}});
  return j;
}

}  // namespace nnc::compress
