#pragma once
// Runs a recipe on a model under one accuracy budget (what `nncompress compress` does):
//  - the original is measured on the hold-out (all held-out training images) and the test split;
//  - the budget is split across the steps explicitly: a budgeted step (an `auto` knob, weight
//    sharing) gets its share of what the earlier steps left, measured on the hold-out;
//  - after each step the model's hold-out and test top-1 and its real .nnc bytes are recorded;
//  - the final model is confirmed on the whole hold-out (drop plus one paired standard error
//    within the budget); when it is not, the last step result that is becomes the result and the
//    report says so. The test split is only measured, never searched on;
//  - with a size cap, the recipe needs a fit step (the step that works to a size), and the
//    result is also within the cap.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "nncompress/compress/recipe.hpp"

namespace nnc::compress {

class CompressedModel;
class Context;

struct ComposeOptions {
  std::optional<double> max_drop;  // allowed hold-out top-1 drop from the original, percentage points
  // Cap on the .nnc file ("12KB", bytes; "" = none): the fit steps without their own size take
  // it, and the result is the last state within it (and within max_drop when given).
  std::string size;
  std::filesystem::path report_dir;  // each step's own report files under steps/NN-<step>/ ("" = none)
};

// Applies the recipe's steps to `model` and returns the run's figures: "reference", "steps"
// (one row per state: the original, then after each step), "reports" (each step's report),
// "final" (the state used, its hold-out check), "layers" (per-layer table of the result).
// Throws for an impossible budget (an `auto` knob without max_drop, a step that finds nothing, a
// size cap without a fit step, no state within both the cap and the budget).
nlohmann::json compose(const Recipe& recipe, const ComposeOptions& options, CompressedModel& model, Context& context);

// Per-layer table of a model: params, kept (non-zero), distinct shared values and their bits,
// rank when factored, and an estimate of the stored bytes (entropy of the indices, positions).
nlohmann::json layer_table(const CompressedModel& model);

}  // namespace nnc::compress
