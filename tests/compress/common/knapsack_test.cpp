// The multiple-choice knapsack behind pruning's allocation and fit's projection: exact against
// exhaustive search on small instances, within budget on large ones.
#include <gtest/gtest.h>

#include <random>

#include "nncompress/compress/common/knapsack.hpp"
#include "nncompress/core/error.hpp"

using namespace nnc::compress;

namespace {
// Options with unordered, irregular costs and distortions (as bytes x bits options are).
std::vector<ChoiceGroup> random_groups(std::mt19937& rng, int groups, int options, int64_t scale) {
  std::uniform_int_distribution<int64_t> cost(1, 100);
  std::uniform_real_distribution<double> d(0.0, 1.0);
  std::vector<ChoiceGroup> out;
  for (int g = 0; g < groups; ++g) {
    ChoiceGroup c;
    for (int o = 0; o < options; ++o) {
      c.cost.push_back(cost(rng) * scale);
      c.distortion.push_back(d(rng));
    }
    out.push_back(c);
  }
  return out;
}
}  // namespace

TEST(Knapsack, MatchesBruteForceOnSmallInstances) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    auto groups = random_groups(rng, 4, 7, 1);
    if (trial % 4 == 0) groups[2].allowed = 1;
    const int64_t budget = 40 + 5 * trial;
    const auto bf = brute_force_choice(groups, budget);
    if (!std::isfinite(bf.distortion)) {
      EXPECT_THROW(min_distortion_choice(groups, budget), nnc::Error);
      continue;
    }
    const auto dp = min_distortion_choice(groups, budget);  // budget < buckets: exact
    EXPECT_LE(dp.cost, budget);
    EXPECT_NEAR(dp.distortion, bf.distortion, 1e-12) << "trial " << trial;
    if (trial % 4 == 0) {
      EXPECT_EQ(dp.choice[2], 0);
    }
  }
}

TEST(Knapsack, BucketedBudgetHoldsAndComesClose) {
  std::mt19937 rng(3);
  auto groups = random_groups(rng, 30, 40, 997);  // byte-sized costs, far more than the buckets
  const int64_t budget = 30 * 50 * 997;
  const auto coarse = min_distortion_choice(groups, budget, 1024);
  const auto fine = min_distortion_choice(groups, budget, 65536);
  EXPECT_LE(coarse.cost, budget);
  EXPECT_LE(fine.cost, budget);
  EXPECT_LE(fine.distortion, coarse.distortion + 1e-12);
  EXPECT_EQ(min_total_cost(groups) <= budget, true);
}

TEST(Knapsack, ImpossibleBudgetNamesTheMinimum) {
  std::vector<ChoiceGroup> g{{{10, 5}, {0.0, 1.0}}, {{7, 3}, {0.0, 2.0}}};
  EXPECT_EQ(min_total_cost(g), 8);
  try {
    min_distortion_choice(g, 7);
    FAIL();
  } catch (const nnc::Error& e) {
    EXPECT_STREQ(e.what(), "a budget of 7 is below the 8 that the cheapest choice needs");
  }
  const auto r = min_distortion_choice(g, 13);
  EXPECT_EQ(r.choice, (std::vector<int>{1, 0}));  // 5 + 7 (distortion 1) beats 10 + 3 (2) and 5 + 3 (3)
  EXPECT_EQ(r.cost, 12);
}
