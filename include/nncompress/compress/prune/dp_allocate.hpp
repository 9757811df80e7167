#pragma once
// Optimal per-layer sparsity for a global budget (layer-adaptive pruning via rate–distortion,
// Sec. 3: output distortion of pruning several layers is nearly the SUM of single-layer
// distortions). Minimise sum_l delta_l(phi_l) subject to sum_l kept_l <= budget by dynamic
// programming over layers and a discretised budget: exact for the grid up to the budget
// discretisation (costs are rounded UP, so the budget always holds), linear in the number of layers:
// the multiple-choice knapsack of compress/common/knapsack.hpp with kept weights as the cost.
#include <cstdint>
#include <vector>

namespace nnc::prune {

struct LayerCurve {
  int64_t params = 0;
  std::vector<int64_t> kept;        // kept elements per grid point (non-increasing)
  std::vector<double> distortion;   // delta_l at each grid point
  bool forced_dense = false;        // --keep-dense: only grid point 0 (phi = 0) allowed
};

struct DpResult {
  std::vector<int> choice;  // grid index per layer
  double predicted = 0;     // sum of the chosen distortions
  int64_t kept = 0;         // sum of kept elements
};

// Throws if even the sparsest allowed choice of every layer exceeds `budget`.
DpResult dp_allocate(const std::vector<LayerCurve>& curves, int64_t budget, int64_t buckets = 8192);

// Exhaustive reference for tests (small instances only).
DpResult brute_force_allocate(const std::vector<LayerCurve>& curves, int64_t budget);

}  // namespace nnc::prune
