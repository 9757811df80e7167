#include "nncompress/compress/recipe.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
#include <stdexcept>

#include "nncompress/compress/registry.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"

namespace nnc::compress {
namespace {

// The built-in default: prune with fine-tuning up the schedule as far as its share of the
// budget allows, share what is left and the biases on one codebook (zeros kept), then train the
// codebook. Measured on LeNet-5: 156.7x at +0.17 pt (bench/RESULTS.md). Fine-tuning without
// augmentation: short, distilled runs from the original, where random crops cost LeNet-5 0.6 pt
// of hold-out top-1 at 76% sparsity.
const char* const kDefaultRecipe = R"(# The built-in default recipe of `nncompress compress` (docs/recipes.md).
name: default
description: >-
  Rate-distortion pruning climbed up its schedule with fine-tuning until its share of the
  accuracy budget is used, weight sharing of the remaining weights, the biases and the other parameters on one
  codebook (pruned weights stay exact zeros), then fine-tuning of the shared codebook values.
steps:
  - step: prune
    budget: 0.6
    options:
      sparsity: auto
      schedule_a: 0.3
      rd_passes: 1
      finetune: {epochs: 2, lr: 0.001, distill: 0.5, augment: "off"}
      final_epochs: 8
  - step: share
    options: {share_biases: true, share_other: true}
  - step: finetune
    options: {epochs: 3, lr: 0.0003, distill: 0.5, augment: "off"}
)";

// The built-in recipe of `compress --size`: pruning to the sparsity the cap asks for, then two
// routes, the more accurate within the cap kept: fit into the cap (its ADMM, hard projection and
// codebook fine-tuning), or one shared codebook within the cap and its fine-tuning.
const char* const kSizeRecipe = R"(# The built-in recipe of `nncompress compress --size` (docs/recipes.md).
name: size
description: >-
  Pruning on a short schedule with fine-tuning to the sparsity the size cap asks for (the kept
  weights at 4-bit codebooks fill it); then two routes from the pruned model, the more accurate
  within the cap kept: joint pruning and per-layer quantisation by ADMM into the cap (fit, keeping
  pruning's zeros, then fine-tuning of the codebook values), or one shared codebook, the most
  accurate searched one that fits, then fine-tuning of its values.
steps:
  - step: prune
    options:
      size: cap
      schedule_a: 0.43
      rd_passes: 1
      recalibrate_bn: true
      comparison: false
      finetune: {epochs: 1, lr: 0.001, distill: 0.5}
      final_epochs: 3
  - step: fit
    route: joint
    options:
      epochs: 6
      masked_epochs: 4
      finetune: {epochs: 3}
  - step: share
    route: shared
    options: {size: cap, share_biases: true, share_other: true, max_evals: 400}
  - step: finetune
    route: shared
    options: {epochs: 2, lr: 0.0003, distill: 0.5, augment: "off"}
)";

[[noreturn]] void fail_at(const std::string& source, int line, const std::string& message) {
  if (line > 0) fail(ErrorCode::kInvalidArgument, "{}:{}: {}", source, line, message);
  fail(ErrorCode::kInvalidArgument, "{}: {}", source, message);
}

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

// A problem found deep inside a YAML value, with the line it is on (parse_recipe names the file).
struct NodeError {
  int line;
  std::string message;
};

// How deep a recipe's values may nest: an alias inside the value it names makes a cycle, which
// would otherwise recurse until the stack runs out.
constexpr int kMaxDepth = 64;

void check_depth(const YAML::Node& n, int depth) {
  if (depth > kMaxDepth)
    throw NodeError{line_of(n), fmt::format("values nest more than {} levels deep (an alias inside the value it names?)",
                                            kMaxDepth)};
}

// A map key as text (a key that is itself a map or a list is an error).
std::string key_text(const YAML::Node& key) {
  if (!key.IsScalar()) throw NodeError{line_of(key), "a key must be a name, not a map or a list"};
  return key.Scalar();
}

// A YAML value as JSON: plain scalars become booleans, integers, numbers or null when they read
// as one, quoted scalars stay strings.
nlohmann::json to_json(const YAML::Node& n, int depth = 0) {
  check_depth(n, depth);
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      auto j = nlohmann::json::array();
      for (const auto& e : n) j.push_back(to_json(e, depth + 1));
      return j;
    }
    case YAML::NodeType::Map: {
      auto j = nlohmann::json::object();
      for (const auto& kv : n) j[key_text(kv.first)] = to_json(kv.second, depth + 1);
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      static const std::regex integer(R"([-+]?[0-9]+)"), number(R"([-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)");
      if (std::regex_match(s, integer)) {
        try {
          return std::stoll(s);
        } catch (const std::exception&) {
        }
      }
      if (std::regex_match(s, number)) {
        try {
          return std::stod(s);
        } catch (const std::out_of_range&) {  // overflow, or underflow below 2.2e-308
          throw NodeError{line_of(n), fmt::format("{}: a number outside the range of a double (2.2e-308 to 1.8e308)",
                                                  s.size() > 40 ? s.substr(0, 40) + "..." : s)};
        }
      }
      return s;
    }
  }
  return nullptr;
}

// The line of `field` anywhere inside `n` (the first match, depth first), else 0.
int find_field_line(const YAML::Node& n, const std::string& field, int depth = 0) {
  if ((!n.IsMap() && !n.IsSequence()) || depth > kMaxDepth) return 0;
  if (n.IsMap())
    for (const auto& kv : n) {
      if (kv.first.IsScalar() && kv.first.Scalar() == field) return line_of(kv.first);
      if (int l = find_field_line(kv.second, field, depth + 1)) return l;
    }
  else
    for (const auto& e : n)
      if (int l = find_field_line(e, field, depth + 1)) return l;
  return 0;
}

void check_keys(const YAML::Node& map, const std::vector<std::string>& known, const std::string& what,
                const std::string& source) {
  for (const auto& kv : map) {
    const auto key = key_text(kv.first);
    if (std::find(known.begin(), known.end(), key) == known.end())
      fail_at(source, line_of(kv.first), fmt::format("'{}' is not a field of {} (fields: {})", key, what, fmt::join(known, ", ")));
  }
}

// The options field a step's budget search turns.
std::string knob_of(const std::string& step) {
  if (step == "prune") return "sparsity";
  if (step == "lowrank") return "keep";
  return "";
}

std::string overrides_field(const std::string& step) {
  if (step == "prune" || step == "lowrank") return "keep_dense";
  if (step == "share" || step == "quantize") return "keep_fp32";
  return "";
}

RecipeStep parse_step(const YAML::Node& n, const std::string& source) {
  if (!n.IsMap()) fail_at(source, line_of(n), "a step must be a map with 'step:' (and 'options:', 'budget:', 'layers:')");
  check_keys(n, {"step", "options", "budget", "layers", "route"}, "a recipe step", source);
  RecipeStep s;
  s.line = line_of(n);
  if (!n["step"] || !n["step"].IsScalar()) fail_at(source, s.line, "step: missing (the registered step's name)");
  s.step = n["step"].Scalar();
  if (n["route"]) {
    if (!n["route"].IsScalar() || n["route"].Scalar().empty())
      fail_at(source, line_of(n["route"]), "route: expected a name (the alternative the step belongs to)");
    s.route = n["route"].Scalar();
  }
  try {
    find_step(s.step);
  } catch (const Error& e) {
    fail_at(source, line_of(n["step"]), e.what());
  }
  if (n["options"]) {
    s.options = to_json(n["options"]);
    if (s.options.is_null()) s.options = nlohmann::json::object();
    if (!s.options.is_object()) fail_at(source, line_of(n["options"]), "options: expected a map of named options");
  }
  const std::string knob = knob_of(s.step);
  for (const auto& [key, value] : s.options.items())
    if (value.is_string() && value.get<std::string>() == "auto") {
      if (key != knob)
        fail_at(source, find_field_line(n["options"], key),
                knob.empty() ? fmt::format("{}: 'auto' is not possible here: step {} has no knob the budget search turns",
                                           key, s.step)
                             : fmt::format("{}: 'auto' is only possible for {}'s {}", key, s.step, knob));
      s.auto_knob = key;
    }
  if (n["budget"]) {
    const auto b = to_json(n["budget"]);
    if (!b.is_number() || b.get<double>() <= 0 || b.get<double>() > 1)
      fail_at(source, line_of(n["budget"]), fmt::format("budget: {}: expected a share in (0, 1]", nnc::json_text(b)));
    s.budget = b.get<double>();
  }
  if (n["layers"]) {
    const auto& layers = n["layers"];
    if (!layers.IsSequence()) fail_at(source, line_of(layers), "layers: expected a list of {match: REGEX, skip: true}");
    if (overrides_field(s.step).empty())
      fail_at(source, line_of(layers), fmt::format("layers: step {} takes no per-layer overrides", s.step));
    for (const auto& l : layers) {
      if (!l.IsMap()) fail_at(source, line_of(l), "layers: each entry is a map {match: REGEX, skip: true}");
      check_keys(l, {"match", "skip"}, "a layer override", source);
      LayerOverride o;
      o.line = line_of(l);
      if (!l["match"] || !l["match"].IsScalar()) fail_at(source, o.line, "match: missing (a regex of layer names)");
      o.match = l["match"].Scalar();
      try {
        std::regex check(o.match);
      } catch (const std::regex_error&) {
        fail_at(source, line_of(l["match"]), fmt::format("match: '{}' is not a valid regular expression", o.match));
      }
      const auto skip = l["skip"] ? to_json(l["skip"]) : nlohmann::json(false);
      if (!skip.is_boolean()) fail_at(source, line_of(l["skip"]), fmt::format("skip: {}: expected true or false", nnc::json_text(skip)));
      o.skip = skip.get<bool>();
      if (!o.skip) fail_at(source, o.line, "a layer override needs skip: true (the only override so far)");
      s.layers.push_back(std::move(o));
    }
  }
  return s;
}

// The line a step's option error points at: the field's own line when found.
int error_line(const Recipe& r, const RecipeStep& s, const std::string& field) {
  if (s.line == 0 || field.empty()) return s.line;
  if (field == overrides_field(s.step) && !s.layers.empty()) return s.layers.front().line;
  try {
    const auto root = YAML::Load(r.text);
    for (const auto& n : root["steps"])
      if (line_of(n) == s.line)
        if (int l = find_field_line(n, field)) return l;
  } catch (const YAML::Exception&) {
  }
  return s.line;
}

}  // namespace

nlohmann::json Recipe::to_json() const {
  auto steps_j = nlohmann::json::array();
  for (const auto& s : steps) {
    nlohmann::json j{{"step", s.step}, {"options", s.options}};
    if (!s.route.empty()) j["route"] = s.route;
    if (s.budget) j["budget"] = *s.budget;
    if (!s.layers.empty()) {
      j["layers"] = nlohmann::json::array();
      for (const auto& l : s.layers) j["layers"].push_back({{"match", l.match}, {"skip", l.skip}});
    }
    steps_j.push_back(std::move(j));
  }
  return {{"name", name}, {"description", description}, {"source", source}, {"steps", steps_j}};
}

std::vector<std::string> Recipe::routes() const {
  std::vector<std::string> r;
  for (const auto& s : steps)
    if (!s.route.empty() && std::find(r.begin(), r.end(), s.route) == r.end()) r.push_back(s.route);
  return r;
}

std::size_t Recipe::fork() const {
  const auto it = std::find_if(steps.begin(), steps.end(), [](const RecipeStep& s) { return !s.route.empty(); });
  return static_cast<std::size_t>(it - steps.begin());
}

namespace {

Recipe parse_recipe_text(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(ErrorCode::kInvalidArgument, "{}:{}: not valid YAML or JSON: {}", source, e.mark.line + 1, e.msg);
  }
  if (!root.IsMap()) fail_at(source, line_of(root), "a recipe is a map with 'steps:' (and 'name:', 'description:')");
  check_keys(root, {"name", "description", "steps"}, "a recipe", source);
  Recipe r;
  r.source = source;
  r.text = text;
  for (const char* field : {"name", "description"})
    if (root[field] && !root[field].IsScalar())
      fail_at(source, line_of(root[field]), fmt::format("{}: expected text, not a map or a list", field));
  if (root["name"]) r.name = root["name"].Scalar();
  if (root["description"]) r.description = root["description"].Scalar();
  if (!root["steps"] || !root["steps"].IsSequence() || root["steps"].size() == 0)
    fail_at(source, line_of(root), "steps: missing or empty (a list of steps)");
  for (const auto& n : root["steps"]) r.steps.push_back(parse_step(n, source));
  // Routes: alternatives that end the recipe, each one block of steps.
  const auto routes = r.routes();
  for (std::size_t i = r.fork(); i < r.steps.size(); ++i) {
    const auto& s = r.steps[i];
    if (s.route.empty())
      fail_at(source, s.line,
              fmt::format("{} without a route after the routes cannot work: routes are alternatives that end the "
                          "recipe; give it a route, or move it before them",
                          s.step));
    if (i > r.fork() && s.route != r.steps[i - 1].route &&
        std::any_of(r.steps.begin() + static_cast<std::ptrdiff_t>(r.fork()), r.steps.begin() + static_cast<std::ptrdiff_t>(i),
                    [&](const RecipeStep& e) { return e.route == s.route; }))
      fail_at(source, s.line,
              fmt::format("route '{}' comes back after route '{}': write each route's steps together", s.route,
                          r.steps[i - 1].route));
  }
  if (routes.size() == 1)
    fail_at(source, r.steps[r.fork()].line,
            fmt::format("route '{}' is the only route: routes are alternatives, give at least two (or drop route:)",
                        routes.front()));
  // An order that cannot work (within one line of steps: the unrouted ones, then one route's).
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    const auto& s = r.steps[i];
    auto same_line = [&](std::size_t j) { return r.steps[j].route.empty() || r.steps[j].route == s.route; };
    bool auto_before = false;
    for (std::size_t j = 0; j < i; ++j) auto_before = auto_before || (same_line(j) && !r.steps[j].auto_knob.empty());
    if (!s.auto_knob.empty() && auto_before)
      fail_at(source, s.line, fmt::format("{}: a second 'auto' knob: the budget search turns one knob per recipe", s.step));
    for (std::size_t j = 0; j < i; ++j)
      if (same_line(j) && r.steps[j].step == "share" && (s.step == "prune" || s.step == "lowrank"))
        fail_at(source, s.line,
                fmt::format("{} after share cannot work: it changes shared weights off their codebook, so the "
                            "sharing would be lost; put {} before share",
                            s.step, s.step));
    for (std::size_t j = 0; j < i; ++j)
      if (same_line(j) && r.steps[j].step == "quantize")
        fail_at(source, s.line,
                fmt::format("{} after quantize cannot work: quantize leaves int8 weights behind DequantizeLinear, "
                            "which no later step can train or compress further; put quantize last",
                            s.step));
    // fit chooses every layer's codebook under its size cap; a pruned model's zeros it keeps
    // (keep_zeros, the default), so it may follow prune and prune further.
    const bool keeps_zeros = !s.options.contains("keep_zeros") || s.options["keep_zeros"] != false;
    for (std::size_t j = 0; j < i; ++j) {
      if (!same_line(j)) continue;
      const auto& before = r.steps[j].step;
      if (s.step == "fit" && before == "share")
        fail_at(source, s.line,
                "fit after share cannot work: fit chooses every layer's codebook itself, so the sharing would be lost; "
                "put fit before share, or drop share (fit quantises)");
      if (s.step == "fit" && before == "prune" && !keeps_zeros)
        fail_at(source, s.line,
                "fit after prune with keep_zeros false cannot work: fit would start from the weights as dense, so "
                "what prune did would be lost; keep the zeros or put fit first");
      if (before == "fit" && (s.step == "prune" || s.step == "share" || s.step == "lowrank"))
        fail_at(source, s.line,
                fmt::format("{} after fit cannot work: it would replace fit's sparsity and codebooks, and the size "
                            "cap would no longer hold; only finetune may follow fit",
                            s.step));
    }
  }
  // Every step's options are checked now, as they will be built (a budget fills max_drop, the
  // command's --size a fit step's size).
  for (const auto& s : r.steps) make_recipe_step(r, s, s.budgeted() ? std::optional<double>(0.5) : std::nullopt, "1MB");
  r.name = r.name.empty() ? std::filesystem::path(source).stem().string() : r.name;
  return r;
}

}  // namespace

// Whatever the YAML holds, one line naming the file and the line: a value nested too deep (an
// alias inside itself), a key that is not a name, a conversion yaml-cpp refuses.
Recipe parse_recipe(const std::string& text, const std::string& source) {
  try {
    return parse_recipe_text(text, source);
  } catch (const NodeError& e) {
    fail_at(source, e.line, e.message);
  } catch (const YAML::Exception& e) {
    fail_at(source, e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg);
  }
}

Recipe read_recipe(const std::filesystem::path& path) {
  std::error_code ec;
  NNC_CHECK_CODE(std::filesystem::is_regular_file(path, ec), kIo, "recipe {}: no such file", path.string());
  return parse_recipe(read_file_text(path), path.string());
}

const std::string& default_recipe_text() {
  static const std::string text(kDefaultRecipe);
  return text;
}

Recipe default_recipe() { return parse_recipe(default_recipe_text(), "built-in"); }

const std::string& size_recipe_text() {
  static const std::string text(kSizeRecipe);
  return text;
}

Recipe size_recipe() { return parse_recipe(size_recipe_text(), "built-in size recipe"); }

bool has_step(const Recipe& recipe, const std::string& step) {
  return std::any_of(recipe.steps.begin(), recipe.steps.end(), [&](const RecipeStep& s) { return s.step == step; });
}

Step make_recipe_step(const Recipe& recipe, const RecipeStep& s, std::optional<double> max_drop,
                      const std::string& size) {
  nlohmann::json options = s.options;
  if (s.step == "fit" && !options.contains("size")) {
    if (size.empty())
      fail_at(recipe.source, s.line, "fit: size: missing: give the cap in the step's options or as compress --size");
    options["size"] = size;
  }
  // Pruning aimed at the command's size cap (prune's `size: cap`; fit follows it), or weight
  // sharing choosing the most accurate codebook within it.
  if ((s.step == "prune" || s.step == "share") && options.value("size", std::string()) == "cap") {
    if (size.empty())
      fail_at(recipe.source, error_line(recipe, s, "size"),
              fmt::format("{}: size: 'cap' is compress's --size, and none is given: give it, or a size here", s.step));
    options["size"] = size;
  }
  if (!s.auto_knob.empty()) {
    options.erase(s.auto_knob);
    if (max_drop) options["max_drop"] = *max_drop;
  } else if (s.step == "share" && max_drop && !options.contains("max_drop")) {
    options["max_drop"] = *max_drop;
  }
  if (!s.layers.empty()) {
    const auto field = overrides_field(s.step);
    std::string regex = options.value(field, std::string());
    for (const auto& l : s.layers) regex += (regex.empty() ? "" : "|") + std::string("(") + l.match + ")";
    options[field] = regex;
  }
  try {
    return make_step(s.step, options);
  } catch (const OptionError& e) {
    fail_at(recipe.source, error_line(recipe, s, e.field()), fmt::format("{}: {}", s.step, e.what()));
  } catch (const Error& e) {
    fail_at(recipe.source, s.line, fmt::format("{}: {}", s.step, e.what()));
  }
}

std::string recipe_location(const Recipe& recipe, const RecipeStep& step, const std::string& field) {
  const int line = error_line(recipe, step, field);
  return line > 0 ? fmt::format("{}:{}", recipe.source, line) : recipe.source;
}

}  // namespace nnc::compress
