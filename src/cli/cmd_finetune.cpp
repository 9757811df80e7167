// nncompress finetune MODEL -o OUT.onnx: fine-tuning with masks held fixed (exact zeros of the
// model stay zero) and shared weights trained through their codebook (compress::FinetuneStep).
// From a file, the model's exact zeros are its masks; codebooks live only in memory (a recipe).
#include <fmt/format.h>

#include "cli/compression_command.hpp"

namespace nnc::cli {

void register_finetune_command(CLI::App& app) {
  struct Opts {
    ModelIo io;
    compress::FinetuneOptions finetune{3, 3e-4, 0.0, "auto", 0.0, 4.0, true};
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto& f = opts->finetune;
  auto* cmd = app.add_subcommand("finetune", "Fine-tune a (pruned) model, its exact zeros held at zero");
  add_model_io_options(cmd, opts->io.model, opts->io.output, opts->io.nnc, "Fine-tuned ONNX model");
  cmd->add_option("--epochs", f.epochs, "Epochs")->capture_default_str();
  cmd->add_option("--lr", f.lr, "Peak learning rate (AdamW, cosine schedule)")->capture_default_str();
  cmd->add_option("--weight-decay", f.weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--augment", f.augment, "Random crops/flips: auto, on, off")->capture_default_str();
  cmd->add_option("--distill", f.distill, "Knowledge-distillation weight in [0, 1] (teacher: the input model)")
      ->capture_default_str();
  cmd->add_option("--temperature", f.temperature, "Knowledge-distillation temperature")->capture_default_str();
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    auto& o = *opts;
    const auto control = apply_global_options(o.global);
    const compress::Step step{compress::FinetuneStep(o.finetune)};
    auto j = run_step(step, o.io, o.data, control);
    if (!j.value("changed", true)) return o.global.json ? print_json(j) : void();
    if (o.global.json) return print_json(j);
    fmt::print("{} -> {}: test top-1 {:.2f}% -> {:.2f}% after {} epochs (best {}); {:.2f}x (.nnc {} bytes)\n",
               o.io.model, o.io.output, 100 * j["top1_before"].get<double>(), 100 * j["top1_after"].get<double>(),
               j["epochs"].get<int>(), j.value("best_epoch", 0), j["ratio"].get<double>(), j["nnc_bytes"].get<std::size_t>());
  });
}

}  // namespace nnc::cli
