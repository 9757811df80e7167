#pragma once
// Inference-time graph fusions applied to the compiled plan (never to the ONNX model).
#include <functional>
#include <set>
#include <vector>

#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include "exec/plan.hpp"

namespace nnc::exec {

struct FusionContext {
  std::function<bool(int slot)> is_weight;  // slot holds an initializer
  std::function<const at::Tensor*(int slot)> constant;  // value folded at load, else nullptr
  std::set<int> graph_outputs;
};

// GELU as exporters before opset 20 write it, x * (1 + Erf(x / sqrt 2)) * 0.5 (Div, Erf, Add,
// Mul, Mul, every intermediate read once), becomes one at::gelu step: one vectorised pass
// instead of five, and ATen's erf alone is ~10x slower than its gelu. Applied to both plans
// (gelu has its own backward). `nodes` stays aligned with `plan`.
void fuse_gelu(std::vector<Step>& plan, std::vector<const onnx::NodeProto*>& nodes, const FusionContext& ctx);

// Conv -> BatchNormalization (BN the only reader of the conv output, all parameters
// initializers) becomes one step that runs the Conv with folded weights
//   W' = W * gamma / sqrt(var + eps),  b' = (b - mean) * gamma / sqrt(var + eps) + beta.
// The folded tensors are cached and recomputed whenever any source tensor changes (identity
// or version), so weight swaps through the WeightStore stay correct.
std::vector<Step> fuse_conv_batchnorm(const std::vector<Step>& plan,
                                      const std::vector<const onnx::NodeProto*>& nodes,
                                      const FusionContext& ctx);

}  // namespace nnc::exec
