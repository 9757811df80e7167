// Models that break an operator's rules are refused at load with one line naming the node and
// the rule (issue 23: strides 0 crashed inside oneDNN, a MaxPool kernel of 0 gave NaN, a Conv
// kernel_shape that contradicts its weight was ignored), and no model makes the engine do
// quadratic work or allocate more memory than there is.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;
using onnxio::Attr;
using Ints = std::vector<int64_t>;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// x [1, 2, H, W] -> Conv 'c' (w [4, 2, 3, 3], b [4]) with `attrs` -> y.
onnx::ModelProto conv_model(const std::vector<Attr>& attrs, const torch::Tensor& bias = torch::zeros({4})) {
  onnxio::GraphBuilder b;
  b.add_input("x", {1, 2, -1, -1});
  exec::add_initializer(b, "w", torch::ones({4, 2, 3, 3}));
  exec::add_initializer(b, "b", bias);
  b.add_node("Conv", {"x", "w", "b"}, {"y"}, attrs, "c");
  b.add_output("y", {});
  return b.build();
}

// x (any shape) -> op 'p' with `attrs` -> y.
onnx::ModelProto unary_model(const std::string& op, const std::vector<Attr>& attrs, int opset = 13) {
  onnxio::GraphBuilder b("g", opset);
  b.add_input("x", {});
  b.add_node(op, {"x"}, {"y"}, attrs, "p");
  b.add_output("y", {});
  return b.build();
}

std::string load_error(const onnx::ModelProto& m) {
  return error_of([&] { exec::Engine e(m); });
}

}  // namespace

TEST(HostileModel, ConvStridesZeroIsRefusedAtLoad) {
  EXPECT_EQ(load_error(conv_model({{"strides", Ints{0, 1}}})),
            "node 'c' (Conv): strides [0,1]: every value must be >= 1");
}

TEST(HostileModel, MaxPoolKernelZeroIsRefusedAtLoad) {
  EXPECT_EQ(load_error(unary_model("MaxPool", {{"kernel_shape", Ints{0, 2}}})),
            "node 'p' (MaxPool): kernel_shape [0,2]: every value must be >= 1");
  EXPECT_EQ(load_error(unary_model("AveragePool", {{"kernel_shape", Ints{2, 0}}})),
            "node 'p' (AveragePool): kernel_shape [2,0]: every value must be >= 1");
  EXPECT_EQ(load_error(unary_model("MaxPool", {})), "node 'p' (MaxPool): kernel_shape is required");
}

TEST(HostileModel, ConvKernelShapeMustMatchTheWeight) {
  EXPECT_EQ(load_error(conv_model({{"kernel_shape", Ints{5, 5}}})),
            "node 'c' (Conv): kernel_shape [5,5] contradicts the weight's kernel [3,3]");
  // The weight's own kernel is accepted.
  exec::Engine ok(conv_model({{"kernel_shape", Ints{3, 3}}}));
  EXPECT_EQ(ok.run_single(torch::ones({1, 2, 8, 8})).sizes(), (std::vector<int64_t>{1, 4, 6, 6}));
}

TEST(HostileModel, SpatialAttributesFollowTheOnnxRules) {
  EXPECT_EQ(load_error(conv_model({{"dilations", Ints{1, 0}}})),
            "node 'c' (Conv): dilations [1,0]: every value must be >= 1");
  EXPECT_EQ(load_error(conv_model({{"pads", Ints{1, -1, 1, 1}}})),
            "node 'c' (Conv): pads [1,-1,1,1]: every value must be >= 0");
  EXPECT_EQ(load_error(conv_model({{"pads", Ints{1, 1, 1}}})), "node 'c' (Conv): pads has 3 values, two per spatial axis");
  EXPECT_EQ(load_error(conv_model({{"strides", Ints{1, 1}}, {"dilations", Ints{1, 1, 1}}})),
            "node 'c' (Conv): strides is for 2 spatial axes but dilations for 3");
  EXPECT_EQ(load_error(conv_model({{"strides", Ints{1, 1, 1}}})),
            "node 'c' (Conv): attributes describe 3 spatial axes but the weight 2");
  EXPECT_EQ(load_error(conv_model({{"strides", Ints{int64_t{1} << 40, 1}}})),
            "node 'c' (Conv): strides [1099511627776,1]: every value must be <= 2147483647");
  EXPECT_EQ(load_error(conv_model({{"group", int64_t{3}}})),
            "node 'c' (Conv): weight's 4 channels do not split into 3 groups");
  EXPECT_EQ(load_error(conv_model({{"group", int64_t{0}}})), "node 'c' (Conv): group 0: must be >= 1");
  EXPECT_EQ(load_error(conv_model({}, torch::zeros({5}))), "node 'c' (Conv): bias has shape [5] for 4 output channels");
  // A pooling window wholly inside the padding would give -inf (MaxPool) or 0/0 (AveragePool).
  EXPECT_EQ(load_error(unary_model("MaxPool", {{"kernel_shape", Ints{2, 2}}, {"pads", Ints{2, 0, 0, 0}}})),
            "node 'p' (MaxPool): pads [2,0,0,0] must be smaller than kernel_shape [2,2] along every axis");
  EXPECT_EQ(load_error(unary_model("AveragePool", {{"kernel_shape", Ints{2, 2}}, {"ceil_mode", int64_t{2}}})),
            "node 'p' (AveragePool): ceil_mode 2: must be <= 1");
}

TEST(HostileModel, ConvTransposeOutputPaddingBelowStride) {
  onnxio::GraphBuilder b;
  b.add_input("x", {1, 2, 4, 4});
  exec::add_initializer(b, "w", torch::ones({2, 3, 3, 3}));
  b.add_node("ConvTranspose", {"x", "w"}, {"y"}, {{"strides", Ints{2, 2}}, {"output_padding", Ints{2, 0}}}, "t");
  b.add_output("y", {});
  EXPECT_EQ(load_error(b.build()),
            "node 't' (ConvTranspose): output_padding [2,0] must be smaller than the stride or dilation of its axis");
}

TEST(HostileModel, ConvShapesAreCheckedBeforeOneDnnSeesThem) {
  // Kernel reach larger than the padded input: an error, not an empty or garbage tensor.
  exec::Engine e(conv_model({}));
  EXPECT_EQ(error_of([&] { e.run_single(torch::ones({1, 2, 2, 8})); }),
            "node 'c' (Conv): spatial axis 0 of size 2 (padded by 0 + 0) is smaller than the kernel's reach 3");
  // A weight computed in the graph (not an initializer) is checked at run time.
  auto computed = conv_model({{"kernel_shape", Ints{3, 3}}});
  auto* g = computed.mutable_graph();
  *g->add_initializer() = exec::from_tensor(torch::ones({4, 2, 1, 1}), "w1");
  auto* id = g->add_node();
  id->set_op_type("Identity");
  id->add_input("w1");
  id->add_output("wc");
  g->mutable_node()->SwapElements(0, 1);
  g->mutable_node(1)->set_input(1, "wc");
  exec::Engine k(computed);
  EXPECT_EQ(error_of([&] { k.run_single(torch::ones({1, 2, 8, 8})); }),
            "node 'c' (Conv): kernel_shape [3,3] contradicts the weight's kernel [1,1]");
}

TEST(HostileModel, AttributesOfTheWrongTypeAreRefused) {
  auto m = conv_model({{"strides", int64_t{2}}});  // an INT where ONNX wants INTS
  EXPECT_EQ(load_error(m), "node 'c' (Conv): attribute 'strides' is INT, expected INTS");
}

TEST(HostileModel, InputAndOutputCountsFollowTheSchema) {
  auto m = conv_model({});
  m.mutable_graph()->mutable_node(0)->mutable_input()->RemoveLast();
  m.mutable_graph()->mutable_node(0)->mutable_input()->RemoveLast();
  EXPECT_EQ(load_error(m), "node 'c' (Conv): has 1 inputs, the operator takes 2 to 3");
  auto empty_w = conv_model({});
  empty_w.mutable_graph()->mutable_node(0)->set_input(1, "");
  EXPECT_EQ(load_error(empty_w), "node 'c' (Conv): required input 1 is empty");
  auto no_out = unary_model("Relu", {});
  no_out.mutable_graph()->mutable_node(0)->clear_output();
  no_out.mutable_graph()->clear_output();
  EXPECT_EQ(load_error(no_out), "node 'p' (Relu): has 0 outputs, the operator gives 1");
  auto where = unary_model("Where", {});
  EXPECT_EQ(load_error(where), "node 'p' (Where): has 1 inputs, the operator takes 3");
}

TEST(HostileModel, EveryFamilyValidatesItsAttributes) {
  EXPECT_EQ(load_error(unary_model("Transpose", {{"perm", Ints{0, 1, 1, 3}}})),
            "node 'p' (Transpose): perm [0,1,1,3] is not a permutation of 0..3");
  EXPECT_EQ(load_error(unary_model("Dropout", {{"ratio", 1.0f}}, 7)), "node 'p' (Dropout): ratio 1 must be in [0, 1)");
  EXPECT_EQ(load_error(unary_model("DepthToSpace", {})), "node 'p' (DepthToSpace): blocksize is required");
  EXPECT_EQ(load_error(unary_model("SpaceToDepth", {{"blocksize", int64_t{1} << 40}})),
            "node 'p' (SpaceToDepth): blocksize 1099511627776: must be <= 65536");
  EXPECT_EQ(load_error(unary_model("ReduceMean", {{"keepdims", int64_t{-1}}})),
            "node 'p' (ReduceMean): keepdims -1: must be >= 0");
  EXPECT_EQ(load_error(unary_model("ArgMax", {{"select_last_index", int64_t{5}}})),
            "node 'p' (ArgMax): select_last_index 5: must be <= 1");
  EXPECT_EQ(load_error(unary_model("Split", {{"split", Ints{1, -1}}})),
            "node 'p' (Split): split [1,-1]: every value must be >= 0");
  auto eps = unary_model("InstanceNormalization", {{"epsilon", -1.0f}});
  eps.mutable_graph()->mutable_node(0)->add_input("s");
  eps.mutable_graph()->mutable_node(0)->add_input("s");
  *eps.mutable_graph()->add_initializer() = exec::from_tensor(torch::ones({2}), "s");
  EXPECT_EQ(load_error(eps), "node 'p' (InstanceNormalization): epsilon -1 must be a finite number >= 0");

  onnxio::GraphBuilder bn;
  bn.add_input("x", {1, 2, 4, 4});
  for (const char* name : {"g", "b", "m"}) exec::add_initializer(bn, name, torch::ones({2}));
  exec::add_initializer(bn, "v", torch::ones({3}));
  bn.add_node("BatchNormalization", {"x", "g", "b", "m", "v"}, {"y"}, {}, "bn");
  bn.add_output("y", {});
  EXPECT_EQ(load_error(bn.build()), "node 'bn' (BatchNormalization): var has 3 values but scale has 2");

  onnxio::GraphBuilder gemm;
  gemm.add_input("x", {2, 3});
  exec::add_initializer(gemm, "w", torch::ones({3, 4, 1}));
  gemm.add_node("Gemm", {"x", "w"}, {"y"}, {}, "fc");
  gemm.add_output("y", {});
  EXPECT_EQ(load_error(gemm.build()), "node 'fc' (Gemm): input B has rank 3; Gemm multiplies matrices");

  onnxio::GraphBuilder lstm;
  lstm.add_input("x", {5, 1, 3});
  exec::add_initializer(lstm, "W", torch::ones({1, 16, 3}));
  exec::add_initializer(lstm, "R", torch::ones({1, 16, 4}));
  lstm.add_node("LSTM", {"x", "W", "R"}, {"y"}, {}, "rnn");
  lstm.add_output("y", {});
  EXPECT_EQ(load_error(lstm.build()), "node 'rnn' (LSTM): hidden_size is required");

  onnxio::GraphBuilder gnd("g", 13);
  gnd.add_input("x", {2, 3});
  exec::add_initializer(gnd, "i", torch::zeros({2, 1}, torch::kLong));
  gnd.add_node("GatherND", {"x", "i"}, {"y"}, {{"batch_dims", int64_t{-1}}}, "gnd");
  gnd.add_output("y", {});
  EXPECT_EQ(load_error(gnd.build()), "node 'gnd' (GatherND): batch_dims -1: must be >= 0");

  onnxio::GraphBuilder cos("g", 13);
  cos.add_input("x", {2, 3});
  exec::add_initializer(cos, "shape", torch::tensor({2, 2}, torch::kLong));
  cos.add_node("ConstantOfShape", {"shape"}, {"y"}, {}, "c");
  auto m = cos.build();
  auto* value = m.mutable_graph()->mutable_node(0)->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  *value->mutable_t() = exec::from_tensor(torch::ones({2}), "v");
  m.mutable_graph()->add_output()->set_name("y");
  EXPECT_EQ(load_error(m), "node 'c' (ConstantOfShape): value has 2 elements, expected one");
}

TEST(HostileModel, AxesOutOfRangeAreShapeErrorsNamingTheNode) {
  exec::Engine flatten(unary_model("Flatten", {{"axis", int64_t{5}}}));
  EXPECT_EQ(error_of([&] { flatten.run_single(torch::ones({1, 2, 8, 8})); }),
            "node 'p' (Flatten): axis 5 out of range for rank 4");
  exec::Engine squeeze(unary_model("Squeeze", {{"axes", Ints{0, -4}}}, 11));
  EXPECT_EQ(error_of([&] { squeeze.run_single(torch::ones({1, 2, 8, 8})); }),
            "node 'p' (Squeeze): axis -4 given twice");
  exec::Engine slice(unary_model("Slice", {{"starts", Ints{0, 0}}, {"ends", Ints{1}}, {"axes", Ints{0, 1}}}, 9));
  EXPECT_EQ(error_of([&] { slice.run_single(torch::ones({1, 2, 8, 8})); }),
            "node 'p' (Slice): 2 starts, 1 ends, 2 axes and 0 steps do not pair up");
  exec::Engine pool(unary_model("GlobalAveragePool", {}));
  EXPECT_EQ(error_of([&] { pool.run_single(torch::ones({2, 8})); }),
            "node 'p' (GlobalAveragePool): input of rank 2 has no spatial axes");
}

// Issue 23, item 7: one node reading the same value a million times made every run quadratic
// (a count over the inputs for each input). It now loads and runs in about a second.
TEST(HostileModel, NodeWithAMillionInputsRunsInLinearTime) {
  onnxio::GraphBuilder b;
  b.add_input("x", {1});
  b.add_node("Relu", {"x"}, {"r"}, {}, "r");
  b.add_node("Concat", std::vector<std::string>(1000000, "r"), {"y"}, {{"axis", int64_t{0}}}, "cat");
  b.add_output("y", {1000000});
  const auto t0 = std::chrono::steady_clock::now();
  exec::Engine e(b.build());
  auto y = e.run_single(torch::ones({1}));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(y.numel(), 1000000);
  EXPECT_LT(s, 20.0);  // was minutes
}

// A tensor larger than the memory available is refused with the figures before it is touched.
TEST(HostileModel, TensorLargerThanMemoryIsRefusedWithTheFigure) {
  onnxio::GraphBuilder b;
  b.add_input("x", {1});
  exec::add_initializer(b, "shape", torch::tensor({int64_t{1} << 20, int64_t{1} << 20, int64_t{16}}, torch::kLong));
  b.add_node("ConstantOfShape", {"shape"}, {"big"}, {}, "big");
  b.add_node("Add", {"big", "x"}, {"y"}, {}, "add");
  b.add_output("y", {});
  const auto msg = load_error(b.build());
  EXPECT_TRUE(std::regex_match(
      msg, std::regex(R"(node 'big' \(ConstantOfShape\): a tensor needs 70\.37 TB but [0-9.]+ [kMGT]?B of memory is available)")))
      << msg;
}

// Many tensors below the size checked one by one cannot outgrow the memory either: once 64 MiB
// have been allocated since the last check, the next allocation is checked.
TEST(HostileModel, ManySmallTensorsAreCheckedToo) {
  onnxio::GraphBuilder b;
  b.add_input("x", {1});
  exec::add_initializer(b, "shape", torch::tensor({int64_t{4} << 20}, torch::kLong));  // 16 MiB of floats each
  std::vector<std::string> parts;
  for (int i = 0; i < 40; ++i) parts.push_back(b.add_node("ConstantOfShape", {"shape"}, {fmt::format("c{}", i)}, {}, fmt::format("c{}", i)));
  b.add_node("Sum", parts, {"y"}, {}, "sum");
  b.add_output("y", {});
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  const uint64_t limit = resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) + (uint64_t{300} << 20);
  setenv("NNC_MEMORY_LIMIT", std::to_string(limit).c_str(), 1);
  const auto msg = load_error(b.build());  // 40 x 16 MiB folded at load: 640 MiB > 300 MiB
  unsetenv("NNC_MEMORY_LIMIT");
  EXPECT_TRUE(std::regex_match(
      msg, std::regex(R"(node 'c[0-9]+' \(ConstantOfShape\): a tensor needs 16\.8 MB but [0-9.]+ [kM]?B of memory is available)")))
      << msg;
}
