#include "nncompress/compress/prune/rd_curve.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <cmath>
#include <limits>
#include <optional>

#include "nncompress/core/error.hpp"
#include "nncompress/dist/cluster.hpp"
#include "nncompress/dist/model_archive.hpp"
#include "nncompress/dist/tensor_archive.hpp"
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
// stays valid and only what the pruned layer feeds is re-estimated. The part of the graph before
// the layer is run in recalibration mode once per layer (Engine::recalibration_prefix), not once
// per point: the statistics come out as re-estimating the whole graph at each point gives them.
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
          if (store.contains(n.input(k))) stats_.push_back({i, store.index_of(n.input(k)), {}, {}, {}});
    }
    for (int64_t left = o.recalibration_images; left > 0 && batches_.size() < batches.size();) {
      const auto& b = batches[batches_.size()];
      batches_.push_back(b.narrow(0, 0, std::min(left, b.size(0))));
      left -= batches_.back().size(0);
    }
  }
  bool active() const { return !stats_.empty() && !batches_.empty(); }

  // Remembers the current statistics and where `node` (which reads `weight`) sits in the graph.
  // In a context (other layers pruned too) the statistics before the layer are first
  // re-estimated for it. The statistics stay as they were until the first recalibrate().
  void begin_layer(const std::string& node, const std::string& weight, bool in_context) {
    if (!active()) return;
    const auto& g = engine_.model().graph();
    position_ = g.node_size();
    for (int i = 0; i < g.node_size(); ++i)
      if (onnxio::node_label(g.node(i)) == node) position_ = i;
    for (auto& s : stats_) s.entry = engine_.weights().at(s.store_index).detach().clone();
    if (in_context) engine_.recalibrate_batchnorm(batches_);
    for (auto& s : stats_) s.upstream = engine_.weights().at(s.store_index).detach().clone();
    prefix_ = engine_.recalibration_prefix(batches_, weight);
    for (auto& s : stats_) {
      s.prefixed = engine_.weights().at(s.store_index).detach().clone();
      engine_.weights().set(s.store_index, s.upstream);
    }
  }
  // Re-estimates the statistics after the layer for the weights as they are now. Every
  // statistic first takes the value the prefix run gave it (those the rest of the graph
  // recomputes are replaced: the first batch has weight 1), so that each ends as re-estimating
  // the whole graph would leave it.
  void recalibrate() {
    if (!active()) return;
    for (const auto& s : stats_) engine_.weights().set(s.store_index, s.prefixed);
    engine_.recalibrate_batchnorm_from(prefix_);
    for (const auto& s : stats_)
      if (s.node < position_) engine_.weights().set(s.store_index, s.upstream);
  }
  void end_layer() {
    if (!active()) return;
    for (const auto& s : stats_) engine_.weights().set(s.store_index, s.entry);
    prefix_.clear();
  }

 private:
  struct Stat {
    int node;
    std::size_t store_index;
    at::Tensor entry, upstream, prefixed;
  };
  exec::Engine& engine_;
  std::vector<Stat> stats_;
  std::vector<at::Tensor> batches_;
  std::vector<std::shared_ptr<const exec::PrefixCache>> prefix_;
  int position_ = 0;
};

// One layer's points: the layer pruned to each fraction asked for, the others as they are (or
// hold their context weights), the distortion of the logits against `reference`.
struct LayerPoints {
  std::vector<double> distortion;  // one per point asked for
  double skipped = 0;              // fraction of inference steps activation caching skipped
  bool prefix_run = false;
};

class LayerMeasurer {
 public:
  LayerMeasurer(exec::Engine& engine, std::vector<at::Tensor> batches, at::Tensor reference,
                std::vector<PrunableLayer> layers, std::vector<double> grid, RdCurveOptions options)
      : engine_(engine), batches_(std::move(batches)), reference_(std::move(reference)), layers_(std::move(layers)),
        grid_(std::move(grid)), options_(std::move(options)), recalibration_(engine_, batches_, options_) {
    in_context_ = !options_.context.empty();
    NNC_CHECK(!in_context_ || options_.context.size() == layers_.size(), "{} context tensors for {} layers",
              options_.context.size(), layers_.size());
    // In context every layer's weights on entry are kept (they are put back at the end);
    // otherwise only the layer being measured is, just while it is.
    if (in_context_) {
      unpruned_.resize(layers_.size());
      for (std::size_t m = 0; m < layers_.size(); ++m)
        unpruned_[m] = engine_.weights().get(layers_[m].weight).detach().clone();
    }
  }
  ~LayerMeasurer() { restore(); }
  // In context: every layer's weights as on entry (measure() leaves the context weights in).
  void restore() {
    for (std::size_t m = 0; m < unpruned_.size(); ++m) engine_.weights().set(layers_[m].weight, unpruned_[m]);
  }
  LayerMeasurer(const LayerMeasurer&) = delete;
  LayerMeasurer& operator=(const LayerMeasurer&) = delete;

  // `point_done` hears each point as it is measured.
  LayerPoints measure(std::size_t l, const std::vector<std::size_t>& points,
                      const std::function<void()>& point_done = {}) {
    LayerPoints out;
    auto& store = engine_.weights();
    if (in_context_)
      for (std::size_t m = 0; m < layers_.size(); ++m)
        store.set(layers_[m].weight, m == l ? unpruned_[m] : options_.context[m]);
    const std::size_t idx = store.index_of(layers_[l].weight);
    at::Tensor original = in_context_ ? unpruned_[l] : store.at(idx).detach().clone();
    recalibration_.begin_layer(layers_[l].node, layers_[l].weight, in_context_);
    // Activation caching: the part of the network before this layer does not change while only
    // this layer is pruned, so its outputs are computed once per layer.
    std::vector<std::shared_ptr<const exec::PrefixCache>> prefix;
    if (options_.cache_activations) {
      for (const auto& b : batches_) prefix.push_back(engine_.run_prefix({b}, layers_[l].weight));
      out.skipped = engine_.prefix_fraction(*prefix.front());
      out.prefix_run = true;
    }
    auto layer_logits = [&]() {
      if (prefix.empty()) return data::run_batches(engine_, batches_);
      std::vector<at::Tensor> parts;
      for (const auto& p : prefix) parts.push_back(engine_.run_from(*p));
      return at::cat(parts, 0);
    };
    // With recalibration outside a context: the distortion of re-estimating the statistics of
    // the unpruned layer, subtracted from every point so that phi = 0 stays 0.
    double offset = 0;
    if (recalibration_.active() && !in_context_) {
      recalibration_.recalibrate();
      offset = logit_distortion(layer_logits(), reference_, options_.distortion);
    }
    for (std::size_t g : points) {
      const double phi = grid_.at(g);
      if (phi == 0.0 && !in_context_) {
        out.distortion.push_back(0.0);
      } else {
        store.set(idx, original * magnitude_mask(original, phi));
        recalibration_.recalibrate();
        out.distortion.push_back(
            std::max(0.0, logit_distortion(layer_logits(), reference_, options_.distortion) - offset));
      }
      if (point_done) point_done();
    }
    store.set(idx, original);
    recalibration_.end_layer();
    return out;
  }

  // What another rank needs to measure layers as this one does ("prune.rd_layer").
  std::string distributed_state() const {
    dist::ArchiveWriter w;
    dist::put_model(w, engine_.to_model());
    w.put<uint64_t>(batches_.size());
    for (const auto& b : batches_) dist::put_tensor(w, b);
    dist::put_tensor(w, reference_);
    w.put<uint64_t>(layers_.size());
    for (const auto& l : layers_) {
      w.put(l.node);
      w.put(l.weight);
      w.put(l.params);
    }
    w.put(grid_);
    w.put(static_cast<int>(options_.distortion));
    w.put(options_.batch);
    w.put(options_.cache_activations);
    w.put(options_.recalibrate_batchnorm);
    w.put(options_.recalibration_images);
    w.put<uint64_t>(options_.context.size());
    // In context, the engine holds the unpruned weights the measurer keeps (the model above).
    for (const auto& t : options_.context) dist::put_tensor(w, t);
    return w.take();
  }

 private:
  exec::Engine& engine_;
  std::vector<at::Tensor> batches_;
  at::Tensor reference_;
  std::vector<PrunableLayer> layers_;
  std::vector<double> grid_;
  RdCurveOptions options_;
  DownstreamRecalibration recalibration_;
  bool in_context_ = false;
  std::vector<at::Tensor> unpruned_;
};

std::string layer_item(std::size_t l, const std::vector<std::size_t>& points) {
  dist::ArchiveWriter w;
  w.put<uint64_t>(l);
  w.put(std::vector<uint64_t>(points.begin(), points.end()));
  return w.take();
}

std::string measure_item(LayerMeasurer& m, std::string_view item, std::size_t layers) {
  dist::ArchiveReader r(item);
  const auto l = r.get<uint64_t>();
  std::vector<uint64_t> points;
  r.get(points);
  NNC_CHECK(l < layers, "distributed message: layer {} of {}", l, layers);
  const auto out = m.measure(l, std::vector<std::size_t>(points.begin(), points.end()));
  dist::ArchiveWriter w;
  w.put(out.distortion);
  w.put(out.skipped);
  w.put(out.prefix_run);
  return w.take();
}

LayerPoints read_points(std::string_view bytes) {
  dist::ArchiveReader r(bytes);
  LayerPoints p;
  r.get(p.distortion);
  p.skipped = r.get<double>();
  p.prefix_run = r.get<bool>();
  return p;
}

// This rank's layers of a distributed pass.
class LocalLayers final : public dist::Task {
 public:
  LocalLayers(LayerMeasurer& m, std::size_t layers) : m_(m), layers_(layers) {}
  std::string evaluate(std::string_view item) override { return measure_item(m_, item, layers_); }

 private:
  LayerMeasurer& m_;
  std::size_t layers_;
};

// Another rank's side of "prune.rd_layer".
class RdLayerWorker final : public dist::Task {
 public:
  explicit RdLayerWorker(std::string_view state) {
    dist::ArchiveReader r(state);
    engine_ = std::make_unique<exec::Engine>(dist::get_model(r));
    std::vector<at::Tensor> batches(r.get<uint64_t>());
    for (auto& b : batches) b = dist::get_tensor(r);
    auto reference = dist::get_tensor(r);
    std::vector<PrunableLayer> layers(r.get<uint64_t>());
    for (auto& l : layers) {
      r.get(l.node);
      r.get(l.weight);
      l.params = r.get<int64_t>();
    }
    std::vector<double> grid;
    r.get(grid);
    RdCurveOptions o;
    o.distortion = static_cast<Distortion>(r.get<int>());
    o.batch = r.get<int64_t>();
    o.cache_activations = r.get<bool>();
    o.recalibrate_batchnorm = r.get<bool>();
    o.recalibration_images = r.get<int64_t>();
    o.context.resize(r.get<uint64_t>());
    for (auto& t : o.context) t = dist::get_tensor(r);
    NNC_CHECK(r.done(), "distributed message: rd-curve state left over");
    layers_ = layers.size();
    measurer_ = std::make_unique<LayerMeasurer>(*engine_, std::move(batches), std::move(reference), std::move(layers),
                                                std::move(grid), std::move(o));
  }
  std::string evaluate(std::string_view item) override { return measure_item(*measurer_, item, layers_); }

 private:
  std::unique_ptr<exec::Engine> engine_;
  std::unique_ptr<LayerMeasurer> measurer_;
  std::size_t layers_ = 0;
};

// Passes over the curves of one model (evaluate_rd_points, or every round of refine_rd_curves):
// the layers' measurer and, with other ranks, the phase they serve, opened at the first pass
// that has more than one layer to measure and kept for the later ones. With other ranks each
// measures whole layers (the activation cache is per layer) and rank 0 writes them into the
// curves; a layer's points do not depend on which rank measures them.
class CurvePasses {
 public:
  CurvePasses(exec::Engine& engine, std::vector<at::Tensor> batches, at::Tensor reference, const RdCurves& curves,
              const RdCurveOptions& options)
      : measurer_(engine, std::move(batches), std::move(reference), curves.layers, curves.grid, options),
        local_(measurer_, curves.layers.size()),
        in_context_(!options.context.empty()) {}

  void run(RdCurves& curves, const std::vector<std::vector<std::size_t>>& todo, const Control& control) {
    auto start = std::chrono::steady_clock::now();
    const std::size_t total = count_points(todo);
    if (total == 0) return;
    Progress progress(control.reporter, in_context_ ? "rd curves in context" : "rd curves", static_cast<long>(total));
    std::size_t done = 0;
    double skipped = 0;
    int runs = 0;
    auto take = [&](std::size_t l, const LayerPoints& p) {
      for (std::size_t j = 0; j < todo[l].size(); ++j) curves.distortion[l][todo[l][j]] = p.distortion.at(j);
      skipped += p.skipped;
      runs += p.prefix_run ? 1 : 0;
    };
    std::vector<std::size_t> layers;
    for (std::size_t l = 0; l < curves.layers.size(); ++l)
      if (!todo[l].empty()) layers.push_back(l);
    if (dist::ranks() > 1 && layers.size() > 1) {
      if (!pool_) pool_.emplace("prune.rd_layer", [&] { return measurer_.distributed_state(); }, local_);
      std::vector<std::string> items;
      for (auto l : layers) items.push_back(layer_item(l, todo[l]));
      const auto results = pool_->map(items, control, [&](std::size_t n) {
        progress.update(static_cast<long>(n), fmt::format("{} of {} layers ({} ranks)", n, layers.size(), pool_->ranks()));
      });
      for (std::size_t i = 0; i < layers.size(); ++i)
        if (results[i]) take(layers[i], read_points(*results[i]));  // after a stop the rest stay NaN
    } else {
      for (auto l : layers) {
        if (control.stop_requested()) break;  // the points not measured stay NaN
        take(l, measurer_.measure(l, todo[l], [&] { progress.update(static_cast<long>(++done), curves.layers[l].weight); }));
      }
    }
    measurer_.restore();
    curves.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (runs > 0) {
      const int all = curves.prefix_runs + runs;
      curves.skipped_fraction = (curves.skipped_fraction * curves.prefix_runs + skipped) / all;
      curves.prefix_runs = all;
    }
  }
  // Which rank measured what (a note; nothing when all ran here).
  std::string ranks_note() const {
    if (!pool_) return {};
    return fmt::format("rd curves on {} ranks: layers measured {}, seconds measuring {::.1f}", pool_->ranks(),
                       pool_->items_by_rank(), pool_->seconds_by_rank());
  }

 private:
  LayerMeasurer measurer_;
  LocalLayers local_;
  bool in_context_;
  std::optional<dist::Pool> pool_;
};

}  // namespace

void evaluate_rd_points(exec::Engine& engine, const at::Tensor& calib, RdCurves& curves,
                        const std::vector<std::vector<std::size_t>>& todo, const RdCurveOptions& options,
                        const Control& control) {
  if (count_points(todo) == 0) return;
  const auto batches = data::split_batches(calib, options.batch);
  const auto reference = data::run_batches(engine, batches);
  CurvePasses passes(engine, batches, reference, curves, options);
  passes.run(curves, todo, control);
  if (auto note = passes.ranks_note(); !note.empty()) control.note(note);
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
  std::optional<CurvePasses> passes;
  auto evaluate = [&] {
    if (count_points(todo) == 0) return;
    if (!passes) passes.emplace(engine, batches, data::run_batches(engine, batches), curves, options);
    passes->run(curves, todo, control);
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
  if (passes)
    if (auto note = passes->ranks_note(); !note.empty()) control.note(note);
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

void register_distributed_tasks() {
  dist::register_task("prune.rd_layer", [](std::string_view state) { return std::make_unique<RdLayerWorker>(state); });
}

}  // namespace nnc::prune
