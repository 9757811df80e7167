// Pooling: MaxPool, AveragePool (1-D/2-D/3-D, pads, auto_pad, ceil_mode, count_include_pad,
// dilations for MaxPool), GlobalAveragePool, GlobalMaxPool.
#include <ATen/ATen.h>

#include <algorithm>

#include <limits>

#include "exec/onednn.hpp"
#include "exec/ops/ops.hpp"
#include "exec/ops/padding.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

// LibTorch pools accept only symmetric padding of at most half the kernel; otherwise pad
// explicitly with `fill` and pool without padding.
bool native_padding_ok(const SpatialGeometry& g, const std::vector<int64_t>& kernel) {
  if (!g.symmetric) return false;
  for (std::size_t i = 0; i < kernel.size(); ++i)
    if (g.pad_begin[i] * 2 > kernel[i]) return false;
  return true;
}

at::Tensor max_pool(const at::Tensor& x, const std::vector<int64_t>& k, const SpatialGeometry& g,
                    const std::vector<int64_t>& pad, bool ceil_mode) {
  switch (k.size()) {
    case 1: return at::max_pool1d(x, k, g.strides, pad, g.dilations, ceil_mode);
    case 2: return at::max_pool2d(x, k, g.strides, pad, g.dilations, ceil_mode);
    default: return at::max_pool3d(x, k, g.strides, pad, g.dilations, ceil_mode);
  }
}

at::Tensor avg_pool(const at::Tensor& x, const std::vector<int64_t>& k, const std::vector<int64_t>& strides,
                    const std::vector<int64_t>& pad, bool ceil_mode, bool include_pad) {
  switch (k.size()) {
    case 1: return at::avg_pool1d(x, k, strides, pad, ceil_mode, include_pad);
    case 2: return at::avg_pool2d(x, k, strides, pad, ceil_mode, include_pad);
    default: return at::avg_pool3d(x, k, strides, pad, ceil_mode, include_pad);
  }
}

OpFn build_maxpool(const NodeInfo& n) {
  n.expect_attrs({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
  if (n.num_outputs() > 1 && !n.proto().output(1).empty()) n.unsupported("MaxPool Indices output");
  SpatialAttrs a = read_spatial_attrs(n, /*pool=*/true);
  n.expect_int_in("ceil_mode", 0, 1);
  n.expect_int_in("storage_order", 0, 1);
  const bool ceil_mode = n.attr_int("ceil_mode", 0) != 0;
  const std::string label = n.label();
  return [a, ceil_mode, label](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto g = resolve_spatial(a, in[0].sizes().slice(2), a.kernel_shape, label);
    if (onednn::is_onednn(in[0])) {
      // oneDNN pools without dilation only ("mkldnn_max_pool2d does not support dilation case").
      const bool dilated = std::any_of(g.dilations.begin(), g.dilations.end(), [](int64_t d) { return d != 1; });
      if (a.kernel_shape.size() == 2 && !dilated && native_padding_ok(g, a.kernel_shape)) {
        out[0] = at::mkldnn_max_pool2d(in[0], a.kernel_shape, g.strides, g.pad_begin, g.dilations, ceil_mode);
        return;
      }
    }
    // ATen pools floats only; 8-bit integers are exact in float.
    const at::Tensor src = onednn::dense(in[0]);
    const bool integer = !at::isFloatingType(src.scalar_type());
    at::Tensor x = integer ? src.to(at::kFloat) : src;
    at::Tensor y;
    if (native_padding_ok(g, a.kernel_shape)) {
      y = max_pool(x, a.kernel_shape, g, g.pad_begin, ceil_mode);
    } else {
      x = at::constant_pad_nd(x, g.torch_pad_spec(), -std::numeric_limits<double>::infinity());
      y = max_pool(x, a.kernel_shape, g, std::vector<int64_t>(a.kernel_shape.size(), 0), ceil_mode);
    }
    out[0] = integer ? y.to(src.scalar_type()) : y;
  };
}

OpFn build_avgpool(const NodeInfo& n) {
  n.expect_attrs({"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"});
  SpatialAttrs a = read_spatial_attrs(n, /*pool=*/true);
  n.expect_int_in("ceil_mode", 0, 1);
  n.expect_int_in("count_include_pad", 0, 1);
  // Opset 19 added dilations; ATen's average pooling has none.
  for (auto d : a.dilations)
    if (d != 1) n.unsupported("AveragePool dilations other than 1");
  const bool ceil_mode = n.attr_int("ceil_mode", 0) != 0;
  const bool include_pad = n.attr_int("count_include_pad", 0) != 0;
  const std::string label = n.label();
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto g = resolve_spatial(a, in[0].sizes().slice(2), a.kernel_shape, label);
    const auto& k = a.kernel_shape;
    std::vector<int64_t> zero(k.size(), 0);
    if (native_padding_ok(g, k) && !(ceil_mode && include_pad)) {
      out[0] = avg_pool(in[0], k, g.strides, g.pad_begin, ceil_mode, include_pad);
      return;
    }
    // Explicit padding: average = windowed sum / windowed count of the cells that count.
    auto x = at::constant_pad_nd(in[0], g.torch_pad_spec(), 0.0);
    auto sum = avg_pool(x, k, g.strides, zero, ceil_mode, true);
    at::Tensor ones = at::ones(in[0].sizes().slice(2), in[0].options()).unsqueeze(0).unsqueeze(0);
    auto counted = include_pad ? at::constant_pad_nd(ones, g.torch_pad_spec(), 1.0)
                               : at::constant_pad_nd(ones, g.torch_pad_spec(), 0.0);
    auto count = avg_pool(counted, k, g.strides, zero, ceil_mode, true);
    out[0] = sum / count;
  };
}

OpFn build_global_pool(const NodeInfo& n, bool max) {
  n.expect_attrs({});
  return [max, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    // Pools over the spatial axes of N x C x D1 ...: a 2-D input has none (amax over no axes
    // would reduce everything).
    NNC_CHECK_CODE(in[0].dim() >= 3, kShape, "{}: input of rank {} has no spatial axes", label, in[0].dim());
    if (!max && onednn::is_onednn(in[0]) && in[0].dim() == 4) {
      out[0] = at::mkldnn_adaptive_avg_pool2d(in[0], {1, 1});
      return;
    }
    const at::Tensor x = onednn::dense(in[0]);
    std::vector<int64_t> dims;
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    out[0] = max ? at::amax(x, dims, /*keepdim=*/true) : at::mean(x, dims, /*keepdim=*/true);
  };
}

}  // namespace

void register_pool_ops(OpRegistry& r) {
  r.add("MaxPool", build_maxpool, 1, INT_MAX, {.onednn = true});
  r.add("AveragePool", build_avgpool);
  r.add("GlobalAveragePool", [](const NodeInfo& n) { return build_global_pool(n, false); }, 1, INT_MAX,
        {.onednn = true});
  r.add("GlobalMaxPool", [](const NodeInfo& n) { return build_global_pool(n, true); });
}

}  // namespace nnc::exec
