#pragma once
// Error-feedback rounding onto the shared codebook (no retraining). Plain sharing sends every
// weight to its own bin; here each layer's weights are rounded one input column at a time to the
// nearest codebook entry, and each column's rounding error is pushed onto the columns not yet
// rounded so that the layer's OUTPUT on the calibration inputs changes least (the optimal brain
// surgeon update, in the column-by-column form published as GPTQ):
//   H = E[x xᵀ] + damp·mean(diag H)·I over the inputs x a row of W reads (im2col patches for a
//   Conv), U = upper Cholesky factor of H⁻¹; for each column i (largest diag H first):
//   q = nearest entry(w_i); w_j -= (w_i - q) / U_ii · U_ij for every later column j.
// H and U are measured once, on the original model; each codebook then costs one O(rows·cols²)
// pass per layer, no network evaluation. The codebook itself (entries and their values) is the
// one uniform binning made; only which entry each weight points to changes, and a tensor only
// uses the entries its plain binning uses (so extended mode's strides keep their meaning).
// Layers: 2-D Conv (per group), Gemm (transA = 0), MatMul by a rank-2 initializer. Other shared
// tensors (biases, other ops, layers with more than `max_columns` inputs per row) keep plain
// binning.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "nncompress/compress/share/uniform_bins.hpp"
#include "nncompress/core/control.hpp"

namespace nnc::dist {
class ArchiveWriter;
class ArchiveReader;
}  // namespace nnc::dist

namespace nnc::share {

struct ErrorFeedbackOptions {
  int64_t images = 1024;       // calibration images used for H
  int64_t conv_images = 256;   // a 2-D Conv sees many patches per image: its H stops after these
  int64_t batch = 64;
  double damp = 0.01;          // relative to the mean diagonal of H
  int64_t max_columns = 4096;  // larger layers keep plain binning (H would be columns² doubles)
};

class ErrorFeedback {
 public:
  // Measures H on the first `options.images` images of `calib` (N x C x H x W, normalised) with
  // the model as given (the original weights).
  ErrorFeedback(const onnx::ModelProto& model, const SharedSet& set, const at::Tensor& calib,
                ErrorFeedbackOptions options = {}, const Control& control = {});

  // The codebook entry of every shared weight (SharedSet order), as Codebook::indices().
  std::vector<uint16_t> assign(const SharedSet& set, const Codebook& cb) const;

  int layers() const { return static_cast<int>(layers_.size()); }
  // The measured factors, for the other ranks of a distributed search (dist/cluster.hpp).
  void save(dist::ArchiveWriter& w) const;
  static std::shared_ptr<const ErrorFeedback> load(dist::ArchiveReader& r);

 private:
  ErrorFeedback() = default;
  struct Layer {
    std::size_t tensor = 0;      // index in the SharedSet
    int64_t groups = 1;          // Conv groups: rows and columns split evenly
    int64_t rows = 0, cols = 0;  // per group
    bool transposed = false;     // stored [in, out] (Gemm transB = 0, MatMul)
    std::vector<std::vector<int32_t>> order;  // per group: columns in rounding order
    std::vector<std::vector<float>> u;        // per group: cols x cols upper factor, in that order
  };
  std::vector<Layer> layers_;
};

}  // namespace nnc::share
