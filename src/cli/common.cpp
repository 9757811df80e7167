#include <ATen/Parallel.h>

#include <fmt/format.h>

#include <iostream>
#include <thread>

#include "cli/command.hpp"
#include "nncompress/core/progress.hpp"

namespace nnc::cli {

void add_model_io_options(CLI::App* cmd, std::string& model, std::string& output, std::string& nnc,
                          const std::string& output_what, const std::string& nnc_what) {
  cmd->add_option("model", model, "ONNX model")->required();
  cmd->add_option("-o,--output", output, output_what)->required();
  cmd->add_option("--nnc", nnc, nnc_what);
}

void add_global_options(CLI::App* cmd, GlobalOptions& g) {
  cmd->add_option("--threads", g.threads, "Intra-op threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", g.json, "Print one JSON object on stdout");
  cmd->add_flag("-q,--quiet", g.quiet, "No progress output on stderr");
}

void add_data_options(CLI::App* cmd, DataOptions& d) {
  cmd->add_option("--data", d.data, "Data set: 'fashion-mnist' or a directory with IDX or NPY files")
      ->capture_default_str();
  cmd->add_option("--mean", d.mean, "Per-channel input mean (overrides model metadata)")->delimiter(',');
  cmd->add_option("--std", d.std, "Per-channel input std (overrides model metadata)")->delimiter(',');
  cmd->add_option("--val", d.val, "Validation images (class-balanced, from the held-out training images)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--calib", d.calib, "Calibration images (from the held-out training images)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", d.seed, "Seed for every random choice")->capture_default_str();
  cmd->add_option("--batch", d.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
}

void apply_global_options(const GlobalOptions& g) {
  int threads = g.threads > 0 ? g.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  set_progress_enabled(!g.quiet);
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

double honest_ratio(std::size_t fp32_bytes, std::size_t container_bytes) {
  const double ratio = static_cast<double>(fp32_bytes) / static_cast<double>(container_bytes);
  if (ratio < 1.0)
    note(fmt::format("the .nnc container ({} bytes) is larger than the model's fp32 parameters ({} bytes): for a "
                     "model this small, its graph and headers outweigh what compression saves",
                     container_bytes, fp32_bytes));
  return ratio;
}

double onnx_ratio(std::size_t fp32_bytes, const std::filesystem::path& onnx_file) {
  return static_cast<double>(fp32_bytes) / static_cast<double>(std::filesystem::file_size(onnx_file));
}

}  // namespace nnc::cli
