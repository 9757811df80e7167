// nncompress lowrank MODEL --keep F -o OUT.onnx: ALDS low-rank decomposition (grouped SVD,
// error-bound allocation for a parameter or FLOP budget), ONNX surgery, optional fine-tuning.
#include <fmt/format.h>

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>

#include "cli/command.hpp"
#include "cli/data_loading.hpp"
#include "cli/finetune.hpp"
#include "nncompress/compress/lowrank/surgery.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/progress.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/store/model_store.hpp"
#include "nncompress/compress/lowrank/cost_model.hpp"
#include "nncompress/compress/lowrank/latency.hpp"
#include "nncompress/compress/lowrank/report.hpp"
#include "nncompress/core/interrupt.hpp"
#include "nncompress/train/trainer.hpp"

namespace nnc::cli {
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

}  // namespace

void register_lowrank_command(CLI::App& app) {
  struct Opts {
    std::string model, output, nnc, budget = "params", report;
    double keep = 0.3;
    std::vector<int64_t> groups{1, 2, 3, 5, 7, 9};
    bool latency_aware = false, recalibrate_bn = false;
    FinetuneOptions finetune{0, 1e-3, 1e-4, "auto", 0.5, 4.0};  // distillation: -1.25 -> -0.33 pt on ResNet-20
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("lowrank", "ALDS low-rank decomposition to a parameter or FLOP budget");
  add_model_io_options(cmd, opts->model, opts->output, opts->nnc, "Factored ONNX model");
  cmd->add_option("--keep", opts->keep, "Fraction of all initializer elements (or FLOPs, or blocked FLOPs: see --budget) that remain, in (0, 1]")
      ->capture_default_str();
  cmd->add_option("--budget", opts->budget,
                  "params | flops | latency (FLOPs with channel counts rounded up to the CPU's SIMD block, which "
                  "is what the engine's oneDNN kernels execute; tracks measured time where plain FLOPs do not)")
      ->capture_default_str();
  cmd->add_option("--groups", opts->groups, "Candidate channel-group counts k per layer (1 only: plain SVD)")
      ->capture_default_str()
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--latency-aware", opts->latency_aware,
                "Keep dense every layer whose factored form is measured slower in the engine (batch 256), "
                "re-allocating the budget over the others");
  cmd->add_flag("--recalibrate-bn", opts->recalibrate_bn,
                "Re-estimate BatchNorm running statistics of the factored model (and of the baselines) on the "
                "calibration images before it is measured or fine-tuned (no gradients)");
  add_finetune_options(cmd, opts->finetune, "after decomposition");
  cmd->add_option("--report", opts->report,
                  "Report directory: layers.csv, lowrank.json, error_vs_budget.svg (ALDS and plain SVD swept over budgets)");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    auto t0 = std::chrono::steady_clock::now();
    auto& o = *opts;
    apply_global_options(o.global);
    NNC_CHECK(o.keep > 0 && o.keep <= 1, "--keep {} must be in (0, 1]", o.keep);
    NNC_CHECK(o.budget == "params" || o.budget == "flops" || o.budget == "latency",
              "--budget '{}': expected params, flops or latency", o.budget);
    check_finetune_options(o.finetune);
    check_not_same_file(o.output, o.model);
    auto model = load_model_to_compress(o.model);
    auto splits = load_splits(o.data, model);
    const auto kind = o.budget == "params"  ? lowrank::BudgetKind::kParams
                      : o.budget == "flops" ? lowrank::BudgetKind::kFlops
                                            : lowrank::BudgetKind::kLatency;
    lowrank::AldsProblem problem(lowrank::find_layers(model, splits.calib.images), kind, o.groups);
    const int64_t total_params = lowrank::total_initializer_elements(model);
    int64_t total_flops = 0, total_blocked = 0, total_units = 0;
    for (const auto& l : problem.layers()) {
      total_flops += l.flops();
      total_blocked += lowrank::dense_blocked_macs(l, problem.simd_block());
      total_units += problem.dense_cost(l);
    }
    const int64_t total = kind == lowrank::BudgetKind::kParams ? total_params : total_units;
    const int64_t cap = static_cast<int64_t>(o.keep * static_cast<double>(total));
    // The cost of the layers left dense, and what the decomposed layers may use: the cap minus it.
    auto fixed = [&] { return total - problem.dense_cost(); };
    auto available = [&] { return cap - fixed(); };
    int64_t budget = 0;
    auto fit_budget = [&] {
      budget = available();
      NNC_CHECK(budget > 0, "--keep {}: the {} {} of layers that cannot be decomposed already exceed the budget of {}",
                o.keep, fixed(), lowrank::budget_unit(kind), cap);
      NNC_CHECK(budget >= problem.min_cost(),
                "--keep {}: below what rank 1 in every decomposable layer needs ({:.3f} of the model's {})", o.keep,
                static_cast<double>(fixed() + problem.min_cost()) / static_cast<double>(total),
                lowrank::budget_unit(kind));
    };
    fit_budget();
    auto t_alloc = std::chrono::steady_clock::now();
    auto alloc = problem.alds(budget);
    const double alloc_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_alloc).count();
    note(fmt::format("ALDS allocation: {:.1f}s for {} layers, max relative error {:.3f}", alloc_seconds,
                     problem.layers().size(), alloc.max_error));

    data::Evaluator test(splits.test, o.data.batch);
    exec::Engine original(model);
    auto latency_batch = splits.test.images.narrow(0, 0, std::min<int64_t>(256, splits.test.size()));
    // Latency-aware: factored layers measured slower than their dense originals are kept dense
    // and the budget is re-allocated over the others, until every factored layer is faster.
    std::vector<lowrank::LayerLatency> latencies;
    if (o.latency_aware) {
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
          problem.keep_dense(i, fmt::format("kept dense: factored {:.2f} ms >= dense {:.2f} ms (batch {})",
                                            t.factored_ms, t.dense_ms, latency_batch.size(0)));
          if (available() >= problem.min_cost()) {
            ++kept;
          } else {
            problem.allow_factoring(i);
          }
        }
        note(fmt::format("latency-aware round {}: {} factored layer(s) not faster than dense, {} now kept dense{}", round,
                         slower.size(), kept,
                         kept < slower.size() ? fmt::format(" ({} more would not fit --keep {})", slower.size() - kept, o.keep)
                                              : ""));
        if (kept == 0 || interrupted()) break;
        fit_budget();
        alloc = problem.alds(budget);
      }
    }
    // Measurements: the original (top-1, latency), the factored model, three baselines.
    Progress measuring("lowrank measurements", 5);
    const double top1_before = test.evaluate(original).top1;
    const double latency_before = median_latency_ms(original, latency_batch);
    measuring.update(1, fmt::format("original: test top-1 {:.2f}%, {:.1f} ms at batch {}", 100 * top1_before,
                                    latency_before, latency_batch.size(0)));
    // One image at a time, as on a device.
    const auto single = latency_batch.narrow(0, 0, 1);
    const double latency_before_1 = median_latency_ms(original, single, 200);

    // The factored model, measured before fine-tuning, then the baselines at the same budget.
    const auto calib_batches = data::split_batches(splits.calib.images, o.data.batch);
    auto recalibrate = [&](exec::Engine& e) {
      if (o.recalibrate_bn) e.recalibrate_batchnorm(calib_batches);
    };
    auto factored = lowrank::decompose(model, problem, alloc);
    exec::Engine engine(factored);
    recalibrate(engine);
    if (o.recalibrate_bn) factored = engine.to_model();
    const double alds_top1_no_ft = test.evaluate(engine).top1;
    measuring.update(2, fmt::format("alds: test top-1 {:.2f}% before fine-tuning", 100 * alds_top1_no_ft));
    nlohmann::json baselines = nlohmann::json::array();
    baselines.push_back({{"method", "alds"}, {"max_error", alloc.max_error}, {"params", alloc.params},
                         {"top1", alds_top1_no_ft}});
    for (auto a : {problem.plain_svd(budget), problem.uniform_rank(budget), problem.energy_rank(budget)}) {
      exec::Engine e(lowrank::decompose(model, problem, a));
      recalibrate(e);
      baselines.push_back(
          {{"method", a.method}, {"max_error", a.max_error}, {"params", a.params}, {"top1", test.evaluate(e).top1}});
      measuring.update(static_cast<long>(baselines.size()) + 1,
                       fmt::format("{}: test top-1 {:.2f}%", a.method, 100 * baselines.back()["top1"].get<double>()));
    }
    measuring.finish();

    if (o.finetune.epochs > 0) {
      train::train(engine, splits,
                   finetune_options(o.finetune, o.data.seed, o.data, model, &original));
      factored = engine.to_model();
    }
    const double top1_after = o.finetune.epochs > 0 ? test.evaluate(engine).top1 : alds_top1_no_ft;
    // Latency of the model as written, in a fresh engine as any runtime would load it.
    exec::Engine written(factored);
    const double latency_after = median_latency_ms(written, latency_batch);
    const double latency_after_1 = median_latency_ms(written, single, 200);
    onnxio::save_model(factored, o.output, o.model);
    auto container = store::pack_model(factored, {});
    if (!o.nnc.empty()) write_file_atomic(o.nnc, container, o.model);
    const int64_t params_after = lowrank::total_initializer_elements(factored);
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
    const std::size_t fp32 = store::fp32_initializer_bytes(model);
    nlohmann::json j{{"model", o.model}, {"output", o.output}, {"keep", o.keep}, {"budget", o.budget},
                     {"top1_before", top1_before}, {"top1_after", top1_after},
                     {"top1_drop_pt", 100 * (top1_before - top1_after)}, {"top1_after_no_finetune", alds_top1_no_ft},
                     {"params_kept", static_cast<double>(params_after) / static_cast<double>(total_params)},
                     {"flops_kept", static_cast<double>(flops_after) / static_cast<double>(total_flops)},
                     {"blocked_flops_kept", static_cast<double>(blocked_after) / static_cast<double>(total_blocked)},
                     {"simd_block", problem.simd_block()},
                     {"max_error", alloc.max_error}, {"ratio", honest_ratio(fp32, container.size())},
                     {"ratio_baseline", "fp32 bytes of all original initializers / .nnc bytes"},
                     {"nnc_bytes", container.size()}, {"onnx_bytes", std::filesystem::file_size(o.output)},
                     {"onnx_ratio", onnx_ratio(fp32, o.output)},
                     {"latency_ms_before", latency_before},
                     {"latency_ms_after", latency_after}, {"latency_batch", latency_batch.size(0)},
                     {"latency_ms_before_batch1", latency_before_1}, {"latency_ms_after_batch1", latency_after_1},
                     {"allocation_seconds", alloc_seconds}, {"layers", layers}, {"baselines_no_finetune", baselines},
                     {"finetune_epochs", o.finetune.epochs}, {"latency_aware", o.latency_aware},
                     {"recalibrate_bn", o.recalibrate_bn}, {"groups", o.groups},
                     {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    if (!o.report.empty()) {
      // Error vs budget: ALDS and plain SVD at budgets around the chosen one (allocation only).
      std::vector<lowrank::BudgetPoint> sweep;
      for (double keep : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}) {
        const auto b = static_cast<int64_t>(keep * static_cast<double>(total)) - fixed();
        if (b <= 0 || interrupted()) continue;
        sweep.push_back({keep, keep == o.keep ? alloc.max_error : problem.alds(b).max_error, problem.plain_svd(b).max_error});
      }
      lowrank::write_lowrank_report(o.report, j, sweep, o.keep, alloc.max_error);
    }
    if (o.global.json) {
      print_json(j);
      return;
    }
    fmt::print("{} -> {}: test top-1 {:.2f}% -> {:.2f}% ({:.2f}% before fine-tuning)\n", o.model, o.output,
               100 * top1_before, 100 * top1_after, 100 * alds_top1_no_ft);
    fmt::print("  params kept {:.1f}%, FLOPs kept {:.1f}% (blocked by {}: {:.1f}%), max relative error {:.3f}; latency "
               "{:.1f} -> {:.1f} ms (batch {}), {:.2f} -> {:.2f} ms (batch 1); allocation {:.2f}s\n",
               100 * j["params_kept"].get<double>(), 100 * j["flops_kept"].get<double>(), problem.simd_block(),
               100 * j["blocked_flops_kept"].get<double>(), alloc.max_error,
               latency_before, latency_after, latency_batch.size(0), latency_before_1, latency_after_1, alloc_seconds);
    for (const auto& b : baselines)
      fmt::print("  {:<8} max error {:.3f}, test top-1 {:.2f}% (no fine-tuning, same budget)\n",
                 b["method"].get<std::string>(), b["max_error"].get<double>(), 100 * b["top1"].get<double>());
  });
}

}  // namespace nnc::cli
