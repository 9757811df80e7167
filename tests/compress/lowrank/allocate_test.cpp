#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/lowrank/test_models.hpp"
#include "nncompress/compress/lowrank/allocate.hpp"
#include "nncompress/compress/lowrank/grouped_svd.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/onnx/model_io.hpp"

using namespace nnc::lowrank;

TEST(Layers, FindsDecomposableLayersWithShapesAndReasons) {
  auto layers = find_layers(test_models::small_convnet());
  ASSERT_EQ(layers.size(), 5u);
  EXPECT_EQ(layers[0].node, "conv1");
  EXPECT_EQ(layers[1].f, 12);
  EXPECT_EQ(layers[1].c, 8);
  EXPECT_EQ(layers[1].kappa, 9);
  EXPECT_EQ(layers[1].out_spatial, 25);  // 10x10 -> 5x5 with stride 2
  EXPECT_EQ(layers[2].skip_reason, "depthwise convolution");
  EXPECT_EQ(layers[3].kind, LayerKind::kGemm);
  EXPECT_EQ(layers[3].c, 300);
  EXPECT_EQ(layers[4].kind, LayerKind::kMatMul);
  EXPECT_EQ(layers[4].f, 6);
  EXPECT_TRUE(layers[4].stored_transposed);
}

TEST(Allocate, FixedKsBisectionMatchesBruteForceMinimax) {
  auto layers = find_layers(test_models::small_convnet());
  AldsProblem p(layers, BudgetKind::kParams);
  std::vector<int64_t> ks{1, 2, 1, 1, 1};
  const int64_t budget = p.dense_cost() / 3;
  auto a = p.fit_budget(ks, budget);
  ASSERT_LE(a.params, budget);
  // Brute force over the ranks of the decomposable layers (dense = rank max).
  double best = 1e9;
  std::vector<std::size_t> dec;
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (layers[i].decomposable()) dec.push_back(i);
  std::function<void(std::size_t, int64_t, double)> rec = [&](std::size_t d, int64_t cost, double err) {
    if (cost > budget || err >= best) return;
    if (d == dec.size()) {
      best = err;
      return;
    }
    std::size_t i = dec[d];
    for (int64_t j = 1; j <= p.svd(i, ks[i]).max_rank(); ++j) {
      auto c = p.choose(i, ks[i], j);
      rec(d + 1, cost + c.params, std::max(err, c.error));
    }
  };
  rec(0, 0, 0.0);
  EXPECT_NEAR(a.max_error, best, 1e-6);
}

TEST(Allocate, AldsIsNoWorseThanBaselinesAndMeetsBudget) {
  AldsProblem p(find_layers(test_models::small_convnet()), BudgetKind::kParams);
  for (double keep : {0.2, 0.4, 0.6}) {
    auto budget = static_cast<int64_t>(keep * static_cast<double>(p.dense_cost()));
    auto alds = p.alds(budget);
    auto svd = p.plain_svd(budget);
    EXPECT_LE(alds.params, budget);
    EXPECT_LE(svd.params, budget);
    EXPECT_LE(p.uniform_rank(budget).params, budget);
    EXPECT_LE(p.energy_rank(budget).params, budget);
    EXPECT_LE(alds.max_error, svd.max_error + 1e-12);
  }
}

TEST(Allocate, SlackGoesToTheWorstLayersWithoutRaisingTheMaximum) {
  AldsProblem p(find_layers(test_models::small_convnet()), BudgetKind::kParams);
  for (double keep : {0.25, 0.45, 0.7}) {
    const auto budget = static_cast<int64_t>(keep * static_cast<double>(p.dense_cost()));
    std::vector<int64_t> ks(p.layers().size(), 1);
    const auto minimax = p.fit_budget(ks, budget);
    const auto spent = p.spend_slack(minimax, budget);
    EXPECT_LE(spent.params, budget);
    EXPECT_GE(spent.params, minimax.params);
    EXPECT_LE(spent.max_error, minimax.max_error + 1e-12);
    double before = 0, after = 0;
    for (std::size_t i = 0; i < spent.layers.size(); ++i) {
      before += minimax.layers[i].error;
      after += spent.layers[i].error;
      EXPECT_LE(spent.layers[i].error, minimax.layers[i].error + 1e-12) << "layer " << i;
    }
    EXPECT_LE(after, before);
    // Nothing left to spend: no factored layer can take one more rank (or go dense) within budget.
    for (std::size_t i = 0; i < spent.layers.size(); ++i) {
      const auto& c = spent.layers[i];
      if (!c.factored) continue;
      const auto up = c.j < p.svd(i, c.k).max_rank() ? p.choose(i, c.k, c.j + 1) : p.dense_choice(i);
      EXPECT_GT(spent.params - c.params + up.params, budget) << "layer " << i << " could still take rank " << c.j + 1;
    }
    if (keep == 0.45) {
      EXPECT_LT(after, before) << "the minimax solution left budget unused at keep 0.45";
    }
  }
}

TEST(Allocate, FlopsBudgetIsRespected) {
  AldsProblem p(find_layers(test_models::small_convnet()), BudgetKind::kFlops);
  auto budget = p.dense_cost() / 2;
  auto a = p.alds(budget);
  EXPECT_LE(a.flops, budget);
  EXPECT_GT(a.flops, 0);
}

TEST(Allocate, ImpossibleBudgetSaysWhy) {
  AldsProblem p(find_layers(test_models::small_convnet()), BudgetKind::kParams);
  try {
    p.alds(10);
    FAIL();
  } catch (const nnc::Error& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("budget of 10 parameters for the decomposable layers is below the {} "
                                                 "that rank 1 in every layer needs",
                                                 p.min_cost()));
  }
}

TEST(Allocate, ModelWithoutDecomposableLayersIsAnError) {
  auto layers = find_layers(test_models::small_convnet());
  std::vector<Layer> only_dw;
  only_dw.push_back(layers[2]);
  EXPECT_THROW(AldsProblem(only_dw, BudgetKind::kParams), nnc::Error);
}

// A layer whose output goes into a BatchNormalization keeps the plain SVD under
// equalize_channels (the BatchNorm re-normalises its channels); a layer with its BatchNorm folded
// away (an exporter's model) is factorised with its rows equalised.
TEST(AldsProblem, EqualizesChannelsOnlyWhereNoBatchNormFollows) {
  auto kept = find_layers(nnc::onnxio::load_model(NNC_SOURCE_DIR "/models/resnet20.onnx"));
  auto folded = find_layers(nnc::onnxio::load_model(NNC_SOURCE_DIR "/tests/fixtures/pytorch/cnn_bn.onnx"));
  int convs = 0, marked = 0;
  for (const auto& l : kept) {
    convs += l.kind == LayerKind::kConv;
    marked += l.batchnorm_after;
    EXPECT_EQ(l.batchnorm_after, l.kind == LayerKind::kConv) << l.node;
  }
  EXPECT_EQ(convs, 21);
  EXPECT_EQ(marked, 21);
  for (const auto& l : folded) EXPECT_FALSE(l.batchnorm_after) << l.node;
  for (auto* layers : {&kept, &folded}) {
    AldsProblem p(*layers, BudgetKind::kParams, {1}, 0, true);
    for (std::size_t i = 0; i < layers->size(); ++i) {
      const auto& l = (*layers)[i];
      GroupedSvd expected(l.matrix, l.c, 1, !l.batchnorm_after);
      EXPECT_NEAR(p.svd(i, 1).error(1), expected.error(1), 1e-12) << l.node;
    }
  }
  // The folded model's rows differ in norm, so equalising changes its errors.
  GroupedSvd plain(folded[0].matrix, folded[0].c, 1), equal(folded[0].matrix, folded[0].c, 1, true);
  EXPECT_GT(std::abs(plain.error(1) - equal.error(1)), 1e-4);
}
