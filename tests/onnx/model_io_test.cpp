#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/metadata.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/onnx/weight_inputs.hpp"

namespace fs = std::filesystem;
using namespace nnc::onnxio;
using nnc::exec::from_tensor;
using nnc::exec::to_tensor;

namespace {
onnx::ModelProto tiny_model() {
  GraphBuilder b;
  b.add_input("x", {-1, 4});
  nnc::exec::add_initializer(b, "w", torch::arange(12, torch::kFloat).reshape({4, 3}));
  b.add_node("MatMul", {"x", "w"}, {"y"});
  b.add_output("y", {-1, 3});
  return b.build();
}
fs::path tmp(const std::string& name) { return fs::temp_directory_path() / ("nnc_onnx_test_" + name); }
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const nnc::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(TensorProto, RoundTripsEveryType) {
  for (auto type : {torch::kFloat, torch::kDouble, torch::kLong, torch::kInt, torch::kByte, torch::kChar,
                    torch::kBool, torch::kHalf, torch::kShort}) {
    auto t = (torch::arange(24) % 7).to(type).reshape({2, 3, 4});
    auto back = to_tensor(from_tensor(t, "t"));
    EXPECT_EQ(back.scalar_type(), type);
    EXPECT_TRUE(torch::equal(back, t)) << c10::toString(type);
  }
}

TEST(TensorProto, ReadsTypedFieldsAndWidensUint16) {
  onnx::TensorProto p;
  p.set_name("u");
  p.set_data_type(onnx::TensorProto::UINT16);
  p.add_dims(2);
  p.add_int32_data(65535);
  p.add_int32_data(7);
  auto t = to_tensor(p);
  EXPECT_EQ(t.scalar_type(), torch::kInt);
  EXPECT_EQ(t[0].item<int>(), 65535);
  p.clear_int32_data();
  p.add_int32_data(1);
  EXPECT_EQ(error_of([&] { to_tensor(p); }), "tensor 'u': has 1 values but its shape needs 2");
}

TEST(ModelIo, SaveLoadRoundTripKeepsMetadata) {
  auto m = tiny_model();
  set_normalisation(m, {{0.286f}, {0.353f}});
  set_num_classes(m, 10);
  save_model(m, tmp("rt.onnx"));
  auto back = load_model(tmp("rt.onnx"));
  EXPECT_EQ(back.SerializeAsString(), m.SerializeAsString());
  auto norm = get_normalisation(back);
  ASSERT_TRUE(norm);
  EXPECT_FLOAT_EQ(norm->mean[0], 0.286f);
  EXPECT_EQ(get_num_classes(back).value(), 10);
  EXPECT_EQ(opset_version(back), 13);
}

TEST(ModelIo, ExternalDataIsInlined) {
  auto m = tiny_model();
  auto& init = *m.mutable_graph()->mutable_initializer(0);
  std::string raw = init.raw_data();
  fs::create_directories(tmp("ext"));
  nnc::write_file_atomic(tmp("ext") / "weights.bin", std::string("PAD!") + raw);
  init.clear_raw_data();
  init.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* kv = init.add_external_data();
    kv->set_key(k);
    kv->set_value(v);
  };
  add("location", "weights.bin");
  add("offset", "4");
  add("length", std::to_string(raw.size()));
  std::string bytes = m.SerializeAsString();
  nnc::write_file_atomic(tmp("ext") / "m.onnx", bytes);
  auto back = load_model(tmp("ext") / "m.onnx");
  EXPECT_EQ(back.graph().initializer(0).raw_data(), raw);
}

TEST(ModelIo, BadInputsGiveOneLineErrors) {
  EXPECT_EQ(error_of([] { load_model(tmp("missing.onnx")); }), tmp("missing.onnx").string() + ": no such file");
  std::string bytes = tiny_model().SerializeAsString();
  nnc::write_file_atomic(tmp("trunc.onnx"), bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(error_of([] { load_model(tmp("trunc.onnx")); }),
            tmp("trunc.onnx").string() + ": cannot parse ONNX protobuf (truncated or corrupt file)");
  nnc::write_file_atomic(tmp("empty.onnx"), std::string_view(""));
  EXPECT_EQ(error_of([] { load_model(tmp("empty.onnx")); }), tmp("empty.onnx").string() + ": empty file, not an ONNX model");
  auto bad = tiny_model();
  bad.mutable_graph()->mutable_node(0)->set_input(1, "nonexistent");
  nnc::write_file_atomic(tmp("bad.onnx"), bad.SerializeAsString());
  auto msg = error_of([] { load_model(tmp("bad.onnx")); });
  EXPECT_NE(msg.find("ONNX checker failed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(SparseInitializers, SparseWhereSmallerAndReadBackDense) {
  GraphBuilder b;
  b.add_input("x", {-1, 6});
  auto mostly_zero = torch::zeros({6, 5});
  mostly_zero.index_put_({1, 2}, 3.5f);
  mostly_zero.index_put_({4, 0}, -1.25f);
  auto half_zero = torch::arange(30, torch::kFloat).reshape({5, 6}) * (torch::arange(30).reshape({5, 6}) % 2);
  nnc::exec::add_initializer(b, "a", mostly_zero);
  nnc::exec::add_initializer(b, "b", half_zero);
  b.add_node("MatMul", {"x", "a"}, {"h"});
  b.add_node("MatMul", {"h", "b"}, {"y"});
  b.add_output("y", {-1, 6});
  auto m = b.build();
  m.set_ir_version(3);
  auto w = sparsify_initializers(m, {"a", "b"});
  // "a": 2 non-zeros (24 bytes) against 120 dense bytes; "b": 15 non-zeros (180) against 120: stays dense.
  EXPECT_EQ(w.tensors, 1);
  EXPECT_EQ(w.dense_bytes, 120);
  EXPECT_EQ(w.sparse_bytes, 24);
  EXPECT_EQ(m.graph().sparse_initializer_size(), 1);
  EXPECT_EQ(m.graph().initializer_size(), 1);
  EXPECT_EQ(m.ir_version(), 6);
  save_model(m, tmp("sparse.onnx"));  // passes the checker
  auto back = load_model(tmp("sparse.onnx"));
  EXPECT_EQ(back.graph().sparse_initializer_size(), 0);
  for (const auto& t : back.graph().initializer())
    EXPECT_TRUE(torch::equal(to_tensor(t), t.name() == "a" ? mostly_zero : half_zero)) << t.name();
}

TEST(SparseInitializers, CoordinatePositionsAndCorruptOnes) {
  onnx::GraphProto g;
  auto* sp = g.add_sparse_initializer();
  *sp->mutable_values() = from_tensor(torch::tensor({1.0f, 2.0f}), "w");
  *sp->mutable_indices() = from_tensor(torch::tensor({{0, 1}, {2, 0}}, torch::kLong), "");
  sp->add_dims(3);
  sp->add_dims(2);
  EXPECT_EQ(densify_sparse_initializers(g, "m.onnx"), 1);
  EXPECT_TRUE(torch::equal(to_tensor(g.initializer(0)), torch::tensor({{0.0f, 1.0f}, {0.0f, 0.0f}, {2.0f, 0.0f}})));
  onnx::GraphProto bad;
  auto* b = bad.add_sparse_initializer();
  *b->mutable_values() = from_tensor(torch::tensor({1.0f}), "w");
  *b->mutable_indices() = from_tensor(torch::tensor({6}, torch::kLong), "");
  b->add_dims(3);
  b->add_dims(2);
  EXPECT_EQ(error_of([&] { densify_sparse_initializers(bad, "m.onnx"); }),
            "m.onnx: sparse initializer 'w' has a position outside its 6 elements");
}

// Declared sizes are checked against the values present before anything is allocated (the
// LibTorch-free reading, raw_bytes, is tested in hostile_onnx_test.cpp).
TEST(TensorProto, DeclaredSizesAreCheckedBeforeAllocating) {
  onnx::TensorProto t;
  t.set_name("t");
  t.set_data_type(onnx::TensorProto::INT64);
  t.add_dims(int64_t{1} << 61);  // 2^61 * 8 bytes wraps to 0 in 64 bits
  t.set_raw_data("");
  EXPECT_EQ(error_of([&] { to_tensor(t); }),
            "tensor 't': raw data has 0 bytes but its shape needs 2305843009213693952 elements of 8 bytes");
  t.clear_raw_data();
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_float_data(1.0f);
  EXPECT_EQ(error_of([&] { to_tensor(t); }), "tensor 't': has 1 values but its shape needs 2305843009213693952");
}

// A linear layer written as MatMul + Add (exporters do so on inputs of rank > 2): the added
// initializer is the layer's bias when it holds one value per output column, on either side of
// the Add; a residual Add of two activations and a wrongly shaped operand are not biases.
TEST(WeightInputs, MatMulBiasesAreTheInitializersAddedPerOutputColumn) {
  GraphBuilder b;
  b.add_input("x", {-1, 5, 4});
  nnc::exec::add_initializer(b, "w1", torch::ones({4, 3}));
  nnc::exec::add_initializer(b, "b1", torch::ones({3}));
  nnc::exec::add_initializer(b, "w2", torch::ones({3, 3}));
  nnc::exec::add_initializer(b, "b2", torch::ones({1, 3}));
  nnc::exec::add_initializer(b, "w3", torch::ones({3, 3}));
  nnc::exec::add_initializer(b, "not_a_bias", torch::ones({5, 1}));
  b.add_node("MatMul", {"x", "w1"}, {"m1"});
  b.add_node("Add", {"m1", "b1"}, {"y1"});
  b.add_node("MatMul", {"y1", "w2"}, {"m2"});
  b.add_node("Add", {"b2", "m2"}, {"y2"});
  b.add_node("Add", {"y2", "y1"}, {"r"});  // residual: no initializer
  b.add_node("MatMul", {"r", "w3"}, {"m3"});
  b.add_node("Add", {"m3", "not_a_bias"}, {"y"});
  b.add_output("y", {-1, 5, 3});
  const auto biases = matmul_biases(b.build().graph());
  EXPECT_EQ(biases, (std::map<std::string, std::string>{{"w1", "b1"}, {"w2", "b2"}}));
}

// What is neither a layer's weight nor its bias but learned all the same (a transformer's
// LayerNorm scale and shift, position embedding, an embedding table, a BatchNorm's scale): read
// as data only, 16 values or more. Shapes, scale factors and statistics are left alone.
TEST(WeightInputs, OtherParametersAreTheLearnedTensorsReadAsData) {
  GraphBuilder b;
  b.add_input("x", {-1, 16});
  b.add_input("ids", {-1}, onnx::TensorProto::INT64);
  nnc::exec::add_initializer(b, "w", torch::ones({16, 16}));
  nnc::exec::add_initializer(b, "bias", torch::ones({16}));
  nnc::exec::add_initializer(b, "gamma", torch::ones({16}));
  nnc::exec::add_initializer(b, "beta", torch::ones({16}));
  nnc::exec::add_initializer(b, "pos", torch::ones({2, 16}));
  nnc::exec::add_initializer(b, "table", torch::ones({10, 16}));
  nnc::exec::add_initializer(b, "small", torch::ones({4}));
  nnc::exec::add_initializer(b, "scales", torch::ones({16}));  // also read by Resize: not data only
  nnc::exec::add_initializer(b, "bn_scale", torch::ones({16}));
  nnc::exec::add_initializer(b, "bn_mean", torch::ones({16}));
  nnc::exec::add_initializer(b, "bn_var", torch::ones({16}));
  nnc::exec::add_initializer(b, "bn_b", torch::ones({16}));
  nnc::exec::add_initializer(b, "mask", torch::full({16}, -std::numeric_limits<float>::infinity()));
  nnc::exec::add_initializer(b, "mask2", torch::full({16}, -1e9));
  b.add_node("MatMul", {"x", "w"}, {"m"});
  b.add_node("Add", {"m", "bias"}, {"y1"});
  b.add_node("Mul", {"y1", "gamma"}, {"y2"});
  b.add_node("Add", {"beta", "y2"}, {"y3"});
  b.add_node("Add", {"y3", "pos"}, {"y4"});
  b.add_node("Gather", {"table", "ids"}, {"e"});
  b.add_node("Mul", {"y4", "small"}, {"y5"});
  b.add_node("Add", {"y5", "scales"}, {"y6"});
  b.add_node("Resize", {"y6", "", "scales"}, {"y7"});
  b.add_node("BatchNormalization", {"y7", "bn_scale", "bn_b", "bn_mean", "bn_var"}, {"y8"});
  b.add_node("Add", {"y8", "mask"}, {"y9"});
  b.add_node("Add", {"y9", "mask2"}, {"y"});
  b.add_output("y", {-1, 16});
  b.add_output("e", {-1, 16});
  EXPECT_EQ(other_parameters(b.build().graph()),
            (std::vector<std::string>{"gamma", "beta", "pos", "table", "bn_scale", "bn_b"}));
}
