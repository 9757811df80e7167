// Flag errors as one line: CLI11's parse errors become "nncompress: error: ..." with exit status
// 2 (usage), unknown flags and commands get a "did you mean" for near misses.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.hpp"

namespace nnc::cli {
namespace {

// Levenshtein distance, for near misses.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::size_t common_prefix(const std::string& a, const std::string& b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// The closest of `names` to `word` when it is a near miss ("" otherwise); ties go to the longer
// common prefix ("prun": prune, not run).
std::string nearest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1, best_prefix = 0;
  for (const auto& n : names) {
    const auto d = edit_distance(word, n), p = common_prefix(word, n);
    if (d < best_d || (d == best_d && !best.empty() && p > best_prefix)) best_d = d, best = n, best_prefix = p;
  }
  return best;
}

std::vector<std::string> flags_of(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* o : app.get_options())
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
  return names;
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

int usage_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  // The command the user asked for (argv[1]), if it exists.
  const CLI::App* command = nullptr;
  std::vector<std::string> commands;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands.push_back(sub->get_name());
    if (argc > 1 && sub->get_name() == argv[1]) command = sub;
  }
  std::string message = one_line(e.what());
  if (argc < 2 || (argc > 1 && argv[1][0] != '-' && !command)) {
    const std::string given = argc > 1 ? argv[1] : "";
    const auto guess = nearest(given, commands);
    message = given.empty() ? fmt::format("a command is required ({})", fmt::join(commands, ", "))
                            : fmt::format("unknown command '{}'{}", given,
                                          guess.empty() ? fmt::format(" (commands: {})", fmt::join(commands, ", "))
                                                        : fmt::format(" (did you mean {}?)", guess));
  } else if (command && dynamic_cast<const CLI::ExtrasError*>(&e)) {
    // The first argument that is not one of the command's flags.
    const auto flags = flags_of(*command);
    for (int i = 2; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) continue;
      arg = arg.substr(0, arg.find('='));
      if (std::find(flags.begin(), flags.end(), arg) != flags.end()) continue;
      const auto guess = nearest(arg, flags);
      message = fmt::format("unknown option {} for '{}'{}", arg, command->get_name(),
                            guess.empty() ? "" : fmt::format(" (did you mean {}?)", guess));
      break;
    }
  } else if (dynamic_cast<const CLI::ConversionError*>(&e)) {
    // "Could not convert: --sparsity = abc"
    const auto eq = message.find(" = ");
    const auto colon = message.find(": ");
    if (eq != std::string::npos && colon != std::string::npos && colon < eq)
      message = fmt::format("{} {}: not a valid value", message.substr(colon + 2, eq - colon - 2), message.substr(eq + 3));
  }
  std::fprintf(stderr, "nncompress: error: %s\n", message.c_str());
  return 2;
}

}  // namespace nnc::cli
