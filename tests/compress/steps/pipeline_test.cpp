// Steps composed in memory on LeNet-5 and Fashion-MNIST (subsets, so it runs in seconds):
// prune -> share -> finetune keeps the pruned zeros exact and the weights on the codebook, and
// what is written (.nnc, ONNX) is the model in memory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>


#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/registry.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/store/model_store.hpp"
#include "compress/lenet5_subset.hpp"

using namespace nnc;

namespace {

using test_support::Lenet5Subset;

Lenet5Subset lenet5(StopToken stop = {}) { return test_support::lenet5_subset(8000, std::move(stop)); }

at::Tensor weight(const compress::CompressedModel& m, const std::string& name) { return test_support::flat_weight(m, name); }

// Every masked element is exactly zero, every shared weight is its codebook values times its
// tensor's scale, and only masked elements use the zero entry.
void expect_consistent(const compress::CompressedModel& m) {
  for (const auto& [name, mask] : m.masks()) {
    auto w = weight(m, name);
    for (std::size_t i = 0; i < mask.size(); ++i) {
      if (!mask[i]) {
        ASSERT_EQ(w[static_cast<int64_t>(i)].item<float>(), 0.0f) << name << " " << i;
      }
    }
  }
  for (const auto& [name, a] : m.assignments()) {
    const auto& cb = m.codebooks()[static_cast<std::size_t>(a.codebook)];
    auto w = weight(m, name);
    const auto* mask = m.mask(name);
    for (std::size_t i = 0; i < a.indices.size(); ++i) {
      ASSERT_EQ(w[static_cast<int64_t>(i)].item<float>(), cb.values[a.indices[i]] * a.scale) << name << " " << i;
      if (mask) {
        ASSERT_EQ(!(*mask)[i], static_cast<int>(a.indices[i]) == cb.zero_entry) << name << " " << i;
      }
    }
  }
}

using test_support::expect_written_is_in_memory;

}  // namespace

TEST(Pipeline, PruneShareFinetuneInMemoryKeepsExactZerosAndTrainsTheCodebook) {
  auto [model, context] = lenet5();
  auto pruned = compress::make_step("prune", {{"sparsity", 0.9}, {"alloc", "global"}, {"comparison", false}})
                    .apply(model, context);
  const auto s0 = model.summary();
  EXPECT_NEAR(static_cast<double>(s0.masked) / static_cast<double>(s0.weights), 0.9, 0.001);
  EXPECT_NEAR(pruned["sparsity"].get<double>(), 0.9, 0.001);
  expect_consistent(model);
  const auto pruned_bytes = compress::pack_nnc(model).bytes.size();

  auto shared = compress::make_step("share", {{"pop", 8}, {"gens", 2}, {"max_evals", 16}, {"max_merge_evals", 10},
                                              {"max_drop", 2.0}})
                    .apply(model, context);
  EXPECT_EQ(model.summary().masked, s0.masked) << "sharing keeps every pruned weight pruned";
  ASSERT_EQ(model.codebooks().size(), 1u);
  const auto& cb = model.codebooks()[0];
  ASSERT_GE(cb.zero_entry, 0);
  EXPECT_EQ(cb.values[static_cast<std::size_t>(cb.zero_entry)], 0.0f);
  EXPECT_EQ(shared["pruned_weights"].get<int64_t>(), s0.masked);
  expect_consistent(model);
  // Indices of the non-zeros (or of every element, the zero entry an entropy-coded symbol,
  // whichever is smaller): far smaller than sparse fp32 values.
  const auto packed = compress::pack_nnc(model);
  EXPECT_LT(packed.bytes.size() * 2, pruned_bytes);
  EXPECT_EQ(shared["nnc_bytes"].get<std::size_t>(), packed.bytes.size());

  const auto values_before = cb.values;
  auto tuned = compress::make_step("finetune", {{"epochs", 1}, {"lr", 1e-3}}).apply(model, context);
  expect_consistent(model);
  EXPECT_EQ(model.summary().masked, s0.masked);
  EXPECT_NE(model.codebooks()[0].values, values_before) << "the codebook values are trained";
  EXPECT_EQ(model.codebooks()[0].values.size(), values_before.size());
  EXPECT_GE(tuned["top1_after"].get<double>(), tuned["top1_before"].get<double>() - 0.005);
  EXPECT_EQ(model.history().size(), 3u);

  expect_written_is_in_memory(model, context);
}

// A climb of the pruning schedule goes past climb_patience - 1 broken steps (hold-out noise at
// the edge of the budget must not end it) and, after climb_patience broken steps in a row, rolls
// the model back to the last step that held.
TEST(Pipeline, AClimbGoesPastBrokenStepsUpToItsPatienceAndKeepsTheLastThatHeld) {
  for (int patience : {1, 2}) {
    auto [model, context] = test_support::lenet5_subset(4000);
    auto r = compress::make_step("prune", {{"max_drop", 2.0}, {"alloc", "global"}, {"comparison", false},
                                           {"schedule_a", 0.5}, {"max_sparsity", 0.999}, {"climb_patience", patience},
                                           {"climb_refine", false}, {"finetune", {{"epochs", 1}, {"lr", 1e-3}}}})
                 .apply(model, context);
    ASSERT_TRUE(r.contains("climb")) << r.dump();
    const int held = r["climb"]["held_step"].get<int>();
    ASSERT_GE(held, 1) << "LeNet-5 holds 2 pt at 50% sparsity";
    std::vector<bool> within;  // per step
    for (const auto& row : r["steps"]) {
      if (row["step"].is_number()) {
        within.push_back(row["within"].get<bool>());
      }
    }
    ASSERT_GT(static_cast<int>(within.size()), held) << "LeNet-5 does not hold 2 pt at 99.9% sparsity";
    EXPECT_TRUE(within[static_cast<std::size_t>(held - 1)]);
    const int after = static_cast<int>(within.size()) - held;
    EXPECT_EQ(after, patience) << "broken steps climbed after the last that held";
    for (int i = held; i < static_cast<int>(within.size()); ++i) {
      EXPECT_FALSE(within[static_cast<std::size_t>(i)]) << "step " << i + 1;
    }
    // Steps before the held one may have broken too, but never patience of them in a row.
    int run = 0;
    for (int i = 0; i < held; ++i) {
      run = within[static_cast<std::size_t>(i)] ? 0 : run + 1;
      EXPECT_LT(run, patience) << "step " << i + 1;
    }
    const auto s = model.summary();
    EXPECT_NEAR(static_cast<double>(s.masked) / static_cast<double>(s.weights),
                r["climb"]["held_sparsity"].get<double>(), 0.002)
        << "the model is the held step's";
    expect_consistent(model);
  }
}

// After a climb rolls back, one refinement step goes from the model that held halfway (in kept
// weights) to the first step above it that broke; it ends the climb, and the model is that step's
// when it held, else the earlier held step's.
TEST(Pipeline, AClimbThatRollsBackTriesOneStepHalfwayToTheStepThatBroke) {
  auto [model, context] = test_support::lenet5_subset(4000);
  auto r = compress::make_step("prune", {{"max_drop", 2.0}, {"alloc", "global"}, {"comparison", false},
                                         {"schedule_a", 0.5}, {"max_sparsity", 0.999}, {"climb_patience", 1},
                                         {"finetune", {{"epochs", 1}, {"lr", 1e-3}}}})
               .apply(model, context);
  ASSERT_TRUE(r.contains("climb")) << r.dump();
  std::vector<nlohmann::json> rows;  // the schedule's steps (not the final epochs' rows)
  for (const auto& row : r["steps"])
    if (row["step"].is_number()) rows.push_back(row);
  ASSERT_GE(rows.size(), 3u) << r.dump();
  const auto& refinement = rows.back();
  ASSERT_TRUE(refinement.value("refinement", false)) << "the last step is the refinement";
  const auto& broke = rows[rows.size() - 2];
  EXPECT_FALSE(broke["within"].get<bool>());
  // The step held before the one that broke (patience 1: the one just before it).
  const double s_held = rows[rows.size() - 3]["target_sparsity"].get<double>();
  const double s_broke = broke["target_sparsity"].get<double>();
  const double s_ref = refinement["target_sparsity"].get<double>();
  EXPECT_NEAR(s_ref, 1 - std::sqrt((1 - s_held) * (1 - s_broke)), 1e-9);
  EXPECT_GT(s_ref, s_held);
  EXPECT_LT(s_ref, s_broke);
  const auto& info = r["climb"]["refinement"];
  EXPECT_NEAR(info["sparsity"].get<double>(), s_ref, 1e-9);
  EXPECT_NEAR(info["below"].get<double>(), s_broke, 1e-9);
  const bool held = info["held"].get<bool>();
  // The refinement either held (rescued by the final epochs or not) or the model went back.
  bool rescued_within = false;
  for (const auto& row : r["steps"])
    if (row["step"] == "final" && row.contains("within") && row["target_sparsity"].get<double>() == s_ref)
      rescued_within = row["within"].get<bool>();
  EXPECT_EQ(held, refinement["within"].get<bool>() || rescued_within);
  EXPECT_NEAR(r["climb"]["held_sparsity"].get<double>(), held ? s_ref : s_held, 1e-9);
  const auto s = model.summary();
  EXPECT_NEAR(static_cast<double>(s.masked) / static_cast<double>(s.weights), held ? s_ref : s_held, 0.002)
      << "the model is the held step's";
  expect_consistent(model);
}

// Per-tensor scales through the pipeline: prune, share with every tensor but the widest scaled
// (spread 1), fine-tune the codebook through the scales. Every weight stays exactly its entry
// times its scale (expect_consistent), pruned zeros stay zeros, and both writers give the model.
TEST(Pipeline, ScaledSharingKeepsItsScalesThroughFineTuning) {
  auto [model, context] = lenet5();
  compress::make_step("prune", {{"sparsity", 0.5}, {"alloc", "global"}, {"comparison", false}}).apply(model, context);
  const auto masked = model.summary().masked;
  auto shared = compress::make_step("share", {{"pop", 8}, {"gens", 1}, {"max_evals", 10}, {"max_merge_evals", 4},
                                              {"max_drop", 3.0}, {"scale_spread", 1.0}})
                    .apply(model, context);
  EXPECT_EQ(shared["scaled_tensors"].get<int>(), 3);
  int scaled = 0;
  for (const auto& [name, a] : model.assignments()) scaled += a.scale != 1.0f;
  EXPECT_EQ(scaled, 3);
  expect_consistent(model);
  const auto values_before = model.codebooks()[0].values;
  compress::make_step("finetune", {{"epochs", 1}, {"lr", 1e-3}}).apply(model, context);
  expect_consistent(model);
  EXPECT_NE(model.codebooks()[0].values, values_before) << "the codebook values are trained";
  EXPECT_EQ(model.summary().masked, masked);
  expect_written_is_in_memory(model, context);
}

TEST(Pipeline, LowRankFactorsArePrunedAndShared) {
  auto [model, context] = lenet5();
  auto lr = compress::make_step("lowrank", {{"keep", 0.5}, {"groups", {1, 2}}}).apply(model, context);
  ASSERT_FALSE(model.factorisations().empty());
  EXPECT_NEAR(lr["params_kept"].get<double>(), 0.5, 0.05);
  std::vector<std::string> factors;
  for (const auto& f : model.factorisations()) {
    EXPECT_EQ(onnxio::find_initializer(model.model().graph(), f.weight), nullptr) << f.weight << " was replaced";
    EXPECT_EQ(f.factors.size(), 2u) << f.node;
    factors.insert(factors.end(), f.factors.begin(), f.factors.end());
  }
  compress::make_step("prune", {{"sparsity", 0.6}, {"alloc", "global"}, {"comparison", false}}).apply(model, context);
  compress::make_step("share", {{"pop", 8}, {"gens", 1}, {"max_evals", 8}, {"max_merge_evals", 4}, {"max_drop", 5.0}})
      .apply(model, context);
  for (const auto& name : factors) {
    EXPECT_NE(model.mask(name), nullptr) << name << " is pruned";
    EXPECT_TRUE(model.assignments().count(name)) << name << " is shared";
  }
  expect_consistent(model);
  EXPECT_EQ(model.history().size(), 3u);
}

TEST(Pipeline, AStopRequestEndsAStepWithTheModelIntactAndSaysSo) {
  StopSource stop;
  auto [model, context] = lenet5(stop.token());
  stop.request_stop();
  auto r = compress::make_step("share", {{"pop", 8}, {"gens", 2}}).apply(model, context);
  EXPECT_TRUE(r["interrupted"].get<bool>());
  EXPECT_FALSE(r["changed"].get<bool>());
  EXPECT_TRUE(model.codebooks().empty());
  auto p = compress::make_step("prune", {{"sparsity", 0.5}, {"alloc", "rd"}}).apply(model, context);
  EXPECT_FALSE(p["changed"].get<bool>());
  EXPECT_TRUE(model.masks().empty());
  auto f = compress::make_step("finetune", {{"epochs", 2}}).apply(model, context);
  EXPECT_TRUE(f["stopped"].get<bool>());
  EXPECT_EQ(f["epochs"].get<int>(), 0);
}
