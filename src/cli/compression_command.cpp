#include "cli/compression_command.hpp"

#include <filesystem>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/finetune/finetune_step.hpp"

namespace nnc::cli {

nlohmann::json run_step(const compress::Step& step, const ModelIo& io, DataOptions& data, const Control& control,
                        const std::function<void(compress::Context&)>& configure) {
  data.validate();  // before any work, like the step's options
  const compress::JobOutputs outputs{io.model, io.output, io.nnc, {}, io.compact_pruned};
  compress::check_outputs(outputs);
  auto model = compress::CompressedModel::load(io.model, control);
  auto context = compress::load_context(model, data, control);
  if (configure) configure(context);
  return compress::run_step_job(step, model, context, outputs);
}

void add_finetune_options(CLI::App* cmd, compress::FinetuneOptions& options, const std::string& what) {
  cmd->add_option("--finetune-epochs", options.epochs, "Fine-tuning epochs " + what)->capture_default_str();
  cmd->add_option("--lr", options.lr, "Fine-tuning peak learning rate (AdamW, cosine schedule)")->capture_default_str();
  cmd->add_option("--weight-decay", options.weight_decay, "Fine-tuning AdamW weight decay")->capture_default_str();
  cmd->add_option("--augment", options.augment,
                  "Fine-tuning random crops/flips: auto (as the model was trained; else only for conv nets), on, off")
      ->capture_default_str();
  cmd->add_option("--distill", options.distill,
                  "Fine-tuning knowledge-distillation weight in [0, 1] (teacher: the uncompressed model)")
      ->capture_default_str();
  cmd->add_option("--temperature", options.temperature, "Knowledge-distillation temperature")->capture_default_str();
}

}  // namespace nnc::cli
