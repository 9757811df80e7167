#include <gtest/gtest.h>
#include <torch/torch.h>

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

TEST(Evaluator, EarlyExitStopsOnlyWhenTheFirstBatchIsBelowTheFloor) {
  auto e = identity_classifier();
  const int64_t n = 40;
  auto labels = torch::arange(n) % 4;
  auto x = torch::nn::functional::one_hot(labels, 4).to(torch::kFloat);
  // The first batch (10 images) is all wrong, the rest right: full top-1 = 30/40.
  x.narrow(0, 0, 10).copy_(torch::nn::functional::one_hot((labels.narrow(0, 0, 10) + 1) % 4, 4).to(torch::kFloat));
  data::Evaluator ev(data::Dataset{x, labels, 4}, 10);
  bool partial = true;
  auto full = ev.evaluate(e, -1.0, &partial);
  EXPECT_FALSE(partial);
  EXPECT_DOUBLE_EQ(full.top1, 0.75);
  EXPECT_DOUBLE_EQ(ev.evaluate(e).top1, 0.75);
  auto early = ev.evaluate(e, 0.5, &partial);
  EXPECT_TRUE(partial);
  EXPECT_EQ(early.n, 10);
  EXPECT_DOUBLE_EQ(early.top1, 0.0);
}
