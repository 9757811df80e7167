// The step registry and step options: by name, from JSON, errors naming the field.
#include <gtest/gtest.h>

#include "nncompress/compress/prune/prune_step.hpp"
#include "nncompress/compress/registry.hpp"
#include "nncompress/compress/share/share_step.hpp"
#include "nncompress/core/error.hpp"

using namespace nnc;

namespace {

// The field and detail of the OptionError `f` throws ("" when it throws none).
std::pair<std::string, std::string> option_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const OptionError& e) {
    return {e.field(), e.detail()};
  }
  return {};
}

}  // namespace

TEST(Registry, ListsEveryStepAndMakesThemByName) {
  std::vector<std::string> names;
  for (const auto& s : compress::registered_steps()) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"prune", "share", "lowrank", "fit", "quantize", "finetune"}));
  for (const auto& n : names) {
    // fit's size has no default: it is required.
    auto step = compress::make_step(n, n == "fit" ? nlohmann::json{{"size", "12KB"}} : nlohmann::json::object());
    EXPECT_EQ(step.name(), n);
    EXPECT_TRUE(step.options().is_object());
    EXPECT_EQ(compress::find_step(n).defaults().size(), step.options().size()) << n;
  }
  EXPECT_EQ(option_error([] { compress::make_step("fit"); }),
            (std::pair<std::string, std::string>{"size", "'': empty (expected e.g. 12KB or 12288)"}));
  EXPECT_EQ(option_error([] { compress::make_step("fit", {{"size", "12XB"}}); }).first, "size");
  try {
    compress::make_step("quantise");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown step 'quantise' (steps: prune, share, lowrank, fit, quantize, finetune)");
  }
}

TEST(Registry, OptionsComeFromJsonByFieldName) {
  auto step = compress::make_step("share", {{"pop", 16}, {"max_drop", 1.0}, {"mode", "paper"}, {"error_feedback", true}});
  const auto* share = step.extract<compress::ShareStep>();
  ASSERT_NE(share, nullptr);
  EXPECT_EQ(share->options_.pop, 16);
  EXPECT_EQ(share->options_.mode, "paper");
  EXPECT_EQ(share->options_.error_feedback, std::optional<bool>(true));
  EXPECT_FALSE(share->options_.bias_correction.has_value());  // the mode's default
  EXPECT_EQ(step.options()["pop"], 16);
  EXPECT_TRUE(step.options()["bias_correction"].is_null());
  // Nested options (pruning's fine-tuning) and optionals.
  auto prune = compress::make_step("prune", {{"sparsity", 0.9}, {"finetune", {{"epochs", 2}, {"lr", 1e-3}}},
                                             {"final_epochs", 5}});
  const auto& po = prune.extract<compress::PruneStep>()->options_;
  EXPECT_EQ(po.finetune.epochs, 2);
  EXPECT_DOUBLE_EQ(po.finetune.lr, 1e-3);
  EXPECT_EQ(po.final_epochs, std::optional<int>(5));
  // Round trip: the options a step reports make the same step.
  EXPECT_EQ(compress::make_step("prune", prune.options()).options(), prune.options());
}

TEST(Registry, BadOptionsNameTheirField) {
  EXPECT_EQ(option_error([] { compress::make_step("share", {{"pop", 6}}); }),
            std::make_pair(std::string("pop"),
                           std::string("6: NSGA-II needs a population that is a multiple of 4 and at least 8")));
  EXPECT_EQ(option_error([] { compress::make_step("share", {{"max_drop", "half"}}); }),
            std::make_pair(std::string("max_drop"), std::string("\"half\": expected a number")));
  EXPECT_EQ(option_error([] { compress::make_step("prune", {{"sparsity", 1.5}}); }),
            std::make_pair(std::string("sparsity"), std::string("1.5: must be in [0, 1)")));
  EXPECT_EQ(option_error([] { compress::make_step("prune", {{"finetune", {{"lr", -1}}}}); }),
            std::make_pair(std::string("finetune.lr"), std::string("-1: must be positive")));
  const auto unknown = option_error([] { compress::make_step("lowrank", {{"rank", 4}}); });
  EXPECT_EQ(unknown.first, "rank");
  EXPECT_EQ(unknown.second.rfind("is not an option of lowrank (options: keep, max_drop, budget, groups,", 0), 0u) << unknown.second;
  // A step made directly validates on construction too.
  compress::PruneOptions o;
  o.alloc = "magic";
  EXPECT_EQ(option_error([&] { compress::Step s{compress::PruneStep(o)}; }).first, "alloc");
}
