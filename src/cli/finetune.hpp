#pragma once
// Fine-tuning settings shared by the compression commands: AdamW with a cosine schedule, and
// the augmentation the model was trained with (masks are added by the caller when weights must
// stay zero).
#include <CLI/CLI.hpp>

#include <string>

#include "cli/data_loading.hpp"
#include "nncompress/train/trainer.hpp"

namespace nnc::cli {

struct FinetuneOptions {
  int epochs = 0;
  double lr = 3e-4;
  double weight_decay = 0.0;
  std::string augment = "auto";  // auto | on | off
  double distill = 0.0;           // knowledge-distillation weight (teacher = the uncompressed model)
  double temperature = 4.0;
};

// --finetune-epochs, --lr, --weight-decay, --augment, --distill, --temperature; `what` completes
// "Fine-tuning epochs ...".
void add_finetune_options(CLI::App* cmd, FinetuneOptions& options, const std::string& what);

// Checks the values (one-line errors); every command calls it before any work is done.
void check_finetune_options(const FinetuneOptions& options);

// Random crops and flips: "on"/"off" as given; "auto" follows the model's nncompress.train
// metadata when it records augmentation, else augments only models with spatial convolutions
// (an MLP on flattened pixels is not translation-invariant).
bool resolve_augment(const FinetuneOptions& options, const onnx::ModelProto& model);

// `teacher` (the uncompressed model, may be null) is used when --distill > 0.
train::TrainOptions finetune_options(const FinetuneOptions& options, uint64_t seed, const DataOptions& data,
                                     const onnx::ModelProto& model, exec::Engine* teacher);

}  // namespace nnc::cli
