#pragma once
// Folds every BatchNormalization that directly follows a Conv (the Conv output read only by
// the BN, all parameters initializers) into the Conv's weight and bias, as an ONNX model
// transform: W' = W * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
#include <onnx/onnx_pb.h>

namespace nnc::compress {

// Returns the folded model; `folded` receives how many BatchNorm nodes were removed.
onnx::ModelProto fold_batchnorm(const onnx::ModelProto& model, int* folded = nullptr);

}  // namespace nnc::compress
