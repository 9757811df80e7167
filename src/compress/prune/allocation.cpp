#include "nncompress/compress/prune/allocation.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <random>

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
std::vector<std::size_t> rd_choice(const std::vector<LayerState>& layers, const RdCurves& curves, int64_t budget,
                                   double* predicted) {
  // Only evaluated points (coarse-to-fine curves leave others NaN) are candidates.
  std::vector<LayerCurve> lc;
  std::vector<std::vector<std::size_t>> grid_index(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    LayerCurve c;
    c.params = layers[i].layer.params;
    c.forced_dense = layers[i].forced_dense;
    for (std::size_t g = 0; g < curves.grid.size(); ++g) {
      if (std::isnan(curves.distortion[i][g])) continue;
      c.kept.push_back(kept_weights(layers[i], curves.grid[g]));
      c.distortion.push_back(curves.distortion[i][g]);
      grid_index[i].push_back(g);
    }
    NNC_CHECK(!grid_index[i].empty() && curves.grid[grid_index[i][0]] == 0.0,
              "distortion curve of layer '{}' lacks the point phi = 0", layers[i].layer.node);
    lc.push_back(std::move(c));
  }
  auto dp = dp_allocate(lc, budget);
  std::vector<std::size_t> choice;
  for (std::size_t i = 0; i < layers.size(); ++i) choice.push_back(grid_index[i][static_cast<std::size_t>(dp.choice[i])]);
  if (predicted) *predicted = dp.predicted;
  return choice;
}
}  // namespace

std::vector<std::size_t> rd_grid_choice(const std::vector<LayerState>& layers, const RdCurves& curves,
                                        int64_t budget) {
  return rd_choice(layers, curves, budget, nullptr);
}

AllocationResult allocate_rd(const std::vector<LayerState>& layers, const RdCurves& curves, int64_t budget) {
  double predicted = 0;
  auto choice = rd_choice(layers, curves, budget, &predicted);
  std::vector<double> fraction;
  for (auto g : choice) fraction.push_back(curves.grid[g]);
  auto r = allocation_from_fractions(layers, fraction, "rd");
  r.predicted_distortion = predicted;
  return r;
}

namespace {
// Largest t in [0,1) such that the fractions f(t) fit the budget (f non-decreasing in t).
template <typename F>
AllocationResult bisect(const std::vector<LayerState>& layers, int64_t budget, const char* method, F f) {
  auto at = [&](double t) { return allocation_from_fractions(layers, f(t), method); };
  double lo = 0.0, hi = 0.999999;
  if (at(hi).total_kept > budget) {
    fail(ErrorCode::kInvalidArgument, "{} allocation cannot reach a budget of {} kept weights", method, budget);
  }
  if (at(lo).total_kept <= budget) return at(lo);
  for (int it = 0; it < 60; ++it) {
    double mid = 0.5 * (lo + hi);
    if (at(mid).total_kept <= budget) hi = mid;
    else lo = mid;
  }
  return at(hi);
}
}  // namespace

AllocationResult allocate_uniform(const std::vector<LayerState>& layers, int64_t budget) {
  return bisect(layers, budget, "uniform", [&](double t) { return std::vector<double>(layers.size(), t); });
}

AllocationResult allocate_random(const std::vector<LayerState>& layers, int64_t budget, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.5, 2.0);
  std::vector<double> weight;
  for (std::size_t i = 0; i < layers.size(); ++i) weight.push_back(u(rng));
  // Layer l is pruned to 1 - (1 - t)^w_l: random relative aggressiveness, one knob t.
  return bisect(layers, budget, "random", [&](double t) {
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
