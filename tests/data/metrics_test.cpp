#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "nncompress/data/evaluate.hpp"

using namespace nnc::data;

TEST(Metrics, TopKLossAndMacroF1MatchHandComputedValues) {
  // 4 samples, 3 classes.
  auto logits = torch::tensor({{2.f, 1.f, 0.f}, {0.f, 3.f, 1.f}, {1.f, 0.f, 2.f}, {3.f, 0.f, 1.f}});
  auto labels = torch::tensor({0, 1, 1, 2}, torch::kLong);
  auto m = metrics_from_logits(logits, labels, 3);
  EXPECT_DOUBLE_EQ(m.top1, 0.5);
  EXPECT_DOUBLE_EQ(m.top5, 1.0);  // k clamps to 3 classes
  double ce = 0;
  for (int i = 0; i < 4; ++i) ce -= torch::log_softmax(logits[i], 0)[labels[i].item<int64_t>()].item<double>();
  EXPECT_NEAR(m.loss, ce / 4, 1e-6);
  // predictions 0,1,2,0. class0: tp1 fp1 fn0 -> f1 2/3; class1: tp1 fn1 -> 2/3; class2: tp0 -> 0.
  EXPECT_NEAR(m.macro_f1, (2.0 / 3 + 2.0 / 3 + 0.0) / 3, 1e-12);
  EXPECT_EQ(m.n, 4);
}

TEST(Metrics, MacroF1AgainstBruteForce) {
  torch::manual_seed(0);
  auto logits = torch::randn({300, 7});
  auto labels = torch::randint(0, 7, {300}, torch::kLong);
  auto pred = logits.argmax(1);
  double sum = 0;
  for (int c = 0; c < 7; ++c) {
    double tp = ((pred == c) & (labels == c)).sum().item<double>();
    double fp = ((pred == c) & (labels != c)).sum().item<double>();
    double fn = ((pred != c) & (labels == c)).sum().item<double>();
    sum += tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn);
  }
  EXPECT_NEAR(macro_f1(logits, labels, 7), sum / 7, 1e-12);
}

TEST(Metrics, Distortion) {
  auto a = torch::zeros({2, 3});
  auto b = torch::ones({2, 3}) * 2;
  EXPECT_DOUBLE_EQ(output_distortion(a, b), 4.0);
}

TEST(Metrics, PairedStandardErrorCountsOnlyDisagreements) {
  // 100 images: both right on 80, only A right on 6, only B right on 2, both wrong on 12.
  std::vector<bool> a, b;
  auto add = [&](int n, bool x, bool y) {
    for (int i = 0; i < n; ++i) {
      a.push_back(x);
      b.push_back(y);
    }
  };
  add(80, true, true);
  add(6, true, false);
  add(2, false, true);
  add(12, false, false);
  auto ta = torch::zeros({100}, torch::kBool), tb = torch::zeros({100}, torch::kBool);
  for (int i = 0; i < 100; ++i) {
    ta[i] = static_cast<bool>(a[static_cast<std::size_t>(i)]);
    tb[i] = static_cast<bool>(b[static_cast<std::size_t>(i)]);
  }
  // Per-image difference d_i in {+1 (6), -1 (2), 0 (92)}: mean 0.04, var 0.08 - 0.0016.
  EXPECT_NEAR(paired_top1_se(ta, tb), std::sqrt((0.08 - 0.0016) / 100), 1e-12);
  EXPECT_DOUBLE_EQ(paired_top1_se(ta, ta), 0.0);
  // metrics_from_logits gives the per-image correctness it averaged.
  auto logits = torch::tensor({{2.f, 1.f}, {0.f, 3.f}, {1.f, 0.f}});
  auto m = metrics_from_logits(logits, torch::tensor({0, 0, 0}, torch::kLong), 2);
  EXPECT_TRUE(torch::equal(m.correct, torch::tensor({true, false, true})));
  EXPECT_THROW(paired_top1_se(ta, m.correct), std::exception);
}
