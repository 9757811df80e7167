#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/compress/share/bias_correction.hpp"
#include "nncompress/compress/share/search.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {

// Grouped, strided, padded conv (the per-tap window means make the correction exact) -> ReLU -> Flatten -> two Gemms, one
// with W as [out, in] (transB = 1) and one as [in, out] (transB = 0, alpha and beta set); the
// last Gemm's output, the conv's output and fc1's output are graph outputs.
onnx::ModelProto net() {
  torch::manual_seed(5);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 4, 6, 6});
  nnc::exec::add_initializer(b, "c.w", torch::randn({6, 2, 3, 3}) * 0.3);
  nnc::exec::add_initializer(b, "c.b", torch::randn({6}) * 0.1);
  nnc::exec::add_initializer(b, "f1.w", torch::randn({8, 90}) * 0.2);
  nnc::exec::add_initializer(b, "f1.b", torch::randn({8}) * 0.1);
  nnc::exec::add_initializer(b, "f2.w", torch::randn({8, 5}) * 0.3);
  nnc::exec::add_initializer(b, "f2.b", torch::randn({5}) * 0.1);
  b.add_node("Conv", {"x", "c.w", "c.b"}, {"c"}, {{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 1}}, {"pads", std::vector<int64_t>{1, 0, 0, 1}}},
             "conv");
  b.add_node("Relu", {"c"}, {"r"});
  b.add_node("Flatten", {"r"}, {"f"});
  b.add_node("Gemm", {"f", "f1.w", "f1.b"}, {"h"}, {{"transB", int64_t{1}}}, "fc1");
  b.add_node("Gemm", {"h", "f2.w", "f2.b"}, {"y"}, {{"alpha", 0.5f}, {"beta", 2.0f}}, "fc2");
  b.add_output("y", {-1, 5});
  b.add_output("c", {-1, 6, 3, 5});
  b.add_output("h", {-1, 8});  // fc2's input is a graph output already: probed without a duplicate
  return b.build();
}

}  // namespace

TEST(BiasCorrection, SharedLayersKeepTheirMeanOutputGivenTheOriginalInputs) {
  auto model = net();
  auto set = share::collect_shared(model, false);
  ASSERT_EQ(set.names.size(), 3u);
  auto calib = torch::rand({64, 4, 6, 6}) + 0.5;  // inputs with a clear non-zero mean
  share::BiasCorrection bc(model, set, calib, 16);
  EXPECT_EQ(bc.corrected_layers(), 3);

  // Each layer alone: shared weights with corrected biases keep that layer's mean output on the
  // original inputs. Checked per layer by sharing only that layer's weights.
  exec::Engine e(model);
  auto cb = share::uniform_bins(set, 6);  // coarse: large mean shifts
  auto values = share::shared_values(set, cb);
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    std::vector<float> only(set.values);
    std::copy(values.begin() + static_cast<std::ptrdiff_t>(set.offsets[t]),
              values.begin() + static_cast<std::ptrdiff_t>(set.offsets[t + 1]),
              only.begin() + static_cast<std::ptrdiff_t>(set.offsets[t]));
    share::write_shared(e, set, set.values);
    bc.restore(e);
    auto ref = e.run({calib});
    share::write_shared(e, set, only);
    auto plain = e.run({calib});
    bc.apply(e, set, only);
    auto fixed = e.run({calib});
    if (t == 0) {  // the conv: per-channel mean of its output
      auto m = [](const at::Tensor& c) { return c.mean({0, 2, 3}); };
      EXPECT_GT((m(plain[1]) - m(ref[1])).abs().max().item<double>(), 1e-2);
      EXPECT_LT((m(fixed[1]) - m(ref[1])).abs().max().item<double>(), 1e-4);
    } else if (t == 2) {  // fc2 reads fc1's output, which is unchanged when only fc2 is shared
      auto m = [](const at::Tensor& y) { return y.mean(0); };
      EXPECT_GT((m(plain[0]) - m(ref[0])).abs().max().item<double>(), 1e-3);
      EXPECT_LT((m(fixed[0]) - m(ref[0])).abs().max().item<double>(), 1e-4);
    }
  }
  // restore() gives back the original biases exactly.
  share::write_shared(e, set, set.values);
  bc.restore(e);
  exec::Engine fresh(model);
  EXPECT_TRUE(torch::equal(e.weights().get("f2.b"), fresh.weights().get("f2.b")));
  EXPECT_TRUE(torch::equal(e.weights().get("c.b"), fresh.weights().get("c.b")));
}

TEST(BiasCorrection, ContextAppliesItThroughEvaluation) {
  auto model = net();
  auto set = share::collect_shared(model, false);
  auto calib = torch::rand({32, 4, 6, 6});
  exec::Engine e(model);
  data::Dataset val{calib, torch::randint(0, 5, {32}, torch::kLong), 5};
  share::ShareContext ctx(e, set, val, 16);
  ctx.set_bias_correction(std::make_shared<share::BiasCorrection>(model, set, calib, 16));
  auto before = e.weights().get("f1.b").clone();
  ctx.evaluate(share::uniform_bins(set, 6));
  EXPECT_FALSE(torch::equal(before, e.weights().get("f1.b")));
  ctx.restore();
  EXPECT_TRUE(torch::equal(before, e.weights().get("f1.b")));
}

TEST(BiasCorrection, ExactForAutoPadAndDilatedConvolutions) {
  for (const char* auto_pad : {"SAME_UPPER", "SAME_LOWER"}) {
    torch::manual_seed(9);
    onnxio::GraphBuilder b;
    b.add_input("x", {-1, 3, 7, 7});
    nnc::exec::add_initializer(b, "w", torch::randn({4, 3, 3, 3}) * 0.3);
    nnc::exec::add_initializer(b, "b", torch::randn({4}) * 0.1);
    b.add_node("Conv", {"x", "w", "b"}, {"y"},
               {{"auto_pad", std::string(auto_pad)}, {"strides", std::vector<int64_t>{2, 2}},
                {"dilations", std::vector<int64_t>{2, 1}}},
               "conv");
    b.add_output("y", {-1, 4, 4, 4});
    auto model = b.build();
    auto set = share::collect_shared(model, false);
    auto calib = torch::rand({20, 3, 7, 7}) * torch::arange(1, 8).to(torch::kFloat).reshape({1, 1, 1, 7});
    share::BiasCorrection bc(model, set, calib, 8);
    ASSERT_EQ(bc.corrected_layers(), 1);
    exec::Engine e(model);
    auto ref = e.run_single(calib).mean({0, 2, 3});
    auto values = share::shared_values(set, share::uniform_bins(set, 4));
    share::write_shared(e, set, values);
    auto plain = e.run_single(calib).mean({0, 2, 3});
    bc.apply(e, set, values);
    auto fixed = e.run_single(calib).mean({0, 2, 3});
    EXPECT_GT((plain - ref).abs().max().item<double>(), 1e-2) << auto_pad;
    EXPECT_LT((fixed - ref).abs().max().item<double>(), 1e-4) << auto_pad;
  }
}
