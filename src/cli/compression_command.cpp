#include "cli/compression_command.hpp"

#include <unistd.h>

#include <filesystem>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/finetune/finetune_step.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/run_state.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"

namespace nnc::cli {

void check_output_path(const std::filesystem::path& output, const std::filesystem::path& input) {
  namespace fs = std::filesystem;
  std::error_code ec;
  check_not_same_file(output, input);
  NNC_CHECK_CODE(!fs::is_directory(output, ec), kIo, "{}: is a directory, expected a file name", output.string());
  // The nearest existing folder on the way must be a writable folder (missing ones are created).
  fs::path dir = output.parent_path();
  if (dir.empty()) dir = ".";
  while (!fs::exists(dir, ec) && dir.has_parent_path() && dir != dir.parent_path()) dir = dir.parent_path();
  if (!fs::exists(dir, ec) && dir.is_relative()) dir = ".";  // "out/x.onnx" in a fresh folder: out/ is made in .
  NNC_CHECK_CODE(fs::is_directory(dir, ec), kIo, "{}: cannot write there: {} is not a directory", output.string(),
                 dir.string());
  NNC_CHECK_CODE(::access(dir.c_str(), W_OK) == 0, kIo, "{}: cannot write there: {} is not writable", output.string(),
                 dir.string());
}

nlohmann::json run_step(const compress::Step& step, const ModelIo& io, DataOptions& data, const Control& control,
                        const std::function<void(compress::Context&)>& configure) {
  data.validate();  // before any work, like the step's options
  check_output_path(io.output, io.model);
  if (!io.nnc.empty()) check_output_path(io.nnc, io.model);
  auto model = compress::CompressedModel::load(io.model, control);
  auto context = compress::load_context(model, data, control);
  if (configure) configure(context);
  const auto report = step.apply(model, context);
  if (report.value("changed", true) == false) {
    control.note("stopped before the step changed the model: nothing written");
    auto j = report;
    j["model"] = io.model;
    return j;
  }
  auto j = compress::write_outputs(model, {io.output, io.nnc, io.model, {io.compact_pruned}}, control);
  // Done: the same command starts afresh. After a stop request the state stays, so that
  // rerunning the command continues the interrupted work.
  if (!control.stop_requested()) compress::remove_run_state(context);
  j.update(report);
  j["model"] = io.model;
  j["output"] = io.output;
  j["normalisation"] = context.normalisation_json();
  return j;
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
