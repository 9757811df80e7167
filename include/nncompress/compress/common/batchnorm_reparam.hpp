#pragma once
// BatchNorm for training where an exporter folded it away. A Conv with a bias and no
// BatchNormalization after it gets one inserted, set to the identity on calibration images
// (scale = the running standard deviation, bias = the running mean, both measured there), so
// the model computes what it computed before. Trained in training mode, it normalises each
// channel by its batch statistics, as the model's own BatchNorm did when it was first trained;
// fold_batchnorm() then folds it back into the Conv's weight and bias, under the same names.
#include <onnx/onnx_pb.h>

#include <set>
#include <string>
#include <vector>

namespace at {
class Tensor;
}
namespace nnc::exec {
class WeightStore;
}

namespace nnc::compress {

struct ReparamBatchnorm {
  onnx::ModelProto model;             // the model with the inserted BatchNormalization nodes
  std::vector<std::string> weights;   // the Conv weights that got one (their biases: `biases`)
  std::vector<std::string> biases;
};

// Inserts BatchNormalization after every float Conv with a bias initializer whose output is not
// read by a BatchNormalization already, except Convs whose weight is in `skip` (e.g. shared
// weights, which folding would move off their codebook). The identity is set from the running
// statistics measured on `calib` (batches of the model's input). Returns the model unchanged
// (weights empty) when no Conv qualifies.
ReparamBatchnorm insert_identity_batchnorm(const onnx::ModelProto& model, const std::set<std::string>& skip,
                                           const std::vector<at::Tensor>& calib);

// Copies every weight of `into` from `trained` (the inserted model's engine after training),
// each reparameterised Conv's weight and bias with its BatchNorm folded in (running statistics).
void fold_reparam_batchnorm(const ReparamBatchnorm& reparam, const exec::WeightStore& trained,
                            exec::WeightStore& into);

}  // namespace nnc::compress
