#include "nncompress/compress/job.hpp"

#include <unistd.h>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/recipe.hpp"
#include "nncompress/compress/run_state.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/report/compress_report.hpp"

namespace nnc::compress {

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

void check_outputs(const JobOutputs& o) {
  check_output_path(o.onnx, o.input);
  if (!o.nnc.empty()) check_output_path(o.nnc, o.input);
  if (!o.report_dir.empty()) check_output_path(o.report_dir / "report.html", o.input);
}

namespace {

nlohmann::json write(const CompressedModel& model, Context& context, const JobOutputs& o) {
  auto j = write_outputs(model, {o.onnx, o.nnc, o.input, {o.compact_pruned}}, context.control());
  // Done: the same command starts afresh. After a stop request the state stays, so that
  // rerunning the command continues the interrupted work.
  if (!context.stop_requested()) remove_run_state(context);
  return j;
}

}  // namespace

nlohmann::json run_step_job(const Step& step, CompressedModel& model, Context& context, const JobOutputs& o) {
  const auto report = step.apply(model, context);
  if (report.value("changed", true) == false) {
    context.note("stopped before the step changed the model: nothing written");
    auto j = report;
    j["model"] = o.input.string();
    return j;
  }
  auto j = write(model, context, o);
  j.update(report);
  j["model"] = o.input.string();
  j["output"] = o.onnx.string();
  j["normalisation"] = context.normalisation_json();
  return j;
}

nlohmann::json run_compose_job(const Recipe& recipe, ComposeOptions options, CompressedModel& model, Context& context,
                               const JobOutputs& o, const std::string& command) {
  options.report_dir = o.report_dir;
  auto j = compose(recipe, options, model, context);
  if (!o.report_dir.empty()) std::filesystem::create_directories(o.report_dir);
  j.update(write(model, context, o));
  j["model"] = o.input.string();
  j["output"] = o.onnx.string();
  j["nnc"] = o.nnc.string();
  j["normalisation"] = context.normalisation_json();
  j["command"] = command;
  if (!o.report_dir.empty()) {
    j["report"] = o.report_dir.string();
    report::write_compress_report(o.report_dir, j);
  }
  return j;
}

}  // namespace nnc::compress
