#pragma once
// Private to the share module: what a 2-D convolution's kernel taps read, for the passes that
// look at a layer's inputs (bias correction, error-feedback rounding).
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace nnc::share::detail {

// Kernel size, strides, dilations and the four pads (top, left, bottom, right) of a 2-D Conv.
struct Window {
  int64_t kh = 1, kw = 1;
  std::vector<int64_t> strides{1, 1}, dilations{1, 1}, pads{0, 0, 0, 0};
  std::string auto_pad;
};

// The window of Conv node `n` whose weight has shape [f, c/g, kh, kw]; false when its
// attributes are not 2-D.
bool conv_window(const onnx::NodeProto& n, const std::vector<int64_t>& weight_shape, Window& w);

// im2col of `x` (N x C x H x W) as the convolution reads it, padding resolved (auto_pad from the
// input size): [N, C*kh*kw, L], channel-major like the weight's flattened [f, C*kh*kw].
// Call on chunks of a batch to bound memory.
at::Tensor conv_columns(const at::Tensor& x, const Window& w);

}  // namespace nnc::share::detail
