#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/lowrank/allocate.hpp"
#include "nncompress/compress/lowrank/cost_model.hpp"

using namespace nnc::lowrank;

namespace {

Layer conv_layer(const std::string& name, int64_t f, int64_t c, int64_t kappa, int64_t out_spatial) {
  Layer l;
  l.node = name;
  l.kind = LayerKind::kConv;
  l.f = f;
  l.c = c;
  l.kappa = kappa;
  l.out_spatial = out_spatial;
  l.matrix = torch::randn({f, c * kappa}, torch::kDouble).to(torch::kFloat);
  return l;
}

}  // namespace

TEST(CostModel, RoundsChannelsUpToTheSimdBlockExceptPlainFirstLayerInputs) {
  EXPECT_EQ(blocked_channels(1, 16), 16);
  EXPECT_EQ(blocked_channels(16, 16), 16);
  EXPECT_EQ(blocked_channels(17, 16), 32);
  EXPECT_EQ(blocked_channels(5, 8), 8);
  EXPECT_EQ(blocked_input_channels(3, 16), 3);
  EXPECT_EQ(blocked_input_channels(4, 16), 16);
  EXPECT_EQ(dense_blocked_macs(conv_layer("stem", 16, 1, 9, 784), 16), 16 * 1 * 9 * 784);
}

TEST(CostModel, FactoredCostIsFlatWithinABlockAndCountsTheEnginesEncoder) {
  torch::manual_seed(0);
  auto l = conv_layer("mid", 32, 32, 9, 196);
  EXPECT_EQ(dense_blocked_macs(l, 16), 32 * 32 * 9 * 196);
  // k = 1: an encoder to 1..16 channels is one block; the 1x1 decoder reads one block.
  const int64_t one_block = (16 * 32 * 9 + 32 * 16) * 196;
  for (int64_t j = 1; j <= 16; ++j) EXPECT_EQ(factored_blocked_macs(l, 1, j, 16), one_block) << j;
  EXPECT_EQ(factored_blocked_macs(l, 1, 17, 16), (32 * 32 * 9 + 32 * 32) * 196);
  // k = 2, j = 8: fewer than 16 outputs per group run as one dense block-diagonal Conv.
  EXPECT_EQ(factored_blocked_macs(l, 2, 8, 16), one_block);
  // k = 2, j = 16: a real grouped Conv, 2 groups of 16 outputs over 16 inputs each.
  EXPECT_EQ(factored_blocked_macs(l, 2, 16, 16), (2 * 16 * 16 * 9 + 32 * 32) * 196);
  // AVX2-sized blocks.
  EXPECT_EQ(factored_blocked_macs(l, 1, 3, 8), (8 * 32 * 9 + 32 * 8) * 196);
}

TEST(CostModel, LatencyBudgetKeepsLayersDenseThatWouldNotGetCheaperAndFillsBlocks) {
  torch::manual_seed(1);
  std::vector<Layer> layers{conv_layer("narrow", 16, 16, 9, 784), conv_layer("wide", 64, 64, 9, 49),
                            conv_layer("mid", 32, 32, 9, 196)};
  AldsProblem p(layers, BudgetKind::kLatency, {1, 2}, 16);
  EXPECT_EQ(p.simd_block(), 16);
  // A 16-channel layer: any factored form computes at least as many blocked MACs as the layer.
  for (int64_t k : {1, 2})
    for (int64_t j = 1; j <= 8; ++j) EXPECT_FALSE(p.choose(0, k, j).factored) << k << " " << j;
  EXPECT_EQ(p.dense_cost(), 3 * 16 * 16 * 9 * 784);
  const auto budget = static_cast<int64_t>(0.8 * static_cast<double>(p.dense_cost()));
  ASSERT_GE(budget, p.min_cost());
  auto a = p.alds(budget);
  EXPECT_LE(a.blocked_flops, budget);
  EXPECT_EQ(p.cost(a), a.blocked_flops);
  EXPECT_FALSE(a.layers[0].factored);
  int factored = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& c = a.layers[i];
    if (!c.factored) continue;
    ++factored;
    EXPECT_EQ(c.blocked_flops, factored_blocked_macs(layers[i], c.k, c.j, 16));
    // Filled to the end of its block: one more rank would cost more (or not pay at all).
    if (c.j < p.svd(i, c.k).max_rank()) {
      auto next = p.choose(i, c.k, c.j + 1);
      EXPECT_TRUE(!next.factored || next.blocked_flops > c.blocked_flops) << layers[i].node << " j " << c.j;
    }
  }
  EXPECT_GT(factored, 0);
  // The plain-FLOP budget at the same fraction factors the narrow layer too.
  AldsProblem flops(layers, BudgetKind::kFlops, {1, 2}, 16);
  auto f = flops.alds(static_cast<int64_t>(0.5 * static_cast<double>(flops.dense_cost())));
  EXPECT_TRUE(f.layers[0].factored);
}
