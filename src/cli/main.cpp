// nncompress: compress trained ONNX networks for memory-starved devices.
#include <cstdio>
#include <exception>
#include <optional>

#include "cli/command.hpp"
#include "nncompress/core/allocator.hpp"
#include "nncompress/core/blas_threads.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/compress/registry.hpp"
#include "nncompress/dist/cluster.hpp"

int main(int argc, char** argv) {
  nnc::keep_freed_memory();  // large tensors are reused, not page-faulted in again (core/allocator.hpp)
  try {
    nnc::single_threaded_blas();  // OpenBLAS's thread pool fights LibTorch's OpenMP threads (core/blas_threads.hpp)
  } catch (const nnc::Error& e) {  // a bad NNC_BLAS_THREADS
    std::fprintf(stderr, "nncompress: error: %s\n", e.what());
    return 1;
  }
  // Under mpirun every rank runs this; rank 0 does the command, the others serve it.
  std::optional<nnc::dist::Session> session;
  try {
    session.emplace(nnc::dist::parse_mode(nnc::cli::distributed_mode(argc, argv)));
  } catch (const nnc::OptionError& e) {
    std::fprintf(stderr, "nncompress: error: --distributed %s\n", e.detail().c_str());
    return 2;
  }
  if (session->rank() > 0) {
    nnc::compress::register_distributed_tasks();
    return session->serve();
  }
  CLI::App app{"nncompress: compress trained ONNX networks and prove what accuracy they keep"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "nncompress 0.1.0");
  app.footer("Exit status: 0 done, 1 the work failed (one line on stderr says why), 2 bad flags or arguments, "
             "130 stopped by Ctrl-C (results so far written).\n"
             "Run state: share's evaluations and fine-tuning's epoch checkpoints are saved as they are made in "
             "$NNC_RUN_STATE_DIR (default: $NNC_CACHE_DIR/runs, else ~/.cache/nncompress/runs; 'off': not saved); "
             "the same command rerun after a crash, kill or Ctrl-C resumes and writes the same files as an "
             "uninterrupted run. A run's state is removed once its outputs are written.");
  nnc::cli::register_info_command(app);
  nnc::cli::register_eval_command(app);
  nnc::cli::register_run_command(app);
  nnc::cli::register_train_command(app);
  nnc::cli::register_share_command(app);
  nnc::cli::register_unpack_command(app);
  nnc::cli::register_lowrank_command(app);
  nnc::cli::register_prune_command(app);
  nnc::cli::register_compress_command(app);
  nnc::cli::register_finetune_command(app);
  nnc::cli::register_fit_command(app);
  nnc::cli::register_quantize_command(app);
  nnc::cli::register_methods_command(app);
  nnc::cli::install_interrupt_handler();
  nnc::cli::set_command_line(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return nnc::cli::usage_error(app, e, argc, argv);
  } catch (const nnc::OptionError& e) {
    // The library names the option's field; the CLI names the flag.
    std::fprintf(stderr, "nncompress: error: %s %s\n", nnc::cli::flag_of(e.field()).c_str(), e.detail().c_str());
    return e.code() == nnc::ErrorCode::kInvalidArgument ? 2 : 1;  // a bad value is a usage error
  } catch (const nnc::Error& e) {
    std::fprintf(stderr, "nncompress: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    std::fprintf(stderr, "nncompress: error: %s\n", msg.substr(0, msg.find('\n')).c_str());
    return 1;
  }
  return nnc::cli::interrupted() ? 130 : 0;
}
