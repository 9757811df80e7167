// nncompress share MODEL --data ... -o OUT.onnx: structure-agnostic weight sharing searched by
// NSGA-II, iterative merge, entropy-coded container, reports.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "cli/command.hpp"
#include "cli/data_loading.hpp"
#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/share/merge.hpp"
#include "nncompress/compress/share/report.hpp"
#include "nncompress/compress/share/stride_seeds.hpp"
#include "nncompress/compress/share/search.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/interrupt.hpp"
#include "nncompress/core/progress.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/model_store.hpp"

namespace nnc::cli {
namespace fs = std::filesystem;

void register_share_command(CLI::App& app) {
  struct Opts {
    std::string model, output, nnc, report, mode = "extended";
    double max_drop = 0.5, confidence = -1;
    share::SearchOptions search;
    int max_merge_evals = 3000;
    bool share_biases = false, bias_correction = false, error_feedback = false;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("share", "Weight sharing: one global codebook of uniform bins searched by NSGA-II");
  add_model_io_options(cmd, opts->model, opts->output, opts->nnc, "Compressed ONNX (codebook + indices + Cast/Gather)");
  cmd->add_option("--report", opts->report, "Report directory (default: OUT.report/)");
  cmd->add_option("--max-drop", opts->max_drop, "Allowed validation top-1 drop, percentage points")->capture_default_str();
  cmd->add_option("--pop", opts->search.pop, "NSGA-II population (multiple of 4, >= 8)")->capture_default_str();
  cmd->add_option("--gens", opts->search.gens, "NSGA-II generations")->capture_default_str();
  cmd->add_option("--k-min", opts->search.k_min, "Smallest bin count")->capture_default_str();
  cmd->add_option("--k-max", opts->search.k_max, "Largest bin count")->capture_default_str();
  cmd->add_option("--mode", opts->mode,
                  "paper: one gene (k), objectives (1-macroF1, bins), merge keeps f1 | extended: k + per-tensor-group "
                  "strides on the shared grid, objectives (1-macroF1, encoded bits), rate-distortion-ordered merge "
                  "keeping val top-1 within --max-drop")
      ->capture_default_str();
  cmd->add_option("--max-evals", opts->search.max_evals,
                  "Search evaluation budget (0: none; extended mode default 1000)");
  cmd->add_option("--max-groups", opts->search.max_groups, "Extended mode: stride genes (tensor groups)")
      ->capture_default_str();
  cmd->add_option("--max-stride", opts->search.max_stride, "Extended mode: largest stride on the shared grid")
      ->capture_default_str();
  cmd->add_option("--max-merge-evals", opts->max_merge_evals, "Evaluation budget of the merge")->capture_default_str();
  cmd->add_flag("--share-biases", opts->share_biases, "Put biases in the codebook too");
  auto* bias_flag = cmd->add_flag("--bias-correction,!--no-bias-correction", opts->bias_correction,
                "(default in extended mode) Correct each shared layer's bias for the mean output shift its shared weights cause (input means "
                "measured once on the calibration set; no retraining, no extra bytes)");
  auto* feedback_flag = cmd->add_flag("--error-feedback,!--no-error-feedback", opts->error_feedback,
                "(default in extended mode) Round each layer's weights onto the codebook column by column, pushing each rounding error onto "
                "the columns not yet rounded so the layer's output on the calibration set changes least "
                "(GPTQ-style; H measured once; no retraining, no extra bytes)");
  cmd->add_option("--confidence", opts->confidence,
                  "Budget decisions require top-1 within --max-drop by this many paired standard errors of the "
                  "measured drop (default: 1 in extended mode, 0 = the published rule in paper mode)");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts, bias_flag, feedback_flag] {
    auto t0 = std::chrono::steady_clock::now();
    auto& o = *opts;
    apply_global_options(o.global);
    NNC_CHECK(o.max_drop >= 0 && o.max_drop < 100, "--max-drop {} must be in [0, 100) percentage points", o.max_drop);
    NNC_CHECK(o.mode == "paper" || o.mode == "extended", "--mode '{}': expected paper or extended", o.mode);
    NNC_CHECK(o.search.pop >= 8 && o.search.pop % 4 == 0,
              "--pop {}: NSGA-II needs a population that is a multiple of 4 and at least 8", o.search.pop);
    NNC_CHECK(o.search.k_min >= 2 && o.search.k_max <= 1024 && o.search.k_min < o.search.k_max,
              "--k-min {} / --k-max {}: need 2 <= k-min < k-max <= 1024", o.search.k_min, o.search.k_max);
    o.search.seed = o.data.seed;
    const bool extended = o.mode == "extended";
    o.search.mode = extended ? share::SearchMode::kExtended : share::SearchMode::kPaper;
    if (extended && o.search.max_evals == 0) o.search.max_evals = 1000;
    // Extended mode's defaults: what measured better than the published method (bench/RESULTS.md).
    if (extended && bias_flag->count() == 0) o.bias_correction = true;
    if (extended && feedback_flag->count() == 0) o.error_feedback = true;
    if (o.confidence < 0) o.confidence = extended ? 1.0 : 0.0;
    NNC_CHECK(o.confidence <= 5, "--confidence {}: expected 0 to 5 standard errors", o.confidence);
    check_not_same_file(o.output, o.model);
    if (!o.nnc.empty()) check_not_same_file(o.nnc, o.model);
    fs::path report = o.report.empty() ? fs::path(o.output + ".report") : fs::path(o.report);

    auto original = load_model_to_compress(o.model);
    int folded_bn = 0;
    auto model = compress::fold_batchnorm(original, &folded_bn);
    auto splits = load_splits(o.data, model);
    exec::Engine engine(model);
    data::Evaluator test(splits.test, o.data.batch);
    share::ShareContext ctx(engine, share::collect_shared(model, o.share_biases), splits.val, o.data.batch);
    const double top1_before = test.evaluate(engine).top1;
    if (o.bias_correction) {
      auto bc = std::make_shared<share::BiasCorrection>(model, ctx.set(), splits.calib.images, o.data.batch);
      note(fmt::format("bias correction: {} layers", bc->corrected_layers()));
      ctx.set_bias_correction(std::move(bc));
    }
    if (o.error_feedback) {
      auto t_ef = std::chrono::steady_clock::now();
      share::ErrorFeedbackOptions eo;
      eo.batch = o.data.batch;
      // Rounding fits each layer's output on these images; they come from the training split
      // (a seeded random subset), never from the validation or hold-out images that then judge
      // the result, which it would flatter (a Gemm after global pooling sees one sample per
      // image, so with fewer images than inputs the fit is exact on them).
      const auto& pool = splits.train.images.defined() && splits.train.images.size(0) > 0 ? splits.train.images
                                                                                          : splits.calib.images;
      auto pick = at::randperm(pool.size(0), at::make_generator<at::CPUGeneratorImpl>(o.data.seed), at::kLong)
                      .slice(0, 0, std::min<int64_t>(eo.images, pool.size(0)));
      auto ef = std::make_shared<share::ErrorFeedback>(model, ctx.set(), pool.index_select(0, std::get<0>(pick.sort())), eo);
      note(fmt::format("error feedback: {} layers ({} {} images, {:.1f}s)", ef->layers(), pick.size(0),
                       &pool == &splits.train.images ? "training" : "calibration",
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t_ef).count()));
      ctx.set_error_feedback(std::move(ef));
    }
    note(fmt::format("{}: {} shared weights in {} tensors (BatchNorm folded: {}); val top-1 {:.2f}%, test top-1 {:.2f}%",
                     o.model, ctx.set().size(), ctx.set().names.size(), folded_bn, 100 * ctx.original_top1(),
                     100 * top1_before));

    const double min_top1 = ctx.original_top1() - o.max_drop / 100.0;
    ctx.set_confidence(o.confidence);
    // Extended mode's cheaper first pass: a candidate is not finished once the validation
    // batches seen so far show it out of the budget by 3 paired standard errors.
    if (extended) ctx.set_early_exit(o.max_drop / 100.0, 3.0);
    if (extended && o.search.max_stride > 1) {
      // Sensitivity-aware starting points (rate-distortion over strides, on the calibration set).
      const int tensors = static_cast<int>(ctx.set().names.size());
      const auto groups = share::stride_groups(tensors, o.search.max_groups);
      share::StrideSeedOptions so;
      so.batch = o.data.batch;
      std::erase_if(so.strides, [&](int s) { return s > o.search.max_stride; });
      auto t_seed = std::chrono::steady_clock::now();
      // The curves on 256 calibration images (a quarter of the time of 1,024; the seeds are only
      // starting points of the search).
      const auto& calib = splits.calib.images;
      auto seeds = share::rd_stride_seeds(engine, ctx.set(), calib.narrow(0, 0, std::min<int64_t>(256, calib.size(0))),
                                          groups, so);
      for (int k : {48, 64, 96})
        for (const auto& s : seeds) o.search.seeds.push_back({k, s});
      note(fmt::format("stride seeds: {} rate-distortion choices x 3 bin counts in {:.1f}s", seeds.size(),
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t_seed).count()));
    }
    auto search = share::nsga2_search(ctx, o.search);
    const int partial_evaluations = ctx.partial_evaluations();
    ctx.set_early_exit(-1);
    const share::Candidate* chosen = nullptr;
    auto smaller = [&](const share::Candidate& a, const share::Candidate& b) {
      return extended ? a.index_bits < b.index_bits : a.entries < b.entries;
    };
    for (const auto& c : search.front)
      // (Extended mode confirms on the hold-out below, with the confidence margin there.)
      if ((extended ? c.val_top1 : c.val_top1_low) >= min_top1 && (!chosen || smaller(c, *chosen))) chosen = &c;
    NNC_CHECK(chosen != nullptr,
              "no searched codebook keeps validation top-1 within {} pt of the original ({:.2f}%); raise --max-drop "
              "or --k-max",
              o.max_drop, 100 * ctx.original_top1());
    note(fmt::format("search: {} evaluations, {} cache hits, {} front points{}; chosen k={} ({} bins, {:.3f} "
                     "bits/weight, val top-1 {:.2f}%)",
                     search.evaluations, search.cache_hits, search.front.size(),
                     search.budget_reached ? " (evaluation budget reached)" : "", chosen->k, chosen->entries,
                     chosen->index_bits, 100 * chosen->val_top1));
    // Extended mode confirms on all held-out training images (5,000 by default): on 1,000
    // validation images one image is 0.1 pt, so choosing and merging against a 0.5 pt budget
    // there mostly fits noise. The test split stays unseen.
    std::optional<share::ShareContext> confirm;
    double confirm_before = -1, confirm_min = -1, confirm_after = -1;
    if (extended && !interrupted()) {
      ctx.restore();  // the context measures the original on construction
      confirm.emplace(engine, ctx.set(), splits.holdout, o.data.batch);
      confirm->set_bias_correction(ctx.bias_correction());
      confirm->set_error_feedback(ctx.error_feedback());
      confirm->set_confidence(o.confidence);
      confirm_before = confirm->original_top1();
      confirm_min = confirm_before - o.max_drop / 100.0;
      // Every fully measured candidate near the budget on validation, not only the front: the
      // front's largest members can be validation luck that the hold-out does not confirm, while
      // a dominated candidate with a few more bits does hold.
      std::vector<const share::Candidate*> near;
      for (const auto& c : search.evaluated)
        if (!c.partial && c.val_top1 >= min_top1 - 0.01) near.push_back(&c);
      std::sort(near.begin(), near.end(), [](auto* a, auto* b) { return a->index_bits < b->index_bits; });
      // Accuracy grows with bits, so the smallest candidate that holds the budget on the
      // hold-out is found by bisection (about log2 of the candidates instead of all of them).
      int checked = 0;
      std::size_t lo = 0, hi = near.size();  // members below lo fail; the member at hi passes
      while (lo < hi && !interrupted()) {
        const std::size_t mid = lo + (hi - lo) / 2;
        ++checked;
        if (confirm->evaluate(share::candidate_codebook(ctx.set(), *near[mid])).val_top1_low >= confirm_min) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      if (hi < near.size())
        chosen = near[hi];
      else if (!interrupted())
        note("no searched codebook keeps hold-out top-1 within --max-drop with the confidence margin; keeping the "
             "validation choice");
      note(fmt::format("confirmed on {} held-out images (top-1 {:.2f}%): chosen {:.3f} bits/weight after {} checks",
                       splits.holdout.size(), 100 * confirm_before, chosen->index_bits, checked));
    }
    auto start_cb = share::candidate_codebook(ctx.set(), *chosen);
    share::MergeResult merged;
    if (!interrupted()) {
      merged = extended ? share::rd_merge(*confirm, start_cb, share::MergeRule::kMaxDrop, confirm_min, o.max_merge_evals)
                        : share::iterative_merge(ctx, start_cb, share::MergeRule::kPaper, min_top1, o.max_merge_evals);
    } else {
      merged.codebook = start_cb;
      merged.before = merged.after = *chosen;
      ctx.apply(start_cb);
    }
    if (extended && !merged.interrupted && !interrupted()) {
      // The merge measured on the hold-out; report validation figures like paper mode does.
      confirm_after = merged.after.val_top1;
      merged.after = ctx.evaluate(merged.codebook);
      merged.after.test_top1 = -1;
      note(fmt::format("hold-out top-1 {:.2f}% -> {:.2f}% after merging", 100 * confirm_before, 100 * confirm_after));
    }
    const auto& cb = merged.codebook;
    ctx.apply(cb);
    const double top1_after = test.evaluate(engine).top1;

    // Test metrics of the front members a user could pick: validation top-1 within --max-drop
    // (at least 0.25 pt) of the original (the test split is never used to choose); the others
    // are reported with validation figures only (each test run costs as much as ten search
    // evaluations). Skipped after Ctrl-C: the best-so-far front is written without them.
    std::vector<share::Candidate> front = search.front;
    {
      const double window = std::max(o.max_drop, 0.25) / 100.0;
      auto relevant = [&](const share::Candidate& c) { return c.val_top1 >= ctx.original_top1() - window; };
      Progress progress("test metrics of the front", std::count_if(front.begin(), front.end(), relevant));
      long done = 0;
      for (auto& c : front) {
        if (interrupted()) break;
        if (!relevant(c)) continue;
        ctx.apply(share::candidate_codebook(ctx.set(), c));
        c.test_top1 = test.evaluate(engine).top1;
        progress.update(++done, fmt::format("{:.3f} bits/weight: {:.2f}%", c.index_bits, 100 * c.test_top1));
      }
    }
    ctx.apply(cb);
    share::Candidate chosen_c = *chosen;
    for (const auto& c : front)
      if (c.k == chosen->k && c.strides == chosen->strides) chosen_c = c;
    share::Candidate after = merged.after;
    after.test_top1 = top1_after;

    // Outputs: compressed ONNX, container, reports.
    store::Compression comp;
    comp.codebooks.push_back(cb.values);
    auto indices = ctx.indices(cb);
    for (std::size_t t = 0; t < ctx.set().names.size(); ++t) {
      store::IndexedWeight w;
      w.indices.assign(indices.begin() + static_cast<std::ptrdiff_t>(ctx.set().offsets[t]),
                       indices.begin() + static_cast<std::ptrdiff_t>(ctx.set().offsets[t + 1]));
      comp.indexed[ctx.set().names[t]] = std::move(w);
    }
    auto shared_model = engine.to_model();
    auto onnx_out = store::codebook_onnx(shared_model, comp);
    onnxio::save_model(onnx_out, o.output, o.model);
    store::ContainerStats stats;
    auto container = store::pack_model(shared_model, comp, &stats);
    if (!o.nnc.empty()) write_file_atomic(o.nnc, container, o.model);
    const std::size_t fp32 = store::fp32_initializer_bytes(original);
    const double ratio = honest_ratio(fp32, container.size());
    const double index_bits = 8.0 * static_cast<double>(stats.index_bytes) / static_cast<double>(ctx.set().size());
    share::write_front_files(report, front, search.evaluated, chosen_c, after, ctx.original_top1());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json summary{
        {"model", o.model}, {"output", o.output}, {"mode", o.mode}, {"top1_before", top1_before},
        {"top1_after", top1_after}, {"top1_drop_pt", 100 * (top1_before - top1_after)},
        {"val_top1_before", ctx.original_top1()}, {"val_top1_after", merged.after.val_top1},
        {"ratio", ratio}, {"ratio_baseline", "fp32 bytes of all original initializers / .nnc bytes"},
        {"paper_ratio", 32.0 / index_bits}, {"paper_ratio_baseline", "32 / average encoded index bits (paper's accounting)"},
        {"bits_per_weight", index_bits}, {"codebook_size", cb.size()}, {"k_chosen", chosen->k},
        {"bins_before_merge", chosen->entries}, {"shared_weights", ctx.set().size()},
        {"fp32_bytes", fp32}, {"nnc_bytes", container.size()}, {"onnx_bytes", fs::file_size(o.output)},
        {"onnx_ratio", onnx_ratio(fp32, o.output)},
        {"nnc_parts", {{"graph", stats.graph_bytes}, {"codebook", stats.codebook_bytes}, {"indices", stats.index_bytes},
                       {"raw_fp32", stats.raw_bytes}, {"headers", stats.header_bytes}}},
        {"evaluations", ctx.evaluations()}, {"search_evaluations", search.evaluations}, {"cache_hits", search.cache_hits},
        {"partial_evaluations", partial_evaluations},
        {"generations", search.generations},
        {"budget_reached", search.budget_reached}, {"strides", chosen->strides},
        {"holdout_top1_before", confirm_before}, {"holdout_top1_after", confirm_after}, {"merge_tried", merged.tried}, {"merge_accepted", merged.accepted},
        {"evaluation_seconds", ctx.evaluation_seconds()},
        {"bias_corrected_layers", ctx.bias_correction() ? ctx.bias_correction()->corrected_layers() : 0},
        {"confidence", o.confidence}, {"error_feedback_layers", ctx.error_feedback() ? ctx.error_feedback()->layers() : 0}, {"seconds", seconds},
        {"interrupted", search.interrupted || merged.interrupted}, {"report", report.string()}};
    write_file_atomic(report / "summary.json", summary.dump(2));
    if (o.global.json) {
      print_json(summary);
    } else {
      fmt::print("{} -> {}{}\n", o.model, o.output, o.nnc.empty() ? "" : " + " + o.nnc);
      fmt::print("  test top-1 {:.2f}% -> {:.2f}% ({:+.2f} pt); {} shared values ({} bins before merge, k={})\n",
                 100 * top1_before, 100 * top1_after, -100 * (top1_before - top1_after), cb.size(), chosen->entries,
                 chosen->k);
      fmt::print("  size: {} fp32 bytes -> {} .nnc bytes = {:.2f}x (honest ratio); {:.3f} index bits/weight = {:.2f}x "
                 "(paper's accounting)\n",
                 fp32, container.size(), ratio, index_bits, 32.0 / index_bits);
      fmt::print("  ONNX file (runs in any ONNX runtime): {} bytes = {:.2f}x\n", summary["onnx_bytes"].get<std::size_t>(),
                 summary["onnx_ratio"].get<double>());
      fmt::print("  {} evaluations ({} search, {} cache hits, {} merge), {:.1f}s; report in {}\n", ctx.evaluations(),
                 search.evaluations, search.cache_hits, merged.tried, seconds, report.string());
    }
  });
}

}  // namespace nnc::cli
