// nncompress lowrank MODEL --keep F -o OUT.onnx: ALDS low-rank decomposition
// (compress::LowrankStep), the factored ONNX and the .nnc.
#include <fmt/format.h>

#include "cli/compression_command.hpp"
#include "nncompress/compress/lowrank/lowrank_step.hpp"

namespace nnc::cli {

void register_lowrank_command(CLI::App& app) {
  struct Opts {
    ModelIo io;
    compress::LowrankOptions lowrank;
    GlobalOptions global;
    DataOptions data;
    double keep = 0.3, max_drop = 1.0;
    bool no_channel_correction = false;
    bool no_equalize_channels = false;
  };
  auto opts = std::make_shared<Opts>();
  auto& l = opts->lowrank;
  auto* cmd = app.add_subcommand("lowrank", "ALDS low-rank decomposition to a parameter or FLOP budget");
  add_model_io_options(cmd, opts->io.model, opts->io.output, opts->io.nnc, "Factored ONNX model");
  auto* keep = cmd->add_option("--keep", opts->keep,
                               "Fraction of all initializer elements (or FLOPs, or blocked FLOPs: see --budget) that "
                               "remain, in (0, 1] (default 0.3; with --max-drop alone: the smallest within it)");
  auto* max_drop = cmd->add_option("--max-drop", opts->max_drop,
                                   "Allowed test top-1 drop, percentage points: alone, the smallest --keep whose "
                                   "factored model stays within it on the hold-out is found; with --keep, that keep is "
                                   "used. Either way the command fails, writing nothing, when the result drops more");
  cmd->add_option("--budget", l.budget,
                  "params | flops | latency (FLOPs with channel counts rounded up to the CPU's SIMD block, which "
                  "is what the engine's oneDNN kernels execute; tracks measured time where plain FLOPs do not)")
      ->capture_default_str();
  cmd->add_option("--groups", l.groups, "Candidate channel-group counts k per layer (1 only: plain SVD)")
      ->capture_default_str()
      ->delimiter(',')
      ->group("Advanced");
  cmd->add_flag("--latency-aware", l.latency_aware,
                "Keep dense every layer whose factored form is measured slower in the engine (batch 256), "
                "re-allocating the budget over the others");
  cmd->add_flag("--recalibrate-bn", l.recalibrate_bn,
                "Re-estimate BatchNorm running statistics of the factored model (and of the baselines) on the "
                "calibration images before it is measured or fine-tuned (no gradients)");
  cmd->add_flag("--no-channel-correction", opts->no_channel_correction,
                "Leave the factored layers' outputs as the SVD gives them (by default each factored layer's per-channel "
                "output mean and standard deviation on the calibration images are restored to the original's, layer by "
                "layer)")
      ->group("Advanced");
  cmd->add_flag("--no-equalize-channels", opts->no_equalize_channels,
                "Factorise each layer's weight as it is (by default every output channel is scaled to unit norm "
                "for the SVD and the scales are put back in the decoder, so that a BatchNorm folded into the weights "
                "does not decide which channels get the rank; layers followed by a BatchNormalization always keep "
                "the plain SVD)")
      ->group("Advanced");
  add_finetune_options(cmd, l.finetune, "after decomposition");
  cmd->add_option("--report", l.report_dir,
                  "Report directory: layers.csv, lowrank.json, error_vs_budget.svg (ALDS and plain SVD swept over budgets)");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts, keep, max_drop] {
    auto& o = *opts;
    if (keep->count()) o.lowrank.keep = o.keep;
    if (max_drop->count()) o.lowrank.max_drop = o.max_drop;
    o.lowrank.correct_channels = !o.no_channel_correction;
    o.lowrank.equalize_channels = !o.no_equalize_channels;
    const auto control = apply_global_options(o.global);
    const compress::Step step{compress::LowrankStep(o.lowrank)};
    auto j = run_step(step, o.io, o.data, control);
    if (!j.value("changed", true)) return o.global.json ? print_json(j) : void();
    if (o.global.json) return print_json(j);
    fmt::print("{} -> {}: keep {:.3f} ({}), test top-1 {:.2f}% -> {:.2f}% ({})\n", o.io.model, o.io.output,
               j["keep"].get<double>(), j["method"].get<std::string>(), 100 * j["top1_before"].get<double>(),
               100 * j["top1_after"].get<double>(),
               j.value("finetune_epochs", 0) > 0
                   ? fmt::format("{:.2f}% before {} epochs of fine-tuning",
                                 100 * j["top1_after_no_finetune"].get<double>(), j["finetune_epochs"].get<int>())
                   : "no fine-tuning");
    fmt::print("  params kept {:.1f}%, FLOPs kept {:.1f}% (blocked by {}: {:.1f}%), max relative error {:.3f}; latency "
               "{:.1f} -> {:.1f} ms (batch {}), {:.2f} -> {:.2f} ms (batch 1); allocation {:.2f}s\n",
               100 * j["params_kept"].get<double>(), 100 * j["flops_kept"].get<double>(), j["simd_block"].get<int64_t>(),
               100 * j["blocked_flops_kept"].get<double>(), j["max_error"].get<double>(),
               j["latency_ms_before"].get<double>(), j["latency_ms_after"].get<double>(), j["latency_batch"].get<int64_t>(),
               j["latency_ms_before_batch1"].get<double>(), j["latency_ms_after_batch1"].get<double>(),
               j["allocation_seconds"].get<double>());
    for (const auto& b : j["baselines_no_finetune"])
      fmt::print("  {:<8} max error {:.3f}, hold-out top-1 {:.2f}%, test top-1 {:.2f}% (no fine-tuning, same budget){}\n",
                 b["method"].get<std::string>(), b["max_error"].get<double>(), 100 * b["holdout_top1"].get<double>(),
                 100 * b["top1"].get<double>(), b["method"] == j["method"] ? " <- used" : "");
  });
}

}  // namespace nnc::cli
