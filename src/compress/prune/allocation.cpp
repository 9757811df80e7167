#include "nncompress/compress/prune/allocation.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "nncompress/core/bisect.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::prune {

int64_t kept_weights(const LayerState& s, double phi) {
  if (s.forced_dense) return s.nonzero;
  return std::min(kept_after(s.layer.params, phi), s.nonzero);
}

AllocationResult allocation_from_fractions(const std::vector<LayerState>& layers, std::vector<double> fraction,
                                           std::string method) {
  NNC_CHECK(fraction.size() == layers.size(), "allocation has {} layers but the model has {}", fraction.size(),
            layers.size());
  AllocationResult r;
  r.method = std::move(method);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    NNC_CHECK(fraction[i] >= 0.0 && fraction[i] <= 1.0, "layer '{}': pruned fraction {} is outside [0, 1]",
              layers[i].layer.node, fraction[i]);
    if (layers[i].forced_dense) fraction[i] = 0.0;
    r.kept.push_back(kept_weights(layers[i], fraction[i]));
    r.total_kept += r.kept.back();
    r.total_params += layers[i].layer.params;
  }
  r.fraction = std::move(fraction);
  return r;
}

namespace {

struct RdPoints {
  std::vector<std::vector<std::size_t>> grid_index;  // evaluated grid points per layer
  std::vector<LayerCurve> curves;                    // the same points as the DP sees them
};

RdPoints rd_points(const std::vector<LayerState>& layers, const RdCurves& curves) {
  // Only evaluated points (coarse-to-fine curves leave others NaN) are candidates.
  RdPoints r;
  r.grid_index.resize(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    LayerCurve c;
    c.params = layers[i].layer.params;
    c.forced_dense = layers[i].forced_dense;
    for (std::size_t g = 0; g < curves.grid.size(); ++g) {
      if (std::isnan(curves.distortion[i][g])) continue;
      c.kept.push_back(kept_weights(layers[i], curves.grid[g]));
      c.distortion.push_back(curves.distortion[i][g]);
      r.grid_index[i].push_back(g);
    }
    NNC_CHECK(!r.grid_index[i].empty() && curves.grid[r.grid_index[i][0]] == 0.0,
              "distortion curve of layer '{}' lacks the point phi = 0", layers[i].layer.node);
    r.curves.push_back(std::move(c));
  }
  return r;
}

}  // namespace

std::vector<std::size_t> rd_grid_choice(const std::vector<LayerState>& layers, const RdCurves& curves,
                                        int64_t budget) {
  auto pts = rd_points(layers, curves);
  auto dp = dp_allocate(pts.curves, budget);
  std::vector<std::size_t> choice;
  for (std::size_t i = 0; i < layers.size(); ++i)
    choice.push_back(pts.grid_index[i][static_cast<std::size_t>(dp.choice[i])]);
  return choice;
}

AllocationResult allocate_rd(const std::vector<LayerState>& layers, const RdCurves& curves, int64_t budget) {
  auto pts = rd_points(layers, curves);
  auto dp = dp_allocate(pts.curves, budget);
  // The grid rounds each layer's kept weights to steps of 1% (default grid) of its size, so the
  // DP usually leaves part of the budget unused (LeNet-300 at 95%: 95.4% sparse). Give it back
  // along the curves: repeatedly move the layer whose distortion drops most per kept weight
  // toward its next denser evaluated point, interpolating linearly inside a grid step.
  const std::size_t L = layers.size();
  std::vector<std::size_t> at(L);       // index into the layer's evaluated points
  std::vector<double> kept(L), dist(L);  // current (possibly interpolated) position
  double leftover = static_cast<double>(budget);
  for (std::size_t i = 0; i < L; ++i) {
    at[i] = static_cast<std::size_t>(dp.choice[i]);
    kept[i] = static_cast<double>(pts.curves[i].kept[at[i]]);
    dist[i] = pts.curves[i].distortion[at[i]];
    leftover -= kept[i];
  }
  while (leftover >= 1) {
    std::size_t best = L;
    double best_slope = 0;
    for (std::size_t i = 0; i < L; ++i) {
      if (layers[i].forced_dense || at[i] == 0) continue;
      const auto& c = pts.curves[i];
      const double dk = static_cast<double>(c.kept[at[i] - 1]) - kept[i];
      if (dk <= 0) continue;
      const double slope = (dist[i] - c.distortion[at[i] - 1]) / dk;
      if (best == L || slope > best_slope) best = i, best_slope = slope;
    }
    if (best == L || best_slope <= 0) break;
    const auto& c = pts.curves[best];
    const double dk = static_cast<double>(c.kept[at[best] - 1]) - kept[best];
    const double step = std::min(std::floor(leftover), dk);
    dist[best] -= best_slope * step;
    kept[best] += step;
    leftover -= step;
    if (step == dk) --at[best];
  }
  std::vector<double> fraction;
  double predicted = 0;
  for (std::size_t i = 0; i < L; ++i) {
    const double n = static_cast<double>(layers[i].layer.params);
    fraction.push_back(layers[i].forced_dense ? 0.0 : std::clamp(1.0 - kept[i] / n, 0.0, 1.0));
    predicted += dist[i];
  }
  auto r = allocation_from_fractions(layers, fraction, "rd");
  r.predicted_distortion = predicted;
  return r;
}

namespace {
// The smallest t in [0, 1) whose fractions f(t) fit the budget (f non-decreasing in t).
template <typename F>
AllocationResult fit_one_knob(const std::vector<LayerState>& layers, int64_t budget, const char* method, F f) {
  auto at = [&](double t) { return allocation_from_fractions(layers, f(t), method); };
  const double most = 0.999999;
  if (at(most).total_kept > budget) {
    fail(ErrorCode::kInvalidArgument, "{} allocation cannot reach a budget of {} kept weights", method, budget);
  }
  if (at(0.0).total_kept <= budget) return at(0.0);
  return at(nnc::bisect(most, 0.0, [&](double t) { return at(t).total_kept <= budget; }));
}
}  // namespace

AllocationResult allocate_uniform(const std::vector<LayerState>& layers, int64_t budget) {
  return fit_one_knob(layers, budget, "uniform", [&](double t) { return std::vector<double>(layers.size(), t); });
}

AllocationResult allocate_random(const std::vector<LayerState>& layers, int64_t budget, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.5, 2.0);
  std::vector<double> weight;
  for (std::size_t i = 0; i < layers.size(); ++i) weight.push_back(u(rng));
  // Layer l is pruned to 1 - (1 - t)^w_l: random relative aggressiveness, one knob t.
  return fit_one_knob(layers, budget, "random", [&](double t) {
    std::vector<double> f;
    for (double w : weight) f.push_back(std::min(0.999999, 1.0 - std::pow(1.0 - t, w)));
    return f;
  });
}

AllocationResult allocate_global(const std::vector<LayerState>& layers, const std::vector<at::Tensor>& weights,
                                 int64_t budget) {
  std::vector<at::Tensor> mags;
  int64_t forced = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].forced_dense) forced += layers[i].nonzero;
    else mags.push_back(weights[i].detach().reshape({-1}).abs());
  }
  NNC_CHECK(!mags.empty(), "every prunable layer is forced dense; nothing to prune");
  auto all = std::get<0>(at::sort(at::cat(mags)));
  const int64_t keep_free = budget - forced;
  NNC_CHECK(keep_free >= 0, "budget of {} kept weights is below the {} of the dense-forced layers", budget, forced);
  const int64_t prune = std::max<int64_t>(0, all.numel() - keep_free);
  // Threshold: the prune-th smallest magnitude; per-layer fractions follow from counting.
  std::vector<double> fraction;
  const float thr = prune > 0 ? all[prune - 1].item<float>() : -1.0f;
  int64_t remaining = prune;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].forced_dense) {
      fraction.push_back(0.0);
      continue;
    }
    int64_t below = (weights[i].abs() < thr).sum().item<int64_t>();
    int64_t at_thr = (weights[i].abs() == thr).sum().item<int64_t>();
    int64_t n = std::min(remaining, below + at_thr);
    remaining -= n;
    fraction.push_back(static_cast<double>(n) / static_cast<double>(layers[i].layer.params));
  }
  auto r = allocation_from_fractions(layers, fraction, "global");
  return r;
}

}  // namespace nnc::prune
