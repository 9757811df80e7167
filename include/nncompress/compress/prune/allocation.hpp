#pragma once
// Per-layer sparsity allocations for a global target: the rate–distortion DP and the
// baselines measured in the same run (uniform per-layer sparsity, global magnitude threshold,
// layer-wise random).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/compress/prune/dp_allocate.hpp"
#include "nncompress/compress/prune/rd_curve.hpp"

namespace nnc::prune {

struct LayerState {
  PrunableLayer layer;
  int64_t nonzero = 0;        // currently non-zero weights (already-pruned ones stay pruned)
  bool forced_dense = false;  // --keep-dense
};

struct AllocationResult {
  std::string method;               // rd | uniform | global | random | file
  std::vector<double> fraction;     // pruned fraction phi per layer
  std::vector<int64_t> kept;        // kept weights per layer
  int64_t total_kept = 0, total_params = 0;
  double predicted_distortion = -1; // sum of curve values (rd only)
};

// Kept weights of a layer pruned to fraction phi, never reviving pruned weights.
int64_t kept_weights(const LayerState& s, double phi);

AllocationResult allocate_rd(const std::vector<LayerState>& layers, const RdCurves& curves, int64_t budget);
// The grid index of each layer's point in the rate–distortion allocation (evaluated points only).
std::vector<std::size_t> rd_grid_choice(const std::vector<LayerState>& layers, const RdCurves& curves, int64_t budget);
AllocationResult allocate_uniform(const std::vector<LayerState>& layers, int64_t budget);
// One magnitude threshold over all (non-forced) layers' weights.
AllocationResult allocate_global(const std::vector<LayerState>& layers, const std::vector<at::Tensor>& weights,
                                 int64_t budget);
AllocationResult allocate_random(const std::vector<LayerState>& layers, int64_t budget, uint64_t seed);

// Validates and completes an allocation given as fractions (e.g. read from an edited file).
AllocationResult allocation_from_fractions(const std::vector<LayerState>& layers, std::vector<double> fraction,
                                           std::string method);

}  // namespace nnc::prune
