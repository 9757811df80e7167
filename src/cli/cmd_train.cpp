// Placeholder: the 'train' command lands with its module (replace this file).
#include "cli/command.hpp"

namespace nnc::cli {
void register_train_command(CLI::App&) {}
}  // namespace nnc::cli
