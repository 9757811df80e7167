#pragma once
// Inference-time graph fusions applied to the compiled plan (never to the ONNX model).
#include <functional>
#include <set>
#include <vector>

#include <onnx/onnx_pb.h>

#include "exec/plan.hpp"

namespace nnc::exec {

struct FusionContext {
  std::function<bool(int slot)> is_weight;  // slot holds an initializer
  std::set<int> graph_outputs;
};

// Conv -> BatchNormalization (BN the only reader of the conv output, all parameters
// initializers) becomes one step that runs the Conv with folded weights
//   W' = W * gamma / sqrt(var + eps),  b' = (b - mean) * gamma / sqrt(var + eps) + beta.
// The folded tensors are cached and recomputed whenever any source tensor changes (identity
// or version), so weight swaps through the WeightStore stay correct.
std::vector<Step> fuse_conv_batchnorm(const std::vector<Step>& plan,
                                      const std::vector<const onnx::NodeProto*>& nodes,
                                      const FusionContext& ctx);

}  // namespace nnc::exec
