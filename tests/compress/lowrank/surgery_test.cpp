#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/lowrank/test_models.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/compress/lowrank/surgery.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"

using namespace nnc;
using namespace nnc::lowrank;

TEST(Surgery, FactoredModelMatchesReconstructedWeightsAndIsCheckerClean) {
  auto model = test_models::small_convnet();
  AldsProblem p(find_layers(model), BudgetKind::kParams);
  auto alloc = p.alds(p.dense_cost() / 3);
  int factored = 0;
  for (const auto& c : alloc.layers) factored += c.factored;
  ASSERT_GE(factored, 2);
  auto surgered = decompose(model, p, alloc);
  EXPECT_NO_THROW(onnxio::check_model(surgered, "surgered"));
  auto reconstructed = reconstruct_weights(model, p, alloc);
  exec::Engine a(surgered), b(reconstructed);
  auto x = torch::randn({4, 1, 10, 10});
  EXPECT_LT((a.run_single(x) - b.run_single(x)).abs().max().item<float>(), 1e-4);
  // Parameter count of the surgered model equals the allocation's account.
  int64_t before = total_initializer_elements(model), after = total_initializer_elements(surgered);
  int64_t dense_layers = 0;
  for (const auto& l : p.layers())
    if (l.decomposable()) dense_layers += l.params();
  EXPECT_EQ(after, before - dense_layers + alloc.params);
}

TEST(Surgery, UnchangedLayersStayByteForByte) {
  auto model = test_models::small_convnet();
  AldsProblem p(find_layers(model), BudgetKind::kParams);
  auto alloc = p.alds(p.dense_cost() / 2);
  auto surgered = decompose(model, p, alloc);
  for (std::size_t i = 0; i < p.layers().size(); ++i) {
    if (alloc.layers[i].factored) continue;
    const auto& name = p.layers()[i].weight;
    auto* before = onnxio::find_initializer(model.graph(), name);
    auto* after = onnxio::find_initializer(surgered.graph(), name);
    ASSERT_TRUE(after) << name;
    EXPECT_EQ(before->SerializeAsString(), after->SerializeAsString());
  }
}

TEST(Surgery, FullRankFactoringReproducesTheOriginalModel) {
  auto model = test_models::small_convnet();
  AldsProblem p(find_layers(model), BudgetKind::kParams);
  // conv2 with k=2 groups at full rank: the factored layer equals the original exactly.
  Allocation alloc;
  alloc.layers.assign(p.layers().size(), LayerChoice{});  // all dense
  LayerChoice full;
  full.factored = true;  // forced, even though full rank does not save parameters
  full.k = 2;
  full.j = p.svd(1, 2).max_rank();
  alloc.layers[1] = full;
  exec::Engine a(decompose(model, p, alloc)), b(model);
  auto x = torch::randn({3, 1, 10, 10});
  EXPECT_LT((a.run_single(x) - b.run_single(x)).abs().max().item<float>(), 1e-4);
}

// Before opset 11 Gemm requires its C input: the encoder Gemm gets a zero scalar with beta 0.
TEST(Surgery, Opset9GemmEncodersCarryTheRequiredC) {
  torch::manual_seed(3);
  onnxio::GraphBuilder b("mlp", 9);
  b.add_input("x", {-1, 32});
  nnc::exec::add_initializer(b, "fc1.w", torch::randn({24, 32}));
  nnc::exec::add_initializer(b, "fc1.b", torch::randn({24}));
  nnc::exec::add_initializer(b, "fc2.w", torch::randn({10, 24}));
  nnc::exec::add_initializer(b, "fc2.b", torch::randn({10}));
  b.add_node("Gemm", {"x", "fc1.w", "fc1.b"}, {"h"}, {{"transB", int64_t{1}}});
  b.add_node("Relu", {"h"}, {"r"});
  b.add_node("Gemm", {"r", "fc2.w", "fc2.b"}, {"y"}, {{"transB", int64_t{1}}, {"alpha", 0.5f}});
  b.add_output("y", {-1, 10});
  auto model = b.build();
  AldsProblem p(find_layers(model), BudgetKind::kParams);
  Allocation alloc;
  alloc.layers.assign(p.layers().size(), LayerChoice{});
  for (std::size_t i = 0; i < p.layers().size(); ++i) {
    alloc.layers[i].factored = true;
    alloc.layers[i].k = 1;
    alloc.layers[i].j = 6;
  }
  auto surgered = decompose(model, p, alloc);
  EXPECT_NO_THROW(onnxio::check_model(surgered, "opset 9 surgered"));
  exec::Engine a(surgered), r(reconstruct_weights(model, p, alloc));
  auto x = torch::randn({5, 32});
  EXPECT_LT((a.run_single(x) - r.run_single(x)).abs().max().item<float>(), 1e-4);
}
