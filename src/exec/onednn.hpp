#pragma once
// Inference fast path on oneDNN (mkldnn) tensors. Under RunContext::onednn, 2-D convolutions
// run with weights reordered ("prepacked") once into oneDNN's blocked layout and keep their
// outputs in that layout, so chains of Conv/Relu/Add/pooling never convert activations back to
// NCHW. Operators registered with OpTraits::onednn accept such tensors (and fall back to dense
// for cases oneDNN does not cover); the engine converts them back to dense before any other
// operator and for graph outputs. Training never takes this path.
#include <ATen/core/Tensor.h>

#include <optional>
#include <span>
#include <vector>

#include "exec/plan.hpp"
#include "exec/tensor_key.hpp"

namespace nnc::exec::onednn {

bool available();                               // LibTorch was built with oneDNN
bool is_onednn(const at::Tensor& t);             // t is an mkldnn (opaque layout) tensor
at::Tensor dense(const at::Tensor& t);           // strided copy of an mkldnn tensor; else t
bool all_onednn(std::span<const at::Tensor> ts);  // every defined tensor is mkldnn

// Weights reordered for one convolution, rebuilt whenever the source weight or bias changes.
struct PackedConv {
  TensorKey weight_key, bias_key;
  at::Tensor weight, bias;
};

// y = conv2d(x, w, b) on oneDNN when x is a 4-D float tensor (dense or mkldnn) and w a 4-D
// float weight; the result stays mkldnn. nullopt when this case is not covered.
std::optional<at::Tensor> conv2d(PackedConv& cache, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                 const std::vector<int64_t>& pads, const std::vector<int64_t>& strides,
                                 const std::vector<int64_t>& dilations, int64_t groups);

// A Gemm/MatMul weight as oneDNN's inner product wants it: (out features, in features),
// contiguous; rebuilt whenever the source weight changes.
struct PackedLinear {
  TensorKey weight_key;
  at::Tensor weight;
};

// y = x w' + b for a dense 2-D float x (M x K), w (K x N; w_transposed: N x K) and b (N) or
// undefined, as a oneDNN inner product (dense result). LibTorch's addmm goes to OpenBLAS, whose
// own threads fight LibTorch's spinning OpenMP threads: 256x800x500 takes ~2.4 ms there and
// ~0.8 ms here on 2 cores. nullopt when this case is not covered.
std::optional<at::Tensor> linear(PackedLinear& cache, const at::Tensor& x, const at::Tensor& w, bool w_transposed,
                                 const at::Tensor& b);

// Layout planning for an inference plan: a step whose outputs are read by an operator without
// OpTraits::onednn (or are graph outputs) runs with RunContext::onednn off, so e.g. a Conv
// feeding a Clip stays dense instead of paying two layout conversions.
void plan_layouts(std::vector<Step>& plan, const std::vector<int>& graph_outputs);

}  // namespace nnc::exec::onednn
