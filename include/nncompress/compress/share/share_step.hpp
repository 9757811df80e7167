#pragma once
// The weight-sharing step: every layer weight goes into ONE codebook of uniform bins; NSGA-II
// searches the bin count (and, in extended mode, strides on the shared grid per tensor group)
// on (1 - validation macro-F1, index bits); the smallest candidate within the accuracy budget
// is confirmed on the hold-out images (extended mode) and its neighbouring entries are merged
// while the budget holds; with a size cap, the most accurate one whose file fits. Pruned weights
// stay exact zeros (a zero entry of their own), and the bits objective counts their sparse form.
// Workflow and figures: docs/weight-sharing.md.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace nnc::compress {

class CompressedModel;
class Context;

struct ShareOptions {
  std::string mode = "extended";        // paper (as published) | extended
  double max_drop = 0.5;                // allowed validation/hold-out top-1 drop, percentage points
  std::optional<double> confidence;     // paired standard errors of margin (default: 1 extended, 0 paper)
  int pop = 100, gens = 100;            // NSGA-II
  int k_min = 2, k_max = 1024;          // bin counts searched
  std::optional<int> max_evals;         // given: all evaluations of the step (search, hold-out checks,
                                        // merge); default: the search's, 1000 extended, no cap paper
  int max_groups = 24, max_stride = 8;  // extended mode: stride genes, largest stride
  int max_merge_evals = 3000;
  bool share_biases = false;
  // The other learned parameters too (onnxio::other_parameters: LayerNorm scales and shifts,
  // position embeddings, class tokens), which are otherwise stored as fp32.
  bool share_other = false;
  std::string keep_fp32;                // regex of layers (node or weight names) left out, in fp32
  std::optional<bool> bias_correction;  // default: on in extended mode, off in paper mode
  std::optional<bool> error_feedback;   // default: on in extended mode, off in paper mode
  // Per-tensor scales in front of the shared codebook (share::scale_tensors): no tensor's range
  // is more than this many times narrower than the widest one's on the shared grid. 0: one
  // absolute grid, as published (paper mode's default); extended mode's default: 16.
  std::optional<double> scale_spread;
  std::string report_dir;               // pareto.json, pareto.csv, front.svg ("" = none)
  // A cap on the .nnc file ("12KB", bytes): instead of the smallest codebook within max_drop,
  // the most accurate searched one (on validation) whose file fits, no merging.
  std::string size;

  template <typename V>
  void visit(V& v) {
    v("mode", mode);
    v("max_drop", max_drop);
    v("confidence", confidence);
    v("pop", pop);
    v("gens", gens);
    v("k_min", k_min);
    v("k_max", k_max);
    v("max_evals", max_evals);
    v("max_groups", max_groups);
    v("max_stride", max_stride);
    v("max_merge_evals", max_merge_evals);
    v("share_biases", share_biases);
    v("share_other", share_other);
    v("keep_fp32", keep_fp32);
    v("bias_correction", bias_correction);
    v("error_feedback", error_feedback);
    v("scale_spread", scale_spread);
    v("report_dir", report_dir);
    v("size", size);
  }
  void validate() const;
};

struct ShareStep {
  ShareOptions options_;

  ShareStep() = default;
  explicit ShareStep(ShareOptions o) : options_(std::move(o)) {}
  std::string name() const { return "share"; }
  nlohmann::json options() const;
  void validate() const { options_.validate(); }
  // Replaces the model's sharing state with one codebook; BatchNorm after a Conv is folded
  // first. The report holds the search, confirmation and merge figures and the sizes.
  nlohmann::json apply(CompressedModel& model, Context& context) const;
};

}  // namespace nnc::compress
