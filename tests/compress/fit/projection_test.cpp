// fit's projection: 1-D k-means on sorted values, a layer's (kept, bits) options, the projection
// of one layer and of all layers within a byte budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/core/error.hpp"

using namespace nnc::fit;

namespace {
std::vector<float> gaussian(std::size_t n, uint32_t seed, float sigma = 0.1f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Squared error of mapping every value to its nearest level.
double nearest_sse(const std::vector<double>& x, const std::vector<double>& levels) {
  double s = 0;
  for (double v : x) {
    double best = INFINITY;
    for (double l : levels) best = std::min(best, (v - l) * (v - l));
    s += best;
  }
  return s;
}
}  // namespace

TEST(KmeansSorted, FindsSeparatedClustersExactly) {
  std::vector<double> x{-1.0, -0.9, -1.1, 2.0, 2.2, 1.8, 5.0};
  std::sort(x.begin(), x.end());
  const auto c = kmeans_sorted(x, 3);
  ASSERT_EQ(c.levels.size(), 3u);
  EXPECT_NEAR(c.levels[0], -1.0, 1e-12);
  EXPECT_NEAR(c.levels[1], 2.0, 1e-12);
  EXPECT_NEAR(c.levels[2], 5.0, 1e-12);
  EXPECT_EQ(c.counts, (std::vector<int64_t>{3, 3, 1}));
  EXPECT_NEAR(c.sse, 0.02 + 0.08, 1e-12);
  // More levels than values: every value its own level, no error.
  const auto all = kmeans_sorted(x, 16);
  EXPECT_EQ(all.levels.size(), x.size());
  EXPECT_NEAR(all.sse, 0.0, 1e-12);
}

TEST(KmeansSorted, IsALloydFixedPointOnRandomData) {
  const auto f = gaussian(5000, 1);
  std::vector<double> x(f.begin(), f.end());
  std::sort(x.begin(), x.end());
  for (int levels : {2, 4, 16}) {
    const auto c = kmeans_sorted(x, levels);
    EXPECT_EQ(static_cast<int>(c.levels.size()), levels);
    EXPECT_TRUE(std::is_sorted(c.levels.begin(), c.levels.end()));
    int64_t total = 0;
    for (auto n : c.counts) total += n;
    EXPECT_EQ(total, 5000);
    // Converged: the reported error is that of the nearest-level assignment.
    EXPECT_NEAR(c.sse, nearest_sse(x, c.levels), 1e-9 * (1 + c.sse));
  }
  // Error falls with more levels.
  EXPECT_GT(kmeans_sorted(x, 2).sse, kmeans_sorted(x, 4).sse);
  EXPECT_GT(kmeans_sorted(x, 4).sse, kmeans_sorted(x, 16).sse);
}

TEST(ProjectLayer, KeepsTheLargestMagnitudesOnAtMostTwoToTheBitsLevels) {
  const auto v = gaussian(2000, 2);
  const auto p = project_layer(v, 300, 3);
  EXPECT_LE(p.levels.size(), 8u);
  std::vector<float> mags;
  for (float x : v) mags.push_back(std::fabs(x));
  std::nth_element(mags.begin(), mags.begin() + 299, mags.end(), std::greater<>());
  const float threshold = mags[299];
  int64_t kept = 0;
  double sse = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const bool k = p.level[i] != p.levels.size();
    kept += k;
    if (k) {
      EXPECT_GE(std::fabs(v[i]), threshold);
      EXPECT_EQ(p.values[i], p.levels[p.level[i]]);
      EXPECT_NE(p.values[i], 0.0f);
    } else {
      EXPECT_EQ(p.values[i], 0.0f);
    }
    sse += (v[i] - p.values[i]) * (v[i] - p.values[i]);
  }
  EXPECT_EQ(kept, 300);
  EXPECT_NEAR(p.distortion, sse, 1e-6 * sse);
  // Kept weights of both signs stay on their side: no level straddles the pruned gap.
  EXPECT_LT(p.levels.front(), 0.0f);
  EXPECT_GT(p.levels.back(), 0.0f);
}

TEST(LayerOptions, CostAndErrorMoveOppositeWays) {
  const auto v = gaussian(4000, 3);
  const auto opts = layer_options(v, {});
  ASSERT_FALSE(opts.empty());
  // For a kept count, more bits: less error, more bytes; the option matches a projection.
  for (std::size_t i = 1; i < opts.size(); ++i) {
    if (opts[i].kept != opts[i - 1].kept) continue;
    EXPECT_EQ(opts[i].bits, opts[i - 1].bits + 1);
    EXPECT_LE(opts[i].distortion, opts[i - 1].distortion + 1e-12);
    EXPECT_GE(opts[i].bytes, opts[i - 1].bytes);
  }
  const auto& o = opts[opts.size() / 2];
  EXPECT_NEAR(project_layer(v, o.kept, o.bits).distortion, o.distortion, 1e-6 * (1 + o.distortion));
  // Dense at 8 bits is the most expensive option of all; the sparsest 1-bit one the cheapest.
  const auto most = std::max_element(opts.begin(), opts.end(), [](auto& a, auto& b) { return a.bytes < b.bytes; });
  EXPECT_EQ(most->kept, 4000);
  const auto least = std::min_element(opts.begin(), opts.end(), [](auto& a, auto& b) { return a.bytes < b.bytes; });
  EXPECT_EQ(least->bits, 1);
  EXPECT_EQ(least->kept, 4);  // 1e-3 of the layer
}

// A pruned layer (fit's keep_zeros): its exact zeros are never kept, so the kept counts stop at
// its nonzero count, which is itself an option; without only_nonzero the dense count is one.
TEST(LayerOptions, OnlyNonzeroStopsAtTheLayersNonzeroCount) {
  auto v = gaussian(4000, 5);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (i % 10 != 0) v[i] = 0.0f;  // 400 nonzeros
  GridOptions g;
  g.only_nonzero = true;
  const auto opts = layer_options(v, g);
  ASSERT_FALSE(opts.empty());
  int64_t most = 0;
  for (const auto& o : opts) most = std::max(most, o.kept);
  EXPECT_EQ(most, 400);
  // Keeping all 400 projects them onto their levels and every zero stays zero.
  const auto p = project_layer(v, 400, 8);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == 0.0f) {
      EXPECT_EQ(p.values[i], 0.0f) << i;
    }
  }
  g.only_nonzero = false;
  const auto all = layer_options(v, g);
  EXPECT_EQ(std::max_element(all.begin(), all.end(), [](auto& a, auto& b) { return a.kept < b.kept; })->kept, 4000);
}

TEST(ProjectToBudget, StaysWithinTheBudgetAndSpendsItWhereErrorFallsMost) {
  const auto big = gaussian(20000, 4, 0.02f), small = gaussian(500, 5, 0.5f);
  std::vector<std::span<const float>> layers{big, small};
  const int64_t budget = 1500;
  const auto p = project_to_budget(layers, budget, {});
  EXPECT_LE(p.predicted_bytes, budget);
  EXPECT_EQ(p.bytes.size(), 2u);
  EXPECT_EQ(p.predicted_bytes, p.bytes[0] + p.bytes[1]);
  // The small layer of large weights keeps most of them; the big one of small weights is thinned.
  EXPECT_GT(static_cast<double>(p.layers[1].kept) / 500, static_cast<double>(p.layers[0].kept) / 20000);
  // The knapsack alone, then the projection to its choice: the same result.
  const auto opts = std::vector<std::vector<LayerOption>>{layer_options(big, {}), layer_options(small, {})};
  const auto chosen = choose_options(opts, budget);
  const auto q = project_to_options(layers, chosen);
  EXPECT_EQ(q.predicted_bytes, p.predicted_bytes);
  EXPECT_NEAR(q.distortion, p.distortion, 1e-9);
  // Below what the sparsest, coarsest options need: an error naming that minimum.
  const auto least = min_payload_bytes({layer_options(big, {}), layer_options(small, {})});
  try {
    project_to_budget(layers, least - 1, {});
    FAIL();
  } catch (const nnc::Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(least)), std::string::npos) << e.what();
  }
}

TEST(ChooseUniform, OneKeptFractionAndBitWidthForEveryLayer) {
  const auto a = gaussian(20000, 6, 0.02f), b = gaussian(2000, 7, 0.5f);
  const std::vector<std::vector<LayerOption>> opts{layer_options(a, {}), layer_options(b, {})};
  const int64_t budget = 2500;
  const auto u = choose_uniform(opts, {}, budget);
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].bits, u[1].bits);
  EXPECT_NEAR(static_cast<double>(u[0].kept) / 20000, static_cast<double>(u[1].kept) / 2000, 1e-3);
  EXPECT_LE(u[0].bytes + u[1].bytes, budget);
  // The knapsack, free to differ per layer, does at least as well.
  const auto k = choose_options(opts, budget);
  EXPECT_LE(k[0].distortion + k[1].distortion, u[0].distortion + u[1].distortion + 1e-12);
  EXPECT_THROW(choose_uniform(opts, {}, 10), nnc::Error);
  // A tensor that is never pruned (a bias: only dense options) stays dense at the shared bit
  // width while the others take the uniform kept fraction.
  GridOptions dense_only;
  dense_only.min_density = 1.0;
  const auto bias = gaussian(50, 8, 0.1f);
  const std::vector<std::vector<LayerOption>> with_bias{layer_options(a, {}), layer_options(bias, dense_only)};
  const auto w = choose_uniform(with_bias, {}, budget);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[1].kept, 50);
  EXPECT_LT(w[0].kept, 20000);
  EXPECT_EQ(w[0].bits, w[1].bits);
  EXPECT_LE(w[0].bytes + w[1].bytes, budget);
}
