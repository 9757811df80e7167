// nncompress prune MODEL --sparsity S -o OUT.onnx: layer-adaptive magnitude pruning
// (compress::PruneStep), the pruned ONNX (dense zeros, or --onnx-sparse) and the sparse .nnc.
#include <fmt/format.h>

#include "cli/compression_command.hpp"
#include "nncompress/compress/prune/prune_step.hpp"
#include "nncompress/onnx/weight_inputs.hpp"

namespace nnc::cli {

void register_prune_command(CLI::App& app) {
  struct Opts {
    ModelIo io;
    compress::PruneOptions prune;
    int final_epochs = -1;
    double sparsity = 0.5, max_drop = 1.0;
    bool no_comparison = false, worst_case = false, no_curve_cache = false, no_activation_cache = false;
    bool no_climb_refine = false;
    std::string curve_cache;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto& p = opts->prune;
  auto* cmd = app.add_subcommand("prune", "Layer-adaptive magnitude pruning by rate-distortion (curves + DP)");
  // Expert and benchmarking settings (docs/pruning.md).
  const std::string advanced = "Advanced";
  add_model_io_options(cmd, opts->io.model, opts->io.output, opts->io.nnc, "Pruned ONNX model (zeros in place)",
                       "Also write the .nnc container (sparse tensors)");
  auto* sparsity = cmd->add_option(
      "--sparsity", opts->sparsity,
      fmt::format("Fraction of the weights of {} layers to prune, in [0, 1) (default 0.5; with --max-drop alone: the "
                  "largest within it)",
                  onnxio::weight_operators()));
  auto* max_drop = cmd->add_option("--max-drop", opts->max_drop,
                                   "Allowed test top-1 drop, percentage points: alone, the largest sparsity within it "
                                   "on the hold-out is found: with --finetune-epochs, by climbing the schedule (each "
                                   "step fine-tuned; --climb-patience broken steps in a row roll back to the last that "
                                   "held; up to --max-sparsity), else the largest one-shot allocation; with --sparsity, that "
                                   "sparsity is used. Either way the command fails, writing nothing, when the result "
                                   "drops more");
  cmd->add_option("--size", p.size,
                  "A .nnc size cap the pruned model is meant for (fit follows: 27140, 12KB): the sparsity at which the "
                  "kept weights, at --size-bits bits with their positions, fill it (instead of --sparsity; with "
                  "--max-drop, the climb stops there at most)");
  cmd->add_option("--size-bits", p.size_bits, "Bits per kept weight that --size assumes")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--max-sparsity", p.max_sparsity, "Where a climb of the schedule (--max-drop with fine-tuning) stops")
      ->capture_default_str();
  cmd->add_option("--climb-patience", p.climb_patience,
                  "Broken steps in a row (each after --final-epochs) that end a climb; 1 stops at the first")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_flag("--no-climb-refine", opts->no_climb_refine,
               "When a climb rolls back, no extra step halfway between the last step that held and the first "
               "above it that broke")
      ->group(advanced);
  cmd->add_option("--alloc", p.alloc, "rd | uniform | global | random | file:ALLOC.json")->capture_default_str();
  add_finetune_options(cmd, p.finetune, "after each schedule step (masks held fixed)");
  auto* final_epochs = cmd->add_option("--final-epochs", opts->final_epochs,
                                       "Fine-tuning epochs after the last schedule step (default: --finetune-epochs)");
  cmd->add_option("--schedule-a", p.schedule_a, "Iterative schedule s_t = 1 - (1 - a)^t")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--keep-dense", p.keep_dense, "Regex of layers that stay dense");
  cmd->add_option("--grid-step", p.grid_step, "Distortion-curve grid step")->capture_default_str()->group(advanced);
  cmd->add_option("--coarse", p.coarse,
                  "Coarse-to-fine curves: evaluate every COARSE-th grid point, then the whole grid around each "
                  "layer's chosen point (1: the whole grid)")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--rd-passes", p.rd_passes,
                  "RD allocation passes (1: as published): after the first, curves are re-measured in the context of the "
                  "current allocation (the other layers pruned) and the DP re-run; a pass is kept only if it lowers the "
                  "measured distortion")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_flag("--no-comparison", opts->no_comparison,
                "Skip the one-shot comparison of RD against the baselines (with --alloc other than rd, no curves "
                "are computed at all)");
  cmd->add_flag("--recalibrate-bn", p.recalibrate_bn,
                "Re-estimate BatchNorm running statistics on the calibration images after each pruning step "
                "(no gradients), and measure the RD curves and allocations with them re-estimated (the one-shot "
                "comparison reports top-1 with re-estimated statistics for every allocation anyway)");
  cmd->add_flag("--onnx-sparse", opts->io.compact_pruned,
                "Write each pruned weight in its smallest form instead of dense zeros: a bitmask + the non-zero values, "
                "unpacked in the graph by standard operators (opset >= 11), or an ONNX sparse initializer (int64 "
                "positions; for tensors more than ~98% zeros); any ONNX runtime runs the file");
  cmd->add_flag("--zero-data", p.zero_data, "Calibrate on standard-normal inputs instead of data")->group(advanced);
  cmd->add_option("--distortion", p.distortion,
                  "Output distortion of the curves: mse (of logits, as published) | worst (worst sample's MSE) | "
                  "kl (KL divergence of the predicted class distribution)")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_flag("--worst-case", opts->worst_case, "Same as --distortion worst")->group(advanced);
  cmd->add_option("--curve-cache", opts->curve_cache,
                  "Directory caching distortion curves by model/data hash (default: $NNC_CACHE_DIR, "
                  "$XDG_CACHE_HOME/nncompress or ~/.cache/nncompress)")
      ->group(advanced);
  cmd->add_flag("--no-curve-cache", opts->no_curve_cache, "Always recompute the distortion curves")->group(advanced);
  cmd->add_flag("--no-activation-cache", opts->no_activation_cache,
                "Curves run the whole network per grid point (benchmarking the activation cache)")
      ->group(advanced);
  cmd->add_option("--report", p.report_dir,
                  "Report directory: curves.csv, curves.svg (one line per layer), allocation.json (editable, "
                  "--alloc file:)");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts, final_epochs, sparsity, max_drop] {
    auto& o = *opts;
    const auto control = apply_global_options(o.global);
    if (final_epochs->count()) o.prune.final_epochs = o.final_epochs;
    if (sparsity->count()) o.prune.sparsity = o.sparsity;
    if (max_drop->count()) o.prune.max_drop = o.max_drop;
    o.prune.comparison = !o.no_comparison;
    o.prune.climb_refine = !o.no_climb_refine;
    o.prune.curve_cache = !o.no_curve_cache;
    o.prune.activation_cache = !o.no_activation_cache;
    if (o.worst_case) o.prune.distortion = "worst";
    const compress::Step step{compress::PruneStep(o.prune)};
    auto j = run_step(step, o.io, o.data, control, [&](compress::Context& c) { c.cache_dir = o.curve_cache; });
    if (!j.value("changed", true)) return o.global.json ? print_json(j) : void();
    if (!j.contains("onnx_sparse")) j["onnx_sparse"] = nullptr;
    if (o.global.json) return print_json(j);
    if (j["alloc"] != j["alloc_requested"])
      fmt::print("{}: the {} allocation was used: clearly better than {} on the hold-out (one-shot)\n", o.io.model,
                 j["alloc"].get<std::string>(), j["alloc_requested"].get<std::string>());
    fmt::print("{} -> {}: sparsity {:.2f}%, test top-1 {:.2f}% -> {:.2f}%; {:.2f}x (fp32 / sparse .nnc, {} bytes); "
               "ONNX file {} bytes ({:.2f}x{})\n",
               o.io.model, o.io.output, 100 * j["sparsity"].get<double>(), 100 * j["top1_before"].get<double>(),
               100 * j["top1_after"].get<double>(), j["ratio"].get<double>(), j["nnc_bytes"].get<std::size_t>(),
               j["onnx_bytes"].get<std::size_t>(), j["onnx_ratio"].get<double>(),
               o.io.compact_pruned ? ", sparse initializers" : ", dense zeros; --onnx-sparse");
    for (const auto& r : j["oneshot_comparison"]) {
      // Only the RD allocation predicts its distortion (the sum of its curves); the JSON has -1 for the rest.
      const double predicted = r["predicted_distortion"].get<double>();
      fmt::print("  one-shot {:<8} hold-out top-1 {:.2f}%, test top-1 {:.2f}%  distortion {}measured {:.4g}",
                 r["alloc"].get<std::string>(), 100 * r["holdout_top1"].get<double>(), 100 * r["top1"].get<double>(),
                 predicted >= 0 ? fmt::format("predicted {:.4g}, ", predicted) : "",
                 r["measured_distortion"].get<double>());
      if (r.contains("top1_vs_rd_pt"))
        fmt::print("  (vs rd {:+.2f} +- {:.2f} pt)", r["top1_vs_rd_pt"].get<double>(), r["top1_vs_rd_se_pt"].get<double>());
      if (r.contains("top1_bn_recalibrated"))
        fmt::print("  (BatchNorm recalibrated: {:.2f}%{})", 100 * r["top1_bn_recalibrated"].get<double>(),
                   r.contains("top1_bn_recalibrated_vs_rd_pt")
                       ? fmt::format(", vs rd {:+.2f} +- {:.2f} pt", r["top1_bn_recalibrated_vs_rd_pt"].get<double>(),
                                     r["top1_bn_recalibrated_vs_rd_se_pt"].get<double>())
                       : "");
      fmt::print("\n");
    }
  });
}

}  // namespace nnc::cli
