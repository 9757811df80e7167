#pragma once
// Spatial attributes shared by Conv and the pooling operators: kernel_shape, strides,
// dilations, pads and auto_pad (NOTSET / VALID / SAME_UPPER / SAME_LOWER), resolved per run
// against the input's spatial size (SAME_* depends on it).
#include <c10/util/ArrayRef.h>

#include <string>
#include <vector>

#include "nncompress/exec/op_registry.hpp"

namespace nnc::exec {

struct SpatialAttrs {
  std::string auto_pad = "NOTSET";
  std::vector<int64_t> kernel_shape, strides, dilations, pads;  // empty = default
};

struct SpatialGeometry {
  std::vector<int64_t> strides, dilations, pad_begin, pad_end;
  bool symmetric = true;  // pad_begin == pad_end
  // Pad spec for at::constant_pad_nd (last dimension first: [b_last, e_last, ...]).
  std::vector<int64_t> torch_pad_spec() const;
};

SpatialAttrs read_spatial_attrs(const NodeInfo& n);

SpatialGeometry resolve_spatial(const SpatialAttrs& a, c10::IntArrayRef input_spatial,
                                const std::vector<int64_t>& kernel, const std::string& label);

}  // namespace nnc::exec
