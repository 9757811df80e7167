#pragma once
// Bias correction for shared weights (no retraining): replacing W by its shared values W_q
// shifts every output channel's mean by (W_q - W) applied to the mean of what the layer reads.
// With those means measured once on the original model (calibration set), the shift is
// subtracted from the layer's bias, so each channel keeps its original mean output:
//   2-D Conv: b_c -= sum_{i,kh,kw} (W_q - W)[c,i,kh,kw] * mean input tap (i of group(c), kh, kw)
//             (the mean over images and output positions of the padded input each tap reads:
//             exact for any strides, dilations, pads, auto_pad; other convs use channel means)
//   Gemm:     b_o -= alpha / beta * sum_i (W_q - W)[o,i] * mean(x_i)          (transA = 0)
// Only layers whose bias is an fp32 initializer of their own (not shared) are corrected; the
// biases stay fp32 in the container, so the correction costs no bytes.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nncompress/compress/share/uniform_bins.hpp"

namespace nnc::dist {
class ArchiveWriter;
class ArchiveReader;
}  // namespace nnc::dist

namespace nnc::exec {
class Engine;
}

namespace nnc::share {

class BiasCorrection {
 public:
  // Measures the input means of the shared layers on `calib` (N x C x H x W, normalised) with
  // the model as given (the original, unshared weights).
  BiasCorrection(const onnx::ModelProto& model, const SharedSet& set, const at::Tensor& calib, int64_t batch);

  // Writes corrected biases for the shared values `values` (SharedSet order) into the engine.
  void apply(exec::Engine& engine, const SharedSet& set, std::span<const float> values) const;
  // Writes the original biases back.
  void restore(exec::Engine& engine) const;

  int corrected_layers() const { return static_cast<int>(layers_.size()); }
  // The measured means, for the other ranks of a distributed search (dist/cluster.hpp).
  void save(dist::ArchiveWriter& w) const;
  static std::shared_ptr<const BiasCorrection> load(dist::ArchiveReader& r);

 private:
  BiasCorrection() = default;
  struct Layer {
    std::size_t tensor = 0;   // index in the SharedSet
    std::string bias;         // bias initializer name
    at::Tensor bias0;         // original bias, flat [out]
    at::Tensor mean;          // [groups, in/groups * taps]: mean input per (group, channel, kernel tap)
    bool conv = true;
    bool transposed = false;  // Gemm with transB = 0: W is [in, out]
    double scale = 1;         // Gemm alpha / beta
  };
  std::vector<Layer> layers_;
};

}  // namespace nnc::share
