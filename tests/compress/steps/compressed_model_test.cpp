// CompressedModel: masks from exact zeros, masks and codebook assignments kept consistent with
// the weights through every change, state of vanished tensors dropped.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/store/model_store.hpp"

using namespace nnc;
using compress::CompressedModel;

namespace {

// x [N,4] -> Gemm(w [3,4], b) -> y; `w` has exact zeros where `zeros` says.
onnx::ModelProto gemm_model(const at::Tensor& w) {
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 4});
  exec::add_initializer(b, "w", w);
  exec::add_initializer(b, "b", torch::tensor({0.5f, -0.5f, 0.25f}));
  b.add_node("Gemm", {"x", "w", "b"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 3});
  return b.build();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(CompressedModel, ExactZerosOfLayerWeightsAreMasks) {
  auto w = torch::tensor({{1.0f, 0.0f, 2.0f, 0.0f}, {3.0f, 4.0f, 0.0f, 5.0f}, {6.0f, 7.0f, 8.0f, 9.0f}});
  CompressedModel m(gemm_model(w));
  ASSERT_EQ(m.masks().size(), 1u);  // the bias has no zeros and is no layer weight anyway
  EXPECT_EQ(*m.mask("w"), (compress::Mask{1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(m.summary().masked, 3);
  EXPECT_EQ(m.summary().weights, 12);
  CompressedModel dense(gemm_model(torch::ones({3, 4})));
  EXPECT_TRUE(dense.masks().empty());
}

TEST(CompressedModel, AMaskMustMatchTheWeightsZeros) {
  CompressedModel m(gemm_model(torch::ones({3, 4})));
  compress::Mask mask(12, 1);
  mask[5] = 0;
  EXPECT_EQ(error_of([&] { m.set_mask("w", mask); }), "weight 'w' element 5 is 1 where its mask prunes it");
  auto pruned = m.model();
  auto w = torch::ones({3, 4});
  w.view(-1)[5] = 0;
  *onnxio::find_initializer(*pruned.mutable_graph(), "w") = exec::from_tensor(w, "w");
  m.set_model(pruned, {{"w", mask}});
  EXPECT_EQ(m.summary().masked, 1);
}

TEST(CompressedModel, PruningASharedWeightMovesItsZerosToTheCodebooksZeroEntry) {
  // w holds codebook values {-1, 2}; pruning two elements adds the exact-zero entry.
  auto w = torch::tensor({{-1.0f, 2.0f, 2.0f, -1.0f}, {2.0f, 2.0f, -1.0f, -1.0f}, {-1.0f, -1.0f, 2.0f, 2.0f}});
  CompressedModel m(gemm_model(w));
  std::vector<uint16_t> idx;
  for (float v : std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + 12)) idx.push_back(v < 0 ? 0 : 1);
  m.set_sharing({compress::Codebook{{-1.0f, 2.0f}, -1}}, {{"w", compress::Assignment{0, idx}}});
  auto pruned = m.model();
  auto wp = w.clone();
  wp.view(-1)[0] = 0;
  wp.view(-1)[7] = 0;
  *onnxio::find_initializer(*pruned.mutable_graph(), "w") = exec::from_tensor(wp, "w");
  compress::Mask mask(12, 1);
  mask[0] = mask[7] = 0;
  m.set_model(pruned, {{"w", mask}});
  const auto& cb = m.codebooks()[0];
  ASSERT_EQ(cb.zero_entry, 2);
  EXPECT_EQ(cb.values, (std::vector<float>{-1.0f, 2.0f, 0.0f}));
  const auto& a = m.assignments().at("w").indices;
  EXPECT_EQ(a[0], 2);
  EXPECT_EQ(a[7], 2);
  EXPECT_EQ(a[1], 1);
  // The container stores it sparse with indexed values and decodes to the same weights.
  auto unpacked = store::unpack_model(compress::pack_nnc(m).bytes, "test");
  EXPECT_TRUE(torch::equal(exec::to_tensor(*onnxio::find_initializer(unpacked.graph(), "w")), wp));
}

TEST(CompressedModel, AssignmentsMustHoldTheWeightsValues) {
  CompressedModel m(gemm_model(torch::ones({3, 4})));
  std::vector<uint16_t> idx(12, 0);
  EXPECT_EQ(error_of([&] { m.set_sharing({compress::Codebook{{2.0f}, -1}}, {{"w", compress::Assignment{0, idx}}}); }),
            "weight 'w' element 0 is 1, its codebook entry 0 holds 2");
  m.set_sharing({compress::Codebook{{1.0f}, -1}}, {{"w", compress::Assignment{0, idx}}});
  EXPECT_EQ(m.summary().shared, 12);
  // A per-tensor scale: the weight is entry value x scale.
  EXPECT_EQ(error_of([&] { m.set_sharing({compress::Codebook{{2.0f}, -1}}, {{"w", compress::Assignment{0, idx, 0.25f}}}); }),
            "weight 'w' element 0 is 1, its codebook entry 0 holds 2 (times scale 0.25)");
  m.set_sharing({compress::Codebook{{2.0f}, -1}}, {{"w", compress::Assignment{0, idx, 0.5f}}});
  EXPECT_EQ(m.summary().shared, 12);
}

TEST(CompressedModel, StateOfTensorsAGraphChangeRemovedIsDropped) {
  auto w = torch::tensor({{1.0f, 0.0f, 2.0f, 3.0f}, {3.0f, 4.0f, 1.0f, 5.0f}, {6.0f, 7.0f, 8.0f, 9.0f}});
  CompressedModel m(gemm_model(w));
  ASSERT_EQ(m.masks().size(), 1u);
  auto other = gemm_model(torch::ones({3, 4}));
  onnxio::find_initializer(*other.mutable_graph(), "w")->set_name("w2");
  other.mutable_graph()->mutable_node(0)->set_input(1, "w2");
  m.set_model(other);
  EXPECT_TRUE(m.masks().empty());
  m.record("test", {}, {{"figure", 1}});
  EXPECT_EQ(m.history().size(), 1u);
  EXPECT_EQ(error_of([&] { m.set_prepared(other); }), "the data must be prepared before the first step");
}
