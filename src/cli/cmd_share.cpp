// Placeholder: the 'share' command lands with its module (replace this file).
#include "cli/command.hpp"

namespace nnc::cli {
void register_share_command(CLI::App&) {}
}  // namespace nnc::cli
