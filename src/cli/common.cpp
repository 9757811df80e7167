#include <ATen/Parallel.h>

#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "cli/command.hpp"
#include "nncompress/core/available_cores.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/dist/cluster.hpp"

namespace nnc::cli {
namespace {

// Notes and progress lines on stderr.
class StderrReporter final : public Reporter {
 public:
  void note(std::string_view line) override { std::fputs(fmt::format("{}\n", line).c_str(), stderr); }
  void progress(const ProgressEvent& e) override {
    // Elapsed time and an estimate of what is left (at the rate so far).
    std::string left;
    if (!e.finished && e.done > 0 && e.done < e.total)
      left = fmt::format(", ~{:.0f}s left", e.seconds / static_cast<double>(e.done) * static_cast<double>(e.total - e.done));
    const std::string line = e.finished ? fmt::format("{} done in {:.1f}s {}\n", e.what, e.seconds, e.message)
                                        : fmt::format("{} [{}/{}] {:.1f}s{} {}\n", e.what, e.done, e.total, e.seconds,
                                                      left, e.message);
    std::fputs(line.c_str(), stderr);
  }
};

}  // namespace

void add_model_io_options(CLI::App* cmd, std::string& model, std::string& output, std::string& nnc,
                          const std::string& output_what, const std::string& nnc_what) {
  cmd->add_option("model", model, "ONNX model or .nnc container")->required();
  cmd->add_option("-o,--output", output, output_what)->required();
  cmd->add_option("--nnc", nnc, nnc_what);
}

void add_global_options(CLI::App* cmd, GlobalOptions& g) {
  cmd->add_option("--threads", g.threads, "Intra-op threads (default: NNC_THREADS, else the cores this process may use)");
  cmd->add_flag("--json", g.json, "Print one JSON object on stdout");
  cmd->add_flag("-q,--quiet", g.quiet, "No progress output on stderr");
  cmd->add_option("--distributed", g.distributed,
                  "auto: share the searches out over the ranks of `mpirun -np N nncompress ...` when launched so; "
                  "mpi: use MPI even without mpirun; off: one process (docs/distributed.md)")
      ->check(CLI::IsMember({"auto", "mpi", "off"}))
      ->capture_default_str();
}

std::string distributed_mode(int argc, char** argv) {
  std::string mode = "auto";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--distributed" && i + 1 < argc) mode = argv[++i];
    else if (a.rfind("--distributed=", 0) == 0) mode = a.substr(14);
  }
  return mode;
}

void add_data_options(CLI::App* cmd, DataOptions& d, bool splits) {
  cmd->add_option("--data", d.data,
                  "Data set: 'fashion-mnist', a folder of IDX or NPY files, or an .npz file (docs/data.md)")
      ->capture_default_str();
  cmd->add_option("--mean", d.mean, "Per-channel input mean (overrides model metadata)")->delimiter(',');
  cmd->add_option("--std", d.std, "Per-channel input std (overrides model metadata)")->delimiter(',');
  if (splits) {
    cmd->add_option("--holdout", d.holdout,
                    "Held-out training images (the last N of the training split: budget checks, --val, --calib; "
                    "never trained on)")
        ->capture_default_str()
        ->each([&d](const std::string&) { d.holdout_given = true; });
    cmd->add_option("--val", d.val,
                    "Validation images (class-balanced, from the held-out training images; the default is at most half "
                    "of them)")
        ->capture_default_str()
        ->each([&d](const std::string&) { d.val_given = true; });
    cmd->add_option("--calib", d.calib, "Calibration images (from the held-out training images; the default is at "
                                        "most all of them)")
        ->capture_default_str()
        ->each([&d](const std::string&) { d.calib_given = true; });
    cmd->add_option("--seed", d.seed, "Seed for every random choice")->capture_default_str();
  }
  cmd->add_option("--batch", d.batch, "Batch size")->capture_default_str();
}

Control apply_global_options(const GlobalOptions& g) {
  NNC_CHECK_OPTION(g.threads >= 0, "threads", "{}: must not be negative (0: all cores)", g.threads);
  // By default the cores this process may use (affinity mask, CPU quota) are shared by the ranks
  // of an MPI job on this machine.
  const int local = std::max(1, dist::ranks() > 1 ? dist::launched_local_ranks() : 1);
  const int asked = g.threads > 0 ? g.threads : threads_from_env();
  const int threads = asked > 0 ? asked : std::max(1, available_cores() / local);
  at::set_num_threads(threads);
  static StderrReporter reporter;
  return Control{interrupt_token(), g.quiet ? nullptr : &reporter};
}

namespace {
std::string& command_line_storage() {
  static std::string line;
  return line;
}
}  // namespace

void set_command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    std::string a = i == 0 ? "nncompress" : argv[i];
    const bool plain = !a.empty() && a.find_first_of(" \t'\"$`\\*?|&;<>()") == std::string::npos;
    line += (i ? " " : "") + (plain ? a : "'" + a + "'");
  }
  command_line_storage() = line;
}

const std::string& command_line() { return command_line_storage(); }

void print_json(const nlohmann::json& j) { std::cout << nnc::json_text(j, 2) << std::endl; }

std::string flag_of(std::string_view field) {
  // Fields whose flag is not their name (the last part of a nested field otherwise).
  if (field == "finetune.epochs") return "--finetune-epochs";
  if (field == "report_dir") return "--report";
  std::string f(field.substr(field.rfind('.') == std::string_view::npos ? 0 : field.rfind('.') + 1));
  for (auto& c : f)
    if (c == '_') c = '-';
  return "--" + f;
}

}  // namespace nnc::cli
