#include <gtest/gtest.h>
#include <torch/torch.h>

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
