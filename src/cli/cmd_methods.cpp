// nncompress methods: the registered compression steps and their options (defaults).
#include <fmt/format.h>

#include "cli/command.hpp"
#include "nncompress/compress/registry.hpp"
#include "nncompress/core/json_text.hpp"

namespace nnc::cli {

void register_methods_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("methods", "List the compression steps (what recipes and the library compose)");
  cmd->add_flag("--json", *json, "Print one JSON object on stdout");
  cmd->callback([json] {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : compress::registered_steps())
      all.push_back({{"name", s.name}, {"summary", s.summary}, {"paper", s.paper}, {"options", s.defaults()}});
    if (*json) return print_json(all);
    for (const auto& s : all) {
      fmt::print("{:<9} {}\n", s["name"].get<std::string>(), s["summary"].get<std::string>());
      if (!s["paper"].get<std::string>().empty()) fmt::print("{:<9} from: {}\n", "", s["paper"].get<std::string>());
      fmt::print("{:<9} options: {}\n", "", nnc::json_text(s["options"]));
    }
  });
}

}  // namespace nnc::cli
