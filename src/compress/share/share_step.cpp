#include "nncompress/compress/share/share_step.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/options.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/run_state.hpp"
#include "nncompress/compress/share/evaluation_log.hpp"
#include "nncompress/compress/share/merge.hpp"
#include "nncompress/compress/share/report.hpp"
#include "nncompress/compress/share/search.hpp"
#include "nncompress/compress/share/stride_seeds.hpp"
#include "nncompress/core/bisect.hpp"
#include "nncompress/core/byte_size.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/stopwatch.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::compress {
namespace {

// The options with the mode's defaults filled in.
struct Resolved {
  bool extended = true;
  double confidence = 1;
  bool bias_correction = true, error_feedback = true;
  double scale_spread = 16;
  share::SearchOptions search;
};

Resolved resolve(const ShareOptions& o, uint64_t seed) {
  Resolved r;
  r.extended = o.mode == "extended";
  r.confidence = o.confidence.value_or(r.extended ? 1.0 : 0.0);
  // Extended mode's defaults: what measured better than the published method (bench/RESULTS.md).
  r.bias_correction = o.bias_correction.value_or(r.extended);
  r.error_feedback = o.error_feedback.value_or(r.extended);
  r.scale_spread = o.scale_spread.value_or(r.extended ? 16.0 : 0.0);
  auto& s = r.search;
  s.mode = r.extended ? share::SearchMode::kExtended : share::SearchMode::kPaper;
  s.pop = o.pop;
  s.gens = o.gens;
  s.k_min = o.k_min;
  s.k_max = o.k_max;
  s.max_evals = o.max_evals.value_or(r.extended ? 1000 : 0);
  s.max_groups = o.max_groups;
  s.max_stride = o.max_stride;
  s.seed = seed;
  return r;
}

// The evaluations of this run so far (a killed run of the same command left them), or a new log;
// none when run state is off or cannot be written (which only costs time on a rerun).
std::shared_ptr<share::EvaluationLog> open_evaluation_log(const ShareStep& step, const CompressedModel& model,
                                                          Context& context) {
  try {
    const auto key = run_key(step.name(), step.options(), model, context);
    const auto path = run_state_file(context, step.name(), key, ".journal");
    if (!path) return nullptr;
    auto log = std::make_shared<share::EvaluationLog>(*path, key);
    if (log->logged() > 0)
      context.note(fmt::format("resuming: {} evaluations of an earlier run of this command ({})", log->logged(),
                               path->string()));
    return log;
  } catch (const std::exception& e) {
    context.note(fmt::format("run state off: {}", e.what()));
    return nullptr;
  }
}

}  // namespace

void ShareOptions::validate() const {
  NNC_CHECK_OPTION(mode == "paper" || mode == "extended", "mode", "'{}': expected paper or extended", mode);
  NNC_CHECK_OPTION(max_drop >= 0 && max_drop < 100, "max_drop", "{}: must be in [0, 100) percentage points", max_drop);
  NNC_CHECK_OPTION(!confidence || (*confidence >= 0 && *confidence <= 5), "confidence",
                   "{}: expected 0 to 5 standard errors", confidence.value_or(0));
  NNC_CHECK_OPTION(max_merge_evals >= 0, "max_merge_evals", "{}: must not be negative", max_merge_evals);
  NNC_CHECK_OPTION(!scale_spread || *scale_spread == 0 || (*scale_spread >= 1 && *scale_spread <= 1e6), "scale_spread",
                   "{}: expected 0 (one absolute grid) or 1 to 1e6", scale_spread.value_or(0));
  if (!size.empty()) parse_byte_size_option("size", size);
  resolve(*this, 0).search.validate();
}

nlohmann::json ShareStep::options() const { return options_to_json(options_); }

nlohmann::json ShareStep::apply(CompressedModel& model, Context& context) const {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& o = options_;
  auto r = resolve(o, context.seed());
  const bool extended = r.extended;
  const auto& splits = context.splits();
  const int64_t batch = context.batch();

  int folded_bn = 0;
  auto folded = fold_batchnorm(model.model(), &folded_bn);
  exec::Engine engine(folded);
  auto shared = share::collect_shared(folded, o.share_biases, model.masks(), o.keep_fp32, o.share_other);
  // How far apart the tensors' ranges are (largest max |w| over smallest): folded BatchNorm can
  // make it 1000x, where one absolute grid leaves the narrow tensors one or two bins.
  double range_spread = 1;
  {
    float lo = 0, hi = 0;
    for (float top : share::tensor_ranges(shared)) {
      if (top <= 0) continue;
      lo = lo > 0 ? std::min(lo, top) : top;
      hi = std::max(hi, top);
    }
    if (lo > 0) range_spread = hi / lo;
  }
  const std::size_t scaled_tensors = r.scale_spread > 0 ? share::scale_tensors(shared, r.scale_spread) : 0;
  if (scaled_tensors > 0)
    context.note(fmt::format("per-tensor scales: {} of {} tensors are more than {}x narrower than the widest (weight "
                             "ranges {:.0f}x apart): each spans 1/{} of the shared grid",
                             scaled_tensors, shared.names.size(), r.scale_spread, range_spread, r.scale_spread));
  share::ShareContext ctx(engine, std::move(shared), splits.val, batch);
  ctx.set_control(context.control());
  const auto log = open_evaluation_log(*this, model, context);
  ctx.set_log(log);
  const double top1_before = context.test().evaluate(engine).top1;
  if (r.bias_correction) {
    auto bc = std::make_shared<share::BiasCorrection>(folded, ctx.set(), splits.calib.images, batch);
    context.note(fmt::format("bias correction: {} layers", bc->corrected_layers()));
    ctx.set_bias_correction(std::move(bc));
  }
  if (r.error_feedback) {
    auto t_ef = std::chrono::steady_clock::now();
    share::ErrorFeedbackOptions eo;
    eo.batch = batch;
    // Rounding fits each layer's output on these images; they come from the training split
    // (a seeded random subset), never from the validation or hold-out images that then judge
    // the result, which it would flatter (a Gemm after global pooling sees one sample per
    // image, so with fewer images than inputs the fit is exact on them).
    const auto& pool = splits.train.images.defined() && splits.train.images.size(0) > 0 ? splits.train.images
                                                                                        : splits.calib.images;
    auto pick = at::randperm(pool.size(0), at::make_generator<at::CPUGeneratorImpl>(context.seed()), at::kLong)
                    .slice(0, 0, std::min<int64_t>(eo.images, pool.size(0)));
    auto ef = std::make_shared<share::ErrorFeedback>(folded, ctx.set(), pool.index_select(0, std::get<0>(pick.sort())),
                                                     eo, context.control());
    context.note(fmt::format("error feedback: {} layers ({} {} images, {:.1f}s)", ef->layers(), pick.size(0),
                             &pool == &splits.train.images ? "training" : "calibration", seconds_since(t_ef)));
    ctx.set_error_feedback(std::move(ef));
  }
  const auto summary0 = model.summary();
  context.note(fmt::format("{}: {} shared weights in {} tensors ({} pruned; BatchNorm folded: {}); val top-1 {:.2f}%, "
                           "test top-1 {:.2f}%",
                           model.source(), ctx.set().size(), ctx.set().names.size(), summary0.masked, folded_bn,
                           100 * ctx.original_top1(), 100 * top1_before));

  // Writes a codebook into the model (shared weights and corrected biases from the engine); a
  // later call replaces what an earlier one wrote.
  auto install = [&](const share::Codebook& cb) {
    ctx.apply(cb);
    const auto indices = ctx.indices(cb);
    std::map<std::string, Assignment> assignments;
    for (std::size_t t = 0; t < ctx.set().names.size(); ++t)
      assignments[ctx.set().names[t]] =
          Assignment{0,
                     std::vector<uint16_t>(indices.begin() + static_cast<std::ptrdiff_t>(ctx.set().offsets[t]),
                                           indices.begin() + static_cast<std::ptrdiff_t>(ctx.set().offsets[t + 1])),
                     ctx.set().scale(t)};
    model.set_sharing({}, {});
    model.set_model(engine.to_model());
    model.set_sharing({Codebook{cb.values, cb.zero_entry}}, std::move(assignments));
  };
  const double min_top1 = ctx.original_top1() - o.max_drop / 100.0;
  ctx.set_confidence(r.confidence);
  // Extended mode's cheaper first pass: a candidate is not finished once the validation
  // batches seen so far show it out of the budget by 3 paired standard errors.
  if (extended) ctx.set_early_exit(o.max_drop / 100.0, 3.0);
  if (extended && r.search.max_stride > 1) {
    // Sensitivity-aware starting points (rate-distortion over strides, on the calibration set).
    const int tensors = static_cast<int>(ctx.set().names.size());
    const auto groups = share::stride_groups(tensors, r.search.max_groups);
    share::StrideSeedOptions so;
    so.batch = batch;
    std::erase_if(so.strides, [&](int s) { return s > r.search.max_stride; });
    auto t_seed = std::chrono::steady_clock::now();
    // The curves on 256 calibration images (a quarter of the time of 1,024; the seeds are only
    // starting points of the search).
    const auto& calib = splits.calib.images;
    auto seeds = share::rd_stride_seeds(engine, ctx.set(), calib.narrow(0, 0, std::min<int64_t>(256, calib.size(0))),
                                        groups, so, context.control());
    for (int k : {48, 64, 96})
      for (const auto& s : seeds) r.search.seeds.push_back({k, s});
    context.note(fmt::format("stride seeds: {} rate-distortion choices x 3 bin counts in {:.1f}s", seeds.size(),
                             seconds_since(t_seed)));
  }
  auto search = share::nsga2_search(ctx, r.search);
  const int partial_evaluations = ctx.partial_evaluations();
  ctx.set_early_exit(-1);
  if (context.stop_requested() && search.front.empty()) {
    context.note("share: stopped before any codebook was measured; the model is unchanged");
    return {{"step", "share"}, {"interrupted", true}, {"changed", false}, {"top1_before", top1_before},
            {"top1_after", top1_before}, {"seconds", seconds_since(t0)}};
  }
  const share::Candidate* chosen = nullptr;
  auto smaller = [&](const share::Candidate& a, const share::Candidate& b) {
    return extended ? a.index_bits < b.index_bits : a.entries < b.entries;
  };
  // With a size cap: every fully measured candidate whose file fits, most accurate first.
  std::optional<std::size_t> cap;
  std::vector<const share::Candidate*> fitting;
  const double n_shared = static_cast<double>(ctx.set().size());
  auto own = [&](const share::Candidate& c) { return c.index_bits * n_shared / 8 + 4.0 * c.entries; };
  nlohmann::json size_j = nullptr;
  if (!o.size.empty()) {
    cap = static_cast<std::size_t>(parse_byte_size_option("size", o.size));
    std::vector<const share::Candidate*> all;
    for (const auto& c : search.evaluated)
      if (!c.partial) all.push_back(&c);
    NNC_CHECK_OPTION_CODE(!all.empty(), "size", kTargetMissed, "{}: no codebook was measured in full", o.size);
    std::sort(all.begin(), all.end(), [](auto* a, auto* b) {
      return a->val_top1 != b->val_top1 ? a->val_top1 > b->val_top1 : a->index_bits < b->index_bits;
    });
    // A file's bytes against a candidate's: everything but the indices and the codebook values
    // is the same for every codebook, so one written file prices them all.
    install(share::candidate_codebook(ctx.set(), *all.front()));
    const double base = static_cast<double>(pack_nnc(model).bytes.size()) - own(*all.front());
    double smallest = 1e300;
    for (auto* c : all) {
      smallest = std::min(smallest, base + own(*c));
      if (base + own(*c) <= static_cast<double>(*cap)) fitting.push_back(c);
    }
    NNC_CHECK_OPTION_CODE(!fitting.empty(), "size", kTargetMissed,
                          "{} ({} bytes): no searched codebook's file fits; the smallest is about {:.0f} bytes (prune "
                          "further first, or raise the cap)",
                          o.size, *cap, smallest);
    chosen = fitting.front();
    size_j = {{"size_cap", *cap}, {"fitting_candidates", fitting.size()}, {"measured_candidates", all.size()}};
    context.note(fmt::format("size cap {} bytes: {} of {} measured codebooks fit; the most accurate on validation: "
                             "{:.3f} bits/weight, {:.2f}%",
                             *cap, fitting.size(), all.size(), chosen->index_bits, 100 * chosen->val_top1));
  }
  for (const auto& c : search.front)
    // (Extended mode confirms on the hold-out below, with the confidence margin there.)
    if (!cap && (extended ? c.val_top1 : c.val_top1_low) >= min_top1 && (!chosen || smaller(c, *chosen))) chosen = &c;
  NNC_CHECK(chosen != nullptr,
            "no searched codebook keeps validation top-1 within {} pt of the original ({:.2f}%); raise max_drop or "
            "k_max{}",
            o.max_drop, 100 * ctx.original_top1(),
            r.scale_spread == 0 && range_spread > 100
                ? fmt::format(" (the layers' weight ranges differ by {:.0f}x and one absolute grid, as {}, leaves the "
                              "narrowest one or two bins: per-tensor scales, scale_spread 16, are made for this)",
                              range_spread, extended ? "asked" : "published")
                : "");
  context.note(fmt::format("search: {} evaluations, {} cache hits, {} front points{}; chosen k={} ({} bins, {:.3f} "
                           "bits/weight, val top-1 {:.2f}%)",
                           search.evaluations, search.cache_hits, search.front.size(),
                           search.budget_reached ? " (evaluation budget reached)" : "", chosen->k, chosen->entries,
                           chosen->index_bits, 100 * chosen->val_top1));
  // Extended mode confirms on all held-out training images (5,000 by default): on 1,000
  // validation images one image is 0.1 pt, so choosing and merging against a 0.5 pt budget
  // there mostly fits noise. The test split stays unseen.
  std::optional<share::ShareContext> confirm;
  double confirm_before = -1, confirm_min = -1, confirm_after = -1;
  if (extended && !context.stop_requested()) {
    ctx.restore();  // the context measures the original on construction
    confirm.emplace(engine, ctx.set(), splits.holdout, batch);
    confirm->set_control(context.control());
    confirm->set_bias_correction(ctx.bias_correction());
    confirm->set_error_feedback(ctx.error_feedback());
    confirm->set_confidence(r.confidence);
    confirm->set_log(log);
    confirm_before = confirm->original_top1();
    confirm_min = confirm_before - o.max_drop / 100.0;
    if (cap) {
      // Chosen on validation alone: picking the best of several on the hold-out would flatter the
      // hold-out figure that compose compares its routes by.
      confirm_after = confirm->evaluate(share::candidate_codebook(ctx.set(), *chosen)).val_top1;
      context.note(fmt::format("on {} held-out images: top-1 {:.2f}% -> {:.2f}%", splits.holdout.size(),
                               100 * confirm_before, 100 * confirm_after));
    }
    // Every fully measured candidate near the budget on validation, not only the front: the
    // front's largest members can be validation luck that the hold-out does not confirm, while
    // a dominated candidate with a few more bits does hold.
    std::vector<const share::Candidate*> near;
    for (const auto& c : search.evaluated)
      if (!cap && !c.partial && c.val_top1 >= min_top1 - 0.01) near.push_back(&c);
    std::sort(near.begin(), near.end(), [](auto* a, auto* b) { return a->index_bits < b->index_bits; });
    // Accuracy grows with bits, so the smallest candidate that holds the budget on the
    // hold-out is found by bisection (about log2 of the candidates instead of all of them).
    int checked = 0;
    const std::size_t hi = first_true<std::size_t>(0, near.size(), [&](std::size_t i) {
      if (context.stop_requested()) return false;  // ends the search at the last member that passed
      ++checked;
      return confirm->evaluate(share::candidate_codebook(ctx.set(), *near[i])).val_top1_low >= confirm_min;
    });
    if (hi < near.size())
      chosen = near[hi];
    else if (!context.stop_requested() && !cap)
      context.note("no searched codebook keeps hold-out top-1 within max_drop with the confidence margin; keeping the "
                   "validation choice");
    if (!cap)
      context.note(fmt::format("confirmed on {} held-out images (top-1 {:.2f}%): chosen {:.3f} bits/weight after {} "
                               "checks",
                               splits.holdout.size(), 100 * confirm_before, chosen->index_bits, checked));
  }
  auto start_cb = share::candidate_codebook(ctx.set(), *chosen);
  // max_evals, when given, bounds the whole step: the merge gets what the search and the hold-out
  // checks left of it (the default budget bounds the search alone; max_merge_evals the merge).
  int merge_budget = o.max_merge_evals;
  if (o.max_evals.value_or(0) > 0) {
    const int used = ctx.evaluations() + (confirm ? confirm->evaluations() : 0);
    merge_budget = std::min(merge_budget, std::max(0, *o.max_evals - used));
  }
  share::MergeResult merged;
  // (Under a size cap no merging: it gives up accuracy for bytes the cap does not ask for.)
  if (!context.stop_requested() && !cap) {
    merged = extended ? share::rd_merge(*confirm, start_cb, share::MergeRule::kMaxDrop, confirm_min, merge_budget)
                      : share::iterative_merge(ctx, start_cb, share::MergeRule::kPaper, min_top1, merge_budget);
  } else {
    merged.codebook = start_cb;
    merged.before = merged.after = *chosen;
    ctx.apply(start_cb);
  }
  if (extended && !merged.interrupted && !context.stop_requested()) {
    // The merge measured on the hold-out; report validation figures like paper mode does.
    if (!cap) confirm_after = merged.after.val_top1;
    merged.after = ctx.evaluate(merged.codebook);
    merged.after.test_top1 = -1;
    if (!cap)
      context.note(fmt::format("hold-out top-1 {:.2f}% -> {:.2f}% after merging", 100 * confirm_before,
                               100 * confirm_after));
  }
  if (cap) {
    // The file as written decides: should the estimate be off, the next smaller codebook that fits.
    install(merged.codebook);
    std::size_t written = pack_nnc(model).bytes.size();
    std::vector<const share::Candidate*> smaller_ones;
    for (auto* c : fitting)
      if (own(*c) < own(*chosen)) smaller_ones.push_back(c);
    std::sort(smaller_ones.begin(), smaller_ones.end(), [&](auto* a, auto* b) { return a->val_top1 > b->val_top1; });
    for (std::size_t i = 0; written > *cap && i < smaller_ones.size(); ++i) {
      chosen = smaller_ones[i];
      merged.codebook = share::candidate_codebook(ctx.set(), *chosen);
      merged.after = *chosen;
      install(merged.codebook);
      written = pack_nnc(model).bytes.size();
    }
    NNC_CHECK_OPTION_CODE(written <= *cap, "size", kTargetMissed, "{}: the file as written is {} bytes, over the cap {}",
                          o.size, written, *cap);
    size_j["written_bytes"] = written;
  }
  const auto& cb = merged.codebook;
  ctx.apply(cb);
  const double top1_after = context.test().evaluate(engine).top1;

  // Test metrics of the front members a user could pick: validation top-1 within max_drop
  // (at least 0.25 pt) of the original (the test split is never used to choose); the others
  // are reported with validation figures only (each test run costs as much as ten search
  // evaluations). Skipped after a stop request: the best-so-far front is reported without them.
  std::vector<share::Candidate> front = search.front;
  {
    const double window = std::max(o.max_drop, 0.25) / 100.0;
    auto relevant = [&](const share::Candidate& c) { return c.val_top1 >= ctx.original_top1() - window; };
    Progress progress(context.control().reporter, "test metrics of the front",
                      std::count_if(front.begin(), front.end(), relevant));
    long done = 0;
    for (auto& c : front) {
      if (context.stop_requested()) break;
      if (!relevant(c)) continue;
      ctx.apply(share::candidate_codebook(ctx.set(), c));
      c.test_top1 = context.test().evaluate(engine).top1;
      progress.update(++done, fmt::format("{:.3f} bits/weight: {:.2f}%", c.index_bits, 100 * c.test_top1));
    }
  }
  ctx.apply(cb);
  share::Candidate chosen_c = *chosen;
  for (const auto& c : front)
    if (c.k == chosen->k && c.strides == chosen->strides) chosen_c = c;
  share::Candidate after = merged.after;
  after.test_top1 = top1_after;

  // The model: shared weights (and corrected biases) from the engine, one codebook.
  install(cb);

  if (!o.report_dir.empty())
    share::write_front_files(o.report_dir, front, search.evaluated, chosen_c, after, ctx.original_top1());
  // Sizes of the model as it now is (what the .nnc writer will write).
  const auto packed = pack_nnc(model);
  const std::size_t fp32 = model.original_fp32_bytes();
  const double index_bits = 8.0 * static_cast<double>(packed.stats.index_bytes + packed.stats.sparse_bytes) /
                            static_cast<double>(ctx.set().size());
  return {{"step", "share"}, {"mode", o.mode}, {"top1_before", top1_before}, {"top1_after", top1_after},
          {"top1_drop_pt", 100 * (top1_before - top1_after)},
          {"val_top1_before", ctx.original_top1()}, {"val_top1_after", merged.after.val_top1},
          {"ratio", static_cast<double>(fp32) / static_cast<double>(packed.bytes.size())},
          {"ratio_baseline", "fp32 bytes of all original initializers / .nnc bytes"},
          {"paper_ratio", 32.0 / index_bits}, {"paper_ratio_baseline", "32 / average encoded index bits (paper's accounting)"},
          {"bits_per_weight", index_bits}, {"codebook_size", cb.size()}, {"k_chosen", chosen->k},
          {"bins_before_merge", chosen->entries}, {"shared_weights", ctx.set().size()},
          {"pruned_weights", summary0.masked}, {"zero_entry", cb.zero_entry},
          {"fp32_bytes", fp32}, {"nnc_bytes", packed.bytes.size()},
          {"evaluations", ctx.evaluations()}, {"search_evaluations", search.evaluations}, {"cache_hits", search.cache_hits},
          {"evaluations_resumed", log ? log->replayed() : 0},
          {"partial_evaluations", partial_evaluations}, {"generations", search.generations},
          {"search_seconds", search.seconds}, {"ranks", search.items_by_rank.size()},
          {"search_evaluations_by_rank", search.items_by_rank}, {"distributed_bytes", search.wire_bytes},
          {"search_seconds_by_rank", search.seconds_by_rank},
          {"budget_reached", search.budget_reached}, {"strides", chosen->strides},
          {"holdout_top1_before", confirm_before}, {"holdout_top1_after", confirm_after},
          {"merge_tried", merged.tried}, {"merge_accepted", merged.accepted},
          {"evaluation_seconds", ctx.evaluation_seconds()},
          {"bias_corrected_layers", ctx.bias_correction() ? ctx.bias_correction()->corrected_layers() : 0},
          {"confidence", r.confidence}, {"error_feedback_layers", ctx.error_feedback() ? ctx.error_feedback()->layers() : 0},
          {"batchnorm_folded", folded_bn}, {"scale_spread", r.scale_spread}, {"scaled_tensors", scaled_tensors},
          {"weight_range_spread", range_spread},
          {"size", size_j},
          {"seconds", seconds_since(t0)},
          {"interrupted", search.interrupted || merged.interrupted || context.stop_requested()}};
}

}  // namespace nnc::compress
