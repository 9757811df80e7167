#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/compress/prune/allocation.hpp"
#include "nncompress/compress/prune/curve_cache.hpp"
#include "nncompress/compress/prune/rd_curve.hpp"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {
onnx::ModelProto mlp() {
  torch::manual_seed(3);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 1, 4, 4});
  nnc::exec::add_initializer(b, "fc1.w", torch::randn({32, 16}) * 0.3);
  nnc::exec::add_initializer(b, "fc1.b", torch::randn({32}) * 0.1);
  nnc::exec::add_initializer(b, "fc2.w", torch::randn({10, 32}) * 0.3);
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
  double d = prune::logit_distortion(e.run_single(calib), ref, prune::Distortion::kMse);
  EXPECT_NEAR(d, curves.distortion[1][5], 1e-9);
  // Activation caching computes the same curves as full runs.
  e.weights().set("fc2.w", w);
  opt.cache_activations = false;
  auto plain = prune::compute_rd_curves(e, calib, layers, opt);
  for (std::size_t l = 0; l < 2; ++l)
    for (std::size_t g = 0; g < plain.grid.size(); ++g)
      EXPECT_NEAR(plain.distortion[l][g], curves.distortion[l][g], 1e-6 * (1 + plain.distortion[l][g]));
}

TEST(RdCurve, DiskCacheRoundTripsAndKeyFollowsWeightsAndData) {
  auto model = mlp();
  exec::Engine e(model);
  auto layers = prune::prunable_layers(model);
  auto calib = torch::randn({32, 1, 4, 4});
  prune::RdCurveOptions opt;
  opt.grid = prune::default_grid(0.25);
  auto curves = prune::compute_rd_curves(e, calib, layers, opt);
  const auto key = prune::curve_cache_key(e, calib, layers, opt);
  EXPECT_EQ(key, prune::curve_cache_key(e, calib, layers, opt));
  {
    // The same weights under another head (a Softmax appended, outputs on another scale).
    auto with_softmax = model;
    auto* g = with_softmax.mutable_graph();
    const std::string out = g->output(0).name();
    for (auto& n : *g->mutable_node())
      for (auto& o : *n.mutable_output())
        if (o == out) o = out + "_logits";
    auto* sm = g->add_node();
    sm->set_op_type("Softmax");
    sm->add_input(out + "_logits");
    sm->add_output(out);
    exec::Engine es(with_softmax);
    EXPECT_NE(key, prune::curve_cache_key(es, calib, layers, opt));
  }
  auto dir = std::filesystem::temp_directory_path() / ("nnc_curve_cache_test_" + std::to_string(::getpid()));
  EXPECT_FALSE(prune::load_cached_curves(dir, key, layers).has_value());
  prune::save_cached_curves(dir, key, curves);
  auto back = prune::load_cached_curves(dir, key, layers);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->from_cache);
  EXPECT_EQ(back->grid, curves.grid);
  EXPECT_EQ(back->distortion, curves.distortion);
  // Any change to a weight, the data or the grid gives another key.
  EXPECT_NE(key, prune::curve_cache_key(e, calib + 1e-3, layers, opt));
  auto w = e.weights().get("fc1.b").clone();
  e.weights().set("fc1.b", w * 0.5);
  EXPECT_NE(key, prune::curve_cache_key(e, calib, layers, opt));
  e.weights().set("fc1.b", w);
  opt.distortion = prune::Distortion::kKl;
  const auto kl_key = prune::curve_cache_key(e, calib, layers, opt);
  EXPECT_NE(key, kl_key);
  opt.distortion = prune::Distortion::kWorst;
  EXPECT_NE(key, prune::curve_cache_key(e, calib, layers, opt));
  EXPECT_NE(kl_key, prune::curve_cache_key(e, calib, layers, opt));
  opt.distortion = prune::Distortion::kMse;
  opt.grid = prune::default_grid(0.5);
  EXPECT_NE(key, prune::curve_cache_key(e, calib, layers, opt));
  // A damaged entry is ignored (recomputed), not trusted.
  {
    std::ofstream f(dir / (key + ".json"));
    f << "{\"grid\": [0, 0.25";
  }
  EXPECT_FALSE(prune::load_cached_curves(dir, key, layers).has_value());
  std::filesystem::remove_all(dir);
}

TEST(RdCurve, DistortionMeasures) {
  // Two samples, three classes; values worked out by hand.
  auto ref = torch::tensor({{2.0, 0.0, 0.0}, {0.0, 1.0, 0.0}});
  auto out = torch::tensor({{1.0, 0.0, 0.0}, {0.0, 1.0, 3.0}});
  EXPECT_NEAR(prune::logit_distortion(out, ref, prune::Distortion::kMse), (1.0 + 9.0) / 6.0, 1e-6);
  EXPECT_NEAR(prune::logit_distortion(out, ref, prune::Distortion::kWorst), 9.0 / 3.0, 1e-6);
  auto kl = [](std::vector<double> a, std::vector<double> b) {
    double za = 0, zb = 0, k = 0;
    for (double v : a) za += std::exp(v);
    for (double v : b) zb += std::exp(v);
    for (std::size_t i = 0; i < a.size(); ++i) {
      double p = std::exp(a[i]) / za, q = std::exp(b[i]) / zb;
      k += p * std::log(p / q);
    }
    return k;
  };
  const double expected = (kl({2, 0, 0}, {1, 0, 0}) + kl({0, 1, 0}, {0, 1, 3})) / 2;
  EXPECT_NEAR(prune::logit_distortion(out, ref, prune::Distortion::kKl), expected, 1e-6);
  EXPECT_EQ(prune::logit_distortion(ref, ref, prune::Distortion::kKl), 0.0);
  // A shift of every logit by a constant changes no prediction: MSE sees it, KL does not.
  EXPECT_GT(prune::logit_distortion(ref + 5, ref, prune::Distortion::kMse), 1.0);
  EXPECT_NEAR(prune::logit_distortion(ref + 5, ref, prune::Distortion::kKl), 0.0, 1e-6);
  // Outputs that already are probabilities (a graph ending in Softmax) are not softmaxed again.
  auto p_ref = torch::softmax(ref, 1), p_out = torch::softmax(out, 1);
  EXPECT_NEAR(prune::logit_distortion(p_out, p_ref, prune::Distortion::kKl), expected, 1e-6);
  EXPECT_EQ(prune::parse_distortion("kl"), prune::Distortion::kKl);
  EXPECT_THROW(prune::parse_distortion("l1"), std::exception);
}

TEST(RdCurve, CoarseToFineEvaluatesAroundTheChoiceAndMatchesTheFullCurves) {
  auto model = mlp();
  exec::Engine e(model);
  auto layers = prune::prunable_layers(model);
  auto calib = torch::randn({64, 1, 4, 4});
  prune::RdCurveOptions opt;
  opt.grid = prune::default_grid(0.05);  // 20 points
  auto full = prune::compute_rd_curves(e, calib, layers, opt);
  std::vector<prune::LayerState> states;
  for (const auto& l : layers) states.push_back({l, l.params, false});
  const int64_t budget = (layers[0].params + layers[1].params) / 2;

  auto coarse = prune::empty_rd_curves(layers, opt);
  EXPECT_NEAR(prune::evaluated_fraction(coarse), 0.05, 1e-9);  // only phi = 0
  prune::refine_rd_curves(e, calib, coarse, opt, 5,
                          [&](const prune::RdCurves& c) { return prune::rd_grid_choice(states, c, budget); });
  const double fraction = prune::evaluated_fraction(coarse);
  EXPECT_LT(fraction, 0.9);
  EXPECT_GT(fraction, 0.2);
  // Every evaluated point equals the full curve's; the choice has evaluated neighbours.
  for (std::size_t l = 0; l < layers.size(); ++l)
    for (std::size_t g = 0; g < full.grid.size(); ++g)
      if (!std::isnan(coarse.distortion[l][g])) {
        EXPECT_NEAR(coarse.distortion[l][g], full.distortion[l][g], 1e-6 * (1 + full.distortion[l][g]));
      }
  auto choice = prune::rd_grid_choice(states, coarse, budget);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    EXPECT_FALSE(std::isnan(coarse.distortion[l][choice[l]]));
    if (choice[l] > 0) {
      EXPECT_FALSE(std::isnan(coarse.distortion[l][choice[l] - 1]));
    }
    if (choice[l] + 1 < full.grid.size()) {
      EXPECT_FALSE(std::isnan(coarse.distortion[l][choice[l] + 1]));
    }
  }
  // The allocation from partial curves is never better (in predicted distortion) than the full
  // one and fits the same budget.
  auto a_full = prune::allocate_rd(states, full, budget);
  auto a_coarse = prune::allocate_rd(states, coarse, budget);
  EXPECT_LE(a_coarse.total_kept, budget);
  EXPECT_GE(a_coarse.predicted_distortion, a_full.predicted_distortion - 1e-12);

  // Partial curves survive the disk cache (unevaluated points stay unevaluated).
  auto dir = std::filesystem::temp_directory_path() / ("nnc_curve_cache_partial_" + std::to_string(::getpid()));
  prune::save_cached_curves(dir, "k", coarse);
  auto back = prune::load_cached_curves(dir, "k", layers);
  ASSERT_TRUE(back.has_value());
  for (std::size_t l = 0; l < layers.size(); ++l)
    for (std::size_t g = 0; g < full.grid.size(); ++g)
      EXPECT_EQ(std::isnan(back->distortion[l][g]), std::isnan(coarse.distortion[l][g]));
  std::filesystem::remove_all(dir);
}

TEST(RdCurve, CurvesInContextMeasureTheWholeAllocationWithOneLayerChanged) {
  auto model = mlp();
  exec::Engine e(model);
  auto layers = prune::prunable_layers(model);
  auto calib = torch::randn({64, 1, 4, 4});
  auto w1 = e.weights().get("fc1.w").clone(), w2 = e.weights().get("fc2.w").clone();
  prune::RdCurveOptions opt;
  opt.grid = prune::default_grid(0.25);  // 0, .25, .5, .75
  opt.context = {w1 * prune::magnitude_mask(w1, 0.5), w2 * prune::magnitude_mask(w2, 0.75)};
  auto curves = prune::empty_rd_curves(layers, opt);
  EXPECT_TRUE(std::isnan(curves.distortion[0][0]));  // phi = 0 is a real point in context
  std::vector<std::vector<std::size_t>> all(2, {0, 1, 2, 3});
  prune::evaluate_rd_points(e, calib, curves, all, opt);
  // The store is back to the unpruned weights.
  EXPECT_TRUE(torch::equal(e.weights().get("fc1.w"), w1));
  EXPECT_TRUE(torch::equal(e.weights().get("fc2.w"), w2));
  auto ref = e.run_single(calib);
  auto measured = [&](double phi1, double phi2) {
    e.weights().set("fc1.w", w1 * prune::magnitude_mask(w1, phi1));
    e.weights().set("fc2.w", w2 * prune::magnitude_mask(w2, phi2));
    double d = prune::logit_distortion(e.run_single(calib), ref, prune::Distortion::kMse);
    e.weights().set("fc1.w", w1);
    e.weights().set("fc2.w", w2);
    return d;
  };
  // fc1's curve holds fc2 at 75%; fc2's holds fc1 at 50%: both meet at the allocation itself.
  EXPECT_NEAR(curves.distortion[0][0], measured(0.0, 0.75), 1e-6);
  EXPECT_NEAR(curves.distortion[0][2], measured(0.5, 0.75), 1e-6);
  EXPECT_NEAR(curves.distortion[1][3], measured(0.5, 0.75), 1e-6);
  EXPECT_NEAR(curves.distortion[1][1], measured(0.5, 0.25), 1e-6);
  EXPECT_GT(curves.distortion[0][0], 0.0);
}

namespace {
// conv1 -> bn1 -> relu -> conv2 -> bn2 -> relu -> flatten -> fc
onnx::ModelProto conv_bn_net() {
  torch::manual_seed(5);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 2, 6, 6});
  nnc::exec::add_initializer(b, "c1.w", torch::randn({6, 2, 3, 3}) * 0.5);
  nnc::exec::add_initializer(b, "c2.w", torch::randn({6, 6, 3, 3}) * 0.3);
  for (std::string bn : {"bn1", "bn2"}) {
    nnc::exec::add_initializer(b, bn + ".g", torch::rand({6}) + 0.5);
    nnc::exec::add_initializer(b, bn + ".b", torch::randn({6}) * 0.1);
    nnc::exec::add_initializer(b, bn + ".m", torch::randn({6}) * 0.1);
    nnc::exec::add_initializer(b, bn + ".v", torch::rand({6}) + 0.5);
  }
  nnc::exec::add_initializer(b, "fc.w", torch::randn({4, 6 * 6 * 6}) * 0.1);
  b.add_node("Conv", {"x", "c1.w"}, {"a"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv1");
  b.add_node("BatchNormalization", {"a", "bn1.g", "bn1.b", "bn1.m", "bn1.v"}, {"an"});
  b.add_node("Relu", {"an"}, {"ar"});
  b.add_node("Conv", {"ar", "c2.w"}, {"c"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv2");
  b.add_node("BatchNormalization", {"c", "bn2.g", "bn2.b", "bn2.m", "bn2.v"}, {"cn"});
  b.add_node("Relu", {"cn"}, {"cr"});
  b.add_node("Flatten", {"cr"}, {"f"});
  b.add_node("Gemm", {"f", "fc.w"}, {"y"}, {{"transB", int64_t{1}}}, "fc");
  b.add_output("y", {-1, 4});
  return b.build();
}
}  // namespace

// The curves run the graph before a layer in recalibration mode once per layer: re-estimating
// from that prefix after the layer's weight changed gives the statistics of re-estimating the
// whole graph.
TEST(RdCurve, RecalibratingFromAPrefixMatchesTheWholeGraph) {
  auto model = conv_bn_net();
  auto calib = torch::randn({48, 2, 6, 6}) * 1.5 + 0.3;
  const std::vector<at::Tensor> batches{calib.narrow(0, 0, 16), calib.narrow(0, 16, 16), calib.narrow(0, 32, 16)};
  for (const std::string weight : {"c1.w", "c2.w"}) {
    exec::Engine whole(model), part(model);
    auto prefix = part.recalibration_prefix(batches, weight);
    ASSERT_EQ(prefix.size(), 3u);
    const auto w0 = whole.weights().get(weight).clone();
    for (double phi : {0.5, 0.75}) {
      const auto w = w0 * prune::magnitude_mask(w0, phi);
      whole.weights().set(weight, w);
      part.weights().set(weight, w);
      whole.recalibrate_batchnorm(batches);
      part.recalibrate_batchnorm_from(prefix);
      for (const char* n : {"bn1.m", "bn1.v", "bn2.m", "bn2.v"})
        EXPECT_TRUE(torch::allclose(whole.weights().get(n), part.weights().get(n), 1e-6, 1e-6)) << weight << " " << n;
      EXPECT_TRUE(torch::allclose(whole.run_single(calib), part.run_single(calib), 1e-5, 1e-5)) << weight;
    }
  }
  onnxio::GraphBuilder b;  // no BatchNorm: nothing to run
  b.add_input("x", {-1, 4});
  nnc::exec::add_initializer(b, "fc", torch::randn({3, 4}));
  b.add_node("Gemm", {"x", "fc"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 3});
  exec::Engine plain(b.build());
  EXPECT_TRUE(plain.recalibration_prefix({torch::randn({5, 4})}, "fc").empty());
}

TEST(RdCurve, BatchNormAwareCurvesReestimateOnlyWhatThePrunedLayerFeeds) {
  auto model = conv_bn_net();
  exec::Engine e(model);
  auto layers = prune::prunable_layers(model);
  ASSERT_EQ(layers.size(), 3u);
  auto calib = torch::randn({48, 2, 6, 6}) * 1.5 + 0.3;
  std::map<std::string, torch::Tensor> before;
  for (const auto& n : e.weights().names()) before[n] = e.weights().get(n).clone();
  prune::RdCurveOptions opt;
  opt.grid = prune::default_grid(0.25);  // 0, .25, .5, .75
  opt.batch = 16;
  opt.recalibrate_batchnorm = true;
  opt.recalibration_images = 32;  // the first two batches
  auto curves = prune::compute_rd_curves(e, calib, layers, opt);
  for (const auto& [n, t] : before) EXPECT_TRUE(torch::equal(t, e.weights().get(n))) << n;  // all put back
  // The same points measured by hand: prune, re-estimate every BatchNorm on the first 32
  // images, give the BatchNorms before the layer their statistics back, measure; minus the
  // same without pruning.
  const auto ref = e.run_single(calib);
  auto by_hand = [&](const std::string& weight, double phi, bool restore_bn1) {
    auto distortion = [&](double p) {
      auto w = before[weight];
      e.weights().set(weight, w * prune::magnitude_mask(w, p));
      e.recalibrate_batchnorm({calib.narrow(0, 0, 16), calib.narrow(0, 16, 16)});
      if (restore_bn1) {
        e.weights().set("bn1.m", before["bn1.m"]);
        e.weights().set("bn1.v", before["bn1.v"]);
      }
      double d = prune::logit_distortion(e.run_single(calib), ref, prune::Distortion::kMse);
      for (const auto& [n, t] : before) e.weights().set(n, t);
      return d;
    };
    return std::max(0.0, distortion(phi) - distortion(0.0));
  };
  EXPECT_NEAR(curves.distortion[0][2], by_hand("c1.w", 0.5, false), 1e-5);
  EXPECT_NEAR(curves.distortion[1][3], by_hand("c2.w", 0.75, true), 1e-5);
  EXPECT_EQ(curves.distortion[1][0], 0.0);
  // Re-estimating the statistics removes most of what pruning conv2 shifts; the plain curve
  // (statistics left as trained) sees that shift as distortion.
  opt.recalibrate_batchnorm = false;
  auto plain = prune::compute_rd_curves(e, calib, layers, opt);
  EXPECT_LT(curves.distortion[1][3], plain.distortion[1][3]);
  // Different curves, different disk-cache keys.
  opt.recalibrate_batchnorm = true;
  auto k1 = prune::curve_cache_key(e, calib, layers, opt);
  opt.recalibrate_batchnorm = false;
  EXPECT_NE(k1, prune::curve_cache_key(e, calib, layers, opt));
}
