#include "nncompress/compress/lowrank/lowrank_step.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <regex>

#include "nncompress/compress/accuracy_guard.hpp"
#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/finetune/holdout_control.hpp"
#include "nncompress/compress/lowrank/channel_correction.hpp"
#include "nncompress/compress/lowrank/cost_model.hpp"
#include "nncompress/compress/lowrank/latency.hpp"
#include "nncompress/compress/lowrank/report.hpp"
#include "nncompress/compress/lowrank/surgery.hpp"
#include "nncompress/compress/options.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/core/bisect.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/stopwatch.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::compress {
namespace {

// Median of `runs` timed runs after three warm-up runs.
double median_latency_ms(exec::Engine& engine, const at::Tensor& batch, int runs = 10) {
  for (int i = 0; i < 3; ++i) engine.run_single(batch);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t = std::chrono::steady_clock::now();
    engine.run_single(batch);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

lowrank::BudgetKind budget_kind(const std::string& budget) {
  return budget == "params" ? lowrank::BudgetKind::kParams
         : budget == "flops" ? lowrank::BudgetKind::kFlops
                             : lowrank::BudgetKind::kLatency;
}

// The budget of the decomposed layers: the cap minus the cost of the layers left dense.
class Budget {
 public:
  Budget(lowrank::AldsProblem& problem, double keep, int64_t total)
      : problem_(problem), keep_(keep), total_(total), cap_(static_cast<int64_t>(keep * static_cast<double>(total))) {}
  int64_t fixed() const { return total_ - problem_.dense_cost(); }
  int64_t available() const { return cap_ - fixed(); }
  // The decomposed layers' budget; a one-line error when it cannot be met.
  int64_t fit() const {
    const int64_t b = available();
    NNC_CHECK_OPTION(b > 0, "keep", "{}: the {} {} of layers that cannot be decomposed already exceed the budget of {}",
                     keep_, fixed(), lowrank::budget_unit(problem_.kind()), cap_);
    NNC_CHECK_OPTION(b >= problem_.min_cost(), "keep",
                     "{}: below what rank 1 in every decomposable layer needs ({:.3f} of the model's {})", keep_,
                     static_cast<double>(fixed() + problem_.min_cost()) / static_cast<double>(total_),
                     lowrank::budget_unit(problem_.kind()));
    return b;
  }

 private:
  lowrank::AldsProblem& problem_;
  double keep_;
  int64_t total_, cap_;
};

// Latency-aware: factored layers measured slower than their dense originals are kept dense and
// the budget is re-allocated over the others, until every factored layer is faster.
std::vector<lowrank::LayerLatency> keep_slow_layers_dense(const onnx::ModelProto& model, lowrank::AldsProblem& problem,
                                                          lowrank::Allocation& alloc, const Budget& budget,
                                                          exec::Engine& original, const at::Tensor& latency_batch,
                                                          double keep, Context& context) {
  std::vector<lowrank::LayerLatency> latencies;
  const auto dense_profile = original.profile({latency_batch});
  for (int round = 1;; ++round) {
    exec::Engine trial(lowrank::decompose(model, problem, alloc));
    latencies = lowrank::layer_latencies(problem.layers(), alloc, dense_profile, trial.profile({latency_batch}));
    // Slower layers, the most time lost first; each is kept dense while the others can still
    // meet the budget (rank 1 everywhere at least), so an infeasible round keeps what fits.
    std::vector<std::size_t> slower;
    for (std::size_t i = 0; i < latencies.size(); ++i)
      if (latencies[i].measured && latencies[i].factored_ms >= latencies[i].dense_ms) slower.push_back(i);
    std::stable_sort(slower.begin(), slower.end(), [&](std::size_t a, std::size_t b) {
      return latencies[a].factored_ms - latencies[a].dense_ms > latencies[b].factored_ms - latencies[b].dense_ms;
    });
    std::size_t kept = 0;
    for (auto i : slower) {
      const auto& t = latencies[i];
      problem.keep_dense(i, fmt::format("kept dense: factored {:.2f} ms >= dense {:.2f} ms (batch {})", t.factored_ms,
                                        t.dense_ms, latency_batch.size(0)));
      if (budget.available() >= problem.min_cost()) {
        ++kept;
      } else {
        problem.allow_factoring(i);
      }
    }
    context.note(fmt::format("latency-aware round {}: {} factored layer(s) not faster than dense, {} now kept dense{}",
                             round, slower.size(), kept,
                             kept < slower.size() ? fmt::format(" ({} more would not fit keep {})", slower.size() - kept, keep)
                                                  : ""));
    if (kept == 0 || context.stop_requested()) break;
    alloc = problem.alds(budget.fit());
  }
  return latencies;
}


// One allocation factored (BatchNorm re-estimated when asked) and measured on the hold-out.
struct Candidate {
  lowrank::Allocation alloc;
  onnx::ModelProto model;
  data::Metrics holdout;
};

Candidate factor_and_measure(const onnx::ModelProto& source, lowrank::AldsProblem& problem, lowrank::Allocation a,
                             const LowrankOptions& o, const std::vector<at::Tensor>& calib_batches,
                             const data::Evaluator& holdout) {
  Candidate c;
  c.model = lowrank::decompose(source, problem, a);
  if (o.correct_channels) {
    std::vector<std::string> values;
    for (std::size_t i = 0; i < problem.layers().size(); ++i)
      if (a.layers[i].factored) values.push_back(source.graph().node(problem.layers()[i].node_index).output(0));
    lowrank::correct_channels(c.model, source, values, calib_batches);
  }
  c.alloc = std::move(a);
  exec::Engine e(c.model);
  if (o.recalibrate_bn) {
    e.recalibrate_batchnorm(calib_batches);
    c.model = e.to_model();
  }
  c.holdout = holdout.evaluate(e);
  return c;
}

// ALDS (first) and the baselines at the decomposed layers' budget b, measured on the hold-out.
std::vector<Candidate> candidates_at(const onnx::ModelProto& source, lowrank::AldsProblem& problem,
                                     lowrank::Allocation alds, int64_t b, const LowrankOptions& o,
                                     const std::vector<at::Tensor>& calib_batches, const data::Evaluator& holdout) {
  std::vector<Candidate> out;
  out.push_back(factor_and_measure(source, problem, std::move(alds), o, calib_batches, holdout));
  for (auto a : {problem.plain_svd(b), problem.uniform_rank(b), problem.energy_rank(b)})
    out.push_back(factor_and_measure(source, problem, std::move(a), o, calib_batches, holdout));
  return out;
}

// ALDS unless a baseline is clearly better on the hold-out (then the best of those).
std::size_t pick(const std::vector<Candidate>& c) {
  std::size_t chosen = 0;
  for (std::size_t i = 1; i < c.size(); ++i)
    if (clearly_better(c[i].holdout, c[0].holdout) && c[i].holdout.top1 > c[chosen].holdout.top1) chosen = i;
  return chosen;
}

}  // namespace

void LowrankOptions::validate() const {
  NNC_CHECK_OPTION(!keep || (*keep > 0 && *keep <= 1), "keep", "{}: must be in (0, 1]", *keep);
  NNC_CHECK_OPTION(!max_drop || (*max_drop >= 0 && *max_drop < 100), "max_drop", "{}: must be in [0, 100) percentage points",
                   *max_drop);
  NNC_CHECK_OPTION(budget == "params" || budget == "flops" || budget == "latency", "budget",
                   "'{}': expected params, flops or latency", budget);
  NNC_CHECK_OPTION(!groups.empty(), "groups", "needs at least one channel-group count");
  for (auto k : groups) NNC_CHECK_OPTION(k >= 1, "groups", "{}: counts must be positive", k);
  validate_nested(finetune, "finetune");
}

nlohmann::json LowrankStep::options() const { return options_to_json(options_); }

nlohmann::json LowrankStep::apply(CompressedModel& model, Context& context) const {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& o = options_;
  const auto source = model.model();  // the model this step factors
  const auto& splits = context.splits();
  const auto kind = budget_kind(o.budget);
  lowrank::AldsProblem problem(lowrank::find_layers(source, splits.calib.images), kind, o.groups, 0,
                               o.equalize_channels);
  if (!o.keep_dense.empty()) {
    std::regex keep;
    try {
      keep = std::regex(o.keep_dense);
    } catch (const std::regex_error&) {
      fail_option("keep_dense", "'{}': not a valid regular expression", o.keep_dense);
    }
    bool matched = false;
    for (std::size_t i = 0; i < problem.layers().size(); ++i) {
      const auto& l = problem.layers()[i];
      if (!std::regex_search(l.node, keep) && !std::regex_search(l.weight, keep)) continue;
      matched = true;
      if (l.decomposable()) problem.keep_dense(i, "kept dense (keep_dense)");
    }
    NNC_CHECK_OPTION(matched, "keep_dense", "'{}' matches no layer low-rank decomposition acts on", o.keep_dense);
  }
  const int64_t total_params = lowrank::total_initializer_elements(source);
  int64_t total_flops = 0, total_blocked = 0, total_units = 0;
  for (const auto& l : problem.layers()) {
    total_flops += l.flops();
    total_blocked += lowrank::dense_blocked_macs(l, problem.simd_block());
    total_units += problem.dense_cost(l);
  }
  const int64_t total = kind == lowrank::BudgetKind::kParams ? total_params : total_units;
  if (o.keep) Budget(problem, *o.keep, total).fit();  // an infeasible keep fails before any measurement
  const auto& test = context.test();
  const data::Evaluator holdout(splits.holdout, context.batch());
  const auto calib_batches = data::split_batches(splits.calib.images, context.batch());
  exec::Engine original(source);
  const auto reference = measure_reference(original, holdout, context, "lowrank");
  context.note(fmt::format("lowrank: original hold-out top-1 {:.2f}%, test top-1 {:.2f}%", 100 * reference.holdout.top1,
                           100 * reference.test.top1));

  // The fraction kept: given, the default, or the smallest within max_drop on the hold-out
  // (bisection over keep; each trial is ALDS and its baselines, the best clear one counting).
  double keep = o.keep.value_or(0.3);
  nlohmann::json search = nlohmann::json::array();
  if (!o.keep && o.max_drop) {
    const int64_t fixed = total - problem.dense_cost();
    const double lo = static_cast<double>(fixed + problem.min_cost()) / static_cast<double>(total);
    const double hi = static_cast<double>(fixed + problem.dense_cost() - 1) / static_cast<double>(total);
    NNC_CHECK_OPTION_CODE(hi > 0 && lo < hi, "max_drop", kTargetMissed,
                          "{}: no factorisation of this model has fewer {} than the model", *o.max_drop,
                          lowrank::budget_unit(kind));
    Progress searching(context.control().reporter, "lowrank keep search", 8);
    auto within = [&](double k) {
      const Budget b(problem, k, total);
      auto cands = candidates_at(source, problem, problem.alds(b.fit()), b.available(), o, calib_batches, holdout);
      const auto& c = cands[pick(cands)];
      const auto drop = holdout_drop(reference, c.holdout);
      search.push_back({{"keep", k}, {"method", c.alloc.method}, {"holdout_top1", c.holdout.top1},
                        {"holdout_drop_pt", drop.pt}, {"holdout_drop_se_pt", drop.se_pt}, {"within", drop.within(*o.max_drop)}});
      searching.update(static_cast<long>(search.size()),
                       fmt::format("keep {:.3f}: {} hold-out top-1 {:.2f}% ({:+.2f} +- {:.2f} pt)", k, c.alloc.method,
                                   100 * c.holdout.top1, -drop.pt, drop.se_pt));
      return drop.within(*o.max_drop);
    };
    NNC_CHECK_OPTION_CODE(within(hi), "max_drop", kTargetMissed,
                          "{}: even the least factoring (keep {:.3f}) drops hold-out top-1 {:.2f}% -> {:.2f}% (within "
                          "counts one paired standard error); nothing written",
                          *o.max_drop, hi, 100 * reference.holdout.top1,
                          100 * search.back()["holdout_top1"].get<double>());
    keep = bisect(hi, lo, within, 7, 0.002);
    searching.finish();
    context.note(fmt::format("lowrank: keep {:.3f} is the smallest within max_drop {} pt on the hold-out (drop plus one "
                             "paired standard error; {} trials)",
                             keep, *o.max_drop, search.size()));
  }

  const Budget budget(problem, keep, total);
  const auto t_alloc = std::chrono::steady_clock::now();
  auto alloc = problem.alds(budget.fit());
  const double alloc_seconds = seconds_since(t_alloc);
  context.note(fmt::format("ALDS allocation: {:.1f}s for {} layers, max relative error {:.3f}", alloc_seconds,
                           problem.layers().size(), alloc.max_error));

  auto latency_batch = splits.test.images.narrow(0, 0, std::min<int64_t>(256, splits.test.size()));
  std::vector<lowrank::LayerLatency> latencies;
  if (o.latency_aware)
    latencies = keep_slow_layers_dense(source, problem, alloc, budget, original, latency_batch, keep, context);
  // Measurements: the original (latency), then ALDS and three baselines at the same budget, on
  // the hold-out (which picks) and the test split (reported).
  Progress measuring(context.control().reporter, "lowrank measurements", 5);
  const double top1_before = reference.test.top1;
  const double latency_before = median_latency_ms(original, latency_batch);
  measuring.update(1, fmt::format("original: test top-1 {:.2f}%, {:.1f} ms at batch {}", 100 * top1_before,
                                  latency_before, latency_batch.size(0)));
  // One image at a time, as on a device.
  const auto single = latency_batch.narrow(0, 0, 1);
  const double latency_before_1 = median_latency_ms(original, single, 200);

  auto candidates = candidates_at(source, problem, alloc, budget.available(), o, calib_batches, holdout);
  nlohmann::json baselines = nlohmann::json::array();
  std::vector<double> test_top1;
  for (auto& c : candidates) {
    exec::Engine e(c.model);
    test_top1.push_back(test.evaluate(e).top1);
    baselines.push_back({{"method", c.alloc.method}, {"max_error", c.alloc.max_error}, {"params", c.alloc.params},
                         {"holdout_top1", c.holdout.top1}, {"top1", test_top1.back()}});
    measuring.update(static_cast<long>(baselines.size()) + 1,
                     fmt::format("{}: hold-out top-1 {:.2f}%, test top-1 {:.2f}%", c.alloc.method, 100 * c.holdout.top1,
                                 100 * test_top1.back()));
  }
  measuring.finish();
  const std::size_t chosen = pick(candidates);
  const std::string method = candidates[chosen].alloc.method;
  if (chosen != 0)
    context.note(fmt::format("lowrank: {} is clearly better than ALDS at this budget on the hold-out ({:.2f}% vs "
                             "{:.2f}%, more than 2 paired standard errors): the {} allocation is used",
                             method, 100 * candidates[chosen].holdout.top1, 100 * candidates[0].holdout.top1, method));
  alloc = candidates[chosen].alloc;
  auto factored = std::move(candidates[chosen].model);
  const double top1_no_ft = test_top1[chosen], holdout_no_ft = candidates[chosen].holdout.top1;
  exec::Engine engine(factored);

  // The model takes the factored graph (the replaced weights' masks and assignments go), with
  // the factorisations recorded, then is fine-tuned.
  model.set_model(factored);
  for (std::size_t i = 0; i < problem.layers().size(); ++i) {
    const auto& l = problem.layers()[i];
    const auto& c = alloc.layers[i];
    if (!c.factored) continue;
    Factorisation f{l.node, l.weight, {}, c.k, c.j};
    for (const auto& t : factored.graph().initializer())
      if (t.name().rfind(l.weight + ".lowrank_", 0) == 0) f.factors.push_back(t.name());
    model.add_factorisation(std::move(f));
  }
  if (o.finetune.epochs > 0) {
    finetune_engine(engine, model, context, o.finetune, context.seed(), &original);
    train_holdout_control(context, o.finetune, context.seed(), &original);
  }
  const double top1_after = o.finetune.epochs > 0 ? test.evaluate(engine).top1 : top1_no_ft;
  const double holdout_after = o.finetune.epochs > 0 ? holdout.evaluate(engine).top1 : holdout_no_ft;
  if (context.test_guard)
    check_drop(o.max_drop, reference, holdout_after, top1_after, "lowrank", fmt::format("keep {:.3f}", keep));
  // Latency of the model as written, in a fresh engine as any runtime would load it.
  exec::Engine written(model.model());
  const double latency_after = median_latency_ms(written, latency_batch);
  const double latency_after_1 = median_latency_ms(written, single, 200);
  const int64_t params_after = lowrank::total_initializer_elements(model.model());
  int64_t flops_after = 0, blocked_after = 0;  // every layer's choice, dense ones at their dense cost
  for (const auto& c : alloc.layers) {
    flops_after += c.flops;
    blocked_after += c.blocked_flops;
  }
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t i = 0; i < problem.layers().size(); ++i) {
    const auto& l = problem.layers()[i];
    const auto& c = alloc.layers[i];
    layers.push_back({{"layer", l.node}, {"k", c.factored ? c.k : 0}, {"j", c.factored ? c.j : 0},
                      {"error", c.error}, {"params_before", l.params()}, {"params_after", c.factored ? c.params : l.params()},
                      {"flops_before", l.flops()}, {"flops_after", c.factored ? c.flops : l.flops()},
                      {"note", l.decomposable() ? (c.factored ? "factored" : "kept dense") : l.skip_reason}});
    if (i < latencies.size() && latencies[i].measured) {
      layers.back()["latency_ms_dense"] = latencies[i].dense_ms;
      layers.back()["latency_ms_factored"] = latencies[i].factored_ms;
    }
  }
  const auto packed = pack_nnc(model);
  nlohmann::json j{{"step", "lowrank"}, {"keep", keep}, {"budget", o.budget}, {"method", method},
                   {"top1_before", top1_before}, {"top1_after", top1_after},
                   {"top1_drop_pt", 100 * (top1_before - top1_after)}, {"top1_after_no_finetune", top1_no_ft},
                   {"holdout_top1_before", reference.holdout.top1}, {"holdout_top1_after", holdout_after},
                   {"holdout_flattered", reference.flattered},
                   {"params_kept", static_cast<double>(params_after) / static_cast<double>(total_params)},
                   {"flops_kept", static_cast<double>(flops_after) / static_cast<double>(total_flops)},
                   {"blocked_flops_kept", static_cast<double>(blocked_after) / static_cast<double>(total_blocked)},
                   {"simd_block", problem.simd_block()}, {"max_error", alloc.max_error},
                   {"ratio", static_cast<double>(model.original_fp32_bytes()) / static_cast<double>(packed.bytes.size())},
                   {"ratio_baseline", "fp32 bytes of all original initializers / .nnc bytes"},
                   {"nnc_bytes", packed.bytes.size()},
                   {"latency_ms_before", latency_before}, {"latency_ms_after", latency_after},
                   {"latency_batch", latency_batch.size(0)}, {"latency_ms_before_batch1", latency_before_1},
                   {"latency_ms_after_batch1", latency_after_1}, {"allocation_seconds", alloc_seconds},
                   {"layers", layers}, {"baselines_no_finetune", baselines}, {"finetune_epochs", o.finetune.epochs},
                   {"latency_aware", o.latency_aware}, {"recalibrate_bn", o.recalibrate_bn},
                   {"correct_channels", o.correct_channels}, {"groups", o.groups},
                   {"interrupted", context.stop_requested()}, {"seconds", seconds_since(t0)}};
  if (o.max_drop) j["max_drop"] = *o.max_drop;
  if (!search.empty()) j["keep_search"] = search;
  if (!o.report_dir.empty()) {
    // Error vs budget: ALDS and plain SVD at budgets around the chosen one (allocation only).
    std::vector<lowrank::BudgetPoint> sweep;
    for (double k : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}) {
      const auto bk = static_cast<int64_t>(k * static_cast<double>(total)) - budget.fixed();
      if (bk < problem.min_cost() || context.stop_requested()) continue;
      sweep.push_back({k, problem.alds(bk).max_error, problem.plain_svd(bk).max_error});
    }
    lowrank::write_lowrank_report(o.report_dir, j, sweep, keep, alloc.max_error);
  }
  j["seconds"] = seconds_since(t0);
  return j;
}

}  // namespace nnc::compress
