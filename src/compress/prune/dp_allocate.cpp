#include "nncompress/compress/prune/dp_allocate.hpp"

#include <cmath>
#include <functional>
#include <limits>

#include "nncompress/core/error.hpp"

namespace nnc::prune {
namespace {

std::size_t allowed_points(const LayerCurve& c) { return c.forced_dense ? 1 : c.kept.size(); }

int64_t min_kept(const std::vector<LayerCurve>& curves) {
  int64_t total = 0;
  for (const auto& c : curves) {
    int64_t best = std::numeric_limits<int64_t>::max();
    for (std::size_t g = 0; g < allowed_points(c); ++g) best = std::min(best, c.kept[g]);
    total += best;
  }
  return total;
}

}  // namespace

DpResult dp_allocate(const std::vector<LayerCurve>& curves, int64_t budget, int64_t buckets) {
  NNC_CHECK(!curves.empty(), "no prunable layers");
  const int64_t need = min_kept(curves);
  NNC_CHECK(budget >= need, "budget of {} kept weights is below the {} that the dense-forced layers and the "
            "sparsest grid point of every other layer need", budget, need);
  // Bucket size: costs are rounded up to whole buckets so the discrete budget is conservative.
  const double unit = std::max(1.0, static_cast<double>(budget) / static_cast<double>(buckets));
  const auto B = static_cast<std::size_t>(std::floor(static_cast<double>(budget) / unit));
  auto cost = [&](int64_t kept) { return static_cast<std::size_t>(std::ceil(static_cast<double>(kept) / unit - 1e-9)); };
  const double inf = std::numeric_limits<double>::infinity();
  const std::size_t L = curves.size();
  // best[b]: minimal distortion of layers so far using at most b buckets.
  std::vector<double> best(B + 1, 0.0), next(B + 1);
  std::vector<std::vector<int>> pick(L, std::vector<int>(B + 1, -1));
  for (std::size_t l = 0; l < L; ++l) {
    const auto& c = curves[l];
    std::fill(next.begin(), next.end(), inf);
    for (std::size_t g = 0; g < allowed_points(c); ++g) {
      const std::size_t w = cost(c.kept[g]);
      if (w > B) continue;
      for (std::size_t b = w; b <= B; ++b) {
        if (best[b - w] == inf) continue;
        double v = best[b - w] + c.distortion[g];
        if (v < next[b]) {
          next[b] = v;
          pick[l][b] = static_cast<int>(g);
        }
      }
    }
    best.swap(next);
  }
  if (best[B] == inf) {
    // Rounding made the tightest allocation infeasible: fall back to the sparsest points.
    DpResult r;
    for (const auto& c : curves) {
      int g_best = 0;
      for (std::size_t g = 0; g < allowed_points(c); ++g)
        if (c.kept[g] < c.kept[g_best]) g_best = static_cast<int>(g);
      r.choice.push_back(g_best);
      r.predicted += c.distortion[g_best];
      r.kept += c.kept[g_best];
    }
    return r;
  }
  DpResult r;
  r.choice.assign(L, 0);
  std::size_t b = B;
  for (std::size_t l = L; l-- > 0;) {
    int g = pick[l][b];
    r.choice[l] = g;
    r.predicted += curves[l].distortion[g];
    r.kept += curves[l].kept[g];
    b -= cost(curves[l].kept[g]);
  }
  return r;
}

DpResult brute_force_allocate(const std::vector<LayerCurve>& curves, int64_t budget) {
  DpResult best;
  best.predicted = std::numeric_limits<double>::infinity();
  std::vector<int> cur(curves.size());
  std::function<void(std::size_t, int64_t, double)> rec = [&](std::size_t l, int64_t kept, double d) {
    if (kept > budget) return;
    if (l == curves.size()) {
      if (d < best.predicted) best = {cur, d, kept};
      return;
    }
    for (std::size_t g = 0; g < allowed_points(curves[l]); ++g) {
      cur[l] = static_cast<int>(g);
      rec(l + 1, kept + curves[l].kept[g], d + curves[l].distortion[g]);
    }
  };
  rec(0, 0, 0.0);
  return best;
}

}  // namespace nnc::prune
