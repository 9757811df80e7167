#pragma once
// Small models for the low-rank tests, built in C++.
#include <torch/torch.h>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::lowrank::test_models {

// conv3x3(1->8) relu conv3x3 stride 2 pads 1 (8->12) relu depthwise(12) flatten gemm(->10) matmul(10->6)
inline onnx::ModelProto small_convnet() {
  torch::manual_seed(7);
  onnxio::GraphBuilder b;
  using onnxio::Attr;
  b.add_input("x", {-1, 1, 10, 10});
  nnc::exec::add_initializer(b, "c1.w", torch::randn({8, 1, 3, 3}) * 0.3);
  nnc::exec::add_initializer(b, "c1.b", torch::randn({8}) * 0.1);
  nnc::exec::add_initializer(b, "c2.w", torch::randn({12, 8, 3, 3}) * 0.2);
  nnc::exec::add_initializer(b, "c2.b", torch::randn({12}) * 0.1);
  nnc::exec::add_initializer(b, "dw.w", torch::randn({12, 1, 3, 3}) * 0.3);
  nnc::exec::add_initializer(b, "fc.w", torch::randn({10, 12 * 5 * 5}) * 0.05);
  nnc::exec::add_initializer(b, "fc.b", torch::randn({10}) * 0.1);
  nnc::exec::add_initializer(b, "mm.w", torch::randn({10, 6}) * 0.3);
  b.add_node("Conv", {"x", "c1.w", "c1.b"}, {"h1"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv1");
  b.add_node("Relu", {"h1"}, {"r1"});
  b.add_node("Conv", {"r1", "c2.w", "c2.b"}, {"h2"},
             {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}, "conv2");
  b.add_node("Relu", {"h2"}, {"r2"});
  b.add_node("Conv", {"r2", "dw.w"}, {"h3"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", int64_t{12}}},
             "dwconv");
  b.add_node("Flatten", {"h3"}, {"f"});
  b.add_node("Gemm", {"f", "fc.w", "fc.b"}, {"g"}, {{"transB", int64_t{1}}}, "fc");
  b.add_node("MatMul", {"g", "mm.w"}, {"y"}, {}, "mm");
  b.add_output("y", {-1, 6});
  return b.build();
}

}  // namespace nnc::lowrank::test_models
