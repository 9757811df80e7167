#include <gtest/gtest.h>

#include <random>

#include "nncompress/compress/prune/dp_allocate.hpp"
#include "nncompress/core/error.hpp"

using namespace nnc::prune;

namespace {
std::vector<LayerCurve> random_curves(std::mt19937& rng, int layers, int points) {
  std::vector<LayerCurve> curves;
  std::uniform_int_distribution<int> size(10, 200);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int l = 0; l < layers; ++l) {
    LayerCurve c;
    c.params = size(rng);
    double d = 0;
    for (int g = 0; g < points; ++g) {
      double phi = static_cast<double>(g) / points;
      c.kept.push_back(c.params - static_cast<int64_t>(phi * static_cast<double>(c.params)));
      c.distortion.push_back(d);
      d += u(rng) * u(rng);  // increasing, irregular
    }
    curves.push_back(c);
  }
  return curves;
}
}  // namespace

TEST(DpAllocate, MatchesBruteForceOnSmallInstances) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 40; ++trial) {
    auto curves = random_curves(rng, 4, 6);
    int64_t total = 0;
    for (const auto& c : curves) total += c.params;
    int64_t budget = static_cast<int64_t>(total * (0.3 + 0.5 * (trial % 5) / 5.0));
    if (trial % 3 == 0) curves[1].forced_dense = true;
    DpResult bf = brute_force_allocate(curves, budget);
    if (!std::isfinite(bf.predicted)) {
      EXPECT_THROW(dp_allocate(curves, budget), nnc::Error);
      continue;
    }
    DpResult dp = dp_allocate(curves, budget);  // budget < buckets: exact
    EXPECT_LE(dp.kept, budget);
    EXPECT_NEAR(dp.predicted, bf.predicted, 1e-12) << "trial " << trial;
  }
}

TEST(DpAllocate, BucketedBudgetStillHoldsOnLargeLayers) {
  std::mt19937 rng(1);
  auto curves = random_curves(rng, 20, 101);
  for (auto& c : curves) {
    c.params *= 1000;
    for (auto& k : c.kept) k *= 1000;
  }
  int64_t total = 0;
  for (const auto& c : curves) total += c.params;
  auto r = dp_allocate(curves, total / 5);
  EXPECT_LE(r.kept, total / 5);
  EXPECT_GT(r.kept, total / 5 * 0.97);  // the allocation uses (nearly) the whole budget
}

TEST(DpAllocate, BudgetBelowForcedDenseLayersIsAnError) {
  std::vector<LayerCurve> curves(2);
  for (auto& c : curves) {
    c.params = 100;
    c.kept = {100, 50, 10};
    c.distortion = {0, 1, 2};
  }
  curves[0].forced_dense = true;
  try {
    dp_allocate(curves, 105);
    FAIL();
  } catch (const nnc::Error& e) {
    EXPECT_EQ(std::string(e.what()), "budget of 105 kept weights is below the 110 that the dense-forced layers and "
                                     "the sparsest grid point of every other layer need");
  }
}
