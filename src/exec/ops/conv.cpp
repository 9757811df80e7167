// Conv (opset 1+): 1-D/2-D/3-D, groups (depthwise), dilations, strides, explicit and auto pads.
// ConvTranspose (opset 1+): the same, plus output_padding and output_shape.
#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <c10/core/InferenceMode.h>

#include <memory>

#include "exec/onednn.hpp"
#include "exec/ops/conv.hpp"
#include "exec/ops/ops.hpp"
#include "exec/ops/padding.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

// Conv and ConvTranspose: the weight (and bias) against the attributes, at load when they are
// initializers and at run time whatever weight compression swapped in. W is (M, C/group, k...)
// for Conv and (C, M/group, k...) for ConvTranspose (`transposed`); the bias has M values.
void check_conv_weight(const at::Tensor& w, const at::Tensor& b, const SpatialAttrs& a, int64_t groups,
                       bool transposed, const std::string& label) {
  NNC_CHECK_CODE(w.dim() >= 3 && w.dim() <= 5, kShape, "{}: weight of rank {} is not a 1-D/2-D/3-D kernel", label,
                 w.dim());
  const auto kernel = w.sizes().slice(2).vec();
  NNC_CHECK_CODE(a.rank == 0 || a.rank == kernel.size(), kShape,
                 "{}: attributes describe {} spatial axes but the weight {}", label, a.rank, kernel.size());
  NNC_CHECK_CODE(a.kernel_shape.empty() || a.kernel_shape == kernel, kShape,
                 "{}: kernel_shape [{}] contradicts the weight's kernel [{}]", label, fmt::join(a.kernel_shape, ","),
                 fmt::join(kernel, ","));
  NNC_CHECK_CODE(w.size(0) % groups == 0, kShape, "{}: weight's {} channels do not split into {} groups", label,
                 w.size(0), groups);
  if (b.defined()) {
    const int64_t channels = transposed ? w.size(1) * groups : w.size(0);
    NNC_CHECK_CODE(b.dim() == 1 && b.size(0) == channels, kShape, "{}: bias has shape [{}] for {} output channels",
                   label, fmt::join(b.sizes(), ","), channels);
  }
}

// A Conv's input and weight checked against each other and the attributes, and the geometry
// resolved for this input (SAME_* pads depend on it).
SpatialGeometry conv_geometry(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const SpatialAttrs& attrs,
                              int64_t groups, const std::string& label) {
  const int64_t spatial = x.dim() - 2;
  NNC_CHECK_CODE(spatial >= 1 && spatial <= 3 && w.dim() == x.dim(), kShape,
                 "{}: input rank {} and weight rank {} do not form a 1-D/2-D/3-D convolution", label, x.dim(), w.dim());
  check_conv_weight(w, b, attrs, groups, false, label);
  NNC_CHECK_CODE(x.size(1) == w.size(1) * groups, kShape,
                 "{}: input has {} channels but weight expects {} x {} groups", label, x.size(1), w.size(1), groups);
  std::vector<int64_t> kernel(w.sizes().begin() + 2, w.sizes().end());
  auto geo = resolve_spatial(attrs, x.sizes().slice(2), kernel, label);
  for (int64_t i = 0; i < spatial; ++i) {
    const int64_t reach = geo.dilations[i] * (kernel[i] - 1) + 1;
    NNC_CHECK_CODE(x.size(2 + i) + geo.pad_begin[i] + geo.pad_end[i] >= reach, kShape,
                   "{}: spatial axis {} of size {} (padded by {} + {}) is smaller than the kernel's reach {}", label, i,
                   x.size(2 + i), geo.pad_begin[i], geo.pad_end[i], reach);
  }
  return geo;
}

OpFn build_conv(const NodeInfo& n) {
  n.expect_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  SpatialAttrs attrs = read_spatial_attrs(n);
  n.expect_int_in("group", 1);
  int64_t groups = n.attr_int("group", 1);
  std::string label = n.label();
  if (auto w = n.constant_input(1)) {
    auto b = n.constant_input(2);
    check_conv_weight(*w, b ? *b : at::Tensor(), attrs, groups, false, label);
  }
  auto packed = std::make_shared<onednn::PackedConv>();
  return [attrs, groups, label, packed](const RunContext& rc, std::span<const at::Tensor> in,
                                        std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];
    const at::Tensor& w = in[1];
    at::Tensor b = in.size() > 2 ? in[2] : at::Tensor();
    const int64_t spatial = x.dim() - 2;
    const auto geo = conv_geometry(x, w, b, attrs, groups, label);
    // A channels-last input (from a dense Conv + Clip chain) stays on the channels-last path.
    const bool channels_last_input = x.dim() == 4 && !x.is_mkldnn() && !x.is_contiguous() &&
                                     x.is_contiguous(at::MemoryFormat::ChannelsLast);
    if (rc.onednn && geo.symmetric && !channels_last_input && x.numel() > 0 && w.numel() > 0) {
      if (auto y = onednn::conv2d(*packed, x, w, b, geo.pad_begin, geo.strides, geo.dilations, groups)) {
        out[0] = std::move(*y);
        return;
      }
    }
    at::Tensor input = onednn::dense(x);
    if (!geo.symmetric) input = at::constant_pad_nd(input, geo.torch_pad_spec(), 0.0);
    // Inference off the oneDNN path (e.g. a Conv feeding a Clip): channels-last (NHWC) runs
    // depthwise and 1x1 convolutions 2-3x faster than NCHW in LibTorch, and elementwise
    // operators keep the layout, so a MobileNet block stays NHWC from one Conv to the next.
    if (spatial == 2 && c10::InferenceMode::is_enabled() && x.scalar_type() == at::kFloat)
      input = input.contiguous(at::MemoryFormat::ChannelsLast);
    out[0] = at::convolution(input, w, b, geo.strides, geo.symmetric ? geo.pad_begin : std::vector<int64_t>(spatial, 0),
                             geo.dilations, false, std::vector<int64_t>(spatial, 0), groups);
  };
}

}  // namespace

at::Tensor convolve(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const SpatialAttrs& attrs,
                    int64_t groups, const std::string& label) {
  const int64_t spatial = x.dim() - 2;
  const auto geo = conv_geometry(x, w, b, attrs, groups, label);
  at::Tensor input = geo.symmetric ? x : at::constant_pad_nd(x, geo.torch_pad_spec(), 0.0);
  return at::convolution(input, w, b, geo.strides, geo.symmetric ? geo.pad_begin : std::vector<int64_t>(spatial, 0),
                         geo.dilations, false, std::vector<int64_t>(spatial, 0), groups);
}

namespace {

// Per spatial axis: pads (begin, end) and the extra zeros output_padding appends.
struct TransposedGeometry {
  std::vector<int64_t> strides, dilations, pad_begin, pad_end, output_padding;
};

struct TransposedAttrs {
  SpatialAttrs spatial;  // as Conv's: auto_pad, kernel_shape, strides, dilations, pads
  std::vector<int64_t> output_padding, output_shape;
};

TransposedGeometry resolve_transposed(const TransposedAttrs& a, c10::IntArrayRef input_spatial,
                                      c10::IntArrayRef kernel, const std::string& label) {
  const std::size_t n = input_spatial.size();
  auto per_axis = [&](const std::vector<int64_t>& v, int64_t fallback, const char* what) {
    if (v.empty()) return std::vector<int64_t>(n, fallback);
    NNC_CHECK_CODE(v.size() == n, kShape, "{}: {} has {} values for {} spatial axes", label, what, v.size(), n);
    return v;
  };
  TransposedGeometry g;
  g.strides = per_axis(a.spatial.strides, 1, "strides");
  g.dilations = per_axis(a.spatial.dilations, 1, "dilations");
  g.output_padding = per_axis(a.output_padding, 0, "output_padding");
  g.pad_begin.assign(n, 0);
  g.pad_end.assign(n, 0);
  std::vector<int64_t> wanted;  // output spatial sizes that determine the pads
  if (!a.output_shape.empty()) {
    wanted = a.output_shape.size() == n + 2 ? std::vector<int64_t>(a.output_shape.begin() + 2, a.output_shape.end())
                                            : a.output_shape;
    NNC_CHECK_CODE(wanted.size() == n, kShape, "{}: output_shape has {} values for {} spatial axes", label,
                   a.output_shape.size(), n);
  } else if (a.spatial.auto_pad == "SAME_UPPER" || a.spatial.auto_pad == "SAME_LOWER") {
    for (std::size_t i = 0; i < n; ++i) wanted.push_back(input_spatial[i] * g.strides[i]);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const int64_t full = g.strides[i] * (input_spatial[i] - 1) + g.output_padding[i] +
                         (kernel[i] - 1) * g.dilations[i] + 1;
    if (!wanted.empty()) {
      // Floor division as in the ONNX reference: a negative total (output larger than the
      // positions the kernel reaches) appends the missing zeros at the end.
      const int64_t total = full - wanted[i];
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      if (a.spatial.auto_pad == "SAME_UPPER") {
        g.pad_begin[i] = half;
        g.pad_end[i] = total - half;
      } else {
        g.pad_begin[i] = total - half;
        g.pad_end[i] = half;
      }
    } else if (a.spatial.auto_pad != "VALID" && !a.spatial.pads.empty()) {
      const auto& pads = a.spatial.pads;
      NNC_CHECK_CODE(pads.size() == 2 * n, kShape, "{}: pads has {} values for {} spatial axes", label, pads.size(), n);
      g.pad_begin[i] = pads[i];
      g.pad_end[i] = pads[i + n];
    }
    NNC_CHECK_CODE(full - g.pad_begin[i] - g.pad_end[i] > 0, kShape,
                   "{}: output axis {} would be empty (pads {} + {} for {} positions)", label, i, g.pad_begin[i],
                   g.pad_end[i], full);
  }
  return g;
}

OpFn build_conv_transpose(const NodeInfo& n) {
  n.expect_attrs({"auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads",
                  "strides"});
  TransposedAttrs a;
  a.spatial = read_spatial_attrs(n);
  a.output_padding = n.attr_ints("output_padding");
  a.output_shape = n.attr_ints("output_shape");
  n.expect_ints_in("output_padding", 0);
  n.expect_ints_in("output_shape", 1);
  // output_padding adds positions a stride (or dilation) step would have reached: less than it.
  if (!a.output_padding.empty()) {
    if (a.spatial.rank && a.output_padding.size() != a.spatial.rank)
      n.invalid(fmt::format("output_padding has {} values for {} spatial axes", a.output_padding.size(), a.spatial.rank));
    for (std::size_t i = 0; i < a.output_padding.size(); ++i) {
      const int64_t s = a.spatial.strides.empty() ? 1 : a.spatial.strides[i];
      const int64_t d = a.spatial.dilations.empty() ? 1 : a.spatial.dilations[i];
      if (a.output_padding[i] >= std::max(s, d))
        n.invalid(fmt::format("output_padding [{}] must be smaller than the stride or dilation of its axis",
                              fmt::join(a.output_padding, ",")));
    }
  }
  n.expect_int_in("group", 1);
  const int64_t groups = n.attr_int("group", 1);
  const std::string label = n.label();
  if (auto w = n.constant_input(1)) {
    auto b = n.constant_input(2);
    check_conv_weight(*w, b ? *b : at::Tensor(), a.spatial, groups, true, label);
  }
  return [a, groups, label](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor x = onednn::dense(in[0]);
    const at::Tensor& w = in[1];
    const at::Tensor b = in.size() > 2 ? in[2] : at::Tensor();
    const int64_t spatial = x.dim() - 2;
    NNC_CHECK_CODE(spatial >= 1 && spatial <= 3 && w.dim() == x.dim(), kShape,
                   "{}: input rank {} and weight rank {} do not form a 1-D/2-D/3-D transposed convolution", label,
                   x.dim(), w.dim());
    NNC_CHECK_CODE(x.size(1) == w.size(0), kShape, "{}: input has {} channels but the weight expects {}", label,
                   x.size(1), w.size(0));
    check_conv_weight(w, b, a.spatial, groups, true, label);
    c10::IntArrayRef kernel = w.sizes().slice(2);
    auto g = resolve_transposed(a, x.sizes().slice(2), kernel, label);
    // Without padding the result spans s*(in-1) + (k-1)*d + 1 positions per axis; output_padding
    // appends zeros (plus bias) at the end, then pads are cut from both sides.
    const std::vector<int64_t> zeros(spatial, 0);
    at::Tensor y = at::convolution(x, w, at::Tensor(), g.strides, zeros, g.dilations, true, zeros, groups);
    for (int64_t i = 0; i < spatial; ++i) {
      const int64_t dim = 2 + i;
      const int64_t begin = g.pad_begin[i], end = g.pad_end[i] - g.output_padding[i];
      if (begin < 0 || end < 0) {
        std::vector<int64_t> spec(2 * static_cast<std::size_t>(x.dim()), 0);  // last axis first
        const std::size_t at_axis = 2 * static_cast<std::size_t>(x.dim() - 1 - dim);
        spec[at_axis] = std::max<int64_t>(-begin, 0);
        spec[at_axis + 1] = std::max<int64_t>(-end, 0);
        y = at::constant_pad_nd(y, spec, 0.0);
      }
      const int64_t from = std::max<int64_t>(begin, 0);
      const int64_t length = y.size(dim) - from - std::max<int64_t>(end, 0);
      if (from != 0 || length != y.size(dim)) y = y.narrow(dim, from, length);
    }
    if (b.defined()) {
      std::vector<int64_t> shape(x.dim(), 1);
      shape[1] = -1;
      y = y + b.reshape(shape);
    }
    out[0] = y.contiguous();
  };
}

}  // namespace

void register_conv_ops(OpRegistry& r) {
  r.add("Conv", build_conv, 1, INT_MAX, {.onednn = true});
  r.add("ConvTranspose", build_conv_transpose);
}

}  // namespace nnc::exec
