#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {
// Identity "classifier": the logits are the input's 4 features.
exec::Engine identity_classifier() {
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 4});
  b.add_node("Identity", {"x"}, {"y"});
  b.add_output("y", {-1, 4});
  return exec::Engine(b.build());
}
}  // namespace

TEST(Evaluator, EarlyExitStopsOnlyWhenThePairedDropIsSurelyOverTheBudget) {
  auto e = identity_classifier();
  const int64_t n = 40;
  auto labels = torch::arange(n) % 4;
  auto right = torch::nn::functional::one_hot(labels, 4).to(torch::kFloat);
  auto wrong = torch::nn::functional::one_hot((labels + 1) % 4, 4).to(torch::kFloat);
  auto reference = torch::ones({n}, torch::kBool);  // the reference gets every image right
  const data::Evaluator::EarlyExit rule{{{reference, 0.05}}, 3};
  bool partial = true;

  // The first batch (10 images) all wrong: after it the drop is 100 pt with no doubt left.
  auto x = right.clone();
  x.narrow(0, 0, 10).copy_(wrong.narrow(0, 0, 10));
  data::Evaluator ev(data::Dataset{x, labels, 4}, 10);
  EXPECT_DOUBLE_EQ(ev.evaluate(e).top1, 0.75);
  auto early = ev.evaluate(e, rule, &partial);
  EXPECT_TRUE(partial);
  EXPECT_EQ(early.n, 10);
  EXPECT_DOUBLE_EQ(early.top1, 0.0);

  // One wrong image in the first batch: -10 pt there, but 3 paired standard errors (3 x 9.5 pt)
  // cover the 5 pt budget, so the whole set is evaluated.
  auto y = right.clone();
  y.narrow(0, 0, 1).copy_(wrong.narrow(0, 0, 1));
  data::Evaluator ev2(data::Dataset{y, labels, 4}, 10);
  auto full = ev2.evaluate(e, rule, &partial);
  EXPECT_FALSE(partial);
  EXPECT_EQ(full.n, 40);
  EXPECT_DOUBLE_EQ(full.top1, 39.0 / 40.0);

  // Wrong on every third image: the evidence grows batch by batch (drop + 3 SE = +6.5 pt after
  // 10 images, -3.0 pt after 20, -7.5 pt after 30) and the exit comes after the third batch.
  auto w = right.clone();
  for (int64_t i = 0; i < n; i += 3) w[i].copy_(wrong[i]);
  data::Evaluator ev3(data::Dataset{w, labels, 4}, 10);
  auto third = ev3.evaluate(e, rule, &partial);
  EXPECT_TRUE(partial);
  EXPECT_EQ(third.n, 30);
  EXPECT_NEAR(third.top1, 20.0 / 30.0, 1e-9);
}

// A classifier exported with its Softmax (deployment style) outputs probabilities: its loss is
// the cross-entropy of their logarithm, equal to the loss of the same network without the
// Softmax, and fine-tuning sees the same logits.
TEST(Evaluator, ModelEndingInSoftmaxReportsTheTrueCrossEntropy) {
  torch::manual_seed(2);
  auto weight = torch::randn({5, 6});
  auto build = [&](bool softmax, bool flatten_after) {
    onnxio::GraphBuilder b;
    b.add_input("x", {-1, 6});
    nnc::exec::add_initializer(b, "w", weight);
    b.add_node("Gemm", {"x", "w"}, {softmax ? "z" : "y"}, {{"transB", int64_t{1}}});
    if (softmax) b.add_node("Softmax", {"z"}, {flatten_after ? "p" : "y"}, {{"axis", int64_t{1}}});
    if (softmax && flatten_after) b.add_node("Flatten", {"p"}, {"y"});
    b.add_output("y", {-1, 5});
    return exec::Engine(b.build());
  };
  auto logits_model = build(false, false), probs_model = build(true, false), probs_flat = build(true, true);
  EXPECT_FALSE(logits_model.outputs_probabilities());
  EXPECT_TRUE(probs_model.outputs_probabilities());
  EXPECT_TRUE(probs_flat.outputs_probabilities());
  auto x = torch::randn({32, 6});
  auto labels = torch::randint(0, 5, {32});
  data::Evaluator ev(data::Dataset{x, labels, 5}, 8);
  auto a = ev.evaluate(logits_model), b = ev.evaluate(probs_model), c = ev.evaluate(probs_flat);
  EXPECT_GT(a.loss, 0.5);
  EXPECT_NEAR(b.loss, a.loss, 1e-4);
  EXPECT_NEAR(c.loss, a.loss, 1e-4);
  EXPECT_DOUBLE_EQ(b.top1, a.top1);
  // The logits the evaluator hands on are log-probabilities: softmax of them is the model output.
  auto l = ev.logits(probs_model);
  EXPECT_TRUE(torch::allclose(l.softmax(1), probs_model.run_single(x), 1e-5, 1e-6));
}
