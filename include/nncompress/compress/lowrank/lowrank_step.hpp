#pragma once
// The low-rank step: ALDS (Liebenwein et al., NeurIPS 2021) picks per layer a channel-group count
// k and rank j so that the largest relative error is smallest within a parameter, FLOP or
// latency budget (docs/low-rank.md); each chosen layer is replaced in the graph by an encoder and
// a 1x1 decoder (ONNX surgery), optionally fine-tuned with distillation. Plain SVD, uniform rank
// and energy-based rank are measured at the same budget in the same run, on the hold-out: one
// clearly better than ALDS (2 paired standard errors) is used instead, and the result says so. Masks and codebook
// assignments of the replaced weights are dropped; the factors are dense and can be pruned or
// shared by later steps.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/compress/finetune/finetune_step.hpp"

namespace nnc::compress {

class CompressedModel;
class Context;

struct LowrankOptions {
  // Fraction of the budget's units that remain, in (0, 1]. Unset: 0.3, or with max_drop the
  // smallest fraction whose factored model (before fine-tuning) stays within it on the hold-out.
  std::optional<double> keep;
  // Allowed test top-1 drop in percentage points (unset: none); the step fails when the result
  // (after fine-tuning) drops more.
  std::optional<double> max_drop;
  std::string budget = "params";                // params | flops | latency (FLOPs in SIMD channel blocks)
  std::vector<int64_t> groups{1, 2, 3, 5, 7, 9};  // candidate channel-group counts k (1 only: plain SVD)
  std::string keep_dense;                       // regex of layers (node or weight names) left as they are
  bool latency_aware = false;                   // keep dense the layers measured slower when factored
  bool recalibrate_bn = false;                  // re-estimate BatchNorm statistics of the factored model
  // Restore each factored layer's per-channel output mean and std on the calibration images
  // (channel_correction.hpp): what re-estimating a BatchNorm after it would do, also where the
  // exporter folded the BatchNorm away.
  bool correct_channels = true;
  // Factorise each layer with its output channels scaled to equal norm, the scales restored in
  // the decoder (GroupedSvd): a BatchNorm folded into the weights scales each channel by its
  // gamma / sigma, and the plain SVD then spends the rank on the channels it happened to enlarge.
  // Layers whose output goes into a (not folded) BatchNormalization keep the plain SVD.
  bool equalize_channels = true;
  // Distillation: -1.25 -> -0.33 pt on ResNet-20 after 2 epochs.
  FinetuneOptions finetune{0, 1e-3, 1e-4, "auto", 0.5, 4.0, true};
  std::string report_dir;                       // layers.csv, lowrank.json, error_vs_budget.svg ("" = none)

  template <typename V>
  void visit(V& v) {
    v("keep", keep);
    v("max_drop", max_drop);
    v("budget", budget);
    v("groups", groups);
    v("keep_dense", keep_dense);
    v("latency_aware", latency_aware);
    v("recalibrate_bn", recalibrate_bn);
    v("correct_channels", correct_channels);
    v("equalize_channels", equalize_channels);
    v("finetune", finetune);
    v("report_dir", report_dir);
  }
  void validate() const;
};

struct LowrankStep {
  LowrankOptions options_;

  LowrankStep() = default;
  explicit LowrankStep(LowrankOptions o) : options_(std::move(o)) {}
  std::string name() const { return "lowrank"; }
  nlohmann::json options() const;
  void validate() const { options_.validate(); }
  nlohmann::json apply(CompressedModel& model, Context& context) const;
};

}  // namespace nnc::compress
