#include "exec/fusion.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <memory>
#include <optional>

#include "exec/tensor_key.hpp"

namespace nnc::exec {
namespace {

struct FoldedConv {
  OpFn conv;
  float eps;
  std::vector<TensorKey> keys;
  uint64_t generation = ~uint64_t{0};
  at::Tensor weight, bias;

  void operator()(const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    // in: x, W, B (maybe undefined), gamma, beta, mean, var
    bool fresh = weight.defined() && rc.generation == generation && keys.size() + 1 == in.size();
    for (std::size_t i = 1; fresh && i < in.size(); ++i) fresh = keys[i - 1].matches(in[i]);
    if (!fresh) {
      auto inv = in[3] * at::rsqrt(in[6] + eps);
      std::vector<int64_t> shape(in[1].dim(), 1);
      shape[0] = -1;
      weight = (in[1] * inv.reshape(shape)).contiguous();
      auto b = in[2].defined() ? in[2] : at::zeros_like(in[5]);
      bias = ((b - in[5]) * inv + in[4]).contiguous();
      keys.clear();
      for (std::size_t i = 1; i < in.size(); ++i) keys.emplace_back(in[i]);
      generation = rc.generation;
    }
    std::array<at::Tensor, 3> conv_in{in[0], weight, bias};
    conv(rc, conv_in, out);
  }
};

// Who produces and who reads each value slot of a plan.
struct PlanUses {
  std::map<int, int> readers;               // slot -> number of reading inputs
  std::map<int, std::size_t> last_reader;  // slot -> the last step reading it
  std::map<int, std::size_t> producer;     // slot -> the step writing it

  explicit PlanUses(const std::vector<Step>& plan) {
    for (std::size_t i = 0; i < plan.size(); ++i) {
      for (int s : plan[i].in)
        if (s >= 0) {
          ++readers[s];
          last_reader[s] = i;
        }
      for (int o : plan[i].out)
        if (o >= 0) producer[o] = i;
    }
  }
};

}  // namespace

void fuse_gelu(std::vector<Step>& plan, std::vector<const onnx::NodeProto*>& nodes, const FusionContext& ctx) {
  PlanUses uses(plan);
  // Named references, not a structured binding: lambdas below use them (clang 14 cannot capture bindings).
  auto& readers = uses.readers;
  auto& last_reader = uses.last_reader;
  auto& producer = uses.producer;
  auto op = [&](std::size_t i) -> const std::string& { return nodes[i]->op_type(); };
  auto is_const = [&](int s, double value) {
    const at::Tensor* t = s >= 0 && ctx.constant ? ctx.constant(s) : nullptr;
    return t && t->numel() == 1 && at::isFloatingType(t->scalar_type()) &&
           std::abs(t->item<double>() - value) <= 1e-5 * std::abs(value);
  };
  // The single step reading slot s, when s is an intermediate (read once, not a graph output).
  auto only_reader = [&](int s) -> std::optional<std::size_t> {
    if (s < 0 || readers[s] != 1 || ctx.graph_outputs.count(s)) return std::nullopt;
    return last_reader[s];
  };
  // For a binary step: the operand other than `s`, or -2 when s is not one of exactly two inputs.
  auto other = [&](std::size_t i, int s) {
    const auto& in = plan[i].in;
    if (in.size() != 2) return -2;
    return in[0] == s ? in[1] : in[1] == s ? in[0] : -2;
  };
  std::vector<bool> removed(plan.size(), false);
  for (std::size_t e = 0; e < plan.size(); ++e) {
    if (op(e) != "Erf" || plan[e].in.size() != 1 || plan[e].out.size() != 1) continue;
    auto d = producer.find(plan[e].in[0]);
    if (d == producer.end() || op(d->second) != "Div" || plan[d->second].in.size() != 2) continue;
    const std::size_t div = d->second;
    const int x = plan[div].in[0];
    if (x < 0 || !is_const(plan[div].in[1], std::sqrt(2.0)) || !only_reader(plan[div].out[0])) continue;
    auto add = only_reader(plan[e].out[0]);
    if (!add || op(*add) != "Add" || !is_const(other(*add, plan[e].out[0]), 1.0)) continue;
    auto mul = only_reader(plan[*add].out[0]);
    if (!mul || op(*mul) != "Mul" || other(*mul, plan[*add].out[0]) != x) continue;
    auto half = only_reader(plan[*mul].out[0]);
    if (!half || op(*half) != "Mul" || !is_const(other(*half, plan[*mul].out[0]), 0.5)) continue;
    if (removed[div] || removed[e] || removed[*add] || removed[*mul]) continue;
    Step fused;
    fused.fn = [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
      out[0] = at::gelu(in[0]);
    };
    fused.in = {x};
    fused.out = {plan[*half].out[0]};
    fused.label = "GELU(" + plan[div].label + " .. " + plan[*half].label + ")";
    for (std::size_t k : {div, e, *add, *mul, *half})
      fused.nodes.insert(fused.nodes.end(), plan[k].nodes.begin(), plan[k].nodes.end());
    for (std::size_t k : {div, e, *add, *mul}) removed[k] = true;
    plan[*half] = std::move(fused);  // runs where the last step ran: x and nothing else is read
  }
  std::vector<Step> kept;
  std::vector<const onnx::NodeProto*> kept_nodes;
  for (std::size_t i = 0; i < plan.size(); ++i)
    if (!removed[i]) {
      kept.push_back(std::move(plan[i]));
      kept_nodes.push_back(nodes[i]);
    }
  plan = std::move(kept);
  nodes = std::move(kept_nodes);
}

std::vector<Step> fuse_conv_batchnorm(const std::vector<Step>& plan,
                                      const std::vector<const onnx::NodeProto*>& nodes,
                                      const FusionContext& ctx) {
  PlanUses uses(plan);
  // Named references, not a structured binding: lambdas below use them (clang 14 cannot capture bindings).
  auto& readers = uses.readers;
  auto& producer = uses.producer;

  std::vector<bool> absorbed(plan.size(), false);
  std::map<std::size_t, Step> replacement;  // BN step index -> fused step
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& bn = *nodes[i];
    if (bn.op_type() != "BatchNormalization" || plan[i].in.size() < 5) continue;
    if (plan[i].out.size() > 1) {
      bool extra = false;
      for (std::size_t k = 1; k < plan[i].out.size(); ++k) extra = extra || plan[i].out[k] >= 0;
      if (extra) continue;  // training-mode outputs requested
    }
    int x = plan[i].in[0];
    auto p = producer.find(x);
    if (p == producer.end()) continue;
    const auto& conv = *nodes[p->second];
    if (conv.op_type() != "Conv" || readers[x] != 1 || ctx.graph_outputs.count(x)) continue;
    const auto& cin = plan[p->second].in;
    bool weights = cin.size() >= 2 && ctx.is_weight(cin[1]) && (cin.size() < 3 || cin[2] < 0 || ctx.is_weight(cin[2]));
    for (int k = 1; k < 5; ++k) weights = weights && ctx.is_weight(plan[i].in[k]);
    if (!weights) continue;
    float eps = 1e-5f;
    for (const auto& a : bn.attribute())
      if (a.name() == "epsilon") eps = a.f();
    Step fused;
    auto folded = std::make_shared<FoldedConv>();
    folded->conv = plan[p->second].fn;
    folded->eps = eps;
    fused.fn = [folded](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
      (*folded)(rc, in, out);
    };
    fused.in = {cin[0], cin[1], cin.size() >= 3 ? cin[2] : -1, plan[i].in[1], plan[i].in[2], plan[i].in[3],
                plan[i].in[4]};
    fused.out = {plan[i].out[0]};
    fused.label = plan[p->second].label + "+" + plan[i].label;
    fused.nodes = plan[p->second].nodes;
    fused.nodes.insert(fused.nodes.end(), plan[i].nodes.begin(), plan[i].nodes.end());
    fused.onednn_inputs = plan[p->second].onednn_inputs;
    absorbed[p->second] = true;
    replacement[i] = std::move(fused);
  }
  std::vector<Step> out;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (absorbed[i]) continue;
    auto r = replacement.find(i);
    out.push_back(r != replacement.end() ? std::move(r->second) : plan[i]);
  }
  return out;
}

}  // namespace nnc::exec
