#pragma once
// A recipe: an ordered list of registered steps, each with its options, its share of the
// accuracy budget and per-layer overrides, read from YAML (JSON is YAML too). Schema and examples:
// docs/recipes.md, recipes/. Every error names the file, the line and the field.
//
//   name: lenet
//   steps:
//     - step: prune
//       budget: 0.6                 # share of the accuracy budget left when the step starts
//       options: {sparsity: auto, finetune: {epochs: 2}}
//       layers:
//         - match: "^fc3"           # regex over node and weight names
//           skip: true              # the layer is left as it is
//     - step: share
//     - step: finetune
//       options: {epochs: 2}
//
// Steps with a `route:` are alternatives that end a recipe (prune, then fit or share+finetune):
// each route runs from the model the unrouted steps left, and the result is the best route's
// (with a size cap the most accurate within it, else the smallest within the budget).
//
// `auto` marks the one knob the budget search turns (prune's sparsity, lowrank's keep).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/compress/step.hpp"

namespace nnc::compress {

struct LayerOverride {
  std::string match;  // regex searched in node and weight names
  bool skip = false;
  int line = 0;
};

struct RecipeStep {
  std::string step;                  // a registered step's name
  nlohmann::json options = nlohmann::json::object();
  std::optional<double> budget;      // share in (0, 1] of the budget left; unset: an equal split
  std::vector<LayerOverride> layers;
  int line = 0;                      // where the step starts (1-based; 0 for built-in recipes)
  // The alternative the step belongs to (empty: every route runs it). Routes end a recipe: each
  // runs its steps from the model the steps before them left, and compose keeps the best result.
  std::string route;
  // The option the budget search turns ("sparsity", "keep"), when its value is `auto`.
  std::string auto_knob;
  // Whether the step takes a share of the accuracy budget (an auto knob, or weight sharing,
  // whose search always works to a budget).
  bool budgeted() const { return !auto_knob.empty() || step == "share"; }
};

struct Recipe {
  std::string name, description;
  std::vector<RecipeStep> steps;
  std::string source;  // the file ("built-in" for the default)
  std::string text;    // as written (error lines)
  nlohmann::json to_json() const;
  // The routes in the order they first appear (none: one line of steps).
  std::vector<std::string> routes() const;
  // Where the routes start (steps.size() without routes).
  std::size_t fork() const;
};

// Reads and checks a recipe: unknown steps, options, fields and wrong types, two `auto` knobs,
// an order that cannot work (pruning or low-rank after sharing) are one-line errors
// "FILE:LINE: ...". Options are checked by building each step (with the budget's max_drop).
Recipe read_recipe(const std::filesystem::path& path);
Recipe parse_recipe(const std::string& text, const std::string& source);
// The built-in default (recipes/default.yaml holds the same text).
Recipe default_recipe();
const std::string& default_recipe_text();
// The built-in recipe of `compress --size` (recipes/size.yaml holds the same text): pruning to
// the cap's sparsity, then fit or weight sharing, whichever is more accurate within the cap.
Recipe size_recipe();
const std::string& size_recipe_text();
// Whether a step of `recipe` is the registered step `step`.
bool has_step(const Recipe& recipe, const std::string& step);

// The step a recipe entry becomes in a run: `max_drop` (percentage points) replaces the auto
// knob and is weight sharing's budget; `size` (compress --size) is a fit step's cap when its
// options give none; the layer overrides become the step's options (prune: keep_dense; share:
// keep_fp32; lowrank: keep_dense). Errors carry the recipe's file and line.
Step make_recipe_step(const Recipe& recipe, const RecipeStep& step, std::optional<double> max_drop,
                      const std::string& size = "");
// "FILE:LINE" of a step's option `field` (its per-layer overrides for the override field, the
// step itself when not found): where an error the step raises while it runs points.
std::string recipe_location(const Recipe& recipe, const RecipeStep& step, const std::string& field);

}  // namespace nnc::compress
