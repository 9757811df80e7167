// Resize (opset 10+) and Upsample (7-9): nearest, linear and cubic on any number of axes, every
// coordinate transformation mode PyTorch and other exporters emit (half_pixel,
// pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn, half_pixel_symmetric) and
// every nearest_mode.
// Interpolation is separable: one axis at a time, each output coordinate mapped back to the
// input as the ONNX reference does, taps beyond the edge repeating the edge value. Built from
// index_select and products, so it also runs backwards for training.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/memory.hpp"

namespace nnc::exec {
namespace {

enum class Mode { kNearest, kLinear, kCubic };

struct ResizeAttrs {
  Mode mode = Mode::kNearest;
  std::string transform = "half_pixel";
  std::string nearest = "round_prefer_floor";  // or "simple" (opset < 11: floor up, ceil down)
  double cubic_a = -0.75;
  bool exclude_outside = false;
  std::string label;
};

// Input coordinate of output index `x` along an axis (ONNX reference semantics).
double source_coordinate(const ResizeAttrs& a, int64_t x, int64_t in_len, int64_t out_len, double scale) {
  const double xd = static_cast<double>(x);
  if (a.transform == "asymmetric") return xd / scale;
  if (a.transform == "half_pixel") return (xd + 0.5) / scale - 0.5;
  if (a.transform == "pytorch_half_pixel") return out_len > 1 ? (xd + 0.5) / scale - 0.5 : -0.5;
  if (a.transform == "tf_half_pixel_for_nn") return (xd + 0.5) / scale;
  if (a.transform == "half_pixel_symmetric") {  // opset 19: half_pixel about the centre
    const double out_width = scale * static_cast<double>(in_len);
    const double adjustment = static_cast<double>(out_len) / out_width;
    const double center = static_cast<double>(in_len) / 2;
    return center * (1 - adjustment) + (xd + 0.5) / scale - 0.5;
  }
  // align_corners
  const double out_width = scale * static_cast<double>(in_len);
  return out_width == 1.0 ? 0.0 : xd * static_cast<double>(in_len - 1) / (out_width - 1.0);
}

int64_t nearest_index(const ResizeAttrs& a, double x, double scale) {
  const double fl = std::floor(x);
  const double frac = x - fl;
  double r;
  if (a.nearest == "simple") r = scale < 1.0 ? std::ceil(x) : std::trunc(x);
  else if (a.nearest == "floor") r = fl;
  else if (a.nearest == "ceil") r = std::ceil(x);
  else if (frac == 0.0) r = fl;
  else if (a.nearest == "round_prefer_ceil") r = frac >= 0.5 ? fl + 1 : fl;
  else r = frac > 0.5 ? fl + 1 : fl;  // round_prefer_floor
  return static_cast<int64_t>(r);
}

// Resamples dimension `dim` of x to `out_len`.
at::Tensor resize_axis(const ResizeAttrs& a, const at::Tensor& x, int64_t dim, int64_t out_len, double scale) {
  const int64_t in_len = x.size(dim);
  const auto clamp = [in_len](int64_t i) { return std::min<int64_t>(std::max<int64_t>(i, 0), in_len - 1); };
  const int taps = a.mode == Mode::kNearest ? 1 : a.mode == Mode::kLinear ? 2 : 4;
  std::vector<std::vector<int64_t>> index(static_cast<std::size_t>(taps), std::vector<int64_t>(out_len));
  std::vector<std::vector<double>> weight(static_cast<std::size_t>(taps), std::vector<double>(out_len));
  for (int64_t o = 0; o < out_len; ++o) {
    const double xs = source_coordinate(a, o, in_len, out_len, scale);
    if (a.mode == Mode::kNearest) {
      index[0][o] = clamp(nearest_index(a, xs, scale));
      weight[0][o] = 1.0;
      continue;
    }
    const double fl = std::floor(xs);
    const double t = xs - fl;
    const int64_t base = static_cast<int64_t>(fl) - (a.mode == Mode::kCubic ? 1 : 0);
    double w[4];
    if (a.mode == Mode::kLinear) {
      w[0] = 1.0 - t;
      w[1] = t;
    } else {
      const double A = a.cubic_a, s = t + 1, u = 1 - t, v = 2 - t;
      w[0] = ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
      w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
      w[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
      w[3] = ((A * v - 5 * A) * v + 8 * A) * v - 4 * A;
    }
    double total = 0;
    for (int k = 0; k < taps; ++k) {
      const int64_t i = base + k;
      if (a.exclude_outside && (i < 0 || i >= in_len)) w[k] = 0;
      total += w[k];
    }
    for (int k = 0; k < taps; ++k) {
      index[static_cast<std::size_t>(k)][o] = clamp(base + k);
      weight[static_cast<std::size_t>(k)][o] = a.exclude_outside && total != 0 ? w[k] / total : w[k];
    }
  }
  std::vector<int64_t> wshape(x.dim(), 1);
  wshape[dim] = out_len;
  at::Tensor y;
  for (int k = 0; k < taps; ++k) {
    auto idx = at::tensor(index[static_cast<std::size_t>(k)], at::kLong);
    at::Tensor part = x.index_select(dim, idx);
    if (taps > 1) {
      auto wt = at::tensor(weight[static_cast<std::size_t>(k)], at::kDouble).to(x.scalar_type()).reshape(wshape);
      part = part * wt;
    }
    y = y.defined() ? y + part : part;
  }
  return y;
}

std::vector<double> to_doubles(const at::Tensor& t) {
  auto c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// in: x; scales and sizes as found (undefined or empty when absent).
void run_resize(const ResizeAttrs& a, const at::Tensor& x, const std::vector<double>& scales,
                const std::vector<int64_t>& sizes, at::Tensor& out) {
  const int64_t rank = x.dim();
  std::vector<int64_t> out_len(rank);
  std::vector<double> scale(rank);
  if (!scales.empty()) {
    NNC_CHECK_CODE(static_cast<int64_t>(scales.size()) == rank, kShape, "{}: {} scales for a rank-{} input", a.label,
                   scales.size(), rank);
    for (int64_t d = 0; d < rank; ++d) {
      NNC_CHECK_CODE(scales[d] > 0, kShape, "{}: scale {} of axis {} is not positive", a.label, scales[d], d);
      const double len = std::floor(static_cast<double>(x.size(d)) * scales[d]);
      NNC_CHECK_CODE(len < 9e18, kResource, "{}: scale {} makes axis {} longer than 2^63", a.label, scales[d], d);
      scale[d] = scales[d];
      out_len[d] = static_cast<int64_t>(len);
    }
  } else {
    NNC_CHECK_CODE(static_cast<int64_t>(sizes.size()) == rank, kShape, "{}: {} sizes for a rank-{} input", a.label,
                   sizes.size(), rank);
    for (int64_t d = 0; d < rank; ++d) {
      NNC_CHECK_CODE(sizes[d] > 0 && x.size(d) > 0, kShape, "{}: cannot resize axis {} from {} to {}", a.label, d,
                     x.size(d), sizes[d]);
      out_len[d] = sizes[d];
      scale[d] = static_cast<double>(sizes[d]) / static_cast<double>(x.size(d));
    }
  }
  NNC_CHECK_CODE(a.mode == Mode::kNearest || at::isFloatingType(x.scalar_type()), kUnsupported,
                 "{}: unsupported linear/cubic resize of a non-float tensor", a.label);
  // The result's size, before any of it (or the per-axis index tables) is allocated.
  uint64_t elements = 1;
  bool overflow = false;
  for (int64_t d = 0; d < rank; ++d)
    overflow = __builtin_mul_overflow(elements, static_cast<uint64_t>(std::max<int64_t>(out_len[d], 0)), &elements) ||
               overflow;
  NNC_CHECK_CODE(!overflow, kResource, "{}: the output would have more than 2^64 elements", a.label);
  check_fits_in_memory(checked_bytes(elements, x.element_size(), a.label), a.label + ": output");
  at::Tensor y = x;
  for (int64_t d = 0; d < rank; ++d)
    if (out_len[d] != x.size(d) || scale[d] != 1.0) {
      NNC_CHECK_CODE(out_len[d] > 0, kShape, "{}: axis {} would have size {}", a.label, d, out_len[d]);
      y = resize_axis(a, y, d, out_len[d], scale[d]);
    }
  out = y;
}

Mode read_mode(const NodeInfo& n) {
  const std::string m = n.attr_string("mode", "nearest");
  if (m == "nearest") return Mode::kNearest;
  if (m == "linear" || m == "bilinear" || m == "trilinear") return Mode::kLinear;
  if (m == "cubic" && n.op_type() == "Resize" && n.opset() >= 11) return Mode::kCubic;
  n.unsupported("mode '" + m + "'");
}

OpFn build_resize(const NodeInfo& n) {
  n.expect_attrs({"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "extrapolation_value", "mode",
                  "nearest_mode", "antialias", "axes", "keep_aspect_ratio_policy"});
  ResizeAttrs a;
  a.label = n.label();
  a.mode = read_mode(n);
  if (n.opset() < 11) {
    a.transform = "asymmetric";
    a.nearest = "simple";
  } else {
    a.transform = n.attr_string("coordinate_transformation_mode", "half_pixel");
    a.nearest = n.attr_string("nearest_mode", "round_prefer_floor");
    a.cubic_a = n.attr_float("cubic_coeff_a", -0.75f);
    n.expect_int_in("exclude_outside", 0, 1);
    a.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
  }
  static const std::vector<std::string> transforms = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                                      "asymmetric", "tf_half_pixel_for_nn", "half_pixel_symmetric"};
  if (std::find(transforms.begin(), transforms.end(), a.transform) == transforms.end())
    n.unsupported("coordinate_transformation_mode '" + a.transform + "'");
  static const std::vector<std::string> nearest_modes = {"simple", "round_prefer_floor", "round_prefer_ceil", "floor",
                                                         "ceil"};
  if (std::find(nearest_modes.begin(), nearest_modes.end(), a.nearest) == nearest_modes.end())
    n.unsupported("nearest_mode '" + a.nearest + "'");
  if (n.attr_int("antialias", 0) != 0) n.unsupported("antialias");
  if (n.has_attr("axes")) n.unsupported("axes");
  if (n.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch") n.unsupported("keep_aspect_ratio_policy");
  const bool opset10 = n.opset() < 11;
  return [a, opset10](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const std::size_t scales_at = opset10 ? 1 : 2, sizes_at = 3;
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    if (in.size() > scales_at && in[scales_at].defined() && in[scales_at].numel() > 0) scales = to_doubles(in[scales_at]);
    else if (in.size() > sizes_at && in[sizes_at].defined() && in[sizes_at].numel() > 0) sizes = to_ints(in[sizes_at]);
    NNC_CHECK_CODE(!scales.empty() || !sizes.empty(), kShape, "{}: neither scales nor sizes given", a.label);
    run_resize(a, in[0], scales, sizes, out[0]);
  };
}

OpFn build_upsample(const NodeInfo& n) {
  n.expect_attrs({"mode", "scales", "height_scale", "width_scale"});
  if (n.has_attr("height_scale") || n.has_attr("width_scale")) n.unsupported("height_scale/width_scale (opset 1)");
  ResizeAttrs a;
  a.label = n.label();
  a.mode = read_mode(n);
  a.transform = "asymmetric";
  a.nearest = "simple";
  std::vector<float> attr_scales = n.attr_floats("scales");
  return [a, attr_scales](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    std::vector<double> scales(attr_scales.begin(), attr_scales.end());
    if (scales.empty() && in.size() > 1 && in[1].defined()) scales = to_doubles(in[1]);
    NNC_CHECK_CODE(!scales.empty(), kShape, "{}: no scales given", a.label);
    run_resize(a, in[0], scales, {}, out[0]);
  };
}

}  // namespace

void register_resize_ops(OpRegistry& r) {
  r.add("Resize", build_resize, 10);
  r.add("Upsample", build_upsample, 7, 9);
}

}  // namespace nnc::exec
