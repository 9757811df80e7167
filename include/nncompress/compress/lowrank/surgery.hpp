#pragma once
// ONNX surgery for a low-rank allocation. A factored Conv becomes an encoder Conv (groups = k,
// k*j output channels, the original kernel, strides, pads, dilations; no bias) followed by a
// 1x1 decoder Conv (k*j -> f, the original bias); a Gemm/MatMul becomes two smaller ones.
// Unchanged layers and every other node/initializer are left byte-for-byte as they were.
#include <onnx/onnx_pb.h>

#include "nncompress/compress/lowrank/allocate.hpp"

namespace nnc::lowrank {

onnx::ModelProto decompose(const onnx::ModelProto& model, AldsProblem& problem, const Allocation& allocation);

// The original graph with each factored layer's weight replaced by its rank-j
// reconstruction: what decompose() must compute (for tests and error measurements).
onnx::ModelProto reconstruct_weights(const onnx::ModelProto& model, AldsProblem& problem,
                                     const Allocation& allocation);

}  // namespace nnc::lowrank
