#pragma once
// The CLI is a thin shell: each command lives in its own cmd_<name>.cpp and registers itself
// through one explicit call in main.cpp. Options shared by every command that reads data are
// parsed in one place (common.cpp).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace nnc::cli {

// Options every command has.
struct GlobalOptions {
  int threads = 0;  // 0 = all cores
  bool json = false;
  bool quiet = false;
};

// Options of every command that reads data.
struct DataOptions {
  std::string data = "fashion-mnist";
  std::vector<float> mean, std;  // override the model's metadata
  int64_t val = 1000;
  int64_t calib = 1024;
  uint64_t seed = 0;
  int64_t batch = 256;
};

void add_global_options(CLI::App* cmd, GlobalOptions& g);
// The compression commands' MODEL positional, -o/--output (`output_what`) and --nnc.
void add_model_io_options(CLI::App* cmd, std::string& model, std::string& output, std::string& nnc,
                          const std::string& output_what,
                          const std::string& nnc_what = "Also write the .nnc container");
void add_data_options(CLI::App* cmd, DataOptions& d);
// Applies --threads and --quiet; call first in every command callback.
void apply_global_options(const GlobalOptions& g);
// Prints one JSON object on stdout.
void print_json(const nlohmann::json& j);
// The honest compression ratio, original fp32 initializer bytes / container bytes; says so in one
// line when the container is the larger (tiny models: its graph and headers outweigh the savings).
double honest_ratio(std::size_t fp32_bytes, std::size_t container_bytes);
// fp32 bytes / bytes of a written ONNX file (no note: a dense ONNX is about the fp32 size).
double onnx_ratio(std::size_t fp32_bytes, const std::filesystem::path& onnx_file);

// Registration functions, one per command file.
void register_info_command(CLI::App& app);
void register_eval_command(CLI::App& app);
void register_run_command(CLI::App& app);
void register_train_command(CLI::App& app);
void register_share_command(CLI::App& app);
void register_unpack_command(CLI::App& app);
void register_lowrank_command(CLI::App& app);
void register_prune_command(CLI::App& app);

}  // namespace nnc::cli
