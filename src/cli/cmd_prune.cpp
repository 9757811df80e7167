// nncompress prune MODEL --sparsity S -o OUT.onnx: layer-adaptive magnitude pruning by
// rate–distortion (per-layer curves + DP), baselines in the same run, iterative schedule with
// mask-preserving fine-tuning, sparse .nnc storage.
#include <fmt/format.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <regex>
#include <set>

#include "cli/command.hpp"
#include "cli/data_loading.hpp"
#include "cli/finetune.hpp"
#include "nncompress/compress/prune/allocation.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/interrupt.hpp"
#include "nncompress/core/progress.hpp"
#include "nncompress/compress/prune/curve_cache.hpp"
#include "nncompress/compress/prune/report.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/weight_inputs.hpp"
#include "nncompress/store/model_store.hpp"
#include "nncompress/train/trainer.hpp"

namespace nnc::cli {
namespace fs = std::filesystem;
namespace {

std::vector<prune::LayerState> layer_states(exec::Engine& engine, const std::vector<prune::PrunableLayer>& layers,
                                            const std::string& keep_dense) {
  std::vector<prune::LayerState> s;
  std::optional<std::regex> re;
  if (!keep_dense.empty()) {
    try {
      re = std::regex(keep_dense);
    } catch (const std::regex_error&) {
      fail(ErrorCode::kInvalidArgument, "--keep-dense '{}': not a valid regular expression", keep_dense);
    }
  }
  bool matched = false;
  for (const auto& l : layers) {
    bool forced = re && (std::regex_search(l.node, *re) || std::regex_search(l.weight, *re));
    matched = matched || forced;
    s.push_back({l, engine.weights().get(l.weight).ne(0).sum().item<int64_t>(), forced});
  }
  NNC_CHECK(!re || matched, "--keep-dense '{}' matches no prunable layer", keep_dense);
  return s;
}

// The mask layer i of an allocation keeps of its weights `w` (already-pruned weights stay pruned).
at::Tensor allocation_mask(const prune::LayerState& state, const at::Tensor& w, double phi) {
  return state.forced_dense ? (w != 0).to(at::kFloat) : prune::magnitude_mask(w, phi) * (w != 0);
}

std::map<std::string, at::Tensor> apply_allocation(exec::Engine& engine, const std::vector<prune::LayerState>& states,
                                                   const prune::AllocationResult& a) {
  std::map<std::string, at::Tensor> masks;
  for (std::size_t i = 0; i < states.size(); ++i) {
    const auto& name = states[i].layer.weight;
    auto w = engine.weights().get(name).detach().clone();
    auto mask = allocation_mask(states[i], w, a.fraction[i]);
    engine.weights().set(name, w * mask);
    masks[name] = mask;
  }
  return masks;
}

prune::AllocationResult read_allocation_file(const std::string& path, const std::vector<prune::LayerState>& states) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file_text(path));
  } catch (const nlohmann::json::exception&) {
    fail(ErrorCode::kCorrupt, "{}: not a valid allocation JSON file", path);
  }
  NNC_CHECK_CODE(j.contains("layers") && j["layers"].is_array(), kCorrupt, "{}: allocation has no 'layers' list", path);
  std::vector<double> fraction(states.size(), -1);
  for (const auto& l : j["layers"]) {
    NNC_CHECK_CODE(l.contains("weight") && l.contains("fraction") && l["fraction"].is_number(), kCorrupt,
                   "{}: every layer needs 'weight' and a numeric 'fraction'", path);
    auto name = l["weight"].get<std::string>();
    auto it = std::find_if(states.begin(), states.end(), [&](const auto& s) { return s.layer.weight == name; });
    NNC_CHECK_CODE(it != states.end(), kCorrupt, "{}: layer weight '{}' matches nothing in the model", path, name);
    fraction[static_cast<std::size_t>(it - states.begin())] = l["fraction"].get<double>();
  }
  for (std::size_t i = 0; i < states.size(); ++i)
    NNC_CHECK_CODE(fraction[i] >= 0, kCorrupt, "{}: layer '{}' is missing", path, states[i].layer.weight);
  return prune::allocation_from_fractions(states, fraction, "file");
}

}  // namespace

void register_prune_command(CLI::App& app) {
  struct Opts {
    std::string model, output, nnc, alloc = "rd", keep_dense, report, curve_cache, distortion = "mse";
    double sparsity = 0.5, schedule_a = 0.2, grid_step = 0.01;
    int coarse = 8, final_epochs = -1, rd_passes = 2;
    FinetuneOptions finetune;
    bool zero_data = false, worst_case = false, no_comparison = false, no_curve_cache = false, no_activation_cache = false,
         recalibrate_bn = false, onnx_sparse = false;
    GlobalOptions global;
    DataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("prune", "Layer-adaptive magnitude pruning by rate-distortion (curves + DP)");
  add_model_io_options(cmd, opts->model, opts->output, opts->nnc, "Pruned ONNX model (zeros in place)",
                       "Also write the .nnc container (sparse tensors)");
  cmd->add_option("--sparsity", opts->sparsity,
                  fmt::format("Fraction of the weights of {} layers to prune, in [0, 1)", onnxio::weight_operators()))
      ->capture_default_str();
  cmd->add_option("--alloc", opts->alloc, "rd | uniform | global | random | file:ALLOC.json")->capture_default_str();
  add_finetune_options(cmd, opts->finetune, "after each schedule step (masks held fixed)");
  cmd->add_option("--final-epochs", opts->final_epochs,
                  "Fine-tuning epochs after the last schedule step (default: --finetune-epochs)");
  cmd->add_option("--schedule-a", opts->schedule_a, "Iterative schedule s_t = 1 - (1 - a)^t")->capture_default_str();
  cmd->add_option("--keep-dense", opts->keep_dense, "Regex of layers that stay dense");
  cmd->add_option("--grid-step", opts->grid_step, "Distortion-curve grid step")->capture_default_str();
  cmd->add_option("--coarse", opts->coarse,
                  "Coarse-to-fine curves: evaluate every COARSE-th grid point, then the whole grid around each "
                  "layer's chosen point (1: the whole grid)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--rd-passes", opts->rd_passes,
                  "RD allocation passes (1: as published): after the first, curves are re-measured in the context of the current "
                  "allocation (the other layers pruned) and the DP re-run; a pass is kept only if it lowers the "
                  "measured distortion")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  cmd->add_flag("--no-comparison", opts->no_comparison,
                "Skip the one-shot comparison of RD against the baselines (with --alloc other than rd, no curves "
                "are computed at all)");
  cmd->add_flag("--recalibrate-bn", opts->recalibrate_bn,
                "Re-estimate BatchNorm running statistics on the calibration images after each pruning step "
                "(no gradients), and measure the RD curves and allocations with them re-estimated (the one-shot "
                "comparison reports top-1 with re-estimated statistics for every allocation anyway)");
  cmd->add_flag("--onnx-sparse", opts->onnx_sparse,
                "Write each pruned weight in its smallest form instead of dense zeros: a bitmask + the non-zero values, "
                "unpacked in the graph by standard operators (opset >= 11), or an ONNX sparse initializer (int64 "
                "positions; for tensors more than ~98% zeros); any ONNX runtime runs the file");
  cmd->add_flag("--zero-data", opts->zero_data, "Calibrate on standard-normal inputs instead of data");
  cmd->add_option("--distortion", opts->distortion,
                  "Output distortion of the curves: mse (of logits, as published) | worst (worst sample's MSE) | "
                  "kl (KL divergence of the predicted class distribution)")
      ->capture_default_str();
  cmd->add_flag("--worst-case", opts->worst_case, "Same as --distortion worst");
  cmd->add_option("--curve-cache", opts->curve_cache,
                  "Directory caching distortion curves by model/data hash (default: $NNC_CACHE_DIR, "
                  "$XDG_CACHE_HOME/nncompress or ~/.cache/nncompress)");
  cmd->add_flag("--no-curve-cache", opts->no_curve_cache, "Always recompute the distortion curves");
  cmd->add_flag("--no-activation-cache", opts->no_activation_cache,
                "Curves run the whole network per grid point (benchmarking the activation cache)");
  cmd->add_option("--report", opts->report,
                  "Report directory: curves.csv, curves.svg (one line per layer), allocation.json (editable, "
                  "--alloc file:)");
  add_data_options(cmd, opts->data);
  add_global_options(cmd, opts->global);
  cmd->callback([opts] {
    auto t0 = std::chrono::steady_clock::now();
    auto& o = *opts;
    apply_global_options(o.global);
    NNC_CHECK(o.sparsity >= 0 && o.sparsity < 1, "--sparsity {} must be in [0, 1)", o.sparsity);
    check_finetune_options(o.finetune);
    NNC_CHECK(o.final_epochs >= -1, "--final-epochs {} must be >= 0", o.final_epochs);
    NNC_CHECK(o.final_epochs < 0 || o.finetune.epochs > 0, "--final-epochs needs --finetune-epochs > 0");
    const int final_epochs = o.final_epochs < 0 ? o.finetune.epochs : o.final_epochs;
    NNC_CHECK(!(o.no_comparison && !o.report.empty() && o.alloc != "rd"),
              "--report needs the distortion curves: drop --no-comparison or use --alloc rd");
    NNC_CHECK(!(o.recalibrate_bn && o.zero_data), "--recalibrate-bn needs calibration images, not --zero-data");
    NNC_CHECK(o.schedule_a > 0 && o.schedule_a < 1, "--schedule-a {} must be in (0, 1)", o.schedule_a);
    NNC_CHECK(o.grid_step > 0 && o.grid_step <= 0.5, "--grid-step {} must be in (0, 0.5]", o.grid_step);
    NNC_CHECK(o.alloc == "rd" || o.alloc == "uniform" || o.alloc == "global" || o.alloc == "random" ||
                  o.alloc.rfind("file:", 0) == 0,
              "--alloc '{}': expected rd, uniform, global, random or file:ALLOC.json", o.alloc);
    check_not_same_file(o.output, o.model);
    auto model = load_model_to_compress(o.model);
    auto layers = prune::prunable_layers(model);
    NNC_CHECK(!layers.empty(), "model has no prunable layers ({} with an initializer weight)", onnxio::weight_operators());
    auto splits = load_splits(o.data, model);
    const bool has_batchnorm = std::any_of(model.graph().node().begin(), model.graph().node().end(),
                                           [](const auto& n) { return n.op_type() == "BatchNormalization"; });
    if (has_batchnorm && !o.recalibrate_bn && o.finetune.epochs == 0)
      note("the model has BatchNorm: --recalibrate-bn re-estimates its statistics after pruning and measures the "
           "curves with them re-estimated (one-shot ResNet-20 at 90%: 10% -> 82% test top-1)");
    exec::Engine engine(model);
    data::Evaluator test(splits.test, o.data.batch);
    const double top1_before = test.evaluate(engine).top1;
    at::Tensor calib = o.zero_data ? at::randn(splits.calib.images.sizes(), at::make_generator<at::CPUGeneratorImpl>(o.data.seed))
                                   : splits.calib.images;
    int64_t total = 0;
    for (const auto& l : layers) total += l.params;
    const auto budget = static_cast<int64_t>(std::llround((1.0 - o.sparsity) * static_cast<double>(total)));
    prune::RdCurveOptions copt;
    copt.grid = prune::default_grid(o.grid_step);
    copt.distortion = o.worst_case ? prune::Distortion::kWorst : prune::parse_distortion(o.distortion);
    copt.batch = o.data.batch;
    copt.cache_activations = !o.no_activation_cache;
    copt.recalibrate_batchnorm = o.recalibrate_bn;
    const fs::path cache_dir = o.curve_cache.empty() ? prune::default_curve_cache_dir() : fs::path(o.curve_cache);
    // Curves for an allocation at budget b: cached points are reused; coarse-to-fine evaluates
    // the coarse grid and then the full grid around each layer's chosen point. `curves` holds
    // the points evaluated so far on the current model (empty on a new model).
    auto refine_for = [&](prune::RdCurves& curves, const std::vector<prune::LayerState>& states, int64_t b) {
      const std::string key = o.no_curve_cache ? std::string() : prune::curve_cache_key(engine, calib, layers, copt);
      if (curves.distortion.empty()) {
        curves = prune::empty_rd_curves(layers, copt);
        if (!o.no_curve_cache) {
          if (auto c = prune::load_cached_curves(cache_dir, key, layers)) {
            note(fmt::format("rd curves: cached ({}, {:.0f}% of the grid evaluated)",
                             (cache_dir / (key + ".json")).string(), 100 * prune::evaluated_fraction(*c)));
            curves = *c;
          }
        }
      }
      const double before = prune::evaluated_fraction(curves), seconds_before = curves.seconds;
      prune::refine_rd_curves(engine, calib, curves, copt, o.coarse,
                              [&](const prune::RdCurves& c) { return prune::rd_grid_choice(states, c, b); });
      const double after = prune::evaluated_fraction(curves);
      if (after > before) {
        note(fmt::format("rd curves: {:.1f}s for {} layers, {:.0f}% of the {}-point grid evaluated (activation caching "
                         "skipped {:.0f}% of the steps)",
                         curves.seconds - seconds_before, layers.size(), 100 * after, curves.grid.size(),
                         100 * curves.skipped_fraction));
        if (!o.no_curve_cache) prune::save_cached_curves(cache_dir, key, curves);
      }
    };

    const auto calib_batches = data::split_batches(calib, o.data.batch);
    // Every float initializer (pruned weights and BatchNorm statistics), to put back after a
    // comparison.
    using Snapshot = std::vector<std::pair<std::size_t, at::Tensor>>;
    auto snapshot = [&] {
      Snapshot s;
      for (std::size_t i = 0; i < engine.weights().size(); ++i)
        if (at::isFloatingType(engine.weights().at(i).scalar_type()))
          s.emplace_back(i, engine.weights().at(i).detach().clone());
      return s;
    };
    auto restore = [&](const Snapshot& s) {
      for (const auto& [i, t] : s) engine.weights().set(i, t);
    };
    // BatchNorm statistics re-estimated for the pruned weights on the calibration images (the
    // real ones: standard-normal inputs would give the wrong statistics).
    auto recalibrate_batchnorm = [&] { return !o.zero_data && engine.recalibrate_batchnorm(calib_batches) > 0; };
    auto calib_logits = [&] { return data::run_batches(engine, calib_batches); };
    // Measured output distortion of an allocation applied to the engine's current weights
    // (which are left as they were).
    auto measure = [&](const std::vector<prune::LayerState>& states, const prune::AllocationResult& a,
                       const at::Tensor& reference) {
      auto saved = snapshot();
      apply_allocation(engine, states, a);
      if (o.recalibrate_bn) recalibrate_batchnorm();
      const double d = prune::logit_distortion(calib_logits(), reference, copt.distortion);
      restore(saved);
      return d;
    };
    std::vector<nlohmann::json> rd_pass_log;
    // RD allocation; with --rd-passes > 1 re-linearised around the allocation: the curves are
    // measured again with the other layers pruned as allocated, so the DP sees how the layers
    // interact there (single-layer distortions add up only roughly in residual networks).
    auto allocate_rd = [&](const std::vector<prune::LayerState>& states, const prune::RdCurves& curves, int64_t b) {
      auto a = prune::allocate_rd(states, curves, b);
      if (o.rd_passes <= 1) return a;
      const at::Tensor reference = calib_logits();
      double d = measure(states, a, reference);
      nlohmann::json log = nlohmann::json::array(
          {{{"pass", 1}, {"predicted_distortion", a.predicted_distortion}, {"measured_distortion", d}, {"kept", true}}});
      for (int pass = 2; pass <= o.rd_passes && !interrupted(); ++pass) {
        prune::RdCurveOptions in_context = copt;
        for (std::size_t i = 0; i < states.size(); ++i) {
          auto w = engine.weights().get(states[i].layer.weight).detach();
          in_context.context.push_back(w * allocation_mask(states[i], w, a.fraction[i]));
        }
        auto cc = prune::empty_rd_curves(curves.layers, in_context);
        prune::refine_rd_curves(engine, calib, cc, in_context, o.coarse,
                                [&](const prune::RdCurves& c) { return prune::rd_grid_choice(states, c, b); });
        auto next = prune::allocate_rd(states, cc, b);
        // Each context curve passes through D(a) at the layer's current point, so the separable
        // prediction around a is D(a) + sum_l (c_l(phi_l) - D(a)).
        next.predicted_distortion -= static_cast<double>(states.size() - 1) * d;
        const double dn = measure(states, next, reference);
        const bool better = dn < d;
        note(fmt::format("rd pass {}: curves in context {:.1f}s ({:.0f}% of the grid), measured distortion {:.4g} -> "
                         "{:.4g}{}",
                         pass, cc.seconds, 100 * prune::evaluated_fraction(cc), d, dn, better ? "" : " (not kept)"));
        log.push_back({{"pass", pass}, {"predicted_distortion", next.predicted_distortion}, {"measured_distortion", dn},
                       {"kept", better}, {"curve_seconds", cc.seconds}});
        if (!better) break;
        a = std::move(next);
        d = dn;
      }
      rd_pass_log.push_back(std::move(log));
      return a;
    };

    auto allocate = [&](const std::string& method, const std::vector<prune::LayerState>& states, int64_t b,
                        const prune::RdCurves* curves) {
      if (method == "rd") return allocate_rd(states, *curves, b);
      if (method == "uniform") return prune::allocate_uniform(states, b);
      if (method == "random") return prune::allocate_random(states, b, o.data.seed);
      if (method == "global") {
        std::vector<at::Tensor> w;
        for (const auto& s : states) w.push_back(engine.weights().get(s.layer.weight).detach());
        return prune::allocate_global(states, w, b);
      }
      return read_allocation_file(method.substr(5), states);
    };

    // One-shot comparison from the unpruned model: RD against the baselines (no fine-tuning).
    auto states0 = layer_states(engine, layers, o.keep_dense);
    prune::RdCurves curves0;  // also used by the one-shot RD comparison below
    if (!o.no_comparison || o.alloc == "rd") refine_for(curves0, states0, budget);
    const at::Tensor ref_logits = calib_logits();
    const auto originals = snapshot();
    nlohmann::json oneshot = nlohmann::json::array();
    std::vector<double> oneshot_rd_phi;  // marked on the report's curves
    prune::AllocationResult oneshot_rd;  // reused by a first schedule step at the same budget
    const std::vector<std::string> compared =
        o.no_comparison ? std::vector<std::string>{} : std::vector<std::string>{"rd", "uniform", "global", "random"};
    // Each baseline's top-1 difference to RD on the same test images, with its paired standard
    // error, so that a gap of a few images reads as the tie it is.
    data::Metrics rd_metrics, rd_metrics_bn;
    auto versus_rd = [](nlohmann::json& r, const std::string& key, const data::Metrics& rd, const data::Metrics& m) {
      if (!rd.correct.defined()) return;
      r[key + "_vs_rd_pt"] = 100 * (m.top1 - rd.top1);
      r[key + "_vs_rd_se_pt"] = 100 * data::paired_top1_se(rd.correct, m.correct);
    };
    for (const auto& m : compared) {
      auto a = allocate(m, states0, budget, &curves0);
      apply_allocation(engine, states0, a);
      if (m == "rd") {
        oneshot_rd_phi = a.fraction;
        oneshot_rd = a;
      }
      double measured = prune::logit_distortion(calib_logits(), ref_logits, copt.distortion);
      const auto metrics = test.evaluate(engine);
      nlohmann::json r{{"alloc", m}, {"top1", metrics.top1},
                       {"sparsity", 1.0 - static_cast<double>(a.total_kept) / static_cast<double>(total)},
                       {"predicted_distortion", a.predicted_distortion}, {"measured_distortion", measured}};
      if (m == "rd") rd_metrics = metrics;
      else versus_rd(r, "top1", rd_metrics, metrics);
      if (recalibrate_batchnorm()) {
        const auto bn = test.evaluate(engine);
        r["top1_bn_recalibrated"] = bn.top1;
        r["measured_distortion_bn_recalibrated"] = prune::logit_distortion(calib_logits(), ref_logits, copt.distortion);
        if (m == "rd") rd_metrics_bn = bn;
        else versus_rd(r, "top1_bn_recalibrated", rd_metrics_bn, bn);
      }
      oneshot.push_back(std::move(r));
      restore(originals);
    }

    // The requested method with the iterative schedule (one step when not fine-tuning).
    std::map<std::string, at::Tensor> masks;
    std::unique_ptr<exec::Engine> teacher;  // the unpruned model, for --distill
    prune::AllocationResult final_alloc;
    nlohmann::json steps = nlohmann::json::array();
    for (int t = 1;; ++t) {
      double s_t = o.finetune.epochs > 0 ? 1.0 - std::pow(1.0 - o.schedule_a, t) : o.sparsity;
      s_t = std::min(s_t, o.sparsity);
      auto states = layer_states(engine, layers, o.keep_dense);
      const auto b = static_cast<int64_t>(std::llround((1.0 - s_t) * static_cast<double>(total)));
      prune::RdCurves curves;
      if (t == 1) curves = curves0;
      if (o.alloc == "rd") refine_for(curves, states, b);
      final_alloc = t == 1 && o.alloc == "rd" && b == budget && !o.no_comparison ? oneshot_rd : allocate(o.alloc, states, b, &curves);
      masks = apply_allocation(engine, states, final_alloc);
      if (o.recalibrate_bn) recalibrate_batchnorm();
      double after_prune = test.evaluate(engine).top1;
      if (o.finetune.epochs > 0) {
        if (o.finetune.distill > 0 && !teacher) teacher = std::make_unique<exec::Engine>(model);
        auto to = finetune_options(o.finetune, o.data.seed + static_cast<uint64_t>(t), o.data, model, teacher.get());
        to.masks = masks;
        if (s_t >= o.sparsity) to.epochs = final_epochs;
        if (to.epochs > 0) train::train(engine, splits, to);
      }
      double after_ft = test.evaluate(engine).top1;
      steps.push_back({{"step", t}, {"target_sparsity", s_t}, {"top1_pruned", after_prune}, {"top1_finetuned", after_ft}});
      note(fmt::format("prune step {}: sparsity {:.3f}, test top-1 {:.2f}% after pruning, {:.2f}% after fine-tuning", t,
                       s_t, 100 * after_prune, 100 * after_ft));
      if (s_t >= o.sparsity) break;
      if (interrupted()) {
        note(fmt::format("interrupted: writing the model as of step {} (sparsity {:.3f}, the best fine-tuning epoch), "
                         "not the requested {:.3f}", t, s_t, o.sparsity));
        break;
      }
    }
    const double top1_after = test.evaluate(engine).top1;
    auto pruned = engine.to_model();
    store::Compression comp;
    for (const auto& l : layers) comp.sparse[l.weight] = true;
    auto container = store::pack_model(pruned, comp);
    nlohmann::json onnx_sparse = nullptr;
    if (o.onnx_sparse) {
      std::set<std::string> names;
      for (const auto& l : layers) names.insert(l.weight);
      auto w = store::pruned_onnx(pruned, names);
      pruned = std::move(w.model);
      onnx_sparse = {{"masked", w.masked}, {"sparse_initializers", w.sparse}, {"dense_bytes", w.dense_bytes},
                     {"stored_bytes", w.stored_bytes}};
      note(fmt::format("pruned weights in the ONNX file: {} tensors as bitmask + values, {} as sparse initializers, "
                       "{} dense ({} -> {} bytes)",
                       w.masked, w.sparse, layers.size() - static_cast<std::size_t>(w.masked + w.sparse), w.dense_bytes,
                       w.stored_bytes));
    }
    onnxio::save_model(pruned, o.output, o.model);
    if (!o.nnc.empty()) write_file_atomic(o.nnc, container, o.model);
    int64_t kept = 0;
    nlohmann::json table = nlohmann::json::array(), alloc_file = {{"layers", nlohmann::json::array()}};
    for (std::size_t i = 0; i < layers.size(); ++i) {
      int64_t k = engine.weights().get(layers[i].weight).ne(0).sum().item<int64_t>();
      kept += k;
      table.push_back({{"layer", layers[i].node}, {"weight", layers[i].weight}, {"params", layers[i].params}, {"kept", k},
                       {"phi", 1.0 - static_cast<double>(k) / static_cast<double>(layers[i].params)}});
      alloc_file["layers"].push_back({{"weight", layers[i].weight}, {"fraction", final_alloc.fraction[i]}});
    }
    if (!o.report.empty()) prune::write_prune_report(o.report, curves0, oneshot_rd_phi, alloc_file);
    const std::size_t fp32 = store::fp32_initializer_bytes(model);
    nlohmann::json j{{"model", o.model}, {"output", o.output}, {"alloc", o.alloc}, {"top1_before", top1_before},
                     {"top1_after", top1_after}, {"top1_drop_pt", 100 * (top1_before - top1_after)},
                     {"sparsity", 1.0 - static_cast<double>(kept) / static_cast<double>(total)},
                     {"params_kept", static_cast<double>(kept) / static_cast<double>(total)}, {"layers", table},
                     {"ratio", honest_ratio(fp32, container.size())},
                     {"ratio_baseline", "fp32 bytes of all original initializers / .nnc bytes (sparse, fp32 values)"},
                     {"nnc_bytes", container.size()}, {"onnx_bytes", fs::file_size(o.output)},
                     {"onnx_ratio", onnx_ratio(fp32, o.output)}, {"onnx_sparse", onnx_sparse},
                     {"oneshot_comparison", oneshot}, {"steps", steps},
                     {"finetune_epochs", o.finetune.epochs}, {"final_epochs", final_epochs},
                     {"distortion", prune::distortion_name(copt.distortion)}, {"rd_passes", o.rd_passes},
                     {"recalibrate_bn", o.recalibrate_bn},
                     {"rd_pass_log", rd_pass_log}, {"curve_seconds", curves0.seconds}, {"curves_from_cache", curves0.from_cache},
                     {"curve_steps_skipped", curves0.skipped_fraction},
                     {"curve_points_evaluated", prune::evaluated_fraction(curves0)}, {"coarse", o.coarse},
                     {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    if (o.global.json) {
      print_json(j);
      return;
    }
    fmt::print("{} -> {}: sparsity {:.2f}%, test top-1 {:.2f}% -> {:.2f}%; {:.2f}x (fp32 / sparse .nnc, {} bytes); "
               "ONNX file {} bytes ({:.2f}x{})\n",
               o.model, o.output, 100 * j["sparsity"].get<double>(), 100 * top1_before, 100 * top1_after,
               j["ratio"].get<double>(), container.size(), j["onnx_bytes"].get<std::size_t>(),
               j["onnx_ratio"].get<double>(), o.onnx_sparse ? ", sparse initializers" : ", dense zeros; --onnx-sparse");
    for (const auto& r : oneshot) {
      // Only the RD allocation predicts its distortion (the sum of its curves); the JSON has -1 for the rest.
      const double predicted = r["predicted_distortion"].get<double>();
      fmt::print("  one-shot {:<8} test top-1 {:.2f}%  distortion {}measured {:.4g}", r["alloc"].get<std::string>(),
                 100 * r["top1"].get<double>(), predicted >= 0 ? fmt::format("predicted {:.4g}, ", predicted) : "",
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
