#pragma once
// Magnitude pruning primitives: which weights a layer loses when a fraction of it is pruned,
// and the prunable layers of a model (every weight initializer onnxio::weight_inputs names).
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::prune {

struct PrunableLayer {
  std::string node;    // consuming node's name
  std::string weight;  // initializer name
  int64_t params = 0;
};

// Weights (onnxio::weight_inputs) that are float initializers, in graph order; a recurrent node
// gives two layers (W and R).
std::vector<PrunableLayer> prunable_layers(const onnx::ModelProto& model);

// A tensor compressed by the steps that choose sparsity and codebooks per tensor (fit, and
// pruning's size estimate): every prunable layer's weight and, with `biases`, the float biases
// that go with them (onnxio::weight_inputs), weights first; with `other`, then the other learned
// parameters (onnxio::other_parameters: LayerNorm scales and shifts, position embeddings), which
// count as biases (quantised, not pruned by default).
struct LayerTensor {
  std::string label, name;
  int64_t params = 0;
  bool bias = false;
};
std::vector<LayerTensor> layer_tensors(const onnx::ModelProto& model, bool biases, bool other = false);

// Keep-mask (1 = kept) that prunes round(fraction * numel) weights of smallest magnitude.
// Weights already zero are pruned first, so an already-pruned weight is never revived while
// fraction >= its layer's current sparsity. Ties break by index (deterministic).
at::Tensor magnitude_mask(const at::Tensor& weight, double fraction);

// Number of elements kept when pruning `fraction` of `params` (the same rounding as the mask).
int64_t kept_after(int64_t params, double fraction);

}  // namespace nnc::prune
