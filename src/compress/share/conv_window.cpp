#include "conv_window.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "nncompress/onnx/attributes.hpp"

namespace nnc::share::detail {

bool conv_window(const onnx::NodeProto& n, const std::vector<int64_t>& weight_shape, Window& w) {
  if (weight_shape.size() != 4) return false;
  w.kh = weight_shape[2];
  w.kw = weight_shape[3];
  w.strides = onnxio::attr_ints(n, "strides", {1, 1});
  w.dilations = onnxio::attr_ints(n, "dilations", {1, 1});
  w.pads = onnxio::attr_ints(n, "pads", {0, 0, 0, 0});
  w.auto_pad = onnxio::attr_string(n, "auto_pad");
  return w.strides.size() == 2 && w.dilations.size() == 2 && w.pads.size() == 4;
}

at::Tensor conv_columns(const at::Tensor& x, const Window& w) {
  std::vector<int64_t> pads = w.pads;
  if (w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER") {
    for (int d = 0; d < 2; ++d) {
      const int64_t in = x.size(2 + d), k = d == 0 ? w.kh : w.kw;
      const int64_t out = (in + w.strides[d] - 1) / w.strides[d];
      const int64_t total = std::max<int64_t>(0, (out - 1) * w.strides[d] + (k - 1) * w.dilations[d] + 1 - in);
      const int64_t small = total / 2, big = total - small;
      pads[d] = w.auto_pad == "SAME_UPPER" ? small : big;
      pads[d + 2] = w.auto_pad == "SAME_UPPER" ? big : small;
    }
  } else if (w.auto_pad == "VALID") {
    pads = {0, 0, 0, 0};
  }
  auto padded = at::constant_pad_nd(x, {pads[1], pads[3], pads[0], pads[2]});
  return at::im2col(padded, {w.kh, w.kw}, {w.dilations[0], w.dilations[1]}, {0, 0}, {w.strides[0], w.strides[1]});
}

}  // namespace nnc::share::detail
