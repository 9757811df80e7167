#pragma once
// The multiple-choice knapsack every budgeted allocation here solves: pick one option per group
// (a layer's sparsity, its sparsity and bit width, ...) so that the summed distortion is least
// while the summed cost (kept weights, bytes, ...) stays within a budget. Dynamic programming over
// the groups and a discretised budget: exact for the options up to the budget's discretisation
// (costs are rounded UP to whole buckets, so the budget always holds), linear in the groups.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace nnc::compress {

struct ChoiceGroup {
  std::vector<int64_t> cost;        // per option, >= 0
  std::vector<double> distortion;   // per option
  // Only the first `allowed` options may be chosen (e.g. 1: a layer forced to stay as it is).
  std::size_t allowed = std::numeric_limits<std::size_t>::max();
  std::size_t options() const { return cost.size() < allowed ? cost.size() : allowed; }
};

struct KnapsackChoice {
  std::vector<int> choice;  // option per group
  double distortion = 0;    // sum of the chosen distortions
  int64_t cost = 0;         // sum of the chosen costs
};

// The cheapest total cost any choice can reach (every group at its cheapest allowed option).
int64_t min_total_cost(const std::vector<ChoiceGroup>& groups);

// Least distortion within `budget`. Throws if even the cheapest choice exceeds it.
KnapsackChoice min_distortion_choice(const std::vector<ChoiceGroup>& groups, int64_t budget, int64_t buckets = 8192);

// Exhaustive reference for tests (small instances only).
KnapsackChoice brute_force_choice(const std::vector<ChoiceGroup>& groups, int64_t budget);

}  // namespace nnc::compress
