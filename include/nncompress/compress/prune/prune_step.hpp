#pragma once
// The pruning step: layer-adaptive magnitude pruning to a global sparsity. Per-layer
// rate-distortion curves (output distortion against the fraction of a layer's smallest weights
// removed) and a dynamic programme choose how much each layer loses (Sec. 3 of the method;
// docs/pruning.md); with fine-tuning, an iterative schedule s_t = 1 - (1 - a)^t prunes and
// fine-tunes (masks held fixed) until the target. The baselines (uniform, global magnitude,
// random) are measured one-shot at the same budget in the same run, on the hold-out: one clearly
// better than the requested allocation (2 paired standard errors) is used instead, and the
// result says so. Pruned weights become the model's masks; weights already pruned stay pruned.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "nncompress/compress/finetune/finetune_step.hpp"

namespace nnc::compress {

class CompressedModel;
class Context;

struct PruneOptions {
  // Fraction of the layer weights pruned, in [0, 1). Unset: 0.5, or with max_drop the largest
  // within it: with fine-tuning, the schedule is climbed (each step pruned further and
  // fine-tuned, its hold-out drop checked; climb_patience broken steps in a row roll back to
  // the last that held, then climb_refine tries one step halfway to the first that broke; at
  // most max_sparsity); without, the largest whose one-shot allocation
  // stays within it on the hold-out.
  std::optional<double> sparsity;
  double max_sparsity = 0.99;         // where a climb of the schedule stops
  // A .nnc size cap ("27140", "12KB") the pruned model is meant for (fit follows): the sparsity
  // is the one at which the kept weights, stored at size_bits bits with their positions, fill
  // it (fit/size_sparsity.hpp); a climb stops there at most. Not with `sparsity`.
  std::string size;
  int size_bits = 4;
  int climb_patience = 2;             // broken steps in a row that end a climb (1: the first one)
  // When a climb rolls back, one more step from the model that held: halfway (in kept weights,
  // geometrically) to the first step above it that broke, kept when it holds.
  bool climb_refine = true;
  // Allowed test top-1 drop in percentage points (unset: none); the step fails when the result
  // (after fine-tuning) drops more.
  std::optional<double> max_drop;
  std::string alloc = "rd";           // rd | uniform | global | random | file:ALLOCATION.json
  std::string keep_dense;             // regex of layers (node or weight names) that stay dense
  double schedule_a = 0.2;            // iterative schedule s_t = 1 - (1 - a)^t (with fine-tuning)
  double grid_step = 0.01;            // distortion-curve grid
  int coarse = 8;                     // coarse-to-fine curves: every coarse-th point, then around the choice
  int rd_passes = 2;                  // RD passes (1: as published); later passes re-measure curves in context
  FinetuneOptions finetune;           // after each schedule step (epochs 0: one-shot)
  std::optional<int> final_epochs;    // fine-tuning epochs of the last step (default: finetune.epochs)
  bool comparison = true;             // one-shot RD against the baselines at the same budget
  bool recalibrate_bn = false;        // re-estimate BatchNorm statistics after pruning (and in the curves)
  bool zero_data = false;             // calibrate on standard-normal inputs instead of data
  std::string distortion = "mse";     // mse | worst | kl
  bool activation_cache = true;       // curves run only the layers from the pruned one on
  bool curve_cache = true;            // read/write curves in the context's cache folder
  std::string report_dir;             // curves.csv, curves.svg, allocation.json ("" = none)

  template <typename V>
  void visit(V& v) {
    v("sparsity", sparsity);
    v("max_drop", max_drop);
    v("max_sparsity", max_sparsity);
    v("size", size);
    v("size_bits", size_bits);
    v("climb_patience", climb_patience);
    v("climb_refine", climb_refine);
    v("alloc", alloc);
    v("keep_dense", keep_dense);
    v("schedule_a", schedule_a);
    v("grid_step", grid_step);
    v("coarse", coarse);
    v("rd_passes", rd_passes);
    v("finetune", finetune);
    v("final_epochs", final_epochs);
    v("comparison", comparison);
    v("recalibrate_bn", recalibrate_bn);
    v("zero_data", zero_data);
    v("distortion", distortion);
    v("activation_cache", activation_cache);
    v("curve_cache", curve_cache);
    v("report_dir", report_dir);
  }
  void validate() const;
};

struct PruneStep {
  PruneOptions options_;

  PruneStep() = default;
  explicit PruneStep(PruneOptions o) : options_(std::move(o)) {}
  std::string name() const { return "prune"; }
  nlohmann::json options() const;
  void validate() const { options_.validate(); }
  nlohmann::json apply(CompressedModel& model, Context& context) const;
};

}  // namespace nnc::compress
