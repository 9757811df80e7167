#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/prune/rd_curve.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {
onnx::ModelProto mlp() {
  torch::manual_seed(3);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 1, 4, 4});
  b.add_initializer("fc1.w", torch::randn({32, 16}) * 0.3);
  b.add_initializer("fc1.b", torch::randn({32}) * 0.1);
  b.add_initializer("fc2.w", torch::randn({10, 32}) * 0.3);
  b.add_node("Flatten", {"x"}, {"f"});
  b.add_node("Gemm", {"f", "fc1.w", "fc1.b"}, {"h"}, {{"transB", int64_t{1}}}, "fc1");
  b.add_node("Relu", {"h"}, {"r"});
  b.add_node("Gemm", {"r", "fc2.w"}, {"y"}, {{"transB", int64_t{1}}}, "fc2");
  b.add_output("y", {-1, 10});
  return b.build();
}
}  // namespace

TEST(RdCurve, CurvesStartAtZeroGrowAndRestoreWeights) {
  auto model = mlp();
  exec::Engine e(model);
  auto layers = prune::prunable_layers(model);
  ASSERT_EQ(layers.size(), 2u);
  auto before = e.weights().get("fc1.w").clone();
  auto calib = torch::randn({64, 1, 4, 4});
  prune::RdCurveOptions opt;
  opt.grid = prune::default_grid(0.1);
  auto curves = prune::compute_rd_curves(e, calib, layers, opt);
  ASSERT_EQ(curves.distortion.size(), 2u);
  EXPECT_EQ(curves.distortion[0][0], 0.0);
  EXPECT_GT(curves.distortion[0].back(), curves.distortion[0][1]);
  EXPECT_TRUE(torch::equal(before, e.weights().get("fc1.w")));
  // Point check: pruning 50% of fc2 alone gives exactly the recorded distortion.
  auto ref = e.run_single(calib);
  auto w = e.weights().get("fc2.w").clone();
  e.weights().set("fc2.w", w * prune::magnitude_mask(w, 0.5));
  double d = prune::logit_distortion(e.run_single(calib), ref, false);
  EXPECT_NEAR(d, curves.distortion[1][5], 1e-9);
  // Activation caching computes the same curves as full runs.
  e.weights().set("fc2.w", w);
  opt.cache_activations = false;
  auto plain = prune::compute_rd_curves(e, calib, layers, opt);
  for (std::size_t l = 0; l < 2; ++l)
    for (std::size_t g = 0; g < plain.grid.size(); ++g)
      EXPECT_NEAR(plain.distortion[l][g], curves.distortion[l][g], 1e-6 * (1 + plain.distortion[l][g]));
}
