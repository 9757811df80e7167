#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/prune/allocation.hpp"
#include "nncompress/compress/prune/rd_curve.hpp"
#include "nncompress/core/error.hpp"

using namespace nnc::prune;

namespace {
std::vector<LayerState> states(const std::vector<torch::Tensor>& w) {
  std::vector<LayerState> s;
  for (std::size_t i = 0; i < w.size(); ++i)
    s.push_back({{"n" + std::to_string(i), "w" + std::to_string(i), w[i].numel()}, w[i].numel(), false});
  return s;
}
}  // namespace

TEST(Allocation, UniformAndRandomMeetTheBudget) {
  torch::manual_seed(0);
  std::vector<torch::Tensor> w{torch::randn({100}), torch::randn({400}), torch::randn({50})};
  auto s = states(w);
  for (int64_t budget : {55, 110, 275, 500}) {
    auto u = allocate_uniform(s, budget);
    EXPECT_LE(u.total_kept, budget);
    EXPECT_GT(u.total_kept, budget - 4);
    auto r = allocate_random(s, budget, 3);
    EXPECT_LE(r.total_kept, budget);
  }
}

TEST(Allocation, GlobalThresholdPrunesTheGloballySmallest) {
  torch::manual_seed(1);
  std::vector<torch::Tensor> w{torch::randn({100}) * 0.1, torch::randn({300}), torch::randn({60}) * 3};
  auto s = states(w);
  auto r = allocate_global(s, w, 200);
  EXPECT_EQ(r.total_kept, 200);
  float max_pruned = 0, min_kept = 1e9;
  for (std::size_t i = 0; i < w.size(); ++i) {
    auto m = magnitude_mask(w[i], r.fraction[i]);
    auto a = w[i].abs();
    if ((m == 0).any().item<bool>()) max_pruned = std::max(max_pruned, a.masked_select(m == 0).max().item<float>());
    if ((m == 1).any().item<bool>()) min_kept = std::min(min_kept, a.masked_select(m == 1).min().item<float>());
  }
  EXPECT_LE(max_pruned, min_kept);
  EXPECT_GT(r.fraction[0], r.fraction[2]);  // small-magnitude layer loses more
}

TEST(Allocation, ForcedDenseAndBadFractions) {
  std::vector<torch::Tensor> w{torch::randn({100}), torch::randn({100})};
  auto s = states(w);
  s[0].forced_dense = true;
  auto u = allocate_uniform(s, 120);
  EXPECT_EQ(u.kept[0], 100);
  EXPECT_LE(u.kept[1], 20);
  try {
    allocation_from_fractions(s, {0.5, 1.5}, "file");
    FAIL();
  } catch (const nnc::Error& e) {
    EXPECT_EQ(std::string(e.what()), "layer 'n1': pruned fraction 1.5 is outside [0, 1]");
  }
  EXPECT_THROW(allocation_from_fractions(s, {0.5}, "file"), nnc::Error);
}

TEST(Allocation, RdUsesTheWholeBudgetAlongTheCurves) {
  // Three layers with convex curves on a coarse grid: the grid alone cannot hit the budget, the
  // leftover goes to the steepest curve segment.
  torch::manual_seed(0);
  std::vector<torch::Tensor> w{torch::randn({1000}), torch::randn({3000}), torch::randn({500})};
  auto s = states(w);
  RdCurves c;
  c.grid = default_grid(0.1);
  const std::vector<double> scale{1.0, 0.2, 5.0};
  for (std::size_t l = 0; l < 3; ++l) {
    std::vector<double> row;
    for (double phi : c.grid) row.push_back(scale[l] * phi * phi);
    c.distortion.push_back(row);
  }
  for (int64_t budget : {1234, 2345, 3333}) {
    auto dp_only = rd_grid_choice(s, c, budget);
    double grid_kept = 0, grid_predicted = 0;
    for (std::size_t l = 0; l < 3; ++l) {
      grid_kept += static_cast<double>(kept_weights(s[l], c.grid[dp_only[l]]));
      grid_predicted += c.distortion[l][dp_only[l]];
    }
    auto a = allocate_rd(s, c, budget);
    EXPECT_LE(a.total_kept, budget);
    EXPECT_GE(a.total_kept, budget - 3) << "budget " << budget << ", grid alone kept " << grid_kept;
    EXPECT_LE(a.predicted_distortion, grid_predicted + 1e-12);
    for (std::size_t l = 0; l < 3; ++l) EXPECT_LE(a.fraction[l], c.grid[dp_only[l]] + 1e-12);
  }
}
