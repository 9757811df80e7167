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
  std::size_t rank = 0;  // spatial axes the attributes give (0: none given)
};

struct SpatialGeometry {
  std::vector<int64_t> strides, dilations, pad_begin, pad_end;
  bool symmetric = true;  // pad_begin == pad_end
  // Pad spec for at::constant_pad_nd (last dimension first: [b_last, e_last, ...]).
  std::vector<int64_t> torch_pad_spec() const;
};

// Reads and validates (ONNX rules, at load): kernel_shape, strides and dilations >= 1, pads >= 0,
// one spatial rank of 1-3 among all of them (pads: two values per axis). For pooling operators
// (`pool`), kernel_shape is required and each pad must be smaller than the kernel along its
// axis, so that no window lies wholly in the padding (-inf or 0/0 outputs).
SpatialAttrs read_spatial_attrs(const NodeInfo& n, bool pool = false);

SpatialGeometry resolve_spatial(const SpatialAttrs& a, c10::IntArrayRef input_spatial,
                                const std::vector<int64_t>& kernel, const std::string& label);

}  // namespace nnc::exec
