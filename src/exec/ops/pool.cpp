// Pooling: MaxPool, AveragePool, GlobalAveragePool.
#include <ATen/ATen.h>

#include "exec/ops/ops.hpp"
#include "exec/ops/padding.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

OpFn build_maxpool(const NodeInfo& n) {
  n.expect_attrs({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
  if (n.num_outputs() > 1 && !n.proto().output(1).empty()) n.unsupported("MaxPool Indices output");
  SpatialAttrs a = read_spatial_attrs(n);
  bool ceil_mode = n.attr_int("ceil_mode", 0) != 0;
  std::string label = n.label();
  return [a, ceil_mode, label](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto g = resolve_spatial(a, in[0].sizes().slice(2), a.kernel_shape, label);
    at::Tensor x = in[0];
    std::vector<int64_t> pad = g.pad_begin;
    if (!g.symmetric) {
      x = at::constant_pad_nd(x, g.torch_pad_spec(), -std::numeric_limits<double>::infinity());
      pad.assign(pad.size(), 0);
    }
    const auto spatial = a.kernel_shape.size();
    if (spatial == 1) out[0] = at::max_pool1d(x, a.kernel_shape, g.strides, pad, g.dilations, ceil_mode);
    else if (spatial == 2) out[0] = at::max_pool2d(x, a.kernel_shape, g.strides, pad, g.dilations, ceil_mode);
    else out[0] = at::max_pool3d(x, a.kernel_shape, g.strides, pad, g.dilations, ceil_mode);
  };
}

OpFn build_global_avgpool(const NodeInfo& n) {
  n.expect_attrs({});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    std::vector<int64_t> dims;
    for (int64_t d = 2; d < in[0].dim(); ++d) dims.push_back(d);
    out[0] = at::mean(in[0], dims, /*keepdim=*/true);
  };
}

}  // namespace

void register_pool_ops(OpRegistry& r) {
  r.add("MaxPool", build_maxpool);
  r.add("GlobalAveragePool", build_global_avgpool);
}

}  // namespace nnc::exec
