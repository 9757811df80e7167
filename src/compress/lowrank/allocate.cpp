#include "nncompress/compress/lowrank/allocate.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <random>

#include "nncompress/compress/lowrank/cost_model.hpp"
#include "nncompress/core/bisect.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::lowrank {

const char* budget_unit(BudgetKind kind) {
  switch (kind) {
    case BudgetKind::kParams: return "parameters";
    case BudgetKind::kFlops: return "FLOPs";
    case BudgetKind::kLatency: return "blocked FLOPs";
  }
  return "?";
}

AldsProblem::AldsProblem(std::vector<Layer> layers, BudgetKind kind, std::vector<int64_t> k_candidates,
                         int64_t simd_block, bool equalize_channels)
    : layers_(std::move(layers)),
      kind_(kind),
      block_(simd_block > 0 ? simd_block : simd_channel_block()),
      equalize_channels_(equalize_channels),
      k_candidates_(std::move(k_candidates)) {
  bool any = false;
  for (const auto& l : layers_) any = any || l.decomposable();
  NNC_CHECK(any, "model has no decomposable layers (Conv with groups=1, Gemm or MatMul with an initializer weight)");
}

std::vector<int64_t> AldsProblem::valid_ks(std::size_t layer) const {
  const auto& l = layers_[layer];
  std::vector<int64_t> ks;
  // Groups must divide the input channels; fully-connected layers are factored whole (k = 1).
  if (l.kind != LayerKind::kConv) return {1};
  for (auto k : k_candidates_)
    if (k >= 1 && l.c % k == 0 && k <= l.c) ks.push_back(k);
  if (ks.empty()) ks.push_back(1);
  return ks;
}

const GroupedSvd& AldsProblem::svd(std::size_t layer, int64_t k) {
  auto key = std::make_pair(layer, k);
  auto it = svds_.find(key);
  if (it == svds_.end()) it = svds_.emplace(key, std::make_unique<GroupedSvd>(layers_[layer].matrix, layers_[layer].c, k,
                                                               equalize_channels_ && !layers_[layer].batchnorm_after)).first;
  return *it->second;
}

LayerChoice AldsProblem::dense_choice(std::size_t layer) const {
  const auto& l = layers_[layer];
  return {false, 1, 0, 0.0, l.params(), l.flops(), dense_blocked_macs(l, block_)};
}

LayerChoice AldsProblem::choose(std::size_t layer, int64_t k, int64_t j) {
  const auto& l = layers_[layer];
  const LayerChoice dense = dense_choice(layer);
  if (!l.decomposable()) return dense;
  const auto& s = svd(layer, k);
  j = std::clamp<int64_t>(j, 1, s.max_rank());
  LayerChoice c;
  c.factored = true;
  c.k = k;
  c.j = j;
  c.params = j * (k * l.f + l.c * l.kappa);
  c.flops = c.params * l.out_spatial;
  c.error = s.error(j);
  c.blocked_flops = factored_blocked_macs(l, k, j, block_);
  // Factoring only pays while it is cheaper than the dense layer (which has error 0): in
  // parameters, and under the latency model also in blocked FLOPs.
  if (c.params >= l.params() || (kind_ == BudgetKind::kLatency && c.blocked_flops >= dense.blocked_flops)) return dense;
  return c;
}

void AldsProblem::keep_dense(std::size_t layer, std::string reason) {
  NNC_CHECK(layer < layers_.size() && !reason.empty(), "keep_dense: bad layer or empty reason");
  layers_[layer].skip_reason = std::move(reason);
}

void AldsProblem::allow_factoring(std::size_t layer) {
  NNC_CHECK(layer < layers_.size(), "allow_factoring: bad layer");
  layers_[layer].skip_reason.clear();
}

int64_t AldsProblem::dense_cost(const Layer& l) const {
  switch (kind_) {
    case BudgetKind::kParams: return l.params();
    case BudgetKind::kFlops: return l.flops();
    case BudgetKind::kLatency: return dense_blocked_macs(l, block_);
  }
  return 0;
}

int64_t AldsProblem::cost(const Allocation& a) const {
  return kind_ == BudgetKind::kParams ? a.params : kind_ == BudgetKind::kFlops ? a.flops : a.blocked_flops;
}

int64_t AldsProblem::dense_cost() const {
  int64_t total = 0;
  for (const auto& l : layers_)
    if (l.decomposable()) total += dense_cost(l);
  return total;
}

int64_t AldsProblem::min_cost() const {
  int64_t total = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    if (!l.decomposable()) continue;
    int64_t best = dense_cost(l);
    for (auto k : valid_ks(i)) {
      const int64_t p = k * l.f + l.c * l.kappa;  // rank 1
      if (p >= l.params()) continue;              // choose() keeps such a layer dense
      best = std::min(best, kind_ == BudgetKind::kParams  ? p
                            : kind_ == BudgetKind::kFlops ? p * l.out_spatial
                                                          : factored_blocked_macs(l, k, 1, block_));
    }
    total += best;
  }
  return total;
}

Allocation AldsProblem::finish(std::string method, std::vector<LayerChoice> choices) const {
  Allocation a;
  a.method = std::move(method);
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (!layers_[i].decomposable()) continue;
    a.max_error = std::max(a.max_error, choices[i].error);
    a.params += choices[i].params;
    a.flops += choices[i].flops;
    a.blocked_flops += choices[i].blocked_flops;
  }
  a.layers = std::move(choices);
  return a;
}

Allocation AldsProblem::at_error(const std::vector<int64_t>& ks, double eps) {
  std::vector<LayerChoice> choices;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (!layers_[i].decomposable()) {
      choices.push_back(choose(i, 1, 0));
      continue;
    }
    const auto& s = svd(i, ks[i]);
    auto c = choose(i, ks[i], s.rank_for_error(eps));
    // Under the latency model ranks up to the end of the SIMD block cost nothing more (or less,
    // where 16 outputs per group leave the block-diagonal encoder): take them (lower error at
    // no more cost; more parameters).
    while (kind_ == BudgetKind::kLatency && c.factored && c.j < s.max_rank()) {
      auto next = choose(i, ks[i], c.j + 1);
      if (!next.factored || next.blocked_flops > c.blocked_flops) break;
      c = next;
    }
    choices.push_back(c);
  }
  return finish("alds", std::move(choices));
}

void AldsProblem::check_budget(int64_t budget) const {
  NNC_CHECK(budget >= min_cost(),
            "budget of {} {} for the decomposable layers is below the {} that rank 1 in every layer needs",
            budget, budget_unit(kind_), min_cost());
}

Allocation AldsProblem::fit_budget(const std::vector<int64_t>& ks, int64_t budget) {
  Allocation best = at_error(ks, 0.0);
  if (cost(best) <= budget) return best;
  Allocation hi_alloc = at_error(ks, 1.0);
  if (cost(hi_alloc) > budget) return hi_alloc;  // infeasible for these ks (caller compares)
  bisect(1.0, 0.0, [&](double eps) {
    auto a = at_error(ks, eps);
    if (cost(a) > budget) return false;
    hi_alloc = std::move(a);
    return true;
  }, 60, 1e-9);
  return hi_alloc;
}

Allocation AldsProblem::alds(int64_t budget, int iterations, int random_restarts, uint64_t seed) {
  check_budget(budget);
  auto better = [&](const Allocation& a, const Allocation& b) {
    bool fa = cost(a) <= budget, fb = cost(b) <= budget;
    if (fa != fb) return fa;
    return a.max_error < b.max_error || (a.max_error == b.max_error && cost(a) < cost(b));
  };
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int64_t>> starts;
  for (int64_t k0 : {1, 2, 3, 5, 7, 9}) {
    std::vector<int64_t> ks;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      auto valid = valid_ks(i);
      int64_t pick = valid.front();
      for (auto k : valid)
        if (k <= k0) pick = k;
      ks.push_back(pick);
    }
    starts.push_back(std::move(ks));
  }
  for (int r = 0; r < random_restarts; ++r) {
    std::vector<int64_t> ks;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      auto valid = valid_ks(i);
      ks.push_back(valid[rng() % valid.size()]);
    }
    starts.push_back(std::move(ks));
  }
  Allocation best;
  bool have = false;
  for (auto ks : starts) {
    Allocation cur = fit_budget(ks, budget);
    for (int it = 0; it < iterations; ++it) {
      bool changed = false;
      for (std::size_t i = 0; i < layers_.size(); ++i) {
        if (!layers_[i].decomposable()) continue;
        for (auto k : valid_ks(i)) {
          if (k == ks[i]) continue;
          auto trial_ks = ks;
          trial_ks[i] = k;
          auto trial = fit_budget(trial_ks, budget);
          if (better(trial, cur)) {
            cur = std::move(trial);
            ks = std::move(trial_ks);
            changed = true;
          }
        }
      }
      if (!changed) break;
    }
    if (!have || better(cur, best)) {
      best = std::move(cur);
      have = true;
    }
  }
  best = spend_slack(std::move(best), budget);
  best.method = "alds";
  return best;
}

Allocation AldsProblem::spend_slack(Allocation a, int64_t budget) {
  if (cost(a) > budget) return a;
  // Lexicographic refinement of the minimax solution: the bisection leaves every layer at the
  // error level of the worst one, with budget to spare; give it, one rank at a time, to the layer
  // with the largest error that can still take it (a layer that cannot goes dense or stays).
  std::vector<bool> done(a.layers.size(), false);
  for (;;) {
    std::size_t worst = a.layers.size();
    for (std::size_t i = 0; i < a.layers.size(); ++i)
      if (!done[i] && a.layers[i].factored && (worst == a.layers.size() || a.layers[i].error > a.layers[worst].error))
        worst = i;
    if (worst == a.layers.size()) break;
    const auto& c = a.layers[worst];
    auto choices = a.layers;
    choices[worst] = c.j < svd(worst, c.k).max_rank() ? choose(worst, c.k, c.j + 1) : dense_choice(worst);
    auto trial = finish(a.method, std::move(choices));
    if (cost(trial) <= budget) {
      a = std::move(trial);
    } else {
      done[worst] = true;
    }
  }
  return a;
}

Allocation AldsProblem::plain_svd(int64_t budget) {
  check_budget(budget);
  auto a = fit_budget(std::vector<int64_t>(layers_.size(), 1), budget);
  a.method = "svd";
  return a;
}

template <typename RankOf>
Allocation AldsProblem::bisect_rule(const char* method, int64_t budget, RankOf rank_of) {
  check_budget(budget);
  // rank_of(layer, t) is non-decreasing in t in [0, 1]; find the largest t that fits.
  auto at = [&](double t) {
    std::vector<LayerChoice> choices;
    for (std::size_t i = 0; i < layers_.size(); ++i)
      choices.push_back(layers_[i].decomposable() ? choose(i, 1, rank_of(i, t)) : choose(i, 1, 0));
    return finish(method, std::move(choices));
  };
  Allocation best = at(0.0);
  if (cost(at(1.0)) <= budget) return at(1.0);
  bisect(0.0, 1.0, [&](double t) {
    auto a = at(t);
    if (cost(a) > budget) return false;
    best = std::move(a);
    return true;
  }, 50);
  return best;
}

Allocation AldsProblem::uniform_rank(int64_t budget) {
  return bisect_rule("uniform", budget, [&](std::size_t i, double t) {
    int64_t r = svd(i, 1).max_rank();
    return std::max<int64_t>(1, static_cast<int64_t>(std::floor(t * static_cast<double>(r))));
  });
}

Allocation AldsProblem::energy_rank(int64_t budget) {
  return bisect_rule("energy", budget, [&](std::size_t i, double t) {
    const auto& S = svd(i, 1).groups()[0].S;
    auto energy = at::cumsum(S * S, 0);
    double total = energy[-1].item<double>();
    auto acc = energy.accessor<double, 1>();
    int64_t j = 1;
    while (j < S.size(0) && acc[j - 1] < t * total) ++j;
    return j;
  });
}

}  // namespace nnc::lowrank
