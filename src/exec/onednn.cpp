#include "exec/onednn.hpp"

#include <ATen/ATen.h>
#include <ATen/Config.h>

#include <map>

namespace nnc::exec::onednn {

bool available() { return AT_MKLDNN_ENABLED(); }

bool is_onednn(const at::Tensor& t) { return t.defined() && t.is_mkldnn(); }

at::Tensor dense(const at::Tensor& t) { return is_onednn(t) ? t.to_dense() : t; }

bool all_onednn(std::span<const at::Tensor> ts) {
  for (const auto& t : ts)
    if (t.defined() && !t.is_mkldnn()) return false;
  return true;
}

std::optional<at::Tensor> conv2d(PackedConv& cache, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                 const std::vector<int64_t>& pads, const std::vector<int64_t>& strides,
                                 const std::vector<int64_t>& dilations, int64_t groups) {
  if (!available() || x.dim() != 4 || w.dim() != 4 || x.scalar_type() != at::kFloat ||
      w.scalar_type() != at::kFloat || (b.defined() && b.scalar_type() != at::kFloat) || !x.device().is_cpu())
    return std::nullopt;
  // Grouped (not depthwise) convolutions with few output channels per group, such as low-rank
  // encoders, run far slower in oneDNN than their FLOPs suggest: they run as ONE dense
  // convolution whose weight is block-diagonal (zeros outside each group's block).
  const int64_t in_per_group = w.size(1), out_per_group = w.size(0) / groups;
  const bool block_diagonal = groups > 1 && in_per_group > 1 && out_per_group < 16;
  const int64_t run_groups = block_diagonal ? 1 : groups;
  if (!cache.weight.defined() || !cache.weight_key.matches(w) || !cache.bias_key.matches(b)) {
    at::Tensor wt = w.contiguous();
    if (block_diagonal) {
      wt = at::zeros({w.size(0), in_per_group * groups, w.size(2), w.size(3)}, w.options());
      for (int64_t g = 0; g < groups; ++g)
        wt.narrow(0, g * out_per_group, out_per_group)
            .narrow(1, g * in_per_group, in_per_group)
            .copy_(w.narrow(0, g * out_per_group, out_per_group));
    }
    cache.weight = at::mkldnn_reorder_conv2d_weight(wt.to_mkldnn(), pads, strides, dilations, run_groups);
    cache.bias = b.defined() ? b.contiguous() : at::Tensor();
    cache.weight_key = TensorKey(w);
    cache.bias_key = TensorKey(b);
  }
  at::Tensor input = x.is_mkldnn() ? x : x.contiguous().to_mkldnn();
  c10::optional<at::Tensor> bias;
  if (cache.bias.defined()) bias = cache.bias;
  return at::mkldnn_convolution(input, cache.weight, bias, pads, strides, dilations, run_groups);
}

std::optional<at::Tensor> linear(PackedLinear& cache, const at::Tensor& x, const at::Tensor& w, bool w_transposed,
                                 const at::Tensor& b) {
  const auto f32 = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat && t.device().is_cpu(); };
  if (!available() || x.dim() != 2 || w.dim() != 2 || !f32(x) || !f32(w) || x.is_mkldnn() || w.is_mkldnn())
    return std::nullopt;
  const int64_t n = w_transposed ? w.size(0) : w.size(1);
  const int64_t k = w_transposed ? w.size(1) : w.size(0);
  if (x.size(1) != k || x.size(0) == 0 || n == 0 || k == 0) return std::nullopt;
  if (b.defined() && (!f32(b) || b.is_mkldnn() || b.numel() != n || (b.dim() == 2 && b.size(0) != 1) || b.dim() > 2))
    return std::nullopt;
  if (!cache.weight.defined() || !cache.weight_key.matches(w)) {
    cache.weight = (w_transposed ? w : w.t()).contiguous();
    cache.weight_key = TensorKey(w);
  }
  c10::optional<at::Tensor> bias;
  if (b.defined()) bias = b.reshape({n}).contiguous();
  return at::mkldnn_linear(x.contiguous().to_mkldnn(), cache.weight, bias).to_dense();
}

void plan_layouts(std::vector<Step>& plan, const std::vector<int>& graph_outputs) {
  std::map<int, bool> all_readers_onednn;
  for (int s : graph_outputs) all_readers_onednn[s] = false;
  for (const auto& step : plan)
    for (int s : step.in)
      if (s >= 0) {
        auto [it, inserted] = all_readers_onednn.emplace(s, step.onednn_inputs);
        if (!inserted) it->second = it->second && step.onednn_inputs;
      }
  for (auto& step : plan) {
    bool keep = true;
    for (int s : step.out) {
      auto it = all_readers_onednn.find(s);
      if (s >= 0 && it != all_readers_onednn.end()) keep = keep && it->second;
    }
    if (keep) continue;
    step.fn = [fn = std::move(step.fn)](const RunContext& rc, std::span<const at::Tensor> in,
                                        std::span<at::Tensor> out) {
      RunContext dense_rc = rc;
      dense_rc.onednn = false;
      fn(dense_rc, in, out);
    };
  }
}

}  // namespace nnc::exec::onednn
