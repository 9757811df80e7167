// Placeholder: the 'run' command lands with its module (replace this file).
#include "cli/command.hpp"

namespace nnc::cli {
void register_run_command(CLI::App&) {}
}  // namespace nnc::cli
