// nncompress share MODEL --data ... -o OUT.onnx: weight sharing (compress::ShareStep), the
// compressed ONNX, the .nnc container and the report folder.
#include <fmt/format.h>

#include <filesystem>

#include "cli/compression_command.hpp"
#include "nncompress/compress/share/share_step.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"

namespace nnc::cli {

void register_share_command(CLI::App& app) {
  struct Opts {
    ModelIo io;
    compress::ShareOptions share;
    int max_evals = -1;
    double confidence = -1;
    bool bias_correction = false, no_bias_correction = false, error_feedback = false, no_error_feedback = false;
    double scale_spread = 16;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto& s = opts->share;
  auto* cmd = app.add_subcommand("share", "Weight sharing: one global codebook of uniform bins searched by NSGA-II");
  add_model_io_options(cmd, opts->io.model, opts->io.output, opts->io.nnc,
                       "Compressed ONNX (codebook + indices + Cast/Gather)");
  cmd->add_option("--report", s.report_dir,
                  "Report directory: summary.json, pareto.json, pareto.csv (every front member), front.svg");
  cmd->add_option("--max-drop", s.max_drop, "Allowed validation top-1 drop, percentage points")->capture_default_str();
  cmd->add_option("--size", s.size,
                  "A cap on the .nnc file (12KB, bytes) instead: the most accurate searched codebook whose file fits, "
                  "no merging");
  cmd->add_option("--pop", s.pop, "NSGA-II population (multiple of 4, >= 8)")->capture_default_str();
  cmd->add_option("--gens", s.gens, "NSGA-II generations")->capture_default_str();
  cmd->add_option("--mode", s.mode,
                  "paper: one gene (k), objectives (1-macroF1, bins), merge keeps f1 | extended: k + per-tensor-group "
                  "strides on the shared grid, objectives (1-macroF1, encoded bits), rate-distortion-ordered merge "
                  "keeping val top-1 within --max-drop")
      ->capture_default_str();
  auto* max_evals = cmd->add_option("--max-evals", opts->max_evals,
                                    "Evaluation budget of the whole step: search, hold-out checks and merge (0: none). "
                                    "Default: the search stops after the generation that reaches 1000 evaluations "
                                    "(extended mode; paper mode: no cap), the merge after --max-merge-evals");
  // Expert settings: what the method's defaults were measured with (docs/weight-sharing.md).
  const std::string advanced = "Advanced";
  cmd->add_option("--k-min", s.k_min, "Smallest bin count")->capture_default_str()->group(advanced);
  cmd->add_option("--k-max", s.k_max, "Largest bin count")->capture_default_str()->group(advanced);
  cmd->add_option("--max-groups", s.max_groups, "Extended mode: stride genes (tensor groups)")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--max-stride", s.max_stride, "Extended mode: largest stride on the shared grid")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_option("--max-merge-evals", s.max_merge_evals, "Evaluation budget of the merge")
      ->capture_default_str()
      ->group(advanced);
  cmd->add_flag("--share-biases", s.share_biases, "Put biases in the codebook too")->group(advanced);
  cmd->add_flag("--share-other", s.share_other,
                "Put the other learned parameters in the codebook too: LayerNorm scales and shifts, position embeddings, "
                "class tokens (float tensors of 16 values or more read as data), otherwise stored fp32")
      ->group(advanced);
  auto* bias_on =
      cmd->add_flag("--bias-correction", opts->bias_correction,
                    "Correct each shared layer's bias for the mean output shift its shared weights cause (input means "
                    "measured once on the calibration set; no retraining, no extra bytes). Default in extended mode")
          ->group(advanced);
  auto* bias_off =
      cmd->add_flag("--no-bias-correction", opts->no_bias_correction, "No bias correction (default in paper mode)")
          ->group(advanced);
  auto* feedback_on =
      cmd->add_flag("--error-feedback", opts->error_feedback,
                    "Round each layer's weights onto the codebook column by column, pushing each rounding error onto "
                    "the columns not yet rounded so the layer's output on the calibration set changes least "
                    "(GPTQ-style; no retraining, no extra bytes). Default in extended mode")
          ->group(advanced);
  auto* feedback_off = cmd->add_flag("--no-error-feedback", opts->no_error_feedback,
                                     "Round each weight to its nearest codebook entry (default in paper mode)")
                           ->group(advanced);
  auto* spread =
      cmd->add_option("--scale-spread", opts->scale_spread,
                      "Per-tensor scales in front of the shared codebook: a tensor whose range is more than this many "
                      "times narrower than the widest tensor's (BatchNorm folded by an exporter makes them 1000x apart) "
                      "gets one fp32 scale that makes it span 1/R of the shared grid. 0: one absolute grid for every "
                      "tensor, as published. Default: 16 in extended mode, 0 in paper mode")
          ->group(advanced);
  auto* confidence =
      cmd->add_option("--confidence", opts->confidence,
                      "Budget decisions require top-1 within --max-drop by this many paired standard errors of the "
                      "measured drop (default: 1 in extended mode, 0 = the published rule in paper mode)")
          ->group(advanced);
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts, bias_on, bias_off, feedback_on, feedback_off, spread, max_evals, confidence] {
    auto& o = *opts;
    const auto control = apply_global_options(o.global);
    if (max_evals->count()) o.share.max_evals = o.max_evals;
    if (confidence->count()) o.share.confidence = o.confidence;
    NNC_CHECK_OPTION(!bias_on->count() || !bias_off->count(), "bias_correction",
                     "and --no-bias-correction: give one of them");
    NNC_CHECK_OPTION(!feedback_on->count() || !feedback_off->count(), "error_feedback",
                     "and --no-error-feedback: give one of them");
    if (bias_on->count() || bias_off->count()) o.share.bias_correction = bias_on->count() > 0;
    if (feedback_on->count() || feedback_off->count()) o.share.error_feedback = feedback_on->count() > 0;
    if (spread->count()) o.share.scale_spread = o.scale_spread;
    const bool report = !o.share.report_dir.empty();
    check_output_path(o.io.output, o.io.model);
    if (report) check_output_path(std::filesystem::path(o.share.report_dir) / "summary.json", o.io.model);
    const compress::Step step{compress::ShareStep(o.share)};
    auto j = run_step(step, o.io, o.data, control);
    if (!j.value("changed", true)) return o.global.json ? print_json(j) : void();
    if (report) {
      j["report"] = o.share.report_dir;
      write_file_atomic(std::filesystem::path(o.share.report_dir) / "summary.json", nnc::json_text(j, 2));
    }
    if (o.global.json) return print_json(j);
    fmt::print("{} -> {}{}\n", o.io.model, o.io.output, o.io.nnc.empty() ? "" : " + " + o.io.nnc);
    fmt::print("  test top-1 {:.2f}% -> {:.2f}% ({:+.2f} pt); {} shared values ({} bins before merge, k={}){}\n",
               100 * j["top1_before"].get<double>(), 100 * j["top1_after"].get<double>(),
               -j["top1_drop_pt"].get<double>(), j["codebook_size"].get<int>(), j["bins_before_merge"].get<int>(),
               j["k_chosen"].get<int>(),
               j["pruned_weights"].get<int64_t>() > 0
                   ? fmt::format("; {} pruned weights kept at exact zero", j["pruned_weights"].get<int64_t>())
                   : "");
    fmt::print("  size: {} fp32 bytes -> {} .nnc bytes = {:.2f}x (honest ratio); {:.3f} index bits/weight = {:.2f}x "
               "(paper's accounting)\n",
               j["fp32_bytes"].get<std::size_t>(), j["nnc_bytes"].get<std::size_t>(), j["ratio"].get<double>(),
               j["bits_per_weight"].get<double>(), j["paper_ratio"].get<double>());
    fmt::print("  ONNX file (runs in any ONNX runtime): {} bytes = {:.2f}x\n", j["onnx_bytes"].get<std::size_t>(),
               j["onnx_ratio"].get<double>());
    fmt::print("  {} evaluations ({} search, {} cache hits, {} merge), {:.1f}s{}\n", j["evaluations"].get<int>(),
               j["search_evaluations"].get<int>(), j["cache_hits"].get<int>(), j["merge_tried"].get<int>(),
               j["seconds"].get<double>(), report ? "; report in " + o.share.report_dir : "");
  });
}

}  // namespace nnc::cli
