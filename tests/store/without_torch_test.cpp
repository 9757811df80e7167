// The onnx and store libraries stand without LibTorch: this test binary is built and linked
// against them alone (no LibTorch include path or library), builds a model with plain ONNX
// protos, compresses it, and reads it back with both readers.
#include <gtest/gtest.h>

#include <cstring>

#include "decode.h"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/store/model_store.hpp"

using namespace nnc;

TEST(WithoutTorch, AModelIsSharedPackedAndReadBack) {
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 8});
  const std::vector<float> codebook{-0.5f, 0.0f, 0.25f, 1.0f};
  std::vector<uint16_t> idx;
  std::vector<float> w;
  for (int i = 0; i < 4 * 8; ++i) {
    idx.push_back(static_cast<uint16_t>((i * 7) % 4));
    w.push_back(codebook[idx.back()]);
  }
  b.add_initializer(onnxio::float_tensor("w", {4, 8}, w));
  b.add_initializer(onnxio::float_tensor("b", {4}, {0.5f, -1.0f, 2.0f, 0.0f}));
  b.add_node("Gemm", {"x", "w", "b"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 4});
  const auto model = b.build();
  onnxio::check_model(model, "built");
  store::Compression comp;
  comp.codebooks.push_back(codebook);
  comp.indexed["w"] = {0, idx};
  const auto bytes = store::pack_model(model, comp);
  const auto back = store::unpack_model(bytes, "mem");
  EXPECT_EQ(onnxio::float_values(*onnxio::find_initializer(back.graph(), "w")), w);
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  bool found = false;
  for (std::size_t i = 0; i < m.count; ++i)
    if (std::strcmp(m.tensors[i].name, "w") == 0) {
      found = true;
      EXPECT_EQ(std::memcmp(m.tensors[i].data, w.data(), w.size() * 4), 0);
    }
  EXPECT_TRUE(found);
  nnc_free(&m);
  // The compressed ONNX is a plain ONNX model the checker accepts.
  EXPECT_NO_THROW(onnxio::check_model(store::codebook_onnx(model, comp), "compressed"));
}
