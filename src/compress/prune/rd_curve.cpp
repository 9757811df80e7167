#include "nncompress/compress/prune/rd_curve.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/weight_inputs.hpp"

namespace nnc::prune {

std::vector<double> default_grid(double step) {
  std::vector<double> g;
  const int n = static_cast<int>(std::lround(1.0 / step));
  for (int i = 0; i < n; ++i) g.push_back(i * step);
  return g;
}

Distortion parse_distortion(const std::string& name) {
  if (name == "mse") return Distortion::kMse;
  if (name == "worst") return Distortion::kWorst;
  if (name == "kl") return Distortion::kKl;
  fail_option("distortion", "'{}': expected mse, worst or kl", name);
}

const char* distortion_name(Distortion d) {
  switch (d) {
    case Distortion::kMse: return "mse";
    case Distortion::kWorst: return "worst";
    case Distortion::kKl: return "kl";
  }
  return "?";
}

namespace {

// log-probabilities of each row: log_softmax of logits, or the log of rows that already are
// probability distributions.
at::Tensor log_probabilities(const at::Tensor& out) {
  auto rows = out.reshape({out.size(0), -1}).to(at::kDouble);
  const bool probabilities =
      rows.min().item<double>() >= 0 && (rows.sum(1) - 1).abs().max().item<double>() < 1e-3;
  return probabilities ? rows.clamp_min(1e-12).log() : at::log_softmax(rows, 1);
}

}  // namespace

double logit_distortion(const at::Tensor& logits, const at::Tensor& reference, Distortion kind) {
  if (kind == Distortion::kKl) {
    auto log_p = log_probabilities(reference), log_q = log_probabilities(logits);
    return (log_p.exp() * (log_p - log_q)).sum(1).mean().item<double>();
  }
  auto sq = (logits - reference).pow(2);
  if (kind == Distortion::kMse) return sq.mean().item<double>();
  return sq.reshape({sq.size(0), -1}).mean(1).max().item<double>();
}

RdCurves empty_rd_curves(const std::vector<PrunableLayer>& layers, const RdCurveOptions& options) {
  NNC_CHECK(!layers.empty(), "model has no prunable layers ({} with an initializer weight)", onnxio::weight_operators());
  RdCurves curves;
  curves.layers = layers;
  curves.grid = options.grid.empty() ? default_grid() : options.grid;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    std::vector<double> row(curves.grid.size(), std::numeric_limits<double>::quiet_NaN());
    for (std::size_t g = 0; g < row.size(); ++g)
      if (curves.grid[g] == 0.0 && options.context.empty()) row[g] = 0.0;
    curves.distortion.push_back(std::move(row));
  }
  return curves;
}

namespace {

std::size_t count_points(const std::vector<std::vector<std::size_t>>& todo) {
  std::size_t total = 0;
  for (const auto& t : todo) total += t.size();
  return total;
}

// RdCurveOptions::recalibrate_batchnorm while one layer's points are measured: every BatchNorm
// node is re-estimated, then the ones before the layer in graph order (which cannot be after it
// in the data flow) get their statistics back, so the activation cache of the layer's input
// stays valid and only what the pruned layer feeds is re-estimated.
class DownstreamRecalibration {
 public:
  DownstreamRecalibration(exec::Engine& engine, const std::vector<at::Tensor>& batches, const RdCurveOptions& o)
      : engine_(engine) {
    if (!o.recalibrate_batchnorm) return;
    const auto& g = engine.model().graph();
    auto& store = engine.weights();
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (n.op_type() == "BatchNormalization" && n.input_size() >= 5)
        for (int k : {3, 4})
          if (store.contains(n.input(k))) stats_.push_back({i, store.index_of(n.input(k)), {}, {}});
    }
    for (int64_t left = o.recalibration_images; left > 0 && batches_.size() < batches.size();) {
      const auto& b = batches[batches_.size()];
      batches_.push_back(b.narrow(0, 0, std::min(left, b.size(0))));
      left -= batches_.back().size(0);
    }
  }
  bool active() const { return !stats_.empty() && !batches_.empty(); }

  // Remembers the current statistics and where `node` sits in the graph. In a context (other
  // layers pruned too) the statistics before the layer are first re-estimated for it.
  void begin_layer(const std::string& node, bool in_context) {
    if (!active()) return;
    const auto& g = engine_.model().graph();
    position_ = g.node_size();
    for (int i = 0; i < g.node_size(); ++i)
      if (onnxio::node_label(g.node(i)) == node) position_ = i;
    for (auto& s : stats_) s.entry = engine_.weights().at(s.store_index).detach().clone();
    if (in_context) engine_.recalibrate_batchnorm(batches_);
    for (auto& s : stats_) s.upstream = engine_.weights().at(s.store_index).detach().clone();
  }
  // Re-estimates the statistics after the layer for the weights as they are now.
  void recalibrate() {
    if (!active()) return;
    engine_.recalibrate_batchnorm(batches_);
    for (const auto& s : stats_)
      if (s.node < position_) engine_.weights().set(s.store_index, s.upstream);
  }
  void end_layer() {
    if (!active()) return;
    for (const auto& s : stats_) engine_.weights().set(s.store_index, s.entry);
  }

 private:
  struct Stat {
    int node;
    std::size_t store_index;
    at::Tensor entry, upstream;
  };
  exec::Engine& engine_;
  std::vector<Stat> stats_;
  std::vector<at::Tensor> batches_;
  int position_ = 0;
};

// evaluate_rd_points with the calibration batches and the unpruned model's logits given.
void evaluate_points(exec::Engine& engine, const std::vector<at::Tensor>& batches, const at::Tensor& reference,
                     RdCurves& curves, const std::vector<std::vector<std::size_t>>& todo,
                     const RdCurveOptions& options, const Control& control) {
  auto start = std::chrono::steady_clock::now();
  const std::size_t total = count_points(todo);
  if (total == 0) return;
  const bool in_context = !options.context.empty();
  NNC_CHECK(!in_context || options.context.size() == curves.layers.size(), "{} context tensors for {} layers",
            options.context.size(), curves.layers.size());
  Progress progress(control.reporter, in_context ? "rd curves in context" : "rd curves", static_cast<long>(total));
  std::size_t done = 0;
  double skipped = 0;
  int runs = 0;
  auto& store = engine.weights();
  // In context every layer's weights on entry are kept (they are put back at the end); otherwise
  // only the layer being measured is, just while it is.
  std::vector<at::Tensor> unpruned(curves.layers.size());
  DownstreamRecalibration recalibration(engine, batches, options);
  if (in_context)
    for (std::size_t m = 0; m < curves.layers.size(); ++m)
      unpruned[m] = store.get(curves.layers[m].weight).detach().clone();
  for (std::size_t l = 0; l < curves.layers.size(); ++l) {
    if (todo[l].empty()) continue;
    if (control.stop_requested()) break;  // the points not measured stay NaN
    if (in_context)
      for (std::size_t m = 0; m < curves.layers.size(); ++m)
        store.set(curves.layers[m].weight, m == l ? unpruned[m] : options.context[m]);
    const std::size_t idx = store.index_of(curves.layers[l].weight);
    at::Tensor original = in_context ? unpruned[l] : store.at(idx).detach().clone();
    recalibration.begin_layer(curves.layers[l].node, in_context);
    // Activation caching: the part of the network before this layer does not change while only
    // this layer is pruned, so its outputs are computed once per layer.
    std::vector<std::shared_ptr<const exec::PrefixCache>> prefix;
    if (options.cache_activations) {
      for (const auto& b : batches) prefix.push_back(engine.run_prefix({b}, curves.layers[l].weight));
      skipped += engine.prefix_fraction(*prefix.front());
      ++runs;
    }
    auto layer_logits = [&]() {
      if (prefix.empty()) return data::run_batches(engine, batches);
      std::vector<at::Tensor> parts;
      for (const auto& p : prefix) parts.push_back(engine.run_from(*p));
      return at::cat(parts, 0);
    };
    // With recalibration outside a context: the distortion of re-estimating the statistics of
    // the unpruned layer, subtracted from every point so that phi = 0 stays 0.
    double offset = 0;
    if (recalibration.active() && !in_context) {
      recalibration.recalibrate();
      offset = logit_distortion(layer_logits(), reference, options.distortion);
    }
    for (std::size_t g : todo[l]) {
      const double phi = curves.grid.at(g);
      if (phi == 0.0 && !in_context) {
        curves.distortion[l][g] = 0.0;
      } else {
        store.set(idx, original * magnitude_mask(original, phi));
        recalibration.recalibrate();
        curves.distortion[l][g] =
            std::max(0.0, logit_distortion(layer_logits(), reference, options.distortion) - offset);
      }
      progress.update(static_cast<long>(++done), curves.layers[l].weight);
    }
    store.set(idx, original);
    recalibration.end_layer();
  }
  if (in_context)
    for (std::size_t m = 0; m < curves.layers.size(); ++m) store.set(curves.layers[m].weight, unpruned[m]);
  curves.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (runs > 0) {
    const int all = curves.prefix_runs + runs;
    curves.skipped_fraction = (curves.skipped_fraction * curves.prefix_runs + skipped) / all;
    curves.prefix_runs = all;
  }
}

}  // namespace

void evaluate_rd_points(exec::Engine& engine, const at::Tensor& calib, RdCurves& curves,
                        const std::vector<std::vector<std::size_t>>& todo, const RdCurveOptions& options,
                        const Control& control) {
  if (count_points(todo) == 0) return;
  const auto batches = data::split_batches(calib, options.batch);
  evaluate_points(engine, batches, data::run_batches(engine, batches), curves, todo, options, control);
}

RdCurves compute_rd_curves(exec::Engine& engine, const at::Tensor& calib, const std::vector<PrunableLayer>& layers,
                           const RdCurveOptions& options, const Control& control) {
  auto curves = empty_rd_curves(layers, options);
  std::vector<std::vector<std::size_t>> todo(layers.size());
  for (auto& t : todo)
    for (std::size_t g = 0; g < curves.grid.size(); ++g)
      if (curves.grid[g] != 0.0) t.push_back(g);
  evaluate_rd_points(engine, calib, curves, todo, options, control);
  return curves;
}

void refine_rd_curves(exec::Engine& engine, const at::Tensor& calib, RdCurves& curves, const RdCurveOptions& options,
                      int coarse_every, const std::function<std::vector<std::size_t>(const RdCurves&)>& choose,
                      const Control& control, int max_rounds) {
  NNC_CHECK_OPTION(coarse_every >= 1, "coarse", "{}: must be at least 1", coarse_every);
  const std::size_t n = curves.grid.size(), every = static_cast<std::size_t>(coarse_every);
  auto missing = [&](std::size_t l, std::size_t g) { return std::isnan(curves.distortion[l][g]); };
  std::vector<std::vector<std::size_t>> todo(curves.layers.size());
  for (std::size_t l = 0; l < todo.size(); ++l)
    for (std::size_t g = 0; g < n; ++g)
      if ((g % every == 0 || g + 1 == n) && missing(l, g)) todo[l].push_back(g);
  // The model does not change while its curves are refined: one reference for every round.
  const auto batches = data::split_batches(calib, options.batch);
  at::Tensor reference;
  auto evaluate = [&] {
    if (count_points(todo) == 0) return;
    if (!reference.defined()) reference = data::run_batches(engine, batches);
    evaluate_points(engine, batches, reference, curves, todo, options, control);
  };
  evaluate();
  // Halving search around the choice: probe choice +- s; once every layer's choice has both
  // neighbours at distance s evaluated, halve s; done when the neighbours at distance 1 are.
  std::size_t s = every / 2;
  for (int round = 0; round < max_rounds && every > 1 && !control.stop_requested(); ++round) {
    const auto choice = choose(curves);
    bool any = false;
    for (std::size_t l = 0; l < todo.size(); ++l) {
      todo[l].clear();
      if (choice[l] >= s && missing(l, choice[l] - s)) todo[l].push_back(choice[l] - s);
      if (choice[l] + s < n && missing(l, choice[l] + s)) todo[l].push_back(choice[l] + s);
      any = any || !todo[l].empty();
    }
    if (!any) {
      if (s <= 1) break;
      s /= 2;
      continue;
    }
    evaluate();
  }
}

double evaluated_fraction(const RdCurves& curves) {
  std::size_t done = 0, all = 0;
  for (const auto& row : curves.distortion)
    for (double d : row) {
      ++all;
      done += std::isnan(d) ? 0 : 1;
    }
  return all ? static_cast<double>(done) / static_cast<double>(all) : 0.0;
}

}  // namespace nnc::prune
