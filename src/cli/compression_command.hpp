#pragma once
// What every compression command does around its step: load the model and its data, apply the
// step, write the outputs (never over the input), and return the step's report with the
// outputs' figures read from the written files.
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "nncompress/compress/finetune/finetune_step.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/job.hpp"
#include "nncompress/compress/step.hpp"

namespace nnc::cli {

struct ModelIo {
  std::string model, output, nnc;
  bool compact_pruned = false;  // pruned weights in the ONNX file in their smallest form
};

using compress::check_output_path;

// `configure` adjusts the context before the step runs (e.g. its cache folder).
nlohmann::json run_step(const compress::Step& step, const ModelIo& io, DataOptions& data, const Control& control,
                        const std::function<void(compress::Context&)>& configure = {});

// The fine-tuning flags of a command (--finetune-epochs, --lr, ...); `what` completes
// "Fine-tuning epochs ...".
void add_finetune_options(CLI::App* cmd, compress::FinetuneOptions& options, const std::string& what);

}  // namespace nnc::cli
