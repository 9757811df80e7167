#pragma once
// What a command does around its work, the same from the CLI and the Python module: outputs
// checked before any work, a step applied (or a recipe composed) on the model in memory, the
// outputs written atomically (never over the input), the run state removed when done, and the
// report returned with the outputs' figures read from the written files.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "nncompress/compress/compose.hpp"
#include "nncompress/compress/step.hpp"

namespace nnc::compress {

class CompressedModel;
class Context;
struct Recipe;

struct JobOutputs {
  std::filesystem::path input;       // the model's file: never written over
  std::filesystem::path onnx;        // the compressed ONNX (required)
  std::filesystem::path nnc;         // the .nnc container ("" = none)
  std::filesystem::path report_dir;  // compose's HTML report ("" = none)
  bool compact_pruned = false;       // pruned weights in the ONNX file in their smallest form
};

// An output path that can be written: not the input, not a folder, and the nearest existing
// folder on its way writable. Throws a one-line error naming the path.
void check_output_path(const std::filesystem::path& output, const std::filesystem::path& input);
// Every output of `outputs` (before any work).
void check_outputs(const JobOutputs& outputs);

// Applies the step and writes the outputs. A step stopped before it changed the model writes
// nothing (the report says "changed": false). Adds: the output figures (outputs.hpp), "model",
// "output", "normalisation".
nlohmann::json run_step_job(const Step& step, CompressedModel& model, Context& context, const JobOutputs& outputs);

// compose() and the outputs, and with report_dir the HTML report. Adds "model", "output",
// "nnc", "normalisation", "command" and "report".
nlohmann::json run_compose_job(const Recipe& recipe, ComposeOptions options, CompressedModel& model, Context& context,
                               const JobOutputs& outputs, const std::string& command);

}  // namespace nnc::compress
