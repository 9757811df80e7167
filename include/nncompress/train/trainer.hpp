#pragma once
// Training and fine-tuning on the engine's autograd: the same ONNX graph that inference runs,
// with its float initializers as leaf parameters and BatchNorm statistics updating in place.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nncompress/core/control.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/dataset.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::train {

// Weights shared through one codebook, trained through it (trained quantization, Deep
// Compression Sec. 3.1): the weights are values[indices]; each entry's gradient is the sum of the
// gradients of the weights that use it; `frozen_entry` (a pruned weight's exact zero) keeps its
// value.
struct SharedCodebook {
  at::Tensor values;                          // [entries] float
  std::map<std::string, at::Tensor> indices;  // weight name -> int64 entry per element (any shape)
  std::map<std::string, float> scales;         // weight name -> its per-tensor scale (absent: 1)
  int64_t frozen_entry = -1;
  bool fixed = false;  // no entry is trained: the weights keep their shared values
};

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
  // Shared weights: trained through their codebooks (the weights named here are not trained
  // on their own).
  std::vector<SharedCodebook> codebooks;
  // When set, the state after each whole epoch (weights, the best epoch's weights, optimizer
  // state, random generators, epoch and step) is written here atomically, and training starts
  // from the checkpoint found here: a run killed after epoch e and started again with the same
  // options ends with the same weights as one that was never stopped.
  std::filesystem::path checkpoint;
  // A caller's own per-epoch state (ADMM's duals and targets), saved into each checkpoint after
  // on_epoch and handed back when training resumes from it: `save_extra` gives the tensors,
  // `load_extra` takes them (and throws when they do not fit: the checkpoint is then not used,
  // so it must change nothing before it has checked everything).
  std::function<std::vector<at::Tensor>()> save_extra;
  std::function<void(const std::vector<at::Tensor>&)> load_extra;
  // Called after every backward pass, before masks and the optimizer step: adds terms to the
  // gradients (ADMM's proximal term rho (W - target) for joint sparsity and quantisation).
  std::function<void()> after_backward;
  // false: training ends with the last epoch's weights, not those of the best validation epoch
  // (ADMM, whose later epochs are closer to the constraint set though not better yet).
  bool keep_best = true;
};

// Training diverged: the loss became NaN or infinite. Nothing is written; the engine holds the
// weights of the step that diverged (the caller restores what it needs, e.g. to retry at a
// lower learning rate).
class Diverged : public Error {
 public:
  Diverged(const std::string& message, int epoch, int64_t step) : Error(ErrorCode::kTargetMissed, message), epoch(epoch), step(step) {}
  int epoch;
  int64_t step;
};

struct EpochReport {
  int epoch = 0, epochs = 0;
  double train_loss = 0, val_top1 = 0, lr = 0, seconds = 0;
};

struct TrainResult {
  int epochs_run = 0;
  double best_val_top1 = 0;
  int best_epoch = 0;
  int resumed_epochs = 0;    // epochs taken from the checkpoint instead of trained
  bool interrupted = false;  // stopped by the control's stop token
  double seconds = 0;
  std::vector<at::Tensor> codebook_values;  // per TrainOptions::codebooks: the kept epoch's values
};

// Trains in place; at the end the engine holds the weights of the epoch with the best
// validation top-1 (and is back in inference mode). A loss that is not finite throws Diverged. A stop request ends training after the current
// batch. Progress and a note per epoch go to the control's reporter.
TrainResult train(exec::Engine& engine, const data::Splits& splits, const TrainOptions& options,
                  const Control& control = {}, const std::function<void(const EpochReport&)>& on_epoch = {});

}  // namespace nnc::train
