#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/compress/share/error_feedback.hpp"
#include "nncompress/compress/share/search.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {

// Depthwise conv -> grouped, strided, asymmetrically padded conv -> ReLU -> Flatten -> Gemm
// (W as [out, in]) -> MatMul (W as [in, out]); every layer's output is a graph output.
onnx::ModelProto net() {
  torch::manual_seed(11);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 16, 6, 6});
  nnc::exec::add_initializer(b, "d.w", torch::randn({16, 1, 3, 3}) * 0.4);
  nnc::exec::add_initializer(b, "c.w", torch::randn({6, 8, 3, 3}) * 0.3);
  nnc::exec::add_initializer(b, "c.b", torch::randn({6}) * 0.1);
  nnc::exec::add_initializer(b, "f1.w", torch::randn({24, 90}) * 0.2);
  nnc::exec::add_initializer(b, "f2.w", torch::randn({24, 5}) * 0.3);
  b.add_node("Conv", {"x", "d.w"}, {"d"}, {{"group", int64_t{16}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "dw");
  b.add_node("Conv", {"d", "c.w", "c.b"}, {"c"},
             {{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 1}}, {"pads", std::vector<int64_t>{1, 0, 0, 1}}},
             "conv");
  b.add_node("Relu", {"c"}, {"r"});
  b.add_node("Flatten", {"r"}, {"f"});
  b.add_node("Gemm", {"f", "f1.w"}, {"h"}, {{"transB", int64_t{1}}}, "fc1");
  b.add_node("MatMul", {"h", "f2.w"}, {"y"}, {}, "fc2");
  b.add_output("y", {-1, 5});
  b.add_output("d", {-1, 16, 6, 6});
  b.add_output("c", {-1, 6, 3, 5});
  b.add_output("h", {-1, 24});
  return b.build();
}

// Spatially smooth inputs: neighbouring pixels are correlated, as in images.
torch::Tensor smooth_inputs(int64_t n) {
  auto low = torch::randn({n, 16, 3, 3});
  return torch::upsample_bilinear2d(low, {6, 6}, false) + 0.3;
}

}  // namespace

TEST(ErrorFeedback, EachLayerChangesItsOutputLessThanPlainBinning) {
  auto model = net();
  auto set = share::collect_shared(model, false);
  ASSERT_EQ(set.names.size(), 4u);  // d.w, c.w, f1.w, f2.w
  auto calib = smooth_inputs(128);
  share::ErrorFeedback ef(model, set, calib);
  EXPECT_EQ(ef.layers(), 4);

  exec::Engine e(model);
  auto ref = e.run({calib});
  const int output_of[] = {1, 2, 3, 0};  // graph output each shared tensor's layer writes
  for (int k : {12, 24, 48}) {
    auto cb = share::uniform_bins(set, k);
    auto plain = cb.indices();
    auto fed = ef.assign(set, cb);
    ASSERT_EQ(fed.size(), set.size());
    for (std::size_t t = 0; t < set.names.size(); ++t) {
      // Only tensor t shared: its layer reads exactly the original inputs.
      auto error = [&](const std::vector<uint16_t>& idx) {
        auto values = share::entry_values(cb, idx);
        std::vector<float> only(set.values);
        for (auto i = set.offsets[t]; i < set.offsets[t + 1]; ++i) only[i] = values[i];
        share::write_shared(e, set, only);
        auto out = e.run({calib});
        return (out[output_of[t]] - ref[output_of[t]]).pow(2).sum().item<double>();
      };
      const double e_plain = error(plain), e_fed = error(fed);
      EXPECT_LT(e_fed, 0.8 * e_plain) << "k " << k << ", " << set.names[t] << ": " << e_fed << " vs " << e_plain;

      // A tensor draws only on the entries its plain binning uses.
      std::set<uint16_t> used(plain.begin() + static_cast<std::ptrdiff_t>(set.offsets[t]),
                              plain.begin() + static_cast<std::ptrdiff_t>(set.offsets[t + 1]));
      for (auto i = set.offsets[t]; i < set.offsets[t + 1]; ++i) ASSERT_TRUE(used.count(fed[i])) << set.names[t];
    }
  }
}

TEST(ErrorFeedback, TensorsOutsideItsLayersKeepPlainBinning) {
  auto model = net();
  auto set = share::collect_shared(model, /*share_biases=*/true);  // c.b is shared but not a layer weight
  auto calib = smooth_inputs(32);
  share::ErrorFeedback ef(model, set, calib);
  auto cb = share::uniform_bins(set, 8);
  auto plain = cb.indices();
  auto fed = ef.assign(set, cb);
  std::size_t bias = set.names.size();
  for (std::size_t t = 0; t < set.names.size(); ++t)
    if (set.names[t] == "c.b") bias = t;
  ASSERT_LT(bias, set.names.size());
  for (auto i = set.offsets[bias]; i < set.offsets[bias + 1]; ++i) EXPECT_EQ(fed[i], plain[i]);
}

TEST(ErrorFeedback, ContextEvaluatesAndReportsTheFedBackAssignment) {
  auto model = net();
  auto set = share::collect_shared(model, false);
  auto calib = smooth_inputs(64);
  exec::Engine e(model);
  data::Dataset val{calib, torch::randint(0, 5, {64}, torch::kLong), 5};
  share::ShareContext ctx(e, set, val, 16);
  auto ef = std::make_shared<share::ErrorFeedback>(model, set, calib);
  ctx.set_error_feedback(ef);
  auto cb = share::uniform_bins(set, 10);
  auto c = ctx.evaluate(cb);
  auto fed = ef->assign(set, cb);
  EXPECT_EQ(ctx.indices(cb), fed);
  EXPECT_DOUBLE_EQ(c.index_bits, share::encoded_index_bits(set, fed, cb.size()));
  // The engine holds exactly the entries' values.
  auto values = share::entry_values(cb, fed);
  auto w = e.weights().get("f1.w").flatten();
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    if (set.names[t] != "f1.w") continue;
    for (int64_t i = 0; i < w.numel(); ++i)
      ASSERT_EQ(w[i].item<float>(), values[set.offsets[t] + static_cast<std::size_t>(i)]);
  }
}
