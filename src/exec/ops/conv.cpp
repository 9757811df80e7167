// Conv (opset 1+): 1-D/2-D/3-D, groups (depthwise), dilations, strides, explicit and auto pads.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <memory>

#include "exec/onednn.hpp"
#include "exec/ops/ops.hpp"
#include "exec/ops/padding.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

OpFn build_conv(const NodeInfo& n) {
  n.expect_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  SpatialAttrs attrs = read_spatial_attrs(n);
  int64_t groups = n.attr_int("group", 1);
  if (groups < 1) n.unsupported("group < 1");
  std::string label = n.label();
  auto packed = std::make_shared<onednn::PackedConv>();
  return [attrs, groups, label, packed](const RunContext& rc, std::span<const at::Tensor> in,
                                        std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];
    const at::Tensor& w = in[1];
    at::Tensor b = in.size() > 2 ? in[2] : at::Tensor();
    const int64_t spatial = x.dim() - 2;
    NNC_CHECK_CODE(spatial >= 1 && spatial <= 3 && w.dim() == x.dim(), kShape,
                   "{}: input rank {} and weight rank {} do not form a 1-D/2-D/3-D convolution", label, x.dim(),
                   w.dim());
    NNC_CHECK_CODE(x.size(1) == w.size(1) * groups, kShape,
                   "{}: input has {} channels but weight expects {} x {} groups", label, x.size(1), w.size(1), groups);
    std::vector<int64_t> kernel(w.sizes().begin() + 2, w.sizes().end());
    auto geo = resolve_spatial(attrs, x.sizes().slice(2), kernel, label);
    // A channels-last input (from a dense Conv + Clip chain) stays on the channels-last path.
    const bool channels_last_input = x.dim() == 4 && !x.is_mkldnn() && !x.is_contiguous() &&
                                     x.is_contiguous(at::MemoryFormat::ChannelsLast);
    if (rc.onednn && geo.symmetric && !channels_last_input) {
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

void register_conv_ops(OpRegistry& r) { r.add("Conv", build_conv, 1, INT_MAX, {.onednn = true}); }

}  // namespace nnc::exec
