// Element-wise operators: binary arithmetic with numpy broadcasting, activations, Clip,
// Identity, Dropout, Cast, and small math ops exporters emit.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "exec/onednn.hpp"
#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::exec {
namespace {

using Unary = at::Tensor (*)(const at::Tensor&);
using Binary = at::Tensor (*)(const at::Tensor&, const at::Tensor&);

OpBuilder unary(Unary f) {
  return [f](const NodeInfo& n) -> OpFn {
    n.expect_attrs({});
    return [f](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) { out[0] = f(in[0]); };
  };
}

OpBuilder binary(Binary f) {
  return [f](const NodeInfo& n) -> OpFn {
    // Before opset 7, broadcasting was opt-in via broadcast/axis; numpy-compatible cases
    // (axis absent) behave the same, others are unsupported.
    n.expect_attrs({"broadcast", "axis", "consumed_inputs"});
    if (n.has_attr("axis")) n.unsupported("legacy broadcast with 'axis'");
    n.expect_int_in("broadcast", 0, 1);
    return [f](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
      out[0] = f(in[0], in[1]);
    };
  };
}

// Add and Relu also run on oneDNN tensors (the residual/activation steps between prepacked
// convolutions), in place when this step holds the only reference to the input.
OpFn build_add(const NodeInfo& n) {
  n.expect_attrs({"broadcast", "axis", "consumed_inputs"});
  if (n.has_attr("axis")) n.unsupported("legacy broadcast with 'axis'");
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& a = in[0];
    const at::Tensor& b = in[1];
    if (onednn::is_onednn(a) || onednn::is_onednn(b)) {
      if (onednn::all_onednn(in) && a.sizes() == b.sizes()) {
        if (a.use_count() == 1) {
          a.add_(b);
          out[0] = a;
        } else {
          out[0] = at::add(a, b);
        }
        return;
      }
      out[0] = at::add(onednn::dense(a), onednn::dense(b));
      return;
    }
    out[0] = at::add(a, b);
  };
}

// True when `x` may be overwritten: inference (no autograd), and the engine handed over its last
// reference (the value is not read again), and no other tensor shares its storage (a view).
bool can_overwrite(const at::Tensor& x) {
  if (!c10::InferenceMode::is_enabled() || x.use_count() != 1) return false;
  return x.is_mkldnn() || (x.has_storage() && x.storage().use_count() == 1);
}

OpFn build_relu(const NodeInfo& n) {
  n.expect_attrs({"consumed_inputs"});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];
    if (can_overwrite(x)) {
      x.relu_();
      out[0] = x;
      return;
    }
    out[0] = at::relu(x);
  };
}

at::Tensor div_op(const at::Tensor& a, const at::Tensor& b) {
  // Integer division truncates in ONNX (C semantics).
  if (!at::isFloatingType(a.scalar_type())) return at::div(a, b, "trunc");
  // A one-value divisor: ATen would multiply by its reciprocal, which rounds differently from
  // the true division ONNX specifies (2.5 / (5 / 255) gives 127.49999 by division, 127.5 by
  // the reciprocal; a Round after it then differs). ATen takes a broadcast (stride 0) divisor for
  // a scalar too, so the divisor is materialised.
  if (b.numel() == 1 && a.numel() > 1)
    return at::div(a, b.expand(at::infer_size(a.sizes(), b.sizes())).contiguous());
  return at::div(a, b);
}

OpFn build_leaky_relu(const NodeInfo& n) {
  n.expect_attrs({"alpha"});
  const double alpha = n.attr_float("alpha", 0.01f);
  return [alpha](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::leaky_relu(in[0], alpha);
  };
}

OpFn build_hard_sigmoid(const NodeInfo& n) {
  n.expect_attrs({"alpha", "beta", "consumed_inputs"});
  const double alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
  return [alpha, beta](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::clamp(in[0] * alpha + beta, 0.0, 1.0);
  };
}

OpFn build_elu(const NodeInfo& n) {
  n.expect_attrs({"alpha"});
  const double alpha = n.attr_float("alpha", 1.0f);
  return [alpha](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::elu(in[0], alpha);
  };
}

// Gelu (opset 20): exact (erf) or tanh approximation.
OpFn build_gelu(const NodeInfo& n) {
  n.expect_attrs({"approximate"});
  const std::string approximate = n.attr_string("approximate", "none");
  if (approximate != "none" && approximate != "tanh") n.unsupported("approximate '" + approximate + "'");
  return [approximate](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::gelu(in[0], approximate);
  };
}

OpFn build_celu(const NodeInfo& n) {
  n.expect_attrs({"alpha"});
  const double alpha = n.attr_float("alpha", 1.0f);
  if (alpha == 0) n.unsupported("alpha 0");
  return [alpha](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::celu(in[0], alpha);
  };
}

// PRelu: from opset 7 the slope broadcasts unidirectionally onto X (PyTorch exports [C, 1, 1]
// for per-channel slopes); before, a 1-D slope of C values applies per channel (axis 1).
OpFn build_prelu(const NodeInfo& n) {
  n.expect_attrs({"consumed_inputs"});
  const bool legacy = n.opset() < 7;
  return [legacy](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    at::Tensor slope = in[1];
    if (legacy && slope.dim() == 1 && slope.numel() > 1 && x.dim() > 2 && slope.size(0) == x.size(1)) {
      std::vector<int64_t> shape(static_cast<std::size_t>(x.dim() - 1), 1);
      shape[0] = slope.size(0);
      slope = slope.reshape(shape);
    }
    out[0] = at::where(x >= 0, x, x * slope);
  };
}

OpFn build_selu(const NodeInfo& n) {
  n.expect_attrs({"alpha", "gamma", "consumed_inputs"});
  const double alpha = n.attr_float("alpha", 1.67326319217681884765625f);
  const double gamma = n.attr_float("gamma", 1.05070102214813232421875f);
  return [alpha, gamma](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = gamma * at::where(in[0] > 0, in[0], alpha * at::expm1(in[0]));
  };
}

OpFn build_clip(const NodeInfo& n) {
  if (n.opset() < 11) {
    n.expect_attrs({"min", "max", "consumed_inputs"});
    const double lo = n.attr_float("min", -std::numeric_limits<float>::infinity());
    const double hi = n.attr_float("max", std::numeric_limits<float>::infinity());
    return [lo, hi](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
      if (can_overwrite(in[0]) && in[0].is_floating_point()) {
        in[0].clamp_(lo, hi);
        out[0] = in[0];
        return;
      }
      out[0] = at::clamp(in[0], lo, hi);
    };
  }
  n.expect_attrs({});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];  // a reference: a copy would hold a second reference
    const bool has_min = in.size() > 1 && in[1].defined();
    const bool has_max = in.size() > 2 && in[2].defined();
    if (has_min && has_max && can_overwrite(x) && !x.is_mkldnn()) {
      // In place on the last reference (ReLU6 in MobileNets: no new activation buffer).
      x.clamp_(in[1].item(), in[2].item());
      out[0] = x;
    } else if (has_min && has_max) out[0] = at::clamp(x, in[1].item(), in[2].item());
    else if (has_min) out[0] = at::clamp_min(x, in[1].item());
    else if (has_max) out[0] = at::clamp_max(x, in[2].item());
    else out[0] = x;
  };
}

OpFn build_dropout(const NodeInfo& n) {
  n.expect_attrs({"ratio", "is_test", "seed", "consumed_inputs"});
  const double attr_ratio = n.attr_float("ratio", 0.5f);
  // Kept values are scaled by 1 / (1 - ratio): ratio 1 would divide by zero.
  if (!(attr_ratio >= 0 && attr_ratio < 1)) n.invalid(fmt::format("ratio {} must be in [0, 1)", attr_ratio));
  const bool is_test = n.attr_int("is_test", 0) != 0;
  const bool mask_out = n.num_outputs() > 1 && !n.proto().output(1).empty();
  // Training is the engine's mode (Engine::set_training); a graph-driven training_mode input
  // would ask for random outputs at inference time, unless its ratio is a constant 0 (then the
  // output is the input in either mode: torchvision's Swin exports its attention dropout so).
  if (n.has_input(2)) {
    auto c = n.constant_input(2);
    auto r = n.has_input(1) ? n.constant_input(1) : std::nullopt;
    const bool zero_ratio = r && r->numel() == 1 && r->item<double>() == 0.0;
    if (!zero_ratio && (!c || c->item<bool>()))
      n.unsupported("Dropout training_mode input (use the engine's training mode)");
  }
  return [=, label = n.label()](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    double ratio = attr_ratio;
    if (in.size() > 1 && in[1].defined()) ratio = in[1].item<double>();
    NNC_CHECK_CODE(ratio >= 0 && ratio < 1, kShape, "{}: ratio {} must be in [0, 1)", label, ratio);
    bool train = rc.training && !is_test;
    if (in.size() > 2 && in[2].defined()) train = train || in[2].item<bool>();
    if (!train || ratio == 0.0) {
      out[0] = in[0];
      if (mask_out) out[1] = at::ones(in[0].sizes(), at::kBool);
      return;
    }
    auto keep = at::rand(in[0].sizes()) >= ratio;
    out[0] = in[0] * keep.to(in[0].scalar_type()) / (1.0 - ratio);
    if (mask_out) out[1] = keep;
  };
}

OpFn build_cast(const NodeInfo& n) {
  n.expect_attrs({"to", "saturate"});
  auto type = exec::scalar_type_from_onnx(static_cast<int>(n.attr_int("to", 1)), n.label() + " 'to'");
  return [type](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = in[0].to(type);
  };
}

// A constant one-value exponent (LayerNorm's x^2, exported by PyTorch before opset 17) takes
// ATen's scalar path: x^2 as x*x in one vectorised pass instead of a broadcast tensor power.
OpFn build_pow(const NodeInfo& n) {
  n.expect_attrs({});
  std::optional<double> exponent;
  if (auto e = n.constant_input(1); e && e->numel() == 1 && !e->is_complex()) exponent = e->item<double>();
  return [exponent](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    if (exponent && at::isFloatingType(in[0].scalar_type()) && in[1].numel() == 1 &&
        in[1].item<double>() == *exponent) {  // still the load-time value (a swapped initializer is not)
      out[0] = at::pow(in[0], *exponent);
      return;
    }
    out[0] = at::pow(in[0], in[1]).to(in[0].scalar_type());
  };
}

// Mod: fmod=0 takes the divisor's sign (Python's %, integers only), fmod=1 the dividend's (C fmod).
// Swin-style window attention exports it for its shifted-window masks.
OpFn build_mod(const NodeInfo& n) {
  n.expect_attrs({"fmod"});
  n.expect_int_in("fmod", 0, 1);
  const bool c_fmod = n.attr_int("fmod", 0) != 0;
  return [c_fmod, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto type = at::promote_types(in[0].scalar_type(), in[1].scalar_type());
    NNC_CHECK_CODE(c_fmod || !at::isFloatingType(type), kUnsupported,
                   "{}: Mod of floating-point values needs fmod=1 (ONNX leaves fmod=0 undefined for them)", label);
    NNC_CHECK_CODE(at::isFloatingType(type) || (in[1] != 0).all().item<bool>(), kInvalidArgument,
                   "{}: integer Mod by zero", label);
    out[0] = c_fmod ? at::fmod(in[0], in[1]) : at::remainder(in[0], in[1]);
  };
}

OpFn build_where(const NodeInfo& n) {
  n.expect_attrs({});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::where(in[0].to(at::kBool), in[1], in[2]);
  };
}

OpFn build_variadic(const NodeInfo& n, at::Tensor (*f)(const at::Tensor&, const at::Tensor&)) {
  n.expect_attrs({"consumed_inputs"});
  return [f](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    at::Tensor acc = in[0];
    for (std::size_t i = 1; i < in.size(); ++i) acc = f(acc, in[i]);
    out[0] = acc;
  };
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  r.add("Add", build_add, 1, INT_MAX, {.onednn = true});
  r.add("Sub", binary([](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }));
  r.add("Mul", binary([](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }));
  r.add("Div", binary(div_op));
  r.add("Equal", binary([](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); }));
  r.add("Less", binary([](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); }));
  r.add("Greater", binary([](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); }));
  r.add("LessOrEqual", binary([](const at::Tensor& a, const at::Tensor& b) { return at::le(a, b); }), 12);
  r.add("GreaterOrEqual", binary([](const at::Tensor& a, const at::Tensor& b) { return at::ge(a, b); }), 12);
  r.add("And", binary([](const at::Tensor& a, const at::Tensor& b) { return at::logical_and(a, b); }), 7);
  r.add("Or", binary([](const at::Tensor& a, const at::Tensor& b) { return at::logical_or(a, b); }), 7);
  r.add("Xor", binary([](const at::Tensor& a, const at::Tensor& b) { return at::logical_xor(a, b); }), 7);
  r.add("Pow", build_pow, 7);
  r.add("Mod", build_mod, 10);
  r.add("Where", build_where, 9);
  r.add("Sum", [](const NodeInfo& n) { return build_variadic(n, [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }); });
  r.add("Max", [](const NodeInfo& n) { return build_variadic(n, [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); }); });
  r.add("Min", [](const NodeInfo& n) { return build_variadic(n, [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); }); });
  r.add("Relu", build_relu, 1, INT_MAX, {.onednn = true});
  r.add("Sigmoid", unary([](const at::Tensor& x) { return at::sigmoid(x); }));
  r.add("Tanh", unary([](const at::Tensor& x) { return at::tanh(x); }));
  // ONNX HardSwish = x * max(0, min(1, x/6 + 1/2)), exactly ATen's fused hardswish.
  r.add("HardSwish", unary([](const at::Tensor& x) {
    return at::isFloatingType(x.scalar_type()) ? at::hardswish(x) : x * at::clamp(x / 6.0 + 0.5, 0.0, 1.0);
  }), 14);
  r.add("Exp", unary([](const at::Tensor& x) { return at::exp(x); }));
  r.add("Log", unary([](const at::Tensor& x) { return at::log(x); }));
  r.add("Sqrt", unary([](const at::Tensor& x) { return at::sqrt(x); }));
  r.add("Neg", unary([](const at::Tensor& x) { return at::neg(x); }));
  r.add("Abs", unary([](const at::Tensor& x) { return at::abs(x); }));
  r.add("Erf", unary([](const at::Tensor& x) { return at::erf(x); }));
  r.add("Reciprocal", unary([](const at::Tensor& x) { return at::reciprocal(x); }));
  r.add("Floor", unary([](const at::Tensor& x) { return at::floor(x); }));
  r.add("Ceil", unary([](const at::Tensor& x) { return at::ceil(x); }));
  r.add("Not", unary([](const at::Tensor& x) { return at::logical_not(x); }));
  r.add("Sign", unary([](const at::Tensor& x) { return at::sign(x); }), 9);
  r.add("Sin", unary([](const at::Tensor& x) { return at::sin(x); }), 7);
  r.add("Cos", unary([](const at::Tensor& x) { return at::cos(x); }), 7);
  r.add("Round", unary([](const at::Tensor& x) { return at::round(x); }), 11);  // half to even, as ONNX
  r.add("IsNaN", unary([](const at::Tensor& x) { return at::isnan(x); }), 9);
  r.add("Identity", unary([](const at::Tensor& x) { return x; }));
  r.add("LeakyRelu", build_leaky_relu);
  r.add("Elu", build_elu);
  r.add("Celu", build_celu, 12);
  r.add("Gelu", build_gelu, 20);
  r.add("PRelu", build_prelu);
  r.add("Selu", build_selu);
  r.add("Softplus", unary([](const at::Tensor& x) { return at::log1p(at::exp(-at::abs(x))) + at::relu(x); }));
  r.add("Softsign", unary([](const at::Tensor& x) { return x / (1 + at::abs(x)); }));
  r.add("HardSigmoid", build_hard_sigmoid);
  r.add("Clip", build_clip);
  r.add("Dropout", build_dropout);
  r.add("Cast", build_cast, 6);
}

}  // namespace nnc::exec
