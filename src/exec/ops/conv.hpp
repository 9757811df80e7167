#pragma once
// A convolution as Conv defines it, for the operators built on it (ConvInteger, QLinearConv):
// the weight checked against the attributes, the geometry resolved per input, asymmetric pads
// applied, computed in the inputs' type (double for exact integer sums).
#include <ATen/core/Tensor.h>

#include <string>

#include "exec/ops/padding.hpp"

namespace nnc::exec {

at::Tensor convolve(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const SpatialAttrs& attrs,
                    int64_t groups, const std::string& label);

}  // namespace nnc::exec
