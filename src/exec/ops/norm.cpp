// Normalisation: BatchNormalization (inference and training), LayerNormalization,
// InstanceNormalization, Softmax, LogSoftmax.
#include <ATen/ATen.h>

#include <fmt/format.h>

#include <cmath>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

void expect_epsilon(const NodeInfo& n, double eps) {
  if (!(eps >= 0) || !std::isfinite(eps)) n.invalid(fmt::format("epsilon {} must be a finite number >= 0", eps));
}

// Per-channel parameters known at load (initializers) are vectors of one common length.
void expect_channel_vectors(const NodeInfo& n, std::initializer_list<std::size_t> inputs,
                            std::initializer_list<const char*> names) {
  int64_t channels = -1;
  const char* first = nullptr;
  auto name = names.begin();
  for (std::size_t i : inputs) {
    const char* what = *name++;
    auto t = n.constant_input(i);
    if (!t) continue;
    if (t->dim() != 1) n.invalid(fmt::format("{} has rank {}, expected one value per channel", what, t->dim()));
    if (first && t->size(0) != channels)
      n.invalid(fmt::format("{} has {} values but {} has {}", what, t->size(0), first, channels));
    if (!first) {
      first = what;
      channels = t->size(0);
    }
  }
}

OpFn build_batchnorm(const NodeInfo& n) {
  n.expect_attrs({"epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"});
  if (n.attr_int("spatial", 1) != 1) n.unsupported("BatchNormalization spatial=0");
  if (n.attr_int("training_mode", 0) != 0) n.unsupported("BatchNormalization training_mode=1");
  for (std::size_t i = 1; i < n.num_outputs(); ++i)
    if (!n.proto().output(static_cast<int>(i)).empty()) n.unsupported("BatchNormalization training outputs");
  const double eps = n.attr_float("epsilon", 1e-5f);
  expect_epsilon(n, eps);
  // ONNX: running = running * momentum + batch * (1 - momentum); ATen's momentum is the
  // weight of the batch statistic.
  const double momentum = 1.0 - n.attr_float("momentum", 0.9f);
  if (!std::isfinite(momentum)) n.invalid("momentum is not a finite number");
  expect_channel_vectors(n, {1, 2, 3, 4}, {"scale", "B", "mean", "var"});
  return [eps, momentum](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const bool recalibrating = rc.batchnorm_momentum >= 0;
    out[0] = at::batch_norm(in[0], in[1], in[2], in[3], in[4], rc.training || recalibrating,
                            recalibrating ? rc.batchnorm_momentum : momentum, eps, false);
  };
}

// LayerNormalization (opset 17): normalise over the dimensions from `axis` on, then Scale and B
// (broadcast onto those dimensions). Optional outputs Mean and InvStdDev keep the normalised
// dimensions as 1s.
OpFn build_layernorm(const NodeInfo& n) {
  n.expect_attrs({"axis", "epsilon", "stash_type"});
  if (n.attr_int("stash_type", 1) != 1) n.unsupported("LayerNormalization stash_type other than float");
  const int64_t axis = n.attr_int("axis", -1);
  const double eps = n.attr_float("epsilon", 1e-5f);
  expect_epsilon(n, eps);
  const bool has_bias = n.has_input(2);
  bool stats = false;
  for (std::size_t i = 1; i < n.num_outputs(); ++i) stats = stats || !n.proto().output(static_cast<int>(i)).empty();
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    const int64_t a = axis < 0 ? axis + x.dim() : axis;
    NNC_CHECK(a >= 0 && a < x.dim(), "LayerNormalization: axis {} out of range for rank {}", axis, x.dim());
    const auto shape = x.sizes().slice(static_cast<std::size_t>(a));
    const auto& scale = in[1];
    const at::Tensor bias = has_bias ? in[2] : at::Tensor();
    if (stats) {
      std::vector<int64_t> dims;
      for (int64_t d = a; d < x.dim(); ++d) dims.push_back(d);
      auto xf = x.to(at::kFloat);
      auto mean = xf.mean(dims, true);
      auto centred = xf - mean;
      auto inv = at::rsqrt(centred.pow(2).mean(dims, true) + eps);
      auto y = (centred * inv).to(x.scalar_type()) * scale;
      out[0] = bias.defined() ? y + bias : y;
      if (out.size() > 1) out[1] = mean;
      if (out.size() > 2) out[2] = inv;
      return;
    }
    if (scale.sizes() == shape && (!bias.defined() || bias.sizes() == shape)) {
      out[0] = at::layer_norm(x, shape, scale, bias, eps);
      return;
    }
    auto y = at::layer_norm(x, shape, {}, {}, eps) * scale;
    out[0] = bias.defined() ? y + bias : y;
  };
}

// InstanceNormalization: per sample and channel over the spatial dimensions, then scale/B per channel.
OpFn build_instancenorm(const NodeInfo& n) {
  n.expect_attrs({"epsilon"});
  const double eps = n.attr_float("epsilon", 1e-5f);
  expect_epsilon(n, eps);
  expect_channel_vectors(n, {1, 2}, {"scale", "B"});
  return [eps](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    NNC_CHECK(in[0].dim() >= 3, "InstanceNormalization: input of rank {} (need N x C x D1 ...)", in[0].dim());
    out[0] = at::instance_norm(in[0], in[1], in[2], {}, {}, true, 0.0, eps, false);
  };
}

// Softmax/LogSoftmax: before opset 13 the input is coerced to 2-D around `axis` (default 1);
// from 13 the operation is along `axis` (default -1).
OpFn build_softmax(const NodeInfo& n, bool log) {
  n.expect_attrs({"axis"});
  const bool legacy = n.opset() < 13;
  const int64_t axis = n.attr_int("axis", legacy ? 1 : -1);
  const std::string label = n.label();
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    int64_t a = axis < 0 ? axis + x.dim() : axis;
    // Opset 13 on: an axis of the input; before, the split point of its 2-D view (0 to rank).
    NNC_CHECK_CODE(a >= 0 && (a < x.dim() || (legacy && a <= x.dim())), kShape, "{}: axis {} out of range for rank {}",
                   label, axis, x.dim());
    if (!legacy) {
      out[0] = log ? at::log_softmax(x, a) : at::softmax(x, a);
      return;
    }
    int64_t outer = 1;
    for (int64_t d = 0; d < a; ++d) outer *= x.size(d);
    auto flat = x.reshape({outer, -1});
    auto y = log ? at::log_softmax(flat, 1) : at::softmax(flat, 1);
    out[0] = y.reshape(x.sizes());
  };
}

}  // namespace

void register_norm_ops(OpRegistry& r) {
  r.add("BatchNormalization", build_batchnorm);
  r.add("LayerNormalization", build_layernorm, 17);
  r.add("InstanceNormalization", build_instancenorm);
  r.add("Softmax", [](const NodeInfo& n) { return build_softmax(n, false); });
  r.add("LogSoftmax", [](const NodeInfo& n) { return build_softmax(n, true); });
}

}  // namespace nnc::exec
