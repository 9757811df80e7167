#include "nncompress/compress/prune/prune_step.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <regex>

#include "nncompress/compress/accuracy_guard.hpp"
#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/finetune/holdout_control.hpp"
#include "nncompress/compress/fit/size_sparsity.hpp"
#include "nncompress/compress/options.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/prune/allocation.hpp"
#include "nncompress/compress/prune/curve_cache.hpp"
#include "nncompress/compress/prune/magnitude.hpp"
#include "nncompress/compress/prune/report.hpp"
#include "nncompress/core/bisect.hpp"
#include "nncompress/core/byte_size.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/dist/cluster.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/weight_inputs.hpp"

namespace nnc::compress {
namespace {

namespace fs = std::filesystem;
using Snapshot = std::vector<std::pair<std::size_t, at::Tensor>>;

// The mask layer i of an allocation keeps of its weights `w` (already-pruned weights stay pruned).
at::Tensor allocation_mask(const prune::LayerState& state, const at::Tensor& w, double phi) {
  return state.forced_dense ? (w != 0).to(at::kFloat) : prune::magnitude_mask(w, phi) * (w != 0);
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

// Whether a run climbs the schedule: max_drop with fine-tuning and no sparsity given.
bool climbs(const PruneOptions& o) { return !o.sparsity && o.max_drop && o.finetune.epochs > 0; }

// One run of the step: the engine being pruned, its data and the curves measured so far.
class PruneRun {
 public:
  PruneRun(const PruneOptions& o, CompressedModel& model, Context& context)
      : o_(o),
        model_(model),
        ctx_(context),
        engine_(model.model()),
        layers_(prune::prunable_layers(model.model())),
        sparsity_(o.sparsity.value_or(climbs(o) ? o.max_sparsity : 0.5)),
        method_(o.alloc),
        holdout_(context.splits().holdout, context.batch()) {
    NNC_CHECK(!layers_.empty(), "model has no prunable layers ({} with an initializer weight)",
              onnxio::weight_operators());
    for (const auto& l : layers_) total_ += l.params;
    const auto& calib = context.splits().calib.images;
    calib_ = o.zero_data ? at::randn(calib.sizes(), at::make_generator<at::CPUGeneratorImpl>(context.seed())) : calib;
    calib_batches_ = data::split_batches(calib_, context.batch());
    copt_.grid = prune::default_grid(o.grid_step);
    copt_.distortion = prune::parse_distortion(o.distortion);
    copt_.batch = context.batch();
    copt_.cache_activations = o.activation_cache;
    copt_.recalibrate_batchnorm = o.recalibrate_bn;
    cache_dir_ = !context.cache_dir.empty() ? context.cache_dir : prune::default_curve_cache_dir();
    use_cache_ = o.curve_cache && context.use_cache;
  }

  nlohmann::json run();

 private:
  int64_t budget_at(double sparsity) const {
    return static_cast<int64_t>(std::llround((1.0 - sparsity) * static_cast<double>(total_)));
  }
  std::vector<prune::LayerState> layer_states() const;
  void refine_for(prune::RdCurves& curves, const std::vector<prune::LayerState>& states, int64_t b);
  Snapshot snapshot() const;
  void restore(const Snapshot& s) { for (const auto& [i, t] : s) engine_.weights().set(i, t); }
  std::map<std::string, Mask> apply_allocation(const std::vector<prune::LayerState>& states,
                                               const prune::AllocationResult& a);
  // BatchNorm statistics re-estimated for the pruned weights on the calibration images (the
  // real ones: standard-normal inputs would give the wrong statistics).
  bool recalibrate_batchnorm() { return !o_.zero_data && engine_.recalibrate_batchnorm(calib_batches_) > 0; }
  at::Tensor calib_logits() { return data::run_batches(engine_, calib_batches_); }
  double measure(const std::vector<prune::LayerState>& states, const prune::AllocationResult& a,
                 const at::Tensor& reference);
  prune::AllocationResult allocate_rd(const std::vector<prune::LayerState>& states, const prune::RdCurves& curves,
                                      int64_t b);
  prune::AllocationResult allocate(const std::string& method, const std::vector<prune::LayerState>& states, int64_t b,
                                   const prune::RdCurves* curves);
  data::Metrics measure_holdout(const std::vector<prune::LayerState>& states, const prune::AllocationResult& a);
  double search_sparsity(const std::vector<prune::LayerState>& states0, prune::RdCurves& curves0);
  nlohmann::json oneshot_comparison(const std::vector<prune::LayerState>& states0, prune::RdCurves& curves0);
  nlohmann::json schedule(const prune::RdCurves& curves0);
  bool climbing() const { return climbs(o_); }

  const PruneOptions& o_;
  CompressedModel& model_;
  Context& ctx_;
  exec::Engine engine_;
  std::vector<prune::PrunableLayer> layers_;
  int64_t total_ = 0;
  at::Tensor calib_;
  std::vector<at::Tensor> calib_batches_;
  prune::RdCurveOptions copt_;
  fs::path cache_dir_;
  bool use_cache_ = true;
  std::vector<nlohmann::json> rd_pass_log_;
  std::vector<double> oneshot_rd_phi_;  // marked on the report's curves
  prune::AllocationResult oneshot_rd_;  // reused by a first schedule step at the same budget
  prune::AllocationResult final_alloc_;
  double sparsity_;                      // given, default, or searched within max_drop
  std::string method_;                   // the allocation used: o_.alloc, or a clearly better baseline
  data::Evaluator holdout_;              // the hold-out, which searches and picks
  Reference reference_;                  // the original on the hold-out and test splits
  nlohmann::json search_ = nlohmann::json::array();
  nlohmann::json climb_;                 // climbing: the step that held and where the budget broke
  // The climb's step that held; 0 while none has (also when a stop came before the first one ended).
  int held_step() const { return climb_.is_object() ? climb_.value("held_step", 0) : 0; }
  prune::RdCurves held_curves_;          // climbing: the curves of the step kept
};

std::vector<prune::LayerState> PruneRun::layer_states() const {
  std::vector<prune::LayerState> s;
  std::optional<std::regex> re;
  if (!o_.keep_dense.empty()) {
    try {
      re = std::regex(o_.keep_dense);
    } catch (const std::regex_error&) {
      fail_option("keep_dense", "'{}': not a valid regular expression", o_.keep_dense);
    }
  }
  bool matched = false;
  for (const auto& l : layers_) {
    bool forced = re && (std::regex_search(l.node, *re) || std::regex_search(l.weight, *re));
    matched = matched || forced;
    s.push_back({l, engine_.weights().get(l.weight).ne(0).sum().item<int64_t>(), forced});
  }
  NNC_CHECK_OPTION(!re || matched, "keep_dense", "'{}' matches no prunable layer", o_.keep_dense);
  return s;
}

// Curves for an allocation at budget b: cached points are reused; coarse-to-fine evaluates the
// coarse grid and then the full grid around each layer's chosen point. `curves` holds the points
// evaluated so far on the current model (empty on a new model).
void PruneRun::refine_for(prune::RdCurves& curves, const std::vector<prune::LayerState>& states, int64_t b) {
  const std::string key = use_cache_ ? prune::curve_cache_key(engine_, calib_, layers_, copt_) : std::string();
  if (curves.distortion.empty()) {
    curves = prune::empty_rd_curves(layers_, copt_);
    if (use_cache_) {
      if (auto c = prune::load_cached_curves(cache_dir_, key, layers_)) {
        ctx_.note(fmt::format("rd curves: cached ({}, {:.0f}% of the grid evaluated)",
                              (cache_dir_ / (key + ".json")).string(), 100 * prune::evaluated_fraction(*c)));
        curves = *c;
      }
    }
  }
  const double before = prune::evaluated_fraction(curves), seconds_before = curves.seconds;
  prune::refine_rd_curves(engine_, calib_, curves, copt_, o_.coarse,
                          [&](const prune::RdCurves& c) { return prune::rd_grid_choice(states, c, b); },
                          ctx_.control());
  const double after = prune::evaluated_fraction(curves);
  if (after > before) {
    ctx_.note(fmt::format("rd curves: {:.1f}s for {} layers, {:.0f}% of the {}-point grid evaluated (activation caching "
                          "skipped {:.0f}% of the steps)",
                          curves.seconds - seconds_before, layers_.size(), 100 * after, curves.grid.size(),
                          100 * curves.skipped_fraction));
    if (use_cache_) prune::save_cached_curves(cache_dir_, key, curves);
  }
}

// Every float initializer (pruned weights and BatchNorm statistics), to put back after a
// comparison.
Snapshot PruneRun::snapshot() const {
  Snapshot s;
  for (std::size_t i = 0; i < engine_.weights().size(); ++i)
    if (at::isFloatingType(engine_.weights().at(i).scalar_type()))
      s.emplace_back(i, engine_.weights().at(i).detach().clone());
  return s;
}

std::map<std::string, Mask> PruneRun::apply_allocation(const std::vector<prune::LayerState>& states,
                                                       const prune::AllocationResult& a) {
  std::map<std::string, Mask> masks;
  for (std::size_t i = 0; i < states.size(); ++i) {
    const auto& name = states[i].layer.weight;
    auto w = engine_.weights().get(name).detach().clone();
    auto mask = allocation_mask(states[i], w, a.fraction[i]);
    engine_.weights().set(name, w * mask);
    auto m = mask.reshape({-1}).to(at::kByte).contiguous();
    masks[name] = Mask(m.data_ptr<uint8_t>(), m.data_ptr<uint8_t>() + m.numel());
  }
  return masks;
}

// Measured output distortion of an allocation applied to the engine's current weights (which
// are left as they were).
double PruneRun::measure(const std::vector<prune::LayerState>& states, const prune::AllocationResult& a,
                         const at::Tensor& reference) {
  auto saved = snapshot();
  apply_allocation(states, a);
  if (o_.recalibrate_bn) recalibrate_batchnorm();
  const double d = prune::logit_distortion(calib_logits(), reference, copt_.distortion);
  restore(saved);
  return d;
}

// RD allocation; with rd_passes > 1 re-linearised around the allocation: the curves are
// measured again with the other layers pruned as allocated, so the DP sees how the layers
// interact there (single-layer distortions add up only roughly in residual networks).
prune::AllocationResult PruneRun::allocate_rd(const std::vector<prune::LayerState>& states,
                                              const prune::RdCurves& curves, int64_t b) {
  auto a = prune::allocate_rd(states, curves, b);
  if (o_.rd_passes <= 1) return a;
  const at::Tensor reference = calib_logits();
  double d = measure(states, a, reference);
  nlohmann::json log = nlohmann::json::array(
      {{{"pass", 1}, {"predicted_distortion", a.predicted_distortion}, {"measured_distortion", d}, {"kept", true}}});
  for (int pass = 2; pass <= o_.rd_passes && !ctx_.stop_requested(); ++pass) {
    prune::RdCurveOptions in_context = copt_;
    for (std::size_t i = 0; i < states.size(); ++i) {
      auto w = engine_.weights().get(states[i].layer.weight).detach();
      in_context.context.push_back(w * allocation_mask(states[i], w, a.fraction[i]));
    }
    auto cc = prune::empty_rd_curves(curves.layers, in_context);
    prune::refine_rd_curves(engine_, calib_, cc, in_context, o_.coarse,
                            [&](const prune::RdCurves& c) { return prune::rd_grid_choice(states, c, b); },
                            ctx_.control());
    if (ctx_.stop_requested()) break;  // the curves in context are incomplete: keep the pass we have
    auto next = prune::allocate_rd(states, cc, b);
    // Each context curve passes through D(a) at the layer's current point, so the separable
    // prediction around a is D(a) + sum_l (c_l(phi_l) - D(a)).
    next.predicted_distortion -= static_cast<double>(states.size() - 1) * d;
    const double dn = measure(states, next, reference);
    const bool better = dn < d;
    ctx_.note(fmt::format("rd pass {}: curves in context {:.1f}s ({:.0f}% of the grid), measured distortion {:.4g} -> "
                          "{:.4g}{}",
                          pass, cc.seconds, 100 * prune::evaluated_fraction(cc), d, dn, better ? "" : " (not kept)"));
    log.push_back({{"pass", pass}, {"predicted_distortion", next.predicted_distortion}, {"measured_distortion", dn},
                   {"kept", better}, {"curve_seconds", cc.seconds}});
    if (!better) break;
    a = std::move(next);
    d = dn;
  }
  rd_pass_log_.push_back(std::move(log));
  return a;
}

prune::AllocationResult PruneRun::allocate(const std::string& method, const std::vector<prune::LayerState>& states,
                                           int64_t b, const prune::RdCurves* curves) {
  if (method == "rd") return allocate_rd(states, *curves, b);
  if (method == "uniform") return prune::allocate_uniform(states, b);
  if (method == "random") return prune::allocate_random(states, b, ctx_.seed());
  if (method == "global") {
    std::vector<at::Tensor> w;
    for (const auto& s : states) w.push_back(engine_.weights().get(s.layer.weight).detach());
    return prune::allocate_global(states, w, b);
  }
  return read_allocation_file(method.substr(5), states);
}

// One-shot comparison from the unpruned model: RD against the baselines (no fine-tuning). Each
// baseline's top-1 difference to RD on the same test images comes with its paired standard
// error, so that a gap of a few images reads as the tie it is.
nlohmann::json PruneRun::oneshot_comparison(const std::vector<prune::LayerState>& states0, prune::RdCurves& curves0) {
  nlohmann::json oneshot = nlohmann::json::array();
  if (!o_.comparison) return oneshot;
  const int64_t budget = budget_at(sparsity_);
  const at::Tensor ref_logits = calib_logits();
  const auto originals = snapshot();
  data::Metrics rd_metrics, rd_metrics_bn;
  auto versus_rd = [](nlohmann::json& r, const std::string& key, const data::Metrics& rd, const data::Metrics& m) {
    if (!rd.correct.defined()) return;
    r[key + "_vs_rd_pt"] = 100 * (m.top1 - rd.top1);
    r[key + "_vs_rd_se_pt"] = 100 * data::paired_top1_se(rd.correct, m.correct);
  };
  data::Metrics requested_val;  // the requested allocation's hold-out metrics
  std::map<std::string, data::Metrics> baselines_val;
  for (const std::string m : {"rd", "uniform", "global", "random"}) {
    if (ctx_.stop_requested()) break;
    auto a = allocate(m, states0, budget, &curves0);
    apply_allocation(states0, a);
    if (m == "rd") {
      oneshot_rd_phi_ = a.fraction;
      oneshot_rd_ = a;
    }
    double measured = prune::logit_distortion(calib_logits(), ref_logits, copt_.distortion);
    const auto metrics = ctx_.test().evaluate(engine_);
    const auto val = holdout_.evaluate(engine_);
    (m == o_.alloc ? requested_val : baselines_val[m]) = val;
    nlohmann::json r{{"alloc", m}, {"top1", metrics.top1}, {"holdout_top1", val.top1},
                     {"sparsity", 1.0 - static_cast<double>(a.total_kept) / static_cast<double>(total_)},
                     {"predicted_distortion", a.predicted_distortion}, {"measured_distortion", measured}};
    if (m == "rd") rd_metrics = metrics;
    else versus_rd(r, "top1", rd_metrics, metrics);
    if (recalibrate_batchnorm()) {
      const auto bn = ctx_.test().evaluate(engine_);
      r["top1_bn_recalibrated"] = bn.top1;
      r["measured_distortion_bn_recalibrated"] = prune::logit_distortion(calib_logits(), ref_logits, copt_.distortion);
      if (m == "rd") rd_metrics_bn = bn;
      else versus_rd(r, "top1_bn_recalibrated", rd_metrics_bn, bn);
    }
    oneshot.push_back(std::move(r));
    restore(originals);
  }
  // A baseline clearly better than the requested allocation on the hold-out is used instead.
  double best_val = -1;
  for (const auto& [m, val] : baselines_val)
    if (requested_val.correct.defined() && clearly_better(val, requested_val) && val.top1 > best_val) {
      best_val = val.top1;
      method_ = m;
    }
  if (method_ != o_.alloc)
    ctx_.note(fmt::format("prune: one-shot {} allocation is clearly better than {} at sparsity {:.3f} on the hold-out "
                          "({:.2f}% vs {:.2f}%, more than 2 paired standard errors): {} is used",
                          method_, o_.alloc, sparsity_, 100 * best_val, 100 * requested_val.top1, method_));
  return oneshot;
}

// Hold-out metrics of an allocation applied to the engine's current weights (left as they were).
data::Metrics PruneRun::measure_holdout(const std::vector<prune::LayerState>& states,
                                       const prune::AllocationResult& a) {
  auto saved = snapshot();
  apply_allocation(states, a);
  if (o_.recalibrate_bn) recalibrate_batchnorm();
  auto m = holdout_.evaluate(engine_);
  restore(saved);
  return m;
}

// The largest sparsity whose one-shot allocation keeps hold-out top-1 within max_drop
// (bisection; the curves are refined around each trial's budget as they would be for it).
double PruneRun::search_sparsity(const std::vector<prune::LayerState>& states0, prune::RdCurves& curves0) {
  Progress searching(ctx_.control().reporter, "prune sparsity search", 8);
  auto within = [&](double s) {
    const int64_t b = budget_at(s);
    if (o_.alloc == "rd") refine_for(curves0, states0, b);
    // One RD pass per trial (the passes in context are for the budget found).
    const auto a = o_.alloc == "rd" ? prune::allocate_rd(states0, curves0, b) : allocate(o_.alloc, states0, b, &curves0);
    const auto m = measure_holdout(states0, a);
    const auto drop = holdout_drop(reference_, m);
    search_.push_back({{"sparsity", s}, {"holdout_top1", m.top1}, {"holdout_drop_pt", drop.pt},
                       {"holdout_drop_se_pt", drop.se_pt}, {"within", drop.within(*o_.max_drop)}});
    searching.update(static_cast<long>(search_.size()),
                     fmt::format("sparsity {:.3f}: hold-out top-1 {:.2f}% ({:+.2f} +- {:.2f} pt)", s, 100 * m.top1,
                                 -drop.pt, drop.se_pt));
    return drop.within(*o_.max_drop);
  };
  const double s = bisect(0.0, 0.99, within, 7, 0.004);
  searching.finish();
  NNC_CHECK_OPTION_CODE(s > 0, "max_drop", kTargetMissed,
                        "{}: no sparsity of at least 0.008 keeps hold-out top-1 within it by one paired standard "
                        "error (at {:.3f}: {:.2f}% -> {:.2f}%); nothing written",
                        *o_.max_drop, search_.back()["sparsity"].get<double>(), 100 * reference_.holdout.top1,
                        100 * search_.back()["holdout_top1"].get<double>());
  ctx_.note(fmt::format("prune: sparsity {:.3f} is the largest within max_drop {} pt on the hold-out (drop plus one "
                        "paired standard error), one-shot {} allocation ({} trials)",
                        s, *o_.max_drop, o_.alloc, search_.size()));
  return s;
}

// The requested allocation on the iterative schedule (one step when not fine-tuning); after each
// step the model takes the pruned weights and their masks, then is fine-tuned with them fixed.
// Climbing (max_drop with fine-tuning, no sparsity): the schedule goes up to max_sparsity, each
// step's hold-out drop is measured after its fine-tuning; a step that breaks the budget gets the
// final epochs and, when it then holds, the climb goes on; a step that breaks it even so is
// climbed past, and climb_patience such steps in a row roll the model back to the last that held,
// which then gets the final epochs (unless it had them); with climb_refine, a rollback first tries
// one more step from the model that held, halfway (in kept weights) to the first step above it
// that broke, which ends the climb whether it holds or not. One schedule,
// not independent trainings: every probe of the budget search is a step of it.
nlohmann::json PruneRun::schedule(const prune::RdCurves& curves0) {
  const int final_epochs = o_.final_epochs.value_or(o_.finetune.epochs);
  const int64_t budget = budget_at(sparsity_);
  const bool climb = climbing();
  std::unique_ptr<exec::Engine> teacher;  // the original model, for distillation
  nlohmann::json steps = nlohmann::json::array();
  struct Held {
    CompressedModel model;
    Snapshot weights;
    double sparsity;
    prune::AllocationResult alloc;
    int step;
    bool rescued = false;  // already fine-tuned for the final epochs
    std::shared_ptr<HoldoutControl> control;  // the hold-out control as of this step (when one runs)
  };
  std::optional<Held> held;
  std::optional<Held> start;  // climbing: the model before the first step, where a climb that holds nowhere goes back
  if (climb) start = Held{model_, snapshot(), 0.0, {}, 0, false, copy_holdout_control(ctx_)};
  int broken_in_a_row = 0;  // climbing: broken steps since the last that held
  double first_broken = -1;  // climbing: the first step above the last that held that broke (-1: none)
  std::optional<double> refine_to;     // the refinement step's sparsity, while it runs
  nlohmann::json refinement;           // the climb's one refinement step (null until taken): its
                                       // sparsity, the step above it that broke, whether it held
  if (climb && method_ == "rd" && !copt_.grid.empty()) {
    // The RD allocation picks each layer's point on its grid, so the sparsest grid point bounds
    // the climb (a coarse grid_step, or layers kept dense, cannot reach max_sparsity): the climb
    // ends at that bound instead of failing there.
    const double phi_max = *std::max_element(copt_.grid.begin(), copt_.grid.end());
    int64_t need = 0;
    for (const auto& st : layer_states())
      need += st.forced_dense ? st.nonzero
                              : std::min<int64_t>(st.nonzero, static_cast<int64_t>(std::ceil(
                                                                  (1 - phi_max) * static_cast<double>(st.layer.params))) + 1);
    const double reachable = 1.0 - static_cast<double>(need) / static_cast<double>(total_);
    if (reachable < sparsity_) {
      ctx_.note(fmt::format("prune: the climb stops at sparsity {:.3f} at most, the sparsest point of the layers' "
                            "grids (grid_step {})", reachable, o_.grid_step));
      sparsity_ = reachable;
    }
  }
  Progress climbing_progress(ctx_.control().reporter, "prune schedule",
                             climb ? static_cast<long>(std::ceil(std::log(1 - sparsity_) / std::log(1 - o_.schedule_a)))
                                   : 0);
  // The hold-out drop from the original and whether it is within max_drop, for a climb.
  auto check_holdout = [&](nlohmann::json& row) {
    const auto m = holdout_.evaluate(engine_);
    const auto drop = holdout_drop(controlled(reference_, ctx_), m);
    const bool within = drop.within(*o_.max_drop);
    row["holdout_top1"] = m.top1;
    if (ctx_.holdout_control) row["control_holdout_top1"] = ctx_.holdout_control->holdout.top1;
    row["holdout_drop_pt"] = drop.pt;
    row["holdout_drop_se_pt"] = drop.se_pt;
    row["within"] = within;
    return fmt::format("hold-out {:.2f}% ({:+.2f} +- {:.2f} pt: {})", 100 * m.top1, -drop.pt, drop.se_pt,
                       within ? "holds" : "breaks the budget");
  };
  auto finetune = [&](int epochs, uint64_t seed) {
    FinetuneOptions fo = o_.finetune;
    fo.epochs = epochs;
    // A climb judges each step on the hold-out, which holds the validation images: selecting
    // the best epoch on them made the hold-out look up to 0.8 pt better than the test split
    // (LeNet-300 at 94%), so a climbing step keeps its last epoch.
    fo.keep_best_epoch = !climb;
    if (fo.distill > 0 && !teacher) teacher = ctx_.make_engine(model_.original());
    finetune_engine(engine_, model_, ctx_, fo, seed, teacher.get());
    train_holdout_control(ctx_, fo, seed, teacher.get());
  };
  for (int t = 1;; ++t) {
    double s_t = o_.finetune.epochs > 0 ? 1.0 - std::pow(1.0 - o_.schedule_a, t) : sparsity_;
    s_t = std::min(s_t, sparsity_);
    const bool refining = refine_to.has_value();
    if (refining) s_t = *refine_to;
    auto states = layer_states();
    const int64_t b = budget_at(s_t);
    prune::RdCurves curves;
    if (t == 1) curves = curves0;
    if (method_ == "rd") refine_for(curves, states, b);
    if (ctx_.stop_requested()) break;  // curves unfinished: the model stays as of the last step
    final_alloc_ = t == 1 && method_ == "rd" && b == budget && o_.comparison && !climb
                       ? oneshot_rd_
                       : allocate(method_, states, b, &curves);
    auto masks = apply_allocation(states, final_alloc_);
    if (o_.recalibrate_bn) recalibrate_batchnorm();
    model_.set_model(engine_.to_model(), std::move(masks));
    const double after_prune = ctx_.test().evaluate(engine_).top1;
    const int epochs = s_t >= sparsity_ && !climb ? final_epochs : o_.finetune.epochs;
    const bool finetuned = o_.finetune.epochs > 0 && epochs > 0;
    if (finetuned) finetune(epochs, ctx_.seed() + static_cast<uint64_t>(t));
    const double after_ft = finetuned ? ctx_.test().evaluate(engine_).top1 : after_prune;
    nlohmann::json row{{"step", t},
                       {"target_sparsity", s_t},
                       {"top1_pruned", after_prune},
                       {"top1_finetuned", after_ft},
                       {"finetune_epochs", finetuned ? epochs : 0}};
    if (refining) row["refinement"] = true;
    std::string holdout_note;
    bool within = true;
    if (climb && !ctx_.stop_requested()) {
      holdout_note = "; " + check_holdout(row);
      within = row["within"].get<bool>();
      climbing_progress.update(t, fmt::format("sparsity {:.3f}: hold-out {:+.2f} pt", s_t,
                                              -row["holdout_drop_pt"].get<double>()));
    }
    steps.push_back(row);
    ctx_.note(finetuned ? fmt::format("prune step {}: sparsity {:.3f}, test top-1 {:.2f}% after pruning, {:.2f}% after "
                                      "{} epochs of fine-tuning{}",
                                      t, s_t, 100 * after_prune, 100 * after_ft, epochs, holdout_note)
                        : fmt::format("prune step {}: sparsity {:.3f}, test top-1 {:.2f}% (no fine-tuning)", t, s_t,
                                      100 * after_prune));
    // The step that breaks the budget gets the final epochs the kept step would get anyway:
    // when it then holds, the climb goes on from it.
    bool rescued = false;
    if (climb && !within && !ctx_.stop_requested() && final_epochs > o_.finetune.epochs) {
      finetune(final_epochs, ctx_.seed() + 1000003);
      nlohmann::json rescue{{"step", "final"}, {"target_sparsity", s_t}, {"finetune_epochs", final_epochs},
                            {"top1_finetuned", ctx_.test().evaluate(engine_).top1}};
      const auto note = check_holdout(rescue);
      within = rescued = rescue["within"].get<bool>() && !ctx_.stop_requested();
      rescue["within"] = within;
      steps.push_back(rescue);
      ctx_.note(fmt::format("prune step {} with {} final epochs: {}{}", t, final_epochs, note,
                            within ? ", the climb goes on" : ", even so"));
    }
    if (climb && within && !ctx_.stop_requested()) {
      broken_in_a_row = 0;
      first_broken = -1;
      held = Held{model_, snapshot(), s_t, final_alloc_, t, rescued, copy_holdout_control(ctx_)};
      if (!curves.distortion.empty()) held_curves_ = curves;  // the report's curves: those of the step kept
    }
    // A broken step is often hold-out noise at the edge of the budget: the climb goes past it
    // from the broken model and ends only after climb_patience broken steps in a row.
    const bool broken = climb && !within && !ctx_.stop_requested();
    if (broken) ++broken_in_a_row;
    if (broken && first_broken < 0) first_broken = s_t;
    if (broken && !refining && broken_in_a_row < o_.climb_patience && s_t < sparsity_) {
      ctx_.note(fmt::format("prune: sparsity {:.3f} breaks max_drop {} pt on the hold-out ({} of {} broken steps in a "
                            "row); the climb goes past it",
                            s_t, *o_.max_drop, broken_in_a_row, o_.climb_patience));
      continue;
    }
    if (climb && (!within || s_t >= sparsity_ || refining || ctx_.stop_requested())) {
      const Held& back = held ? *held : *start;
      if (!within || ctx_.stop_requested()) {
        model_ = back.model;
        restore(back.weights);
        final_alloc_ = back.alloc;
        if (back.control) ctx_.holdout_control = back.control;
      }
      // Schedule steps are coarse at the top (a = 0.3 goes from 2.8% of the weights kept to
      // 2.0%): one more step from the model that held, halfway in kept weights to the first
      // step above it that broke, is kept when it holds.
      refine_to.reset();
      if (!within && held && first_broken >= 0 && o_.climb_refine && refinement.is_null() && !ctx_.stop_requested()) {
        refine_to = 1.0 - std::sqrt((1.0 - back.sparsity) * (1.0 - first_broken));
        refinement = {{"sparsity", *refine_to}, {"below", first_broken}};
        ctx_.note(fmt::format("prune: sparsity {:.3f} held and {:.3f} broke; one more step from {:.3f} to {:.4f}",
                              back.sparsity, first_broken, back.sparsity, *refine_to));
        continue;
      }
      sparsity_ = back.sparsity;
      climb_ = {{"held_step", back.step}, {"held_sparsity", back.sparsity}, {"broke_at", within ? nullptr : nlohmann::json(s_t)}};
      if (refining) {
        refinement["held"] = within;
        climb_["refinement"] = refinement;
        if (within)
          ctx_.note(fmt::format("prune: the step to {:.4f} holds; the climb ends there", s_t));
      }
      if (!held) break;  // nothing held: the caller refuses
      if (!within)
        ctx_.note(fmt::format("prune: sparsity {:.3f} breaks max_drop {} pt on the hold-out; rolled back to step {} "
                              "(sparsity {:.3f}), the last that held",
                              s_t, *o_.max_drop, back.step, back.sparsity));
      if (final_epochs > o_.finetune.epochs && !back.rescued && !ctx_.stop_requested()) {
        finetune(final_epochs, ctx_.seed() + 1000003);
        steps.push_back({{"step", "final"}, {"target_sparsity", sparsity_}, {"finetune_epochs", final_epochs},
                         {"top1_finetuned", ctx_.test().evaluate(engine_).top1}});
      }
      break;
    }
    if (s_t >= sparsity_) break;
    if (ctx_.stop_requested()) {
      ctx_.note(fmt::format("stopped: the model is as of step {} (sparsity {:.3f}, the best fine-tuning epoch), not "
                            "the requested {:.3f}",
                            t, s_t, sparsity_));
      break;
    }
  }
  if (climb) climbing_progress.finish();
  return steps;
}

nlohmann::json PruneRun::run() {
  const auto t0 = std::chrono::steady_clock::now();
  const bool has_batchnorm = std::any_of(model_.model().graph().node().begin(), model_.model().graph().node().end(),
                                         [](const auto& n) { return n.op_type() == "BatchNormalization"; });
  if (has_batchnorm && !o_.recalibrate_bn && o_.finetune.epochs == 0)
    ctx_.note("the model has BatchNorm: recalibrate_bn (--recalibrate-bn) re-estimates its statistics after pruning "
              "and measures the curves with them re-estimated (one-shot ResNet-20 at 90%: 10% -> 82% test top-1)");
  reference_ = measure_reference(engine_, holdout_, ctx_, "prune");
  // A climb judges fine-tuned steps on the hold-out: one the model has seen needs the control.
  if (climbing()) start_holdout_control(ctx_, model_, reference_);
  const double top1_before = reference_.test.top1;
  auto states0 = layer_states();
  prune::RdCurves curves0;  // also used by the one-shot RD comparison
  const bool climb = climbing();
  if (!o_.sparsity && o_.max_drop && !climb) sparsity_ = search_sparsity(states0, curves0);
  // (A climb compares nothing one-shot: its steps are measured after fine-tuning.)
  if (!climb && (o_.comparison || o_.alloc == "rd")) refine_for(curves0, states0, budget_at(sparsity_));
  nlohmann::json oneshot =
      ctx_.stop_requested() || climb ? nlohmann::json::array() : oneshot_comparison(states0, curves0);
  nlohmann::json steps = ctx_.stop_requested() ? nlohmann::json::array() : schedule(curves0);
  if (climb && !ctx_.stop_requested())
    NNC_CHECK_OPTION_CODE(held_step() > 0, "max_drop", kTargetMissed,
                          "{}: the first pruning step (sparsity {:.3f}) already drops hold-out top-1 by more after "
                          "{} epochs of fine-tuning; nothing written",
                          *o_.max_drop, o_.schedule_a, o_.finetune.epochs);
  const double top1_after = ctx_.test().evaluate(engine_).top1;
  const double holdout_after = holdout_.evaluate(engine_).top1;
  if (!ctx_.stop_requested() && ctx_.test_guard)
    check_drop(o_.max_drop, reference_, holdout_after, top1_after, "prune", fmt::format("sparsity {:.3f}", sparsity_));

  int64_t kept = 0;
  nlohmann::json table = nlohmann::json::array(), alloc_file = {{"layers", nlohmann::json::array()}};
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    int64_t k = engine_.weights().get(layers_[i].weight).ne(0).sum().item<int64_t>();
    kept += k;
    table.push_back({{"layer", layers_[i].node}, {"weight", layers_[i].weight}, {"params", layers_[i].params}, {"kept", k},
                     {"phi", 1.0 - static_cast<double>(k) / static_cast<double>(layers_[i].params)}});
    if (!final_alloc_.fraction.empty())
      alloc_file["layers"].push_back({{"weight", layers_[i].weight}, {"fraction", final_alloc_.fraction[i]}});
  }
  if (!o_.report_dir.empty() && !curves0.distortion.empty())
    prune::write_prune_report(o_.report_dir, curves0, oneshot_rd_phi_, alloc_file);
  else if (!o_.report_dir.empty() && !held_curves_.distortion.empty())
    prune::write_prune_report(o_.report_dir, held_curves_, final_alloc_.fraction, alloc_file);
  const auto packed = pack_nnc(model_);
  nlohmann::json j{{"step", "prune"}, {"alloc", method_}, {"alloc_requested", o_.alloc},
          {"top1_before", top1_before}, {"top1_after", top1_after},
          {"holdout_top1_before", reference_.holdout.top1}, {"holdout_top1_after", holdout_after},
          {"holdout_flattered", reference_.flattered},
          {"holdout_control_top1", ctx_.holdout_control ? nlohmann::json(ctx_.holdout_control->holdout.top1) : nullptr},
          {"top1_drop_pt", 100 * (top1_before - top1_after)},
          {"sparsity", 1.0 - static_cast<double>(kept) / static_cast<double>(total_)},
          {"params_kept", static_cast<double>(kept) / static_cast<double>(total_)}, {"layers", table},
          {"ratio", static_cast<double>(model_.original_fp32_bytes()) / static_cast<double>(packed.bytes.size())},
          {"ratio_baseline", "fp32 bytes of all original initializers / .nnc bytes (sparse, fp32 values)"},
          {"nnc_bytes", packed.bytes.size()}, {"oneshot_comparison", oneshot}, {"steps", steps},
          {"finetune_epochs", o_.finetune.epochs}, {"final_epochs", o_.final_epochs.value_or(o_.finetune.epochs)},
          {"distortion", prune::distortion_name(copt_.distortion)}, {"rd_passes", o_.rd_passes},
          {"recalibrate_bn", o_.recalibrate_bn}, {"rd_pass_log", rd_pass_log_}, {"curve_seconds", curves0.seconds},
          {"ranks", dist::ranks()}, {"curves_from_cache", curves0.from_cache}, {"curve_steps_skipped", curves0.skipped_fraction},
          {"curve_points_evaluated", curves0.distortion.empty() ? 0.0 : prune::evaluated_fraction(curves0)},
          {"coarse", o_.coarse}, {"interrupted", ctx_.stop_requested()}, {"changed", !steps.empty() && (!climb || held_step() > 0)},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  if (o_.max_drop) j["max_drop"] = *o_.max_drop;
  if (!search_.empty()) j["sparsity_search"] = search_;
  if (!climb_.is_null()) j["climb"] = climb_;
  j["max_sparsity"] = o_.max_sparsity;
  if (climb) j["climb_patience"] = o_.climb_patience;
  return j;
}

}  // namespace

void PruneOptions::validate() const {
  NNC_CHECK_OPTION(!sparsity || (*sparsity >= 0 && *sparsity < 1), "sparsity", "{}: must be in [0, 1)", *sparsity);
  NNC_CHECK_OPTION(max_sparsity > 0 && max_sparsity < 1, "max_sparsity", "{}: must be in (0, 1)", max_sparsity);
  NNC_CHECK_OPTION(size.empty() || !sparsity, "size", "'{}': give the sparsity or the size cap it is taken from, not both",
                   size);
  if (!size.empty()) parse_byte_size_option("size", size);
  NNC_CHECK_OPTION(size_bits >= 1 && size_bits <= 8, "size_bits", "{}: must be in 1..8", size_bits);
  NNC_CHECK_OPTION(climb_patience >= 1, "climb_patience", "{}: must be at least 1", climb_patience);
  NNC_CHECK_OPTION(!max_drop || (*max_drop >= 0 && *max_drop < 100), "max_drop",
                   "{}: must be in [0, 100) percentage points", *max_drop);
  validate_nested(finetune, "finetune");
  NNC_CHECK_OPTION(!final_epochs || *final_epochs >= 0, "final_epochs", "{}: must be >= 0", final_epochs.value_or(0));
  NNC_CHECK_OPTION(!final_epochs || finetune.epochs > 0, "final_epochs", "needs finetune epochs > 0");
  NNC_CHECK_OPTION(comparison || report_dir.empty() || alloc == "rd", "report_dir",
                   "needs the distortion curves: keep the comparison or use alloc rd");
  NNC_CHECK_OPTION(!(recalibrate_bn && zero_data), "recalibrate_bn", "needs calibration images, not standard-normal inputs");
  NNC_CHECK_OPTION(schedule_a > 0 && schedule_a < 1, "schedule_a", "{}: must be in (0, 1)", schedule_a);
  NNC_CHECK_OPTION(grid_step > 0 && grid_step <= 0.5, "grid_step", "{}: must be in (0, 0.5]", grid_step);
  NNC_CHECK_OPTION(coarse >= 1, "coarse", "{}: must be at least 1", coarse);
  NNC_CHECK_OPTION(rd_passes >= 1 && rd_passes <= 10, "rd_passes", "{}: must be in [1, 10]", rd_passes);
  NNC_CHECK_OPTION(alloc == "rd" || alloc == "uniform" || alloc == "global" || alloc == "random" ||
                       alloc.rfind("file:", 0) == 0,
                   "alloc", "'{}': expected rd, uniform, global, random or file:ALLOCATION.json", alloc);
  prune::parse_distortion(distortion);
}

nlohmann::json PruneStep::options() const { return options_to_json(options_); }

nlohmann::json PruneStep::apply(CompressedModel& model, Context& context) const {
  if (options_.size.empty()) return PruneRun(options_, model, context).run();
  // The sparsity the size cap asks for, on the model as fit will see it (BatchNorm folded).
  const int64_t cap = parse_byte_size(options_.size);
  const auto folded = fold_batchnorm(model.model());
  std::vector<std::string> weights, biases;
  for (const auto& t : prune::layer_tensors(folded, true, true)) (t.bias ? biases : weights).push_back(t.name);
  NNC_CHECK(!weights.empty(), "{}: no prunable weights ({} weights as float initializers)", model.source(),
            onnxio::weight_operators());
  const auto s = fit::sparsity_for_size(folded, weights, biases, cap, options_.size_bits);
  NNC_CHECK_OPTION(s.fits, "size", "{}: below the {} bytes this model needs with one weight kept per layer at {}-bit "
                   "codebooks ({} for the graph, headers and what stays fp32, {} for the biases)",
                   describe_bytes(cap), s.predicted_bytes, options_.size_bits, s.fixed_bytes, s.bias_bytes);
  // Half a percent of the weights or less to prune: the cap needs quantisation, not pruning.
  NNC_CHECK_OPTION_CODE(s.sparsity > s.current + 0.005, "size", kTargetMissed,
                        "{}: the model's kept weights at {}-bit codebooks fit it at its own sparsity ({:.3f}; the cap "
                        "asks for {:.3f}): nothing to prune, fit alone puts the model into the cap",
                        describe_bytes(cap), options_.size_bits, s.current, s.sparsity);
  PruneOptions o = options_;
  const bool climb = climbs(o);
  if (climb)
    o.max_sparsity = std::min(o.max_sparsity, std::max(s.sparsity, 0.01));
  else
    o.sparsity = s.sparsity;
  context.note(fmt::format("prune: sparsity {:.4f} for the size cap {}: the kept weights at {}-bit codebooks with their "
                           "positions fill it ({} bytes predicted; {} for the graph, headers and what stays fp32, {} for "
                           "the biases){}",
                           s.sparsity, describe_bytes(cap), o.size_bits, s.predicted_bytes, s.fixed_bytes, s.bias_bytes,
                           climb ? "; the climb stops there at most" : ""));
  auto j = PruneRun(o, model, context).run();
  j["size_sparsity"] = {{"size", cap}, {"bits", o.size_bits}, {"sparsity", s.sparsity}, {"predicted_bytes", s.predicted_bytes},
                        {"fixed_bytes", s.fixed_bytes}, {"bias_bytes", s.bias_bytes},
                        {"sparsity_before", s.current}};
  return j;
}

}  // namespace nnc::compress
