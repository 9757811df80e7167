#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "nncompress/compress/share/evaluation_log.hpp"
#include "nncompress/compress/share/merge.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {

// Two Gemm layers on 4 Gaussian blobs: coarse codebooks lose accuracy, so early exit stops some
// evaluations and the dominance references matter.
struct Toy {
  onnx::ModelProto model;
  data::Dataset val;
};

Toy toy() {
  torch::manual_seed(21);
  const int64_t d = 16, classes = 4, n = 400;
  auto centers = torch::randn({classes, d}) * 1.2;
  auto labels = torch::arange(n) % classes;
  auto x = centers.index_select(0, labels) + torch::randn({n, d});
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 1, 4, 4});
  nnc::exec::add_initializer(b, "w1", torch::eye(d) + torch::randn({d, d}) * 0.05);
  nnc::exec::add_initializer(b, "w2", centers + torch::randn({classes, d}) * 0.01);
  b.add_node("Flatten", {"x"}, {"f"});
  b.add_node("Gemm", {"f", "w1"}, {"h"}, {{"transB", int64_t{1}}});
  b.add_node("Gemm", {"h", "w2"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, classes});
  return {b.build(), {x.reshape({n, 1, 4, 4}), labels, static_cast<int>(classes)}};
}

struct Run {
  std::vector<share::Candidate> evaluated, front;
  share::MergeResult merged;
  int evaluations = 0, partial = 0, replayed = 0;
};

// The search and a merge walk as the share step runs them, with or without a log.
Run run(const Toy& t, const std::filesystem::path& log_path) {
  exec::Engine engine(t.model);
  share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 50);
  std::shared_ptr<share::EvaluationLog> log;
  if (!log_path.empty()) log = std::make_shared<share::EvaluationLog>(log_path, "toy");
  ctx.set_log(log);
  ctx.set_early_exit(0.02, 2);
  share::SearchOptions o;
  o.mode = share::SearchMode::kExtended;
  o.pop = 8;
  o.gens = 6;
  o.k_max = 64;
  o.seed = 9;
  o.max_evals = 30;
  auto s = share::nsga2_search(ctx, o);
  Run r;
  r.evaluated = s.evaluated;
  r.front = s.front;
  r.partial = ctx.partial_evaluations();
  ctx.set_early_exit(-1);
  r.merged = share::rd_merge(ctx, share::candidate_codebook(ctx.set(), s.front.back()), share::MergeRule::kMaxDrop,
                             ctx.original_top1() - 0.02, 40);
  r.evaluations = ctx.evaluations();
  r.replayed = log ? log->replayed() : 0;
  return r;
}

void expect_same(const std::vector<share::Candidate>& a, const std::vector<share::Candidate>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].k, b[i].k);
    EXPECT_EQ(a[i].strides, b[i].strides);
    EXPECT_EQ(a[i].entries, b[i].entries);
    EXPECT_EQ(a[i].f1, b[i].f1);
    EXPECT_EQ(a[i].val_top1, b[i].val_top1);
    EXPECT_EQ(a[i].val_top1_low, b[i].val_top1_low);
    EXPECT_EQ(a[i].index_bits, b[i].index_bits);
    EXPECT_EQ(a[i].partial, b[i].partial);
  }
}

}  // namespace

// A log cut anywhere (a killed run; here mid-record) is replayed and the run continues to the
// same candidates, front, merged codebook and evaluation count as a run that was never stopped.
TEST(EvaluationLog, ARunResumedFromACutLogEndsLikeAnUninterruptedOne) {
  const auto t = toy();
  const auto dir = std::filesystem::temp_directory_path() / "nnc_evaluation_log_test";
  std::filesystem::remove_all(dir);
  const auto plain = run(t, {});
  ASSERT_GT(plain.partial, 0) << "the toy must exercise early exit";
  const auto logged = run(t, dir / "a.journal");
  EXPECT_EQ(logged.replayed, 0);
  expect_same(logged.evaluated, plain.evaluated);
  const auto full = std::filesystem::file_size(dir / "a.journal");
  for (double cut : {0.3, 0.75}) {
    std::filesystem::copy_file(dir / "a.journal", dir / "b.journal", std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(dir / "b.journal", static_cast<std::uintmax_t>(cut * static_cast<double>(full)) | 1u);
    const auto resumed = run(t, dir / "b.journal");
    EXPECT_GT(resumed.replayed, 0);
    EXPECT_LT(resumed.replayed, plain.evaluations);
    EXPECT_EQ(resumed.evaluations, plain.evaluations);
    EXPECT_EQ(resumed.partial, plain.partial);
    expect_same(resumed.evaluated, plain.evaluated);
    expect_same(resumed.front, plain.front);
    EXPECT_EQ(resumed.merged.codebook.values, plain.merged.codebook.values);
    EXPECT_EQ(resumed.merged.tried, plain.merged.tried);
    // The log is whole again: a third run replays every evaluation and measures none.
    const auto again = run(t, dir / "b.journal");
    EXPECT_EQ(again.replayed, plain.evaluations);
    expect_same(again.evaluated, plain.evaluated);
  }
  std::filesystem::remove_all(dir);
}

// Another run's log (here: other options, so other codebooks are asked for) is not replayed past
// the first evaluation that differs.
TEST(EvaluationLog, ADifferentEvaluationDropsTheRestOfTheLog) {
  const auto t = toy();
  const auto dir = std::filesystem::temp_directory_path() / "nnc_evaluation_log_mismatch";
  std::filesystem::remove_all(dir);
  exec::Engine engine(t.model);
  share::ShareContext ctx(engine, share::collect_shared(t.model, false), t.val, 50);
  auto log = std::make_shared<share::EvaluationLog>(dir / "c.journal", "toy");
  ctx.set_log(log);
  const auto a = ctx.evaluate(share::uniform_bins(ctx.set(), 16));
  ctx.evaluate(share::uniform_bins(ctx.set(), 24));
  ctx.evaluate(share::uniform_bins(ctx.set(), 32));
  ctx.restore();
  share::ShareContext ctx2(engine, share::collect_shared(t.model, false), t.val, 50);
  auto log2 = std::make_shared<share::EvaluationLog>(dir / "c.journal", "toy");
  EXPECT_EQ(log2->logged(), 3u);
  ctx2.set_log(log2);
  EXPECT_EQ(ctx2.evaluate(share::uniform_bins(ctx.set(), 16)).f1, a.f1);
  ctx2.evaluate(share::uniform_bins(ctx.set(), 40));  // not the logged k = 24: measured, the rest dropped
  EXPECT_EQ(log2->replayed(), 1);
  EXPECT_EQ(share::EvaluationLog(dir / "c.journal", "toy").logged(), 2u);
  // Another run key starts a new log.
  EXPECT_EQ(share::EvaluationLog(dir / "c.journal", "other").logged(), 0u);
  std::filesystem::remove_all(dir);
}
