// Recipes: the schema, the built-in default, every example in recipes/, and errors that name
// the file, the line and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nncompress/compress/fit/fit_step.hpp"
#include "nncompress/compress/prune/prune_step.hpp"
#include "nncompress/compress/recipe.hpp"
#include "nncompress/compress/share/share_step.hpp"
#include "nncompress/core/error.hpp"

using namespace nnc;
using compress::parse_recipe;

namespace {

// The message `text` fails with as a recipe ("" when it parses).
std::string recipe_error(const std::string& text) {
  try {
    parse_recipe(text, "r.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Recipe, TheDefaultPrunesUpItsScheduleThenSharesThenTrainsTheCodebook) {
  const auto r = compress::default_recipe();
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_EQ(r.name, "default");
  EXPECT_EQ(r.steps[0].step, "prune");
  EXPECT_EQ(r.steps[0].auto_knob, "sparsity");
  EXPECT_TRUE(r.steps[0].budgeted());
  EXPECT_DOUBLE_EQ(r.steps[0].budget.value(), 0.6);
  EXPECT_EQ(r.steps[1].step, "share");
  EXPECT_TRUE(r.steps[1].budgeted());
  EXPECT_EQ(r.steps[2].step, "finetune");
  EXPECT_FALSE(r.steps[2].budgeted());
  // The auto knob becomes the step's budget.
  auto prune = compress::make_recipe_step(r, r.steps[0], 0.3);
  const auto* p = prune.extract<compress::PruneStep>();
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->options_.sparsity.has_value());
  EXPECT_DOUBLE_EQ(p->options_.max_drop.value(), 0.3);
  EXPECT_EQ(p->options_.finetune.epochs, 2);
  EXPECT_EQ(p->options_.final_epochs.value(), 8);
  EXPECT_EQ(p->options_.finetune.augment, "off");
  auto share = compress::make_recipe_step(r, r.steps[1], 0.2);
  EXPECT_DOUBLE_EQ(share.extract<compress::ShareStep>()->options_.max_drop, 0.2);
  EXPECT_TRUE(share.extract<compress::ShareStep>()->options_.share_biases);
  EXPECT_TRUE(share.extract<compress::ShareStep>()->options_.share_other);
}

TEST(Recipe, TheSizeRecipeIsPruningToTheCapsSparsityThenFitWorkingToTheCommandsCap) {
  const auto r = compress::size_recipe();
  ASSERT_EQ(r.steps.size(), 4u);
  EXPECT_EQ(r.name, "size");
  EXPECT_EQ(r.steps[0].step, "prune");
  EXPECT_EQ(r.steps[1].step, "fit");
  // After the pruning, two routes: fit, or weight sharing to the cap and its fine-tuning.
  EXPECT_EQ(r.fork(), 1u);
  EXPECT_EQ(r.routes(), (std::vector<std::string>{"joint", "shared"}));
  EXPECT_EQ(r.steps[2].step, "share");
  EXPECT_EQ(r.steps[3].step, "finetune");
  EXPECT_EQ(compress::make_recipe_step(r, r.steps[2], std::nullopt, "12KB").extract<compress::ShareStep>()->options_.size,
            "12KB");
  EXPECT_TRUE(compress::has_step(r, "fit"));
  EXPECT_FALSE(compress::has_step(compress::default_recipe(), "fit"));
  // Pruning's `size: cap` is the command's --size: the sparsity is taken from it.
  auto prune = compress::make_recipe_step(r, r.steps[0], std::nullopt, "12KB");
  EXPECT_EQ(prune.extract<compress::PruneStep>()->options_.size, "12KB");
  EXPECT_FALSE(prune.extract<compress::PruneStep>()->options_.sparsity.has_value());
  try {
    compress::make_recipe_step(r, r.steps[0], std::nullopt);
    FAIL() << "a prune step sized by a missing cap was built";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("size: 'cap' is compress's --size, and none is given"), std::string::npos)
        << e.what();
  }
  // A sparsity and a size to take it from are one too many.
  try {
    compress::parse_recipe("steps:\n  - step: prune\n    options: {sparsity: 0.9, size: 12KB}\n  - step: fit\n",
                           "both.yaml");
    FAIL() << "a prune step with both a sparsity and a size was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("give the sparsity or the size cap it is taken from, not both"),
              std::string::npos)
        << e.what();
  }
  // compress --size fills the cap of a fit step that gives none, never one that does.
  auto fit = compress::make_recipe_step(r, r.steps[1], std::nullopt, "12KB");
  EXPECT_EQ(fit.extract<compress::FitStep>()->options_.size, "12KB");
  const auto own = compress::parse_recipe("steps:\n  - step: fit\n    options: {size: 20KB}\n", "own.yaml");
  EXPECT_EQ(compress::make_recipe_step(own, own.steps[0], std::nullopt, "12KB").extract<compress::FitStep>()->options_.size,
            "20KB");
  // Without either, the recipe's line says what is missing.
  try {
    compress::make_recipe_step(r, r.steps[1], std::nullopt);
    FAIL() << "a fit step without a size was built";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fit: size: missing"), std::string::npos) << e.what();
  }
  // recipes/size.yaml holds the same text.
  std::ifstream in(std::filesystem::path(NNC_SOURCE_DIR) / "recipes" / "size.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), compress::size_recipe_text()) << "recipes/size.yaml differs from the built-in size recipe";
}

// Routes: alternatives that end a recipe, each checked as its own line of steps after the
// unrouted ones.
TEST(Recipe, RoutesAreAlternativesThatEndTheRecipeEachCheckedAsItsOwnLine) {
  const auto r = parse_recipe(R"(steps:
  - step: prune
    options: {size: cap}
  - step: fit
    route: joint
  - step: share
    route: shared
    options: {size: cap}
  - step: finetune
    route: shared
)",
                              "r.yaml");
  EXPECT_EQ(r.fork(), 1u);
  EXPECT_EQ(r.routes(), (std::vector<std::string>{"joint", "shared"}));
  EXPECT_EQ(r.to_json()["steps"][2]["route"], "shared");
  EXPECT_FALSE(r.to_json()["steps"][0].contains("route"));
  // share's `size: cap` is the command's --size, as prune's is.
  auto share = compress::make_recipe_step(r, r.steps[2], std::nullopt, "12KB");
  EXPECT_EQ(share.extract<compress::ShareStep>()->options_.size, "12KB");
  const auto plain = compress::default_recipe();
  EXPECT_EQ(plain.fork(), plain.steps.size());
  EXPECT_TRUE(plain.routes().empty());
  // fit in one route and share in another do not meet (fit after share would be refused).
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n    route: a\n  - step: fit\n    route: b\n    options: {size: 1KB}\n"), "");
  // Within a route the order rules hold.
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n    route: a\n  - step: prune\n    route: a\n  - step: fit\n"
                         "    route: b\n    options: {size: 1KB}\n"),
            "r.yaml:4: prune after share cannot work: it changes shared weights off their codebook, so the sharing "
            "would be lost; put prune before share");
  // ... and between the unrouted steps and each route.
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n  - step: prune\n    route: a\n  - step: finetune\n    route: b\n"),
            "r.yaml:3: prune after share cannot work: it changes shared weights off their codebook, so the sharing "
            "would be lost; put prune before share");
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n    route: a\n  - step: finetune\n"),
            "r.yaml:4: finetune without a route after the routes cannot work: routes are alternatives that end the "
            "recipe; give it a route, or move it before them");
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n    route: a\n  - step: finetune\n    route: b\n  - step: finetune\n"
                         "    route: a\n"),
            "r.yaml:6: route 'a' comes back after route 'b': write each route's steps together");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n  - step: share\n    route: a\n"),
            "r.yaml:3: route 'a' is the only route: routes are alternatives, give at least two (or drop route:)");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    route: [a]\n  - step: share\n    route: b\n"),
            "r.yaml:3: route: expected a name (the alternative the step belongs to)");
  // One auto knob per line of steps: each route may have its own.
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    route: a\n    options: {sparsity: auto}\n  - step: lowrank\n"
                         "    route: b\n    options: {keep: auto}\n"),
            "");
}

TEST(Recipe, RecipesFolderHoldsTheDefaultAndExamplesThatParse) {
  const std::filesystem::path dir = std::filesystem::path(NNC_SOURCE_DIR) / "recipes";
  std::ifstream in(dir / "default.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), compress::default_recipe_text()) << "recipes/default.yaml differs from the built-in recipe";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml" && e.path().extension() != ".json") continue;
    const auto r = compress::read_recipe(e.path());
    EXPECT_FALSE(r.steps.empty()) << e.path();
    ++n;
  }
  EXPECT_GE(n, 4);
}

TEST(Recipe, LayerOverridesBecomeTheStepsSkipOptions) {
  const auto r = parse_recipe(R"(steps:
  - step: prune
    options: {sparsity: 0.5}
    layers:
      - {match: "^conv1", skip: true}
      - {match: "fc2", skip: true}
  - step: share
    layers:
      - {match: "fc2", skip: true}
)",
                              "r.yaml");
  auto prune = compress::make_recipe_step(r, r.steps[0], std::nullopt);
  EXPECT_EQ(prune.extract<compress::PruneStep>()->options_.keep_dense, "(^conv1)|(fc2)");
  EXPECT_DOUBLE_EQ(prune.extract<compress::PruneStep>()->options_.sparsity.value(), 0.5);
  EXPECT_FALSE(prune.extract<compress::PruneStep>()->options_.max_drop.has_value());  // a fixed setting: no budget
  auto share = compress::make_recipe_step(r, r.steps[1], 0.4);
  EXPECT_EQ(share.extract<compress::ShareStep>()->options_.keep_fp32, "(fc2)");
}

TEST(Recipe, JsonIsAcceptedToo) {
  const auto r = parse_recipe(R"({"name": "j", "steps": [{"step": "prune", "options": {"sparsity": "auto"}},
                                  {"step": "finetune", "options": {"epochs": 1}}]})",
                              "r.json");
  ASSERT_EQ(r.steps.size(), 2u);
  EXPECT_EQ(r.steps[0].auto_knob, "sparsity");
  EXPECT_EQ(r.steps[1].options["epochs"], 1);
}

TEST(Recipe, ErrorsNameTheFileTheLineAndTheField) {
  EXPECT_EQ(recipe_error("steps:\n  - step: shar\n"), "r.yaml:2: unknown step 'shar' (steps: prune, share, lowrank, fit, quantize, finetune)");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    options:\n      sparsity: auto\n      finetune: {epochs: 1, lrr: 3}\n"),
            "r.yaml:5: prune: lrr is not an option of prune.finetune (options: epochs, lr, weight_decay, augment, "
            "distill, temperature, train_codebooks)");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    options:\n      schedule_a: fast\n"),
            "r.yaml:4: prune: schedule_a \"fast\": expected a number");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    options: {sparsity: 1.5}\n"),
            "r.yaml:3: prune: sparsity 1.5: must be in [0, 1)");
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n  - step: prune\n"),
            "r.yaml:3: prune after share cannot work: it changes shared weights off their codebook, so the sharing "
            "would be lost; put prune before share");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n  - step: fit\n    options: {size: 12KB, keep_zeros: false}\n"),
            "r.yaml:3: fit after prune with keep_zeros false cannot work: fit would start from the weights as dense, "
            "so what prune did would be lost; keep the zeros or put fit first");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    options: {sparsity: 0.5}\n  - step: fit\n    options: {size: 12KB}\n"), "");
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n  - step: fit\n    options: {size: 12KB}\n"),
            "r.yaml:3: fit after share cannot work: fit chooses every layer's codebook itself, so the sharing would be "
            "lost; put fit before share, or drop share (fit quantises)");
  EXPECT_EQ(recipe_error("steps:\n  - step: fit\n    options: {size: 12KB}\n  - step: share\n"),
            "r.yaml:4: share after fit cannot work: it would replace fit's sparsity and codebooks, and the size cap "
            "would no longer hold; only finetune may follow fit");
  // Hostile YAML: an alias inside the value it names (a cycle), keys that are maps, a name that is
  // a map: one line naming the file and the line, never a crash.
  EXPECT_EQ(recipe_error("steps:\n  - &a {step: share, options: *a}\n"),
            "r.yaml:2: values nest more than 64 levels deep (an alias inside the value it names?)");
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n    options: {[a]: 1}\n"),
            "r.yaml:3: a key must be a name, not a map or a list");
  EXPECT_EQ(recipe_error("{[a]: 1}\n"), "r.yaml:1: a key must be a name, not a map or a list");
  EXPECT_EQ(recipe_error("name: {a: 1}\nsteps:\n  - step: share\n"), "r.yaml:1: name: expected text, not a map or a list");
  EXPECT_EQ(recipe_error("steps:\n  - step: quantize\n  - step: finetune\n"),
            "r.yaml:3: finetune after quantize cannot work: quantize leaves int8 weights behind DequantizeLinear, which "
            "no later step can train or compress further; put quantize last");
  EXPECT_EQ(recipe_error("steps:\n  - step: quantize\n    options: {calibration: kl}\n"),
            "r.yaml:3: quantize: calibration 'kl': expected minmax or percentile");
  EXPECT_EQ(recipe_error("steps:\n  - step: fit\n    options: {size: -3KB}\n"),
            "r.yaml:3: fit: size '-3KB': expected a positive number of bytes, e.g. 12KB or 12288");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    options: {sparsity: auto}\n  - step: lowrank\n    options: {keep: "
                         "auto}\n"),
            "r.yaml:4: lowrank: a second 'auto' knob: the budget search turns one knob per recipe");
  EXPECT_EQ(recipe_error("steps:\n  - step: share\n    options: {pop: auto}\n"),
            "r.yaml:3: pop: 'auto' is not possible here: step share has no knob the budget search turns");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    budget: 2\n"), "r.yaml:3: budget: 2: expected a share in (0, 1]");
  EXPECT_EQ(recipe_error("steps:\n  - step: finetune\n    layers: [{match: x, skip: true}]\n"),
            "r.yaml:3: layers: step finetune takes no per-layer overrides");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    layers:\n      - {match: \"(\", skip: true}\n"),
            "r.yaml:4: match: '(' is not a valid regular expression");
  EXPECT_EQ(recipe_error("steps:\n  - step: prune\n    option: {}\n"),
            "r.yaml:3: 'option' is not a field of a recipe step (fields: step, options, budget, layers, route)");
  EXPECT_EQ(recipe_error("steps: []\n"), "r.yaml:1: steps: missing or empty (a list of steps)");
  const auto bad_yaml = recipe_error("steps:\n  - step: [prune\n");
  EXPECT_EQ(bad_yaml.rfind("r.yaml:", 0), 0u) << bad_yaml;
  EXPECT_NE(bad_yaml.find("not valid YAML or JSON"), std::string::npos) << bad_yaml;
}
