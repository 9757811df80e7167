// Temporary: commands whose modules have not landed yet register nothing.
#include "cli/command.hpp"

namespace nnc::cli {
void register_info_command(CLI::App&) {}
void register_eval_command(CLI::App&) {}
void register_run_command(CLI::App&) {}
void register_train_command(CLI::App&) {}
void register_share_command(CLI::App&) {}
void register_unpack_command(CLI::App&) {}
}  // namespace nnc::cli
