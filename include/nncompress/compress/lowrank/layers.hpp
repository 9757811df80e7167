#pragma once
// The layers low-rank decomposition can act on: Conv (groups = 1), Gemm and MatMul whose
// weight is an initializer. Depthwise and grouped convolutions, and weights shared by several
// nodes, are listed with the reason they are left as they are.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::lowrank {

enum class LayerKind { kConv, kGemm, kMatMul };

struct Layer {
  std::string node;     // node name (or first output when unnamed)
  int node_index = -1;  // index in graph.node
  LayerKind kind = LayerKind::kConv;
  std::string weight;   // initializer name
  int64_t f = 0, c = 0, kappa = 1;   // output features, input channels, kernel elements
  int64_t out_spatial = 1;           // output positions per sample (FLOPs multiplier)
  bool stored_transposed = false;    // Gemm transB=0 / MatMul: weight stored c x f
  std::string skip_reason;           // non-empty: not decomposable, left as is
  bool batchnorm_after = false;      // the output goes only into BatchNormalization (not folded)
  at::Tensor matrix;                 // folded weight f x c*kappa (float)

  bool decomposable() const { return skip_reason.empty(); }
  int64_t params() const { return f * c * kappa; }
  int64_t flops() const { return params() * out_spatial; }  // multiply-accumulates per sample
};

// Every Conv/Gemm/MatMul with an initializer weight. Output spatial sizes are measured by
// running the model once on a zero input of its declared shape; symbolic non-batch dimensions
// take the size of `sample` (model inputs, e.g. the data's images), when given.
std::vector<Layer> find_layers(const onnx::ModelProto& model, const at::Tensor& sample = {});

// Elements of all the model's initializers.
int64_t total_initializer_elements(const onnx::ModelProto& model);

}  // namespace nnc::lowrank
