#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/prune/magnitude.hpp"

using namespace nnc::prune;

TEST(Magnitude, PrunesExactlyTheSmallestFraction) {
  auto w = torch::tensor({0.5f, -0.1f, 0.3f, -0.9f, 0.05f, 0.2f, -0.4f, 0.7f, 0.0f, 0.6f});
  auto m = magnitude_mask(w, 0.3);  // 3 smallest |w|: 0.0, 0.05, -0.1
  EXPECT_TRUE(torch::equal(m, torch::tensor({1.f, 0.f, 1.f, 1.f, 0.f, 1.f, 1.f, 1.f, 0.f, 1.f})));
  EXPECT_EQ(magnitude_mask(w, 0.0).sum().item<float>(), 10);
  EXPECT_EQ(kept_after(10, 0.3), 7);
  EXPECT_EQ(kept_after(3, 0.5), 1);  // llround(1.5) = 2 pruned
}

TEST(Magnitude, NeverRevivesAlreadyPrunedWeights) {
  torch::manual_seed(0);
  auto w = torch::randn({50, 20});
  auto m1 = magnitude_mask(w, 0.4);
  auto pruned = w * m1;
  auto m2 = magnitude_mask(pruned, 0.6);
  EXPECT_EQ(((m1 == 0) & (m2 == 1)).sum().item<int64_t>(), 0);
  EXPECT_EQ((m2 == 0).sum().item<int64_t>(), 600);
}
