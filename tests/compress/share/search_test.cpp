#include <gtest/gtest.h>
#include <algorithm>
#include <torch/torch.h>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/compress/share/merge.hpp"
#include "nncompress/compress/share/stride_seeds.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {
// A linear classifier on 3 Gaussian blobs, trained in closed form-ish: weights are the class
// means, so fine codebooks keep accuracy and coarse ones lose it.
struct Toy {
  onnx::ModelProto model;
  data::Dataset val;
};

Toy toy() {
  torch::manual_seed(11);
  const int64_t d = 16, classes = 3, n = 300;
  auto centers = torch::randn({classes, d}) * 1.5;
  auto labels = torch::arange(n) % classes;
  auto x = centers.index_select(0, labels) + torch::randn({n, d});
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 1, 4, 4});
  nnc::exec::add_initializer(b, "w", centers + torch::randn({classes, d}) * 0.01);
  b.add_node("Flatten", {"x"}, {"f"});
  b.add_node("Gemm", {"f", "w"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, classes});
  return {b.build(), {x.reshape({n, 1, 4, 4}), labels, static_cast<int>(classes)}};
}
}  // namespace

TEST(Search, SameSeedSameFrontAndCachedEvaluations) {
  auto t = toy();
  std::vector<std::vector<std::pair<int, double>>> fronts;
  for (int run = 0; run < 2; ++run) {
    exec::Engine engine(t.model);
    share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 128);
    share::SearchOptions o;
    o.pop = 8;
    o.gens = 5;
    o.k_max = 64;
    o.seed = 3;
    auto r = share::nsga2_search(ctx, o);
    EXPECT_EQ(r.evaluations, ctx.evaluations()) << "each distinct k is evaluated exactly once";
    EXPECT_GT(r.cache_hits, 0);
    std::vector<std::pair<int, double>> f;
    for (const auto& c : r.front) f.push_back({c.k, c.f1});
    fronts.push_back(f);
    for (std::size_t i = 1; i < r.front.size(); ++i) {
      EXPECT_GT(r.front[i].entries, r.front[i - 1].entries);
      EXPECT_LT(r.front[i].f1, r.front[i - 1].f1);  // non-dominated
    }
  }
  EXPECT_EQ(fronts[0], fronts[1]);
}

TEST(Search, MergeNeverIncreasesF1InPaperMode) {
  auto t = toy();
  exec::Engine engine(t.model);
  share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 128);
  auto start = share::uniform_bins(ctx.set(), 40);
  auto r = share::iterative_merge(ctx, start, share::MergeRule::kPaper, 0.0, 10000);
  EXPECT_LE(r.after.f1, r.before.f1);
  EXPECT_LT(r.codebook.size(), start.size());
  EXPECT_GT(r.accepted, 0);
  // The engine now holds exactly the merged codebook's values.
  auto check = ctx.evaluate(r.codebook);
  EXPECT_DOUBLE_EQ(check.f1, r.after.f1);
}

TEST(Search, ExtendedSearchIsSeededCachedAndBudgeted) {
  auto t = toy();
  std::vector<std::vector<std::pair<double, double>>> fronts;
  for (int run = 0; run < 2; ++run) {
    exec::Engine engine(t.model);
    share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 128);
    share::SearchOptions o;
    o.mode = share::SearchMode::kExtended;
    o.pop = 8;
    o.gens = 50;
    o.k_max = 64;
    o.seed = 5;
    o.max_evals = 30;
    auto r = share::nsga2_search(ctx, o);
    EXPECT_TRUE(r.budget_reached);
    EXPECT_GE(r.evaluations, 30);
    EXPECT_LT(r.evaluations, 30 + 8 + 8) << "stops within one generation of the budget";
    EXPECT_EQ(r.evaluations, ctx.evaluations());
    std::vector<std::pair<double, double>> f;
    for (const auto& c : r.front) {
      f.push_back({c.index_bits, c.f1});
      // The reported candidate is exactly reproducible from its chromosome.
      auto again = ctx.evaluate(share::candidate_codebook(ctx.set(), c));
      EXPECT_DOUBLE_EQ(again.f1, c.f1);
      EXPECT_DOUBLE_EQ(again.index_bits, c.index_bits);
    }
    for (std::size_t i = 1; i < r.front.size(); ++i) {
      EXPECT_GT(r.front[i].index_bits, r.front[i - 1].index_bits);
      EXPECT_LT(r.front[i].f1, r.front[i - 1].f1);
    }
    fronts.push_back(f);
  }
  EXPECT_EQ(fronts[0], fronts[1]);
}

TEST(Search, RdMergeKeepsTheAccuracyFloorWithFewEvaluations) {
  auto t = toy();
  exec::Engine engine(t.model);
  share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 128);
  auto start = share::uniform_bins(ctx.set(), 200);
  const double floor = ctx.original_top1() - 0.02;
  auto r = share::rd_merge(ctx, start, share::MergeRule::kMaxDrop, floor, 10000);
  EXPECT_GE(r.after.val_top1, floor);
  EXPECT_LT(r.codebook.size(), start.size() / 2);
  EXPECT_LT(r.after.index_bits, r.before.index_bits);
  EXPECT_LT(r.tried, static_cast<int>(start.size())) << "batched merges need fewer evaluations than entries";
  auto check = ctx.evaluate(r.codebook);
  EXPECT_DOUBLE_EQ(check.val_top1, r.after.val_top1);
}

TEST(Search, EarlyExitStopsACandidateSurelyWorseThanAMeasuredOneNoLarger) {
  auto t = toy();
  exec::Engine engine(t.model);
  share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 50);  // 6 batches
  ctx.set_early_exit(0.9, 3);  // a 90 pt budget: only dominance can stop an evaluation here
  auto fine = share::uniform_bins(ctx.set(), 200);
  auto measured = ctx.evaluate(fine);
  EXPECT_FALSE(measured.partial);
  EXPECT_GT(measured.val_top1, 0.9);
  // Same indices (so the same bits), values reversed: surely worse, and no smaller.
  auto scrambled = fine;
  std::reverse(scrambled.values.begin(), scrambled.values.end());
  auto worse = ctx.evaluate(scrambled);
  EXPECT_TRUE(worse.partial);
  EXPECT_DOUBLE_EQ(worse.index_bits, measured.index_bits);
  EXPECT_LT(worse.val_top1, 0.5);
  EXPECT_EQ(ctx.partial_evaluations(), 1);
  // As accurate as the reference: measured in full.
  auto again = ctx.evaluate(fine);
  EXPECT_FALSE(again.partial);
  EXPECT_DOUBLE_EQ(again.val_top1, measured.val_top1);
  // Smaller than every measured candidate: nothing dominates it, so it is measured in full
  // even though it is much worse.
  auto coarse = share::uniform_bins(ctx.set(), 2);
  auto small = ctx.evaluate(coarse);
  EXPECT_LT(small.index_bits, measured.index_bits);
  EXPECT_FALSE(small.partial);
  // Without early exit, everything is measured in full.
  ctx.set_early_exit(-1);
  EXPECT_FALSE(ctx.evaluate(scrambled).partial);
}

TEST(Search, BadPopulationIsAClearError) {
  auto t = toy();
  exec::Engine engine(t.model);
  share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 128);
  share::SearchOptions o;
  o.pop = 10;
  try {
    share::nsga2_search(ctx, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "pop 10: NSGA-II needs a population that is a multiple of 4 and at least 8");
  }
}

TEST(Search, ParetoFrontDropsDominatedPoints) {
  std::vector<share::Candidate> c(4);
  c[0].entries = 10, c[0].f1 = 0.2;
  c[1].entries = 20, c[1].f1 = 0.1;
  c[2].entries = 30, c[2].f1 = 0.15;  // dominated by c[1]
  c[3].entries = 5, c[3].f1 = 0.5;
  auto f = share::pareto_front(c);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].entries, 5);
  EXPECT_EQ(f[2].entries, 20);
}

TEST(StrideSeeds, SweepRunsFromFineToCoarseAndRestoresWeights) {
  torch::manual_seed(5);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 1, 4, 4});
  nnc::exec::add_initializer(b, "w1", torch::randn({32, 16}) * 0.5);
  nnc::exec::add_initializer(b, "w2", torch::randn({8, 32}) * 0.01);  // tiny weights: coarse strides hurt it most
  b.add_node("Flatten", {"x"}, {"f"});
  b.add_node("Gemm", {"f", "w1"}, {"h"}, {{"transB", int64_t{1}}});
  b.add_node("Relu", {"h"}, {"r"});
  b.add_node("Gemm", {"r", "w2"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 8});
  auto model = b.build();
  exec::Engine engine(model);
  auto set = share::collect_shared(model, false);
  auto before = engine.weights().get("w1").clone();
  share::StrideSeedOptions o;
  o.k = 128;
  o.batch = 32;
  auto seeds = share::rd_stride_seeds(engine, set, torch::randn({64, 1, 4, 4}), share::stride_groups(2, 24), o);
  ASSERT_GE(seeds.size(), 2u);
  EXPECT_TRUE(torch::equal(before, engine.weights().get("w1")));
  for (const auto& s : seeds) {
    ASSERT_EQ(s.size(), 2u);
    for (int v : s) EXPECT_TRUE(std::find(o.strides.begin(), o.strides.end(), v) != o.strides.end());
  }
  EXPECT_EQ(seeds.front(), (std::vector<int>{1, 1})) << "the smallest multiplier keeps everything fine";
  EXPECT_GT(seeds.back()[0] + seeds.back()[1], 2) << "the largest coarsens";
}
