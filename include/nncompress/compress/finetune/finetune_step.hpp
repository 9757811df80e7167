#pragma once
// Fine-tuning as a step after any other: AdamW with a cosine schedule on the training split
// (the hold-out never seen), the model's weights trained with its masks held fixed (pruned
// elements stay exact zeros) and its codebook assignments held fixed: for shared weights the
// codebook VALUES are trained, each entry's gradient the sum of the gradients of the weights
// that use it (Han et al., "Deep Compression", ICLR 2016, Sec. 3.1, trained quantization); a
// zero entry stays 0. Optional distillation from the original model. The weights of the epoch
// with the best validation top-1 are kept.
#include <string>

#include <nlohmann/json.hpp>

namespace onnx {
class ModelProto;
}
namespace nnc::exec {
class Engine;
}
namespace nnc::train {
struct TrainOptions;
}

namespace nnc::compress {

class CompressedModel;
class Context;

struct FinetuneOptions {
  int epochs = 0;
  double lr = 3e-4;                // peak learning rate
  double weight_decay = 0.0;       // AdamW
  std::string augment = "auto";    // auto (as the model was trained; else only conv nets) | on | off
  double distill = 0.0;            // knowledge-distillation weight in [0, 1] (teacher: the original model)
  double temperature = 4.0;
  bool train_codebooks = true;     // shared weights: train the codebook values (false: keep them)
  // Not a recipe option: false ends training with the last epoch's weights instead of those of
  // the epoch with the best validation top-1. The validation images are part of the hold-out, so
  // a caller that judges the result on the hold-out (a pruning climb) must not select on them.
  bool keep_best_epoch = true;

  template <typename V>
  void visit(V& v) {
    v("epochs", epochs);
    v("lr", lr);
    v("weight_decay", weight_decay);
    v("augment", augment);
    v("distill", distill);
    v("temperature", temperature);
    v("train_codebooks", train_codebooks);
  }
  void validate() const;  // OptionError naming the field
};

struct FinetuneStep {
  FinetuneOptions options_;

  FinetuneStep() = default;
  explicit FinetuneStep(FinetuneOptions o) : options_(std::move(o)) {}
  std::string name() const { return "finetune"; }
  nlohmann::json options() const;
  void validate() const { options_.validate(); }
  nlohmann::json apply(CompressedModel& model, Context& context) const;
};

// Random crops and flips: "on"/"off" as given; "auto" follows the model's nncompress.train
// metadata when it records augmentation, else augments only models with spatial convolutions
// (an MLP on flattened pixels is not translation-invariant).
bool resolve_augment(const std::string& augment, const onnx::ModelProto& model);

// Fine-tunes `engine` (holding `model`'s graph and current weights) in place with the model's
// masks and codebook assignments fixed, as the step does; `teacher` (may be null) is used when
// options.distill > 0. Updates the model's codebook values when they are trained. Used by the
// step and inside other steps' schedules (pruning). Returns the training figures.
nlohmann::json finetune_engine(exec::Engine& engine, CompressedModel& model, Context& context,
                               const FinetuneOptions& options, uint64_t seed, exec::Engine* teacher);

}  // namespace nnc::compress
