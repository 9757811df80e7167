// Integer (quantised) operators: QuantizeLinear, DequantizeLinear (per tensor, or per axis from
// opset 13), DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv. What
// QDQ models (QuantizeLinear/DequantizeLinear around weights and activations) and ONNX Runtime's
// quantiser's operator-oriented models hold. Integer sums are computed exactly (in double: every
// sum of int8/uint8 products a model holds is far below 2^53); rounding is half to even and
// results saturate to the output type, as the ONNX specification says. uint8 and int8 only:
// float8, int4 and blocked quantisation are refused as unsupported.
#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include <string>

#include "exec/ops/conv.hpp"
#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

bool is_8bit(at::ScalarType t) { return t == at::kByte || t == at::kChar; }

void check_8bit(const at::Tensor& t, const char* what, const std::string& label) {
  NNC_CHECK_CODE(is_8bit(t.scalar_type()), kUnsupported, "{}: {} of type {}: only uint8 and int8 are supported", label,
                 what, c10::toString(t.scalar_type()));
}

double qmin(at::ScalarType t) { return t == at::kByte ? 0 : -128; }
double qmax(at::ScalarType t) { return t == at::kByte ? 255 : 127; }

// A scale or zero point for `x`: one value (per tensor), or one per index of `axis` (per axis),
// shaped to broadcast against x.
at::Tensor along(const at::Tensor& v, const at::Tensor& x, int64_t axis, const char* what, const std::string& label) {
  if (v.numel() == 1) return v.reshape({});
  NNC_CHECK_CODE(v.dim() == 1, kShape, "{}: {} of shape [{}]: expected a scalar or a 1-D tensor", label, what,
                 fmt::join(v.sizes(), ","));
  const int64_t a = normalize_axis(axis, x.dim(), label);
  NNC_CHECK_CODE(v.size(0) == x.size(a), kShape, "{}: {} has {} values for axis {} of size {}", label, what, v.size(0),
                 a, x.size(a));
  std::vector<int64_t> shape(x.dim(), 1);
  shape[a] = v.size(0);
  return v.reshape(shape);
}

// x / scale as ONNX defines it: a true division. (ATen divides by a one-value tensor by
// multiplying with its reciprocal, which rounds differently: 2.5 / (5 / 255) is 127.49999 by
// division and 127.5 by the reciprocal, so the quantised values would differ. A broadcast, stride-0
// divisor counts as one value too, hence the materialised one.)
at::Tensor divide_by(const at::Tensor& x, const at::Tensor& scale) {
  return scale.numel() == 1 && x.numel() > 1 ? x / scale.expand(x.sizes()).contiguous() : x / scale;
}

// Round half to even, then add the zero point, then saturate: the last step of every quantising
// operator (y = saturate(round(x / scale) + zero_point); adding first would round 25.5 + 153 to
// 178 where the specification gives 26 + 153).
at::Tensor saturate(const at::Tensor& real, const at::Tensor& zero_point, at::ScalarType type) {
  auto q = at::round(real);
  if (zero_point.defined()) q = q + zero_point.to(q.scalar_type());
  return q.clamp(qmin(type), qmax(type)).to(type);
}

void expect_no_blocks(const NodeInfo& n) {
  if (n.attr_int("block_size", 0) != 0) n.unsupported("block_size (blocked quantization)");
}

OpFn build_quantize_linear(const NodeInfo& n) {
  n.expect_attrs({"axis", "saturate", "block_size", "output_dtype"});
  expect_no_blocks(n);
  const int64_t output_dtype = n.attr_int("output_dtype", 0);
  if (output_dtype != 0 && output_dtype != onnx::TensorProto::UINT8 && output_dtype != onnx::TensorProto::INT8)
    n.unsupported(fmt::format("output_dtype {} (only uint8 and int8)", output_dtype));
  const int64_t axis = n.attr_int("axis", 1);
  return [=, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& zp = in.size() > 2 ? in[2] : at::Tensor();
    const auto type = zp.defined() ? zp.scalar_type()
                      : output_dtype == onnx::TensorProto::INT8 ? at::kChar
                                                                : at::kByte;
    if (zp.defined()) check_8bit(zp, "zero point", label);
    NNC_CHECK_CODE(in[1].is_floating_point(), kUnsupported, "{}: scale must be a float tensor", label);
    const auto x = in[0].to(at::kFloat);
    const auto scale = along(in[1].to(at::kFloat), x, axis, "scale", label);
    out[0] = saturate(divide_by(x, scale), zp.defined() ? along(zp, x, axis, "zero point", label) : zp, type);
  };
}

OpFn build_dequantize_linear(const NodeInfo& n) {
  n.expect_attrs({"axis", "block_size"});
  expect_no_blocks(n);
  const int64_t axis = n.attr_int("axis", 1);
  return [=, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];
    NNC_CHECK_CODE(is_8bit(x.scalar_type()) || x.scalar_type() == at::kInt, kUnsupported,
                   "{}: input of type {}: only uint8, int8 and int32 are supported", label,
                   c10::toString(x.scalar_type()));
    NNC_CHECK_CODE(in[1].scalar_type() == at::kFloat, kUnsupported, "{}: scale of type {}: only float32", label,
                   c10::toString(in[1].scalar_type()));
    auto real = x.to(at::kFloat);
    if (in.size() > 2 && in[2].defined()) {
      NNC_CHECK_CODE(in[2].scalar_type() == x.scalar_type(), kShape, "{}: zero point's type differs from the input's",
                     label);
      real = real - along(in[2], x, axis, "zero point", label).to(at::kFloat);
    }
    out[0] = real * along(in[1], x, axis, "scale", label);
  };
}

OpFn build_dynamic_quantize_linear(const NodeInfo& n) {
  n.expect_attrs({});
  return [label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    NNC_CHECK_CODE(in[0].scalar_type() == at::kFloat, kUnsupported, "{}: input must be float32", label);
    NNC_CHECK_CODE(in[0].numel() > 0, kShape, "{}: empty input", label);
    const auto x = in[0];
    // float32 arithmetic throughout, as the specification's reference computes it.
    const float maxx = std::max(0.0f, x.max().item<float>());
    const float minx = std::min(0.0f, x.min().item<float>());
    const float scale = (maxx == minx ? 1.0f : maxx - minx) / 255.0f;
    const float initial = 0.0f - minx / scale;
    const float zp = std::nearbyint(std::clamp(initial, 0.0f, 255.0f));
    out[0] = saturate(divide_by(x, at::scalar_tensor(scale, at::kFloat)), at::scalar_tensor(zp, at::kFloat), at::kByte);
    out[1] = at::scalar_tensor(scale, at::kFloat);
    out[2] = at::scalar_tensor(zp, at::kFloat).to(at::kByte);
  };
}

// x - zero point, exactly, in double. Per-row (A) / per-column (B) zero points of MatMulInteger
// are 1-D with one value per row (column); N-D ones broadcast as given.
at::Tensor centred(const at::Tensor& x, const at::Tensor& zp, int rows_or_cols, const std::string& label) {
  check_8bit(x, "input", label);
  auto d = x.to(at::kDouble);
  if (!zp.defined()) return d;
  check_8bit(zp, "zero point", label);
  auto z = zp.to(at::kDouble);
  if (z.dim() == 1 && z.numel() > 1) z = rows_or_cols == 0 ? z.reshape({-1, 1}) : z.reshape({1, -1});
  return d - z;
}

OpFn build_matmul_integer(const NodeInfo& n) {
  n.expect_attrs({});
  return [label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto a = centred(in[0], in.size() > 2 ? in[2] : at::Tensor(), 0, label);
    auto b = centred(in[1], in.size() > 3 ? in[3] : at::Tensor(), 1, label);
    out[0] = at::matmul(a, b).round().to(at::kInt);
  };
}

// A convolution's weight minus its zero point: one value, or one per output channel.
at::Tensor centred_weight(const at::Tensor& w, const at::Tensor& zp, const std::string& label) {
  check_8bit(w, "weight", label);
  auto d = w.to(at::kDouble);
  if (!zp.defined()) return d;
  check_8bit(zp, "weight zero point", label);
  return d - along(zp.to(at::kDouble), w, 0, "weight zero point", label);
}

at::Tensor centred_input(const at::Tensor& x, const at::Tensor& zp, const std::string& label) {
  check_8bit(x, "input", label);
  auto d = x.to(at::kDouble);
  if (!zp.defined()) return d;
  check_8bit(zp, "input zero point", label);
  NNC_CHECK_CODE(zp.numel() == 1, kShape, "{}: the input's zero point must be one value", label);
  return d - zp.to(at::kDouble).reshape({});
}

struct ConvAttrs {
  SpatialAttrs spatial;
  int64_t groups = 1;
};

ConvAttrs read_conv_attrs(const NodeInfo& n) {
  n.expect_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  n.expect_int_in("group", 1);
  return {read_spatial_attrs(n), n.attr_int("group", 1)};
}

OpFn build_conv_integer(const NodeInfo& n) {
  const auto attrs = read_conv_attrs(n);
  return [attrs, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto x = centred_input(in[0], in.size() > 2 ? in[2] : at::Tensor(), label);
    auto w = centred_weight(in[1], in.size() > 3 ? in[3] : at::Tensor(), label);
    out[0] = convolve(x, w, {}, attrs.spatial, attrs.groups, label).round().to(at::kInt);
  };
}

// The requantisation of QLinearConv and QLinearMatMul: acc * (a_scale * b_scale / y_scale)
// (the multiplier in float32, per tensor or per output channel along `axis`) + y zero point.
at::Tensor requantize(const at::Tensor& acc, const at::Tensor& a_scale, const at::Tensor& b_scale,
                      const at::Tensor& y_scale, const at::Tensor& y_zp, int64_t axis, const std::string& label) {
  for (const auto* s : {&a_scale, &b_scale, &y_scale})
    NNC_CHECK_CODE(s->scalar_type() == at::kFloat, kUnsupported, "{}: scales must be float32", label);
  NNC_CHECK_CODE(a_scale.numel() == 1 && y_scale.numel() == 1, kShape,
                 "{}: the input's and the output's scales must be one value each", label);
  check_8bit(y_zp, "output zero point", label);
  NNC_CHECK_CODE(y_zp.numel() == 1, kShape, "{}: the output's zero point must be one value", label);
  const auto multiplier = a_scale.reshape({}) * along(b_scale, acc, axis, "weight scale", label) / y_scale.reshape({});
  return saturate(acc * multiplier.to(at::kDouble), y_zp.reshape({}).to(at::kDouble), y_zp.scalar_type());
}

OpFn build_qlinear_conv(const NodeInfo& n) {
  const auto attrs = read_conv_attrs(n);
  return [attrs, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B
    auto x = centred_input(in[0], in[2], label);
    auto w = centred_weight(in[3], in[5], label);
    at::Tensor b;
    if (in.size() > 8 && in[8].defined()) {
      NNC_CHECK_CODE(in[8].scalar_type() == at::kInt, kUnsupported, "{}: bias must be int32", label);
      b = in[8].to(at::kDouble);
    }
    const auto acc = convolve(x, w, b, attrs.spatial, attrs.groups, label);
    out[0] = requantize(acc, in[1], in[4], in[6], in[7], 1, label);
  };
}

OpFn build_qlinear_matmul(const NodeInfo& n) {
  n.expect_attrs({});
  return [label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    // a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point
    NNC_CHECK_CODE(in[4].numel() == 1, kUnsupported, "{}: per-column scales of b are not supported", label);
    auto a = centred(in[0], in[2], 0, label);
    auto b = centred(in[3], in[5], 1, label);
    out[0] = requantize(at::matmul(a, b), in[1], in[4], in[6], in[7], 0, label);
  };
}

}  // namespace

void register_quantize_ops(OpRegistry& r) {
  r.add("QuantizeLinear", build_quantize_linear, 10);
  r.add("DequantizeLinear", build_dequantize_linear, 10);
  r.add("DynamicQuantizeLinear", build_dynamic_quantize_linear, 11);
  r.add("MatMulInteger", build_matmul_integer, 10);
  r.add("ConvInteger", build_conv_integer, 10);
  r.add("QLinearConv", build_qlinear_conv, 10);
  r.add("QLinearMatMul", build_qlinear_matmul, 10);
}

}  // namespace nnc::exec
