#pragma once
// Latency-aware decomposition. FLOPs are not time: on a CPU a factored layer (encoder Conv +
// 1x1 decoder Conv) over few channels runs no faster than the dense layer it replaces, because
// the kernels pad channels to SIMD blocks (8 floats with AVX2) and the layer becomes memory-bound
// with two passes over the activations instead of one. These helpers compare the measured time of
// each layer before and after factoring so that slower ones can be kept dense.
#include <vector>

#include "nncompress/compress/lowrank/allocate.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::lowrank {

struct LayerLatency {
  bool measured = false;  // factored in the allocation and found in both profiles
  double dense_ms = 0;    // the layer's step(s) in the original model (BatchNorm folded in)
  double factored_ms = 0; // its encoder + decoder steps in the decomposed model
};

// Per problem layer, from Engine::profile of the original and of the decomposed model.
std::vector<LayerLatency> layer_latencies(const std::vector<Layer>& layers, const Allocation& allocation,
                                          const std::vector<exec::StepTime>& dense,
                                          const std::vector<exec::StepTime>& factored);

}  // namespace nnc::lowrank
