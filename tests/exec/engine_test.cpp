#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/core/blas_threads.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/fold_weights.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"

using namespace nnc;
using onnxio::Attr;

namespace {

// conv -> bn -> relu -> flatten -> gemm
onnx::ModelProto conv_bn_model() {
  torch::manual_seed(0);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 2, 6, 6});
  nnc::exec::add_initializer(b, "w", torch::randn({4, 2, 3, 3}));
  nnc::exec::add_initializer(b, "cb", torch::randn({4}));
  nnc::exec::add_initializer(b, "gamma", torch::rand({4}) + 0.5);
  nnc::exec::add_initializer(b, "beta", torch::randn({4}));
  nnc::exec::add_initializer(b, "mean", torch::randn({4}) * 0.1);
  nnc::exec::add_initializer(b, "var", torch::rand({4}) + 0.5);
  nnc::exec::add_initializer(b, "fc", torch::randn({3, 4 * 6 * 6}) * 0.1);
  nnc::exec::add_initializer(b, "fcb", torch::randn({3}));
  b.add_node("Conv", {"x", "w", "cb"}, {"c"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.add_node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"n"}, {{"epsilon", 1e-5f}});
  b.add_node("Relu", {"n"}, {"r"});
  b.add_node("Flatten", {"r"}, {"f"});
  b.add_node("Gemm", {"f", "fc", "fcb"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 3});
  return b.build();
}

torch::Tensor reference(const exec::WeightStore& w, const torch::Tensor& x) {
  auto c = torch::conv2d(x, w.get("w"), w.get("cb"), 1, 1);
  auto n = torch::batch_norm(c, w.get("gamma"), w.get("beta"), w.get("mean"), w.get("var"), false, 0.1, 1e-5, false);
  return torch::addmm(w.get("fcb"), torch::relu(n).flatten(1), w.get("fc").t());
}

}  // namespace

TEST(Engine, FoldsBatchNormAndMatchesReference) {
  exec::Engine e(conv_bn_model());
  EXPECT_EQ(e.num_steps(false), 4u);  // conv+bn fused
  EXPECT_EQ(e.num_steps(true), 5u);
  auto x = torch::randn({5, 2, 6, 6});
  auto y = e.run_single(x);
  EXPECT_LT((y - reference(e.weights(), x)).abs().max().item<float>(), 1e-4);
}

TEST(Engine, WeightSwapInvalidatesFoldedCache) {
  exec::Engine e(conv_bn_model());
  auto x = torch::randn({3, 2, 6, 6});
  auto y0 = e.run_single(x);
  e.weights().set("w", torch::zeros({4, 2, 3, 3}));
  e.weights().set("var", torch::ones({4}) * 4.0);
  auto y1 = e.run_single(x);
  EXPECT_GT((y1 - y0).abs().max().item<float>(), 1e-3);
  EXPECT_LT((y1 - reference(e.weights(), x)).abs().max().item<float>(), 1e-4);
}

TEST(Engine, TrainingModeGivesGradientsAndUpdatesRunningStats) {
  exec::Engine e(conv_bn_model());
  auto mean_before = e.weights().get("mean").clone();
  e.set_training(true);
  auto names = e.trainable_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "mean"), 0);
  EXPECT_EQ(names.size(), 6u);
  auto y = e.run_single(torch::randn({8, 2, 6, 6}));
  y.sum().backward();
  EXPECT_TRUE(e.weights().get("w").grad().defined());
  EXPECT_GT(e.weights().get("w").grad().abs().sum().item<float>(), 0);
  EXPECT_FALSE(torch::equal(mean_before, e.weights().get("mean")));
  e.set_training(false);
  EXPECT_FALSE(e.weights().get("w").requires_grad());
}

TEST(Engine, RecalibratesBatchNormToTheDataAndRefoldsTheConv) {
  exec::Engine e(conv_bn_model());
  auto x = torch::randn({24, 2, 6, 6}) * 2 + 1;
  auto x0 = e.run_single(x);  // builds the folded Conv+BatchNorm step with the old statistics
  e.weights().set("w", e.weights().get("w") * 3);  // a weight change the old statistics do not match
  std::vector<at::Tensor> batches = x.split(8);
  EXPECT_EQ(e.recalibrate_batchnorm(batches), 1);
  // Running statistics = the average over the three batches of the conv output's batch
  // statistics (unbiased variance, as in training), computed here independently.
  auto c = torch::conv2d(x, e.weights().get("w"), e.weights().get("cb"), 1, 1);
  auto cs = c.split(8);
  auto mean = torch::zeros({4}), var = torch::zeros({4});
  for (const auto& t : cs) {
    mean += t.mean({0, 2, 3}) / 3;
    var += t.transpose(0, 1).reshape({4, -1}).var(1, /*unbiased=*/true) / 3;
  }
  EXPECT_LT((e.weights().get("mean") - mean).abs().max().item<float>(), 1e-4);
  EXPECT_LT(((e.weights().get("var") - var) / var).abs().max().item<float>(), 1e-4);
  // Inference uses the new statistics (folded again), no gradients were recorded, and the
  // unnormalised activations now have zero mean over the data.
  auto y = e.run_single(x);
  EXPECT_LT((y - reference(e.weights(), x)).abs().max().item<float>(), 1e-4);
  EXPECT_FALSE(e.weights().get("mean").requires_grad());
  EXPECT_FALSE(e.training());
  auto n = torch::batch_norm(c, torch::ones({4}), torch::zeros({4}), e.weights().get("mean"), e.weights().get("var"),
                             false, 0.1, 1e-5, false);
  EXPECT_LT(n.mean({0, 2, 3}).abs().max().item<float>(), 1e-4);
}

TEST(Engine, RecalibratingAModelWithoutBatchNormDoesNothing) {
  auto m = conv_bn_model();
  exec::Engine with_bn(m);
  EXPECT_EQ(with_bn.recalibrate_batchnorm({}), 0);  // no data: nothing run
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 4});
  nnc::exec::add_initializer(b, "fc", torch::randn({3, 4}));
  b.add_node("Gemm", {"x", "fc"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 3});
  exec::Engine e(b.build());
  auto x = torch::randn({5, 4});
  auto y0 = e.run_single(x);
  EXPECT_EQ(e.recalibrate_batchnorm({x}), 0);
  EXPECT_TRUE(torch::equal(y0, e.run_single(x)));
}

// torchvision's Swin exports its attention dropout with training_mode = true and ratio = 0:
// the output is the input in either mode, so it loads; a nonzero ratio would be random at
// inference time and is refused at load.
TEST(Engine, DropoutWithZeroRatioAndTrainingModeInputIsIdentity) {
  auto model = [](float ratio) {
    onnxio::GraphBuilder b;
    b.add_input("x", {-1, 4});
    nnc::exec::add_initializer(b, "ratio", torch::scalar_tensor(ratio));
    nnc::exec::add_initializer(b, "train", torch::scalar_tensor(true));
    b.add_node("Dropout", {"x", "ratio", "train"}, {"y"});
    b.add_output("y", {-1, 4});
    return b.build();
  };
  exec::Engine e(model(0.0f));
  auto x = torch::randn({3, 4});
  EXPECT_TRUE(torch::equal(e.run_single(x), x));
  try {
    exec::Engine bad(model(0.1f));
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("unsupported Dropout training_mode input"), std::string::npos);
  }
}

// Slice assignment as exporters write it (Swin's shifted-window mask: ScatterND into a
// constant), then GatherElements/ArgMax reading it back: equal to the same ATen indexing.
TEST(Engine, ScatterNdSliceAssignmentAndGatherElementsMatchIndexing) {
  onnxio::GraphBuilder b;
  b.add_input("x", {4, 5});
  nnc::exec::add_initializer(b, "idx", torch::tensor({{1}, {-1}}, torch::kLong));  // rows 1 and 3 (negative: from the end)
  nnc::exec::add_initializer(b, "upd", torch::arange(10, torch::kFloat).reshape({2, 5}));
  nnc::exec::add_initializer(b, "cols", torch::tensor({{4, 0, 1, 2, 3}}, torch::kLong).expand({4, 5}).contiguous());
  b.add_node("ScatterND", {"x", "idx", "upd"}, {"s"});
  b.add_node("GatherElements", {"s", "cols"}, {"g"}, {{"axis", int64_t{1}}});
  b.add_node("ArgMax", {"g"}, {"a"}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}});
  b.add_output("g", {4, 5});
  b.add_output("a", {4}, 7);
  exec::Engine e(b.build());
  auto x = torch::randn({4, 5});
  auto outs = e.run({x});
  auto want = x.clone();
  want.index_put_({torch::tensor({1, 3})}, torch::arange(10, torch::kFloat).reshape({2, 5}));
  want = want.index({torch::indexing::Slice(), torch::tensor({4, 0, 1, 2, 3})});
  EXPECT_TRUE(torch::equal(outs.at(0), want));
  EXPECT_TRUE(torch::equal(outs.at(1), want.argmax(1)));
}

// A layer weight computed from initializers (here Transpose, as exported without constant
// folding; the writers' codebook and bitmask decoders likewise) becomes an initializer; what
// only fed it is removed, and the model computes the same.
TEST(FoldComputedWeights, WeightsFromInitializersBecomeInitializers) {
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 4});
  nnc::exec::add_initializer(b, "wt", torch::randn({3, 4}));
  nnc::exec::add_initializer(b, "scale", torch::full({1}, 2.0f));
  b.add_node("Transpose", {"wt"}, {"w_t"}, {{"perm", std::vector<int64_t>{1, 0}}});
  b.add_node("Mul", {"w_t", "scale"}, {"w"});
  b.add_node("MatMul", {"x", "w"}, {"h"});
  b.add_node("Mul", {"h", "scale"}, {"y"});  // "scale" is still read here: it stays
  b.add_output("y", {-1, 3});
  auto m = b.build();
  auto folded = m;
  EXPECT_EQ(exec::fold_computed_weights(folded), 1);
  std::set<std::string> inits;
  for (const auto& t : folded.graph().initializer()) inits.insert(t.name());
  EXPECT_EQ(inits, (std::set<std::string>{"scale", "w"}));
  EXPECT_EQ(folded.graph().node_size(), 2);
  auto x = torch::randn({5, 4});
  EXPECT_TRUE(torch::allclose(exec::Engine(m).run_single(x), exec::Engine(folded).run_single(x)));
  EXPECT_EQ(exec::fold_computed_weights(folded), 0);  // nothing left to fold
}

// A Split of one initializer: when every part is a layer weight, all fold and the Split goes;
// when one part is read as data (a bias for Add), the Split stays for it and no longer writes
// the folded weight's name (an initializer and a node output must not share a name).
TEST(FoldComputedWeights, ANodeKeptForAnotherOutputNoLongerWritesTheFoldedName) {
  auto model = [](bool second_is_weight) {
    onnxio::GraphBuilder b;
    b.add_input("x", {-1, 4});
    nnc::exec::add_initializer(b, "both", torch::randn({second_is_weight ? 8 : 5, 3}));
    b.add_node("Split", {"both"}, {"w", "rest"},
               {{"axis", int64_t{0}}, {"split", std::vector<int64_t>{4, second_is_weight ? 4 : 1}}});
    b.add_node("MatMul", {"x", "w"}, {"h"});
    if (second_is_weight) {
      b.add_node("MatMul", {"x", "rest"}, {"e"});
      b.add_node("Add", {"h", "e"}, {"y"});
    } else {
      b.add_node("Add", {"h", "rest"}, {"y"});
    }
    b.add_output("y", {-1, 3});
    auto m = b.build();
    m.mutable_opset_import(0)->set_version(11);
    return m;
  };
  auto x = torch::randn({5, 4});
  auto m = model(true), folded = m;
  EXPECT_EQ(exec::fold_computed_weights(folded), 2);
  EXPECT_EQ(folded.graph().node_size(), 3);
  EXPECT_TRUE(torch::allclose(exec::Engine(m).run_single(x), exec::Engine(folded).run_single(x)));
  m = model(false);
  folded = m;
  EXPECT_EQ(exec::fold_computed_weights(folded), 1);
  ASSERT_EQ(folded.graph().node(0).op_type(), "Split");
  EXPECT_EQ(folded.graph().node(0).output(0), "w.unused");
  EXPECT_EQ(folded.graph().node(0).output(1), "rest");
  EXPECT_NO_THROW(onnxio::check_model(folded, "folded"));
  EXPECT_TRUE(torch::allclose(exec::Engine(m).run_single(x), exec::Engine(folded).run_single(x)));
}

TEST(Engine, ToModelWritesSwappedWeights) {
  exec::Engine e(conv_bn_model());
  e.weights().set("fcb", torch::full({3}, 2.5));
  exec::Engine e2(e.to_model());
  EXPECT_TRUE(torch::equal(e2.weights().get("fcb"), torch::full({3}, 2.5)));
  auto x = torch::randn({2, 2, 6, 6});
  EXPECT_TRUE(torch::equal(e.run_single(x), e2.run_single(x)));
}

TEST(Engine, UnsupportedOperatorFailsAtLoadNamingTheNode) {
  auto m = conv_bn_model();
  m.mutable_graph()->mutable_node(2)->set_op_type("FancyOp");
  try {
    exec::Engine e(m);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(std::string(err.what()), "node 'r' (FancyOp): unsupported operator FancyOp (opset 13)");
  }
}

TEST(Engine, WrongInputShapeIsAClearError) {
  exec::Engine e(conv_bn_model());
  try {
    e.run_single(torch::randn({2, 3, 6, 6}));
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(std::string(err.what()), "input 'x': model expects shape [?,2,6,6] but got [2,3,6,6]");
  }
}

TEST(Engine, WeightStoreRejectsWrongShape) {
  exec::Engine e(conv_bn_model());
  EXPECT_THROW(e.weights().set("w", torch::zeros({4, 2, 3})), Error);
  EXPECT_THROW(e.weights().set("nope", torch::zeros({1})), Error);
}

TEST(Engine, FoldedInferenceFollowsRunningStatisticsUpdatedByTraining) {
  exec::Engine e(conv_bn_model());
  auto x = torch::randn({4, 2, 6, 6});
  e.run_single(x);  // fills the folded cache
  e.set_training(true);
  for (int i = 0; i < 3; ++i) e.run_single(torch::randn({8, 2, 6, 6}) * 3 + 1);
  e.set_training(false);
  EXPECT_LT((e.run_single(x) - reference(e.weights(), x)).abs().max().item<float>(), 1e-4);
}

namespace {

// conv -> relu -> conv -> add(residual, also read by relu) -> maxpool -> global pool -> gemm:
// exercises the oneDNN path's in-place reuse rules and prepacked-weight caches.
onnx::ModelProto residual_model() {
  torch::manual_seed(1);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 3, 8, 8});
  nnc::exec::add_initializer(b, "w1", torch::randn({8, 3, 3, 3}) * 0.3);
  nnc::exec::add_initializer(b, "b1", torch::randn({8}));
  nnc::exec::add_initializer(b, "w2", torch::randn({8, 1, 3, 3}) * 0.3);  // depthwise
  nnc::exec::add_initializer(b, "fc", torch::randn({5, 8}));
  auto pads = std::vector<int64_t>{1, 1, 1, 1};
  b.add_node("Conv", {"x", "w1", "b1"}, {"c1"}, {{"pads", pads}});
  b.add_node("Relu", {"c1"}, {"r1"});
  b.add_node("Conv", {"r1", "w2"}, {"c2"}, {{"pads", pads}, {"group", int64_t{8}}});
  b.add_node("Add", {"c2", "c1"}, {"s"});
  b.add_node("Relu", {"s"}, {"r2"});
  b.add_node("MaxPool", {"r2"}, {"p"}, {{"kernel_shape", std::vector<int64_t>{2, 2}},
                                         {"strides", std::vector<int64_t>{2, 2}}});
  b.add_node("GlobalAveragePool", {"p"}, {"g"});
  b.add_node("Flatten", {"g"}, {"f"});
  b.add_node("Gemm", {"f", "fc"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 5});
  b.add_output("r1", {-1, 8, 8, 8});  // an intermediate graph output comes back dense
  return b.build();
}

}  // namespace

TEST(Engine, OneDnnPathMatchesDensePathAcrossWeightSwaps) {
  exec::Engine fast(residual_model());
  exec::EngineOptions dense_opts;
  dense_opts.onednn = false;
  exec::Engine dense(residual_model(), dense_opts);
  auto x = torch::randn({4, 3, 8, 8});
  for (int round = 0; round < 3; ++round) {
    auto a = fast.run({x});
    auto b = dense.run({x});
    ASSERT_EQ(a.size(), 2u);
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_FALSE(a[i].is_mkldnn());
      EXPECT_LT((a[i] - b[i]).abs().max().item<float>(), 1e-4) << "round " << round << " output " << i;
    }
    auto w1 = torch::randn({8, 3, 3, 3});
    auto w2 = torch::randn({8, 1, 3, 3});
    fast.weights().set("w1", w1);
    dense.weights().set("w1", w1);
    fast.weights().set("w2", w2);
    dense.weights().set("w2", w2);
  }
  // The input the caller passed is never modified by in-place kernels.
  auto x0 = x.clone();
  fast.run({x});
  EXPECT_TRUE(torch::equal(x, x0));
}

// Gemm and MatMul against 2-D weights run as oneDNN inner products at inference: every
// attribute combination that path takes (transB 0/1, bias 1-D or 1xN, beta 0) or declines
// (transA, alpha, a full MxN C) must equal the dense path, also after the weights are swapped.
TEST(Engine, GemmAndMatMulOnOneDnnMatchDensePathAcrossWeightSwaps) {
  torch::manual_seed(3);
  onnxio::GraphBuilder b("gemms", 11);
  b.add_input("x", {-1, 6});
  nnc::exec::add_initializer(b, "w_nk", torch::randn({7, 6}));
  nnc::exec::add_initializer(b, "w_kn", torch::randn({7, 5}));
  nnc::exec::add_initializer(b, "bias", torch::randn({5}));
  nnc::exec::add_initializer(b, "bias_row", torch::randn({1, 4}));
  nnc::exec::add_initializer(b, "w3", torch::randn({5, 4}));
  nnc::exec::add_initializer(b, "w4", torch::randn({4, 3}));
  nnc::exec::add_initializer(b, "c_full", torch::randn({3, 3}));
  nnc::exec::add_initializer(b, "w5", torch::randn({3, 3}));
  b.add_node("Gemm", {"x", "w_nk"}, {"h1"}, {{"transB", int64_t{1}}});
  b.add_node("Gemm", {"h1", "w_kn", "bias"}, {"h2"});
  b.add_node("Gemm", {"h2", "w3", "bias_row"}, {"h3"}, {{"beta", 0.0f}});
  b.add_node("Gemm", {"h2", "w3", "bias_row"}, {"h4"});
  b.add_node("Add", {"h3", "h4"}, {"h5"});
  b.add_node("Gemm", {"h5", "w4"}, {"h6"}, {{"alpha", 0.5f}});
  b.add_node("Gemm", {"h6", "w5", "c_full"}, {"h7"});
  b.add_node("Unsqueeze", {"h7"}, {"h8"}, {{"axes", std::vector<int64_t>{0}}});
  b.add_node("MatMul", {"h8", "w5"}, {"y"});
  b.add_output("y", {1, -1, 3});
  auto model = b.build();
  exec::Engine fast(model);
  exec::EngineOptions dense_opts;
  dense_opts.onednn = false;
  exec::Engine dense(model, dense_opts);
  auto x = torch::randn({3, 6});
  for (int round = 0; round < 3; ++round) {
    auto a = fast.run({x})[0];
    auto d = dense.run({x})[0];
    ASSERT_EQ(a.sizes(), d.sizes());
    EXPECT_FALSE(a.is_mkldnn());
    EXPECT_LT((a - d).abs().max().item<float>(), 1e-3 * (1 + d.abs().max().item<float>())) << "round " << round;
    for (const char* w : {"w_nk", "w_kn", "w3", "w5"}) {
      auto fresh = torch::randn(fast.weights().get(w).sizes());
      fast.weights().set(w, fresh);
      dense.weights().set(w, fresh);
    }
  }
}

TEST(Engine, RunFromPrefixCacheEqualsFullRunAfterSwappingTheWeight) {
  exec::Engine e(residual_model());
  auto x = torch::randn({4, 3, 8, 8});
  for (const char* weight : {"w1", "w2"}) {
    auto cache = e.run_prefix({x}, weight);
    auto original = e.weights().get(weight).clone();
    for (int round = 0; round < 3; ++round) {
      auto full = e.run({x})[0];
      auto tail = e.run_from(*cache);
      EXPECT_TRUE(torch::allclose(full, tail, 1e-5, 1e-6)) << weight << " round " << round;
      e.weights().set(weight, torch::randn(original.sizes()));
    }
    e.weights().set(weight, original);
  }
  auto cache2 = e.run_prefix({x}, "w2");
  EXPECT_GT(e.prefix_fraction(*cache2), 0.0) << "the steps before w2's consumer are skipped";
  EXPECT_THROW(e.run_prefix({x}, "no_such_weight"), Error);
}

TEST(Engine, SmallGroupedConvOnOneDnnMatchesDensePath) {
  torch::manual_seed(4);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 16, 9, 9});
  nnc::exec::add_initializer(b, "w", torch::randn({8, 8, 3, 3}) * 0.2);  // groups 2: 8 in -> 4 out per group
  nnc::exec::add_initializer(b, "bias", torch::randn({8}));
  b.add_node("Conv", {"x", "w", "bias"}, {"c"},
             {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 2}}});
  b.add_node("Relu", {"c"}, {"y"});
  b.add_output("y", {-1, 8, 5, 5});
  auto model = b.build();
  exec::Engine fast(model);
  exec::EngineOptions dense_opts;
  dense_opts.onednn = false;
  exec::Engine dense(model, dense_opts);
  auto x = torch::randn({3, 16, 9, 9});
  for (int round = 0; round < 2; ++round) {
    auto a = fast.run({x})[0], r = dense.run({x})[0];
    EXPECT_LT((a - r).abs().max().item<float>(), 1e-4) << "round " << round;
    auto w = torch::randn({8, 8, 3, 3});
    fast.weights().set("w", w);
    dense.weights().set("w", w);
  }
}

TEST(Engine, InPlaceActivationsNeverOverwriteAValueReadLater) {
  // Clip and Relu work in place on a value's last reference; a view of a value that is still
  // read (Reshape of `a`, `a` read again by the Add) must not be overwritten.
  onnxio::GraphBuilder b;
  b.add_input("x", {2, 8});
  nnc::exec::add_initializer(b, "two", torch::tensor({2.0f}));
  nnc::exec::add_initializer(b, "shape44", torch::tensor({4, 4}, torch::kLong));
  nnc::exec::add_initializer(b, "shape28", torch::tensor({2, 8}, torch::kLong));
  nnc::exec::add_initializer(b, "lo", torch::tensor(0.0f));
  nnc::exec::add_initializer(b, "hi", torch::tensor(0.5f));
  b.add_node("Mul", {"x", "two"}, {"a"});
  b.add_node("Reshape", {"a", "shape44"}, {"v"});
  b.add_node("Clip", {"v", "lo", "hi"}, {"c"});
  b.add_node("Reshape", {"c", "shape28"}, {"c2"});
  b.add_node("Relu", {"c2"}, {"r"});
  b.add_node("Add", {"a", "r"}, {"y"});
  b.add_output("y", {2, 8});
  exec::Engine e(b.build());
  auto x = torch::randn({2, 8});
  auto a = x * 2;
  auto expected = a + a.clamp(0, 0.5).relu();
  EXPECT_TRUE(torch::allclose(e.run_single(x), expected));
  EXPECT_TRUE(torch::allclose(e.run_single(x), expected));  // a second run sees intact state
}

TEST(Engine, ProfileTimesEveryStepAndNamesFusedNodes) {
  auto model = conv_bn_model();
  model.mutable_graph()->mutable_node(0)->set_name("conv");
  exec::Engine e(model);
  auto steps = e.profile({torch::randn({8, 2, 6, 6})}, 3);
  ASSERT_EQ(steps.size(), e.num_steps(false));
  // Conv + BatchNormalization are one step; unnamed nodes are named by their first output.
  EXPECT_EQ(steps[0].nodes, (std::vector<std::string>{"conv", "n"}));
  EXPECT_EQ(steps[1].nodes, (std::vector<std::string>{"r"}));
  EXPECT_EQ(steps.back().nodes, (std::vector<std::string>{"y"}));
  for (const auto& s : steps) EXPECT_GE(s.ms, 0.0);
  // Profiling leaves normal runs untouched.
  auto x = torch::randn({3, 2, 6, 6});
  EXPECT_LT((e.run_single(x) - reference(e.weights(), x)).abs().max().item<float>(), 1e-4);
}

// An engine sets OpenBLAS (which the project requires: reference BLAS is ~30x slower) to the
// calling thread, so training's matrix products do not fight the OpenMP threads for the cores.
TEST(Engine, BlasRunsOnTheCallingThread) {
  exec::Engine e(residual_model());
  using GetThreads = int (*)();
  auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  ASSERT_NE(get, nullptr) << "LibTorch is not running on OpenBLAS";
  const char* env = std::getenv("NNC_BLAS_THREADS");
  const int expected = env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 1;
  EXPECT_EQ(nnc::single_threaded_blas(), expected);
  EXPECT_EQ(get(), expected);
}

namespace {

// y = GELU(x W) written as PyTorch exports it before opset 20; `tap` also lists the Erf output
// as a graph output (which must stop the fusion).
onnx::ModelProto gelu_model(bool tap) {
  torch::manual_seed(0);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 8});
  nnc::exec::add_initializer(b, "w", torch::randn({8, 6}));
  b.add_node("MatMul", {"x", "w"}, {"h"});
  b.add_node("Constant", {}, {"sqrt2"}, {{"value_float", 1.4142135f}});
  b.add_node("Constant", {}, {"one"}, {{"value_float", 1.0f}});
  b.add_node("Constant", {}, {"half"}, {{"value_float", 0.5f}});
  b.add_node("Div", {"h", "sqrt2"}, {"d"});
  b.add_node("Erf", {"d"}, {"e"});
  b.add_node("Add", {"e", "one"}, {"a"});
  b.add_node("Mul", {"h", "a"}, {"m"});
  b.add_node("Mul", {"m", "half"}, {"y"});
  b.add_output("y", {-1, 6});
  if (tap) b.add_output("e", {-1, 6});
  return b.build();
}

}  // namespace

TEST(Engine, GeluPatternRunsAsOneStepAndMatchesTheDecomposition) {
  exec::Engine fused(gelu_model(false)), tapped(gelu_model(true));
  EXPECT_EQ(fused.num_steps(false), 2u);   // MatMul, GELU
  EXPECT_EQ(fused.num_steps(true), 2u);
  EXPECT_EQ(tapped.num_steps(false), 6u);  // an intermediate is a graph output: left alone
  auto x = torch::randn({5, 8}) * 3;
  auto h = torch::matmul(x, fused.weights().get("w"));
  auto expected = h * (1 + torch::erf(h / 1.4142135f)) * 0.5f;
  EXPECT_LT((fused.run_single(x) - expected).abs().max().item<float>(), 1e-5);
  EXPECT_LT((tapped.run({x})[0] - expected).abs().max().item<float>(), 1e-5);
  // Training through the fused step: the weight's gradient equals the decomposition's.
  fused.set_training(true);
  fused.run_single(x).sum().backward();
  auto w = fused.weights().get("w").detach().clone().requires_grad_(true);
  auto hw = torch::matmul(x, w);
  (hw * (1 + torch::erf(hw / 1.4142135f)) * 0.5f).sum().backward();
  EXPECT_LT((fused.weights().get("w").grad() - w.grad()).abs().max().item<float>(), 1e-4);
}
