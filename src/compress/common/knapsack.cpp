#include "nncompress/compress/common/knapsack.hpp"

#include <cmath>
#include <functional>

#include "nncompress/core/error.hpp"

namespace nnc::compress {
namespace {

std::size_t cheapest(const ChoiceGroup& g) {
  std::size_t best = 0;
  for (std::size_t o = 1; o < g.options(); ++o)
    if (g.cost[o] < g.cost[best]) best = o;
  return best;
}

KnapsackChoice cheapest_choice(const std::vector<ChoiceGroup>& groups) {
  KnapsackChoice r;
  for (const auto& g : groups) {
    const auto o = cheapest(g);
    r.choice.push_back(static_cast<int>(o));
    r.distortion += g.distortion[o];
    r.cost += g.cost[o];
  }
  return r;
}

}  // namespace

int64_t min_total_cost(const std::vector<ChoiceGroup>& groups) {
  int64_t total = 0;
  for (const auto& g : groups) {
    NNC_CHECK(g.options() > 0 && g.cost.size() == g.distortion.size(), "a choice group without options");
    total += g.cost[cheapest(g)];
  }
  return total;
}

KnapsackChoice min_distortion_choice(const std::vector<ChoiceGroup>& groups, int64_t budget, int64_t buckets) {
  NNC_CHECK(!groups.empty(), "nothing to allocate");
  const int64_t need = min_total_cost(groups);
  NNC_CHECK(budget >= need, "a budget of {} is below the {} that the cheapest choice needs", budget, need);
  // Bucket size: costs are rounded up to whole buckets so the discrete budget is conservative.
  const double unit = std::max(1.0, static_cast<double>(budget) / static_cast<double>(buckets));
  const auto B = static_cast<std::size_t>(std::floor(static_cast<double>(budget) / unit));
  auto cost = [&](int64_t c) { return static_cast<std::size_t>(std::ceil(static_cast<double>(c) / unit - 1e-9)); };
  const double inf = std::numeric_limits<double>::infinity();
  const std::size_t L = groups.size();
  // best[b]: least distortion of the groups so far using at most b buckets.
  std::vector<double> best(B + 1, 0.0), next(B + 1);
  std::vector<std::vector<int>> pick(L, std::vector<int>(B + 1, -1));
  for (std::size_t l = 0; l < L; ++l) {
    const auto& g = groups[l];
    std::fill(next.begin(), next.end(), inf);
    for (std::size_t o = 0; o < g.options(); ++o) {
      const std::size_t w = cost(g.cost[o]);
      if (w > B) continue;
      for (std::size_t b = w; b <= B; ++b) {
        if (best[b - w] == inf) continue;
        const double v = best[b - w] + g.distortion[o];
        if (v < next[b]) {
          next[b] = v;
          pick[l][b] = static_cast<int>(o);
        }
      }
    }
    best.swap(next);
  }
  // Rounding made the tightest choice infeasible: the cheapest one (within budget, checked above).
  if (best[B] == inf) return cheapest_choice(groups);
  KnapsackChoice r;
  r.choice.assign(L, 0);
  std::size_t b = B;
  for (std::size_t l = L; l-- > 0;) {
    const int o = pick[l][b];
    r.choice[l] = o;
    r.distortion += groups[l].distortion[static_cast<std::size_t>(o)];
    r.cost += groups[l].cost[static_cast<std::size_t>(o)];
    b -= cost(groups[l].cost[static_cast<std::size_t>(o)]);
  }
  return r;
}

KnapsackChoice brute_force_choice(const std::vector<ChoiceGroup>& groups, int64_t budget) {
  KnapsackChoice best;
  best.distortion = std::numeric_limits<double>::infinity();
  std::vector<int> cur(groups.size());
  std::function<void(std::size_t, int64_t, double)> rec = [&](std::size_t l, int64_t c, double d) {
    if (c > budget) return;
    if (l == groups.size()) {
      if (d < best.distortion) best = {cur, d, c};
      return;
    }
    for (std::size_t o = 0; o < groups[l].options(); ++o) {
      cur[l] = static_cast<int>(o);
      rec(l + 1, c + groups[l].cost[o], d + groups[l].distortion[o]);
    }
  };
  rec(0, 0, 0.0);
  return best;
}

}  // namespace nnc::compress
