#pragma once
// The CLI is a thin shell: each command lives in its own cmd_<name>.cpp and registers itself
// through one explicit call in main.cpp. Options shared by every command that reads data are
// parsed in one place (common.cpp); compression commands parse flags into a step's options,
// run it through run_step (compression_command.cpp) and print its report.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "nncompress/core/control.hpp"
#include "nncompress/data/model_data.hpp"

namespace nnc::cli {

// Options every command has.
struct GlobalOptions {
  int threads = 0;  // 0 = all cores
  bool json = false;
  bool quiet = false;
  std::string distributed = "auto";  // read by main before parsing (distributed_mode)
};

using DataOptions = data::DataOptions;

void add_global_options(CLI::App* cmd, GlobalOptions& g);
// --distributed from the raw arguments: the MPI session starts before the command is parsed.
std::string distributed_mode(int argc, char** argv);
// The compression commands' MODEL positional, -o/--output (`output_what`) and --nnc.
void add_model_io_options(CLI::App* cmd, std::string& model, std::string& output, std::string& nnc,
                          const std::string& output_what,
                          const std::string& nnc_what = "Also write the .nnc container");
// The data options; `splits`: also --val, --calib and --seed (commands that use the held-out
// training images; eval measures the test split only).
void add_data_options(CLI::App* cmd, DataOptions& d, bool splits = true);
// Applies --threads; returns the Control every command hands the library: stderr progress
// (none with --quiet) and the stop token Ctrl-C sets.
Control apply_global_options(const GlobalOptions& g);
// The command line as typed (main records it; reports show it).
void set_command_line(int argc, char** argv);
const std::string& command_line();
// Prints one JSON object on stdout.
void print_json(const nlohmann::json& j);

// The flag of a library option field ("finetune.lr" -> "--lr", "max_drop" -> "--max-drop").
std::string flag_of(std::string_view field);

// A flag error as one line on stderr ("did you mean ..." for near misses); returns exit status 2.
int usage_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv);

// Ctrl-C: the first SIGINT asks the work to stop (it finishes its current step and writes what it
// has); a second one exits at once. interrupted() says whether the first came.
void install_interrupt_handler();
bool interrupted();
StopToken interrupt_token();

// Registration functions, one per command file.
void register_info_command(CLI::App& app);
void register_eval_command(CLI::App& app);
void register_run_command(CLI::App& app);
void register_train_command(CLI::App& app);
void register_share_command(CLI::App& app);
void register_unpack_command(CLI::App& app);
void register_lowrank_command(CLI::App& app);
void register_prune_command(CLI::App& app);
void register_compress_command(CLI::App& app);
void register_finetune_command(CLI::App& app);
void register_fit_command(CLI::App& app);
void register_methods_command(CLI::App& app);
void register_quantize_command(CLI::App& app);

}  // namespace nnc::cli
