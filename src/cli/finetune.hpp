#pragma once
// Fine-tuning settings shared by the compression commands (AdamW, cosine schedule, the
// reference models' augmentation; masks are added by the caller when weights must stay zero).
#include "cli/data_loading.hpp"
#include "nncompress/train/trainer.hpp"

namespace nnc::cli {

inline train::TrainOptions finetune_options(int epochs, double lr, double weight_decay, uint64_t seed,
                                            const data::Normalisation& norm) {
  train::TrainOptions to;
  to.epochs = epochs;
  to.lr = lr;
  to.optimizer = "adamw";
  to.weight_decay = weight_decay;
  to.schedule = "cosine";
  to.batch = 128;
  to.seed = seed;
  to.pad_value = -norm.mean[0] / norm.std[0];
  return to;
}

}  // namespace nnc::cli
