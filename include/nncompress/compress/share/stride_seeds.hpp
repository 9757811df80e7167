#pragma once
// Sensitivity-aware starting points for extended mode's stride genes, by rate-distortion: for
// every tensor group and stride, the output distortion on the calibration set when only that
// group is coarsened (the rest on the fine grid; activation caching makes each a tail run) and
// the index bits it saves. Distortions of several groups are taken as additive, as in
// rate-distortion pruning, so for a sweep of Lagrange multipliers each group independently takes
// the stride minimising distortion + lambda * bits. The distinct results seed NSGA-II.
#include <ATen/core/Tensor.h>

#include <vector>

#include "nncompress/compress/share/uniform_bins.hpp"
#include "nncompress/core/control.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::share {

struct StrideSeedOptions {
  int k = 64;                            // the grid the curves are measured on
  std::vector<int> strides{1, 2, 3, 4, 6, 8};
  int max_seeds = 16;
  int64_t batch = 256;
};

// Per-group stride vectors (one entry per group; group_of maps tensors to groups 0..G-1, as
// stride_groups() makes them). The engine must hold the original weights; they are restored on
// return.
std::vector<std::vector<int>> rd_stride_seeds(exec::Engine& engine, const SharedSet& set, const at::Tensor& calib,
                                              const std::vector<int>& group_of, const StrideSeedOptions& options,
                                              const Control& control = {});

}  // namespace nnc::share
