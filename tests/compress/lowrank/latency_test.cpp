#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/lowrank/test_models.hpp"
#include "nncompress/compress/lowrank/latency.hpp"
#include "nncompress/compress/lowrank/surgery.hpp"

using namespace nnc;
using namespace nnc::lowrank;

TEST(Latency, LayerTimesSumEncoderAndDecoderStepsOfFactoredLayersOnly) {
  auto model = test_models::small_convnet();
  AldsProblem p(find_layers(model), BudgetKind::kParams);
  auto alloc = p.alds(p.dense_cost() / 3);
  auto x = torch::randn({4, 1, 10, 10});
  exec::Engine dense(model), factored(decompose(model, p, alloc));
  auto t = layer_latencies(p.layers(), alloc, dense.profile({x}, 2), factored.profile({x}, 2));
  ASSERT_EQ(t.size(), p.layers().size());
  int measured = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].measured, alloc.layers[i].factored) << p.layers()[i].node;
    measured += t[i].measured;
  }
  EXPECT_GE(measured, 2);

  // Synthetic profiles: the encoder and the (fused) decoder step both count.
  const auto& l = p.layers()[0];
  Allocation one = alloc;
  one.layers[0].factored = true;
  std::vector<exec::StepTime> before{{{l.node, "bn"}, 3.0}, {{"other"}, 100.0}};
  std::vector<exec::StepTime> after{{{l.node + ".lowrank_encoder"}, 1.0}, {{l.node, "bn"}, 0.5}, {{"other"}, 100.0}};
  auto s = layer_latencies(p.layers(), one, before, after);
  EXPECT_TRUE(s[0].measured);
  EXPECT_DOUBLE_EQ(s[0].dense_ms, 3.0);
  EXPECT_DOUBLE_EQ(s[0].factored_ms, 1.5);
}

TEST(Latency, KeepDenseTakesALayerOutOfTheSearchAndTheBudget) {
  auto model = test_models::small_convnet();
  AldsProblem p(find_layers(model), BudgetKind::kParams);
  const int64_t before = p.dense_cost();
  std::size_t i = 0;
  while (!p.layers()[i].decomposable()) ++i;
  p.keep_dense(i, "kept dense: slower");
  EXPECT_EQ(p.dense_cost(), before - p.layers()[i].params());
  auto alloc = p.alds(p.dense_cost() / 2);
  EXPECT_FALSE(alloc.layers[i].factored);
  EXPECT_LE(alloc.params, p.dense_cost() / 2);
}
