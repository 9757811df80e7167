#pragma once
// The sparsity a size cap asks for: at which global sparsity a model's layer weights, kept at
// one density in every layer (the largest magnitudes) and stored with a codebook of 2^bits
// levels per tensor, fill a .nnc file of `cap` bytes, its graph, headers, fp32 leftovers and
// the biases (dense, at the same bits) counted as fit's size model counts them. Pruning before
// fit aims there (prune's `size`): fit then mostly quantises what pruning kept. One density in
// every layer is the dearest way to store that many positions (their entropy is concave in the
// density), so a pruning allocation that differs by layer leaves fit a little more room.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::fit {

struct SizeSparsity {
  double sparsity = 0;          // of the weights (biases are not pruned)
  double current = 0;           // the weights' sparsity as given (their exact zeros)
  int64_t fixed_bytes = 0;      // graph, headers, what stays fp32, empty records
  int64_t bias_bytes = 0;       // the biases' payloads, dense at `bits`
  int64_t predicted_bytes = 0;  // the file at that sparsity, by the size model
  bool fits = true;             // false: even at the sparsest density tried the file is over the cap
};

// `weights` and `biases` name float initializers of `model` (BatchNorm folded as fit folds it).
SizeSparsity sparsity_for_size(const onnx::ModelProto& model, const std::vector<std::string>& weights,
                               const std::vector<std::string>& biases, int64_t cap, int bits);

}  // namespace nnc::fit
