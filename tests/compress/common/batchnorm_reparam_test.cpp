#include "nncompress/compress/common/batchnorm_reparam.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/exec/weight_store.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {

// x -> Conv(w1, b1) -> Relu -> Conv(w2, b2) -> BatchNormalization -> y: the first Conv lost its
// BatchNorm to an exporter, the second kept its own.
onnx::ModelProto two_convs() {
  torch::manual_seed(3);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 2, 6, 6});
  auto init = [&](const std::string& name, at::Tensor t) { b.add_initializer(exec::from_tensor(t, name)); };
  auto w1 = torch::randn({4, 2, 3, 3});
  w1.index_put_({0, 0, 0, 0}, 0.0f);  // a pruned weight
  init("w1", w1);
  init("b1", torch::randn({4}));
  init("w2", torch::randn({3, 4, 3, 3}));
  init("b2", torch::randn({3}));
  init("g", torch::rand({3}) + 0.5);
  init("be", torch::randn({3}));
  init("m", torch::randn({3}));
  init("v", torch::rand({3}) + 0.5);
  b.add_node("Conv", {"x", "w1", "b1"}, {"c1"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.add_node("Relu", {"c1"}, {"r1"});
  b.add_node("Conv", {"r1", "w2", "b2"}, {"c2"});
  b.add_node("BatchNormalization", {"c2", "g", "be", "m", "v"}, {"y"});
  b.add_output("y", {-1, 3, 4, 4});
  return b.build();
}

std::vector<at::Tensor> calibration() { return {torch::randn({64, 2, 6, 6}) * 2 + 1, torch::randn({64, 2, 6, 6}) * 2 + 1}; }

float max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<float>(); }

}  // namespace

TEST(BatchnormReparam, InsertsOnlyWhereNoBatchNormFollowsAndStartsAsTheIdentity) {
  const auto model = two_convs();
  const auto r = compress::insert_identity_batchnorm(model, {}, calibration());
  ASSERT_EQ(r.weights, std::vector<std::string>{"w1"});
  EXPECT_EQ(r.biases, std::vector<std::string>{"b1"});
  int bn = 0;
  for (const auto& n : r.model.graph().node()) bn += n.op_type() == "BatchNormalization";
  EXPECT_EQ(bn, 2);
  // The calibration statistics are real ones (not the placeholders 0 and 1)...
  exec::Engine inserted(r.model), original(model);
  EXPECT_GT(inserted.weights().get("w1.reparam_bn.var").sub(1).abs().max().item<float>(), 0.01);
  // ... and the inserted node computes the identity in inference mode.
  const auto x = torch::randn({8, 2, 6, 6});
  EXPECT_LT(max_diff(inserted.run_single(x), original.run_single(x)), 1e-4);
}

TEST(BatchnormReparam, SharedWeightsAreSkipped) {
  const auto r = compress::insert_identity_batchnorm(two_convs(), {"w1"}, calibration());
  EXPECT_TRUE(r.weights.empty());
  EXPECT_EQ(r.model.graph().node_size(), 4);
}

TEST(BatchnormReparam, FoldingBackGivesTheTrainedFunctionAndKeepsZeros) {
  const auto model = two_convs();
  const auto r = compress::insert_identity_batchnorm(model, {}, calibration());
  exec::Engine trained(r.model), target(model);
  // What training does: every parameter moves, the inserted BatchNorm's included.
  for (const auto& name : trained.weights().names()) {
    const auto& t = trained.weights().get(name);
    auto moved = t * (1 + 0.2 * torch::rand(t.sizes())) + 0.05;
    if (name == "w1") moved.index_put_({0, 0, 0, 0}, 0.0f);  // the mask holds the pruned weight at zero
    if (name.find(".var") != std::string::npos || name == "v") moved = moved.abs() + 0.1;
    trained.weights().set(name, moved);
  }
  compress::fold_reparam_batchnorm(r, trained.weights(), target.weights());
  const auto x = torch::randn({8, 2, 6, 6});
  EXPECT_LT(max_diff(target.run_single(x), trained.run_single(x)), 1e-4);
  EXPECT_EQ(target.weights().get("w1")[0][0][0][0].item<float>(), 0.0f);
  EXPECT_FALSE(target.weights().contains("w1.reparam_bn.scale"));
}
