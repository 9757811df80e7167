#pragma once
// Training and fine-tuning on the engine's autograd: the same ONNX graph that inference runs,
// with its float initializers as leaf parameters and BatchNorm statistics updating in place.
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>

#include "nncompress/data/dataset.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::train {

struct TrainOptions {
  int epochs = 10;
  double lr = 0.1;             // peak learning rate
  int64_t batch = 128;
  std::string optimizer = "sgd";  // sgd (momentum 0.9, nesterov) | adam | adamw
  double weight_decay = 5e-4;
  std::string schedule = "onecycle";  // onecycle (warm-up then cosine) | cosine | constant
  bool augment = true;         // random crop (2-pixel padding) + horizontal flip for image inputs
  float pad_value = 0.0f;      // normalised value of a black pixel, used by the crop padding
  uint64_t seed = 0;
  int64_t eval_batch = 512;
  // Weight name -> 0/1 mask held fixed: masked gradients and weights (pruning fine-tuning).
  std::map<std::string, at::Tensor> masks;
  // Knowledge distillation from a teacher (e.g. the uncompressed model, in inference mode):
  // loss = (1 - distill) * CE(labels) + distill * T^2 * KL(softmax(teacher/T) || softmax(student/T)).
  exec::Engine* teacher = nullptr;
  double distill = 0.0;
  double temperature = 4.0;
};

struct EpochReport {
  int epoch = 0, epochs = 0;
  double train_loss = 0, val_top1 = 0, lr = 0, seconds = 0;
};

struct TrainResult {
  int epochs_run = 0;
  double best_val_top1 = 0;
  int best_epoch = 0;
  bool interrupted = false;
  double seconds = 0;
};

// Trains in place; at the end the engine holds the weights of the epoch with the best
// validation top-1 (and is back in inference mode). Ctrl-C stops after the current batch.
TrainResult train(exec::Engine& engine, const data::Splits& splits, const TrainOptions& options,
                  const std::function<void(const EpochReport&)>& on_epoch = {});

}  // namespace nnc::train
