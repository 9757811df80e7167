#include "cli/finetune.hpp"

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/metadata.hpp"

namespace nnc::cli {

void add_finetune_options(CLI::App* cmd, FinetuneOptions& options, const std::string& what) {
  cmd->add_option("--finetune-epochs", options.epochs, "Fine-tuning epochs " + what)->capture_default_str();
  cmd->add_option("--lr", options.lr, "Fine-tuning peak learning rate (AdamW, cosine schedule)")
      ->capture_default_str();
  cmd->add_option("--weight-decay", options.weight_decay, "Fine-tuning AdamW weight decay")->capture_default_str();
  cmd->add_option("--augment", options.augment,
                  "Fine-tuning random crops/flips: auto (as the model was trained; else only for conv nets), on, off")
      ->capture_default_str();
  cmd->add_option("--distill", options.distill,
                  "Fine-tuning knowledge-distillation weight in [0, 1] (teacher: the uncompressed model)")
      ->capture_default_str();
  cmd->add_option("--temperature", options.temperature, "Knowledge-distillation temperature")->capture_default_str();
}

void check_finetune_options(const FinetuneOptions& options) {
  NNC_CHECK(options.epochs >= 0, "--finetune-epochs must not be negative");
  NNC_CHECK(options.lr > 0, "--lr {} must be positive", options.lr);
  NNC_CHECK(options.weight_decay >= 0, "--weight-decay {} must not be negative", options.weight_decay);
  NNC_CHECK(options.augment == "auto" || options.augment == "on" || options.augment == "off",
            "--augment '{}': expected auto, on or off", options.augment);
  NNC_CHECK(options.distill >= 0 && options.distill <= 1, "--distill {} must be in [0, 1]", options.distill);
  NNC_CHECK(options.temperature > 0, "--temperature {} must be positive", options.temperature);
}

bool resolve_augment(const FinetuneOptions& options, const onnx::ModelProto& model) {
  if (options.augment != "auto") return options.augment == "on";
  if (auto train = onnxio::get_metadata(model, "nncompress.train")) {
    if (train->find("augment=1") != std::string::npos) return true;
    if (train->find("augment=0") != std::string::npos) return false;
  }
  for (const auto& node : model.graph().node()) {
    if (node.op_type() != "Conv") continue;
    for (const auto& a : node.attribute())
      if (a.name() == "kernel_shape")
        for (auto k : a.ints())
          if (k > 1) return true;
    // Without kernel_shape the kernel comes from the weight's shape.
    for (const auto& init : model.graph().initializer())
      if (node.input_size() > 1 && init.name() == node.input(1) && init.dims_size() > 2)
        for (int d = 2; d < init.dims_size(); ++d)
          if (init.dims(d) > 1) return true;
  }
  return false;
}

train::TrainOptions finetune_options(const FinetuneOptions& options, uint64_t seed, const DataOptions& data,
                                     const onnx::ModelProto& model, exec::Engine* teacher) {
  const auto norm = resolve_normalisation(data, model);
  train::TrainOptions to;
  to.epochs = options.epochs;
  to.lr = options.lr;
  to.optimizer = "adamw";
  to.weight_decay = options.weight_decay;
  to.schedule = "cosine";
  to.batch = 128;
  to.seed = seed;
  to.augment = resolve_augment(options, model);
  to.pad_value = -norm.mean[0] / norm.std[0];
  to.distill = options.distill;
  to.temperature = options.temperature;
  to.teacher = options.distill > 0 ? teacher : nullptr;
  return to;
}

}  // namespace nnc::cli
