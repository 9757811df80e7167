// Placeholder: the 'info' command lands with its module (replace this file).
#include "cli/command.hpp"

namespace nnc::cli {
void register_info_command(CLI::App&) {}
}  // namespace nnc::cli
