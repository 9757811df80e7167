#pragma once
// Channel statistics correction of a factored model (no retraining). A low-rank layer's outputs
// lose energy and shift; a BatchNorm after the layer would undo that once its statistics are
// re-estimated, but models exported with BatchNorm folded into the convolutions have none left.
// So, layer by layer in graph order, each factored layer's decoder gets the per-output-channel
// affine map that restores the original model's mean and standard deviation of that channel on
// (up to 512 of) the calibration images, measured with the layers before it already corrected:
//   y' = a * y + d,   a = sigma_original / sigma_factored,   d = mu_original - a * mu_factored
// folded into the decoder's weight and bias (a decoder without a bias gets the scale only).
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace nnc::lowrank {

// `values`: the outputs of the factored layers (the decoders write the original nodes' output
// names). Returns the number of layers corrected; `factored`'s initializers are rewritten.
int correct_channels(onnx::ModelProto& factored, const onnx::ModelProto& original, const std::vector<std::string>& values,
                     const std::vector<at::Tensor>& calib_batches);

}  // namespace nnc::lowrank
