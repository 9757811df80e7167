#include "nncompress/compress/share/stride_seeds.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "nncompress/compress/share/search.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/store/entropy.hpp"

namespace nnc::share {
namespace {

// Ideal (entropy) bits of the indices of the tensors in `group`.
double group_bits(const SharedSet& set, const Codebook& cb, const std::vector<int>& group_of, int group) {
  double bits = 0;
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    if (group_of[t] != group) continue;
    std::vector<uint32_t> hist(cb.size(), 0);
    for (std::size_t i = set.offsets[t]; i < set.offsets[t + 1]; ++i) ++hist[cb.index_of(i)];
    bits += store::entropy_bits(hist) * static_cast<double>(set.offsets[t + 1] - set.offsets[t]);
  }
  return bits;
}

}  // namespace

std::vector<std::vector<int>> rd_stride_seeds(exec::Engine& engine, const SharedSet& set, const at::Tensor& calib,
                                              const std::vector<int>& group_of, const StrideSeedOptions& o,
                                              const Control& control) {
  NNC_CHECK(!group_of.empty() && group_of.size() == set.names.size(), "stride seeds: bad tensor groups");
  const int groups = *std::max_element(group_of.begin(), group_of.end()) + 1;
  const auto batches = data::split_batches(calib, o.batch);
  const auto reference = data::run_batches(engine, batches);
  // Everything on the fine grid: the starting point each group's curve is measured from.
  std::vector<int> ones(set.names.size(), 1);
  const auto fine = uniform_bins(set, o.k, ones);
  write_shared(engine, set, shared_values(set, fine));

  // cost[g][i]: distortion increase and bits saved of stride o.strides[i] for group g alone.
  std::vector<std::vector<double>> dist(static_cast<std::size_t>(groups)), saved(static_cast<std::size_t>(groups));
  Progress progress(control.reporter, "stride sensitivity", groups);
  for (int g = 0; g < groups && !control.stop_requested(); ++g) {
    std::size_t first = 0;
    while (group_of[first] != g) ++first;
    std::vector<std::shared_ptr<const exec::PrefixCache>> prefix;
    for (const auto& b : batches) prefix.push_back(engine.run_prefix({b}, set.names[first]));
    auto tail = [&] {
      std::vector<at::Tensor> parts;
      for (const auto& p : prefix) parts.push_back(engine.run_from(*p));
      return at::cat(parts, 0);
    };
    const double bits1 = group_bits(set, fine, group_of, g);
    double d1 = 0;
    for (int s : o.strides) {
      auto strides = ones;
      for (std::size_t t = 0; t < strides.size(); ++t)
        if (group_of[t] == g) strides[t] = s;
      auto cb = uniform_bins(set, o.k, strides);
      // Only this group's tensors change: the layers before it keep their values, so the
      // cached prefix stays valid.
      write_shared(engine, set, shared_values(set, cb), [&](std::size_t t) { return group_of[t] == g; });
      const double d = (tail() - reference).pow(2).mean().item<double>();
      if (s == 1) d1 = d;
      dist[static_cast<std::size_t>(g)].push_back(std::max(0.0, d - d1));
      saved[static_cast<std::size_t>(g)].push_back(bits1 - group_bits(set, cb, group_of, g));
    }
    // Back to the fine grid for the next group (values of other groups' entries moved too).
    write_shared(engine, set, shared_values(set, fine));
    progress.update(g + 1, set.names[first]);
  }
  write_original(engine, set);
  if (control.stop_requested()) return {};  // no seeds: the search starts from its own points

  // Lagrangian sweep: lambda from "everything fine" to "everything coarsest".
  std::set<std::vector<int>> seen;
  std::vector<std::vector<int>> seeds;
  double lo = 1e300, hi = 0;
  for (int g = 0; g < groups; ++g)
    for (std::size_t i = 1; i < o.strides.size(); ++i) {
      const double s = saved[static_cast<std::size_t>(g)][i];
      if (s <= 0) continue;
      const double ratio = dist[static_cast<std::size_t>(g)][i] / s;
      if (ratio > 0) lo = std::min(lo, ratio), hi = std::max(hi, ratio);
    }
  if (hi <= 0) return seeds;
  const int steps = 8 * o.max_seeds;
  for (int i = 0; i < steps; ++i) {
    const double lambda = lo * std::pow(hi / lo, static_cast<double>(i) / (steps - 1));
    std::vector<int> pick;
    for (int g = 0; g < groups; ++g) {
      std::size_t best = 0;
      double best_cost = 1e300;
      for (std::size_t j = 0; j < o.strides.size(); ++j) {
        const double cost = dist[static_cast<std::size_t>(g)][j] - lambda * saved[static_cast<std::size_t>(g)][j];
        if (cost < best_cost) best_cost = cost, best = j;
      }
      pick.push_back(o.strides[best]);
    }
    if (seen.insert(pick).second) seeds.push_back(pick);
  }
  if (static_cast<int>(seeds.size()) <= o.max_seeds) return seeds;
  // Evenly spread over the sweep, from the finest to the coarsest choice.
  std::vector<std::vector<int>> spread;
  for (int i = 0; i < o.max_seeds; ++i)
    spread.push_back(seeds[static_cast<std::size_t>(i) * (seeds.size() - 1) / static_cast<std::size_t>(o.max_seeds - 1)]);
  return spread;
}

}  // namespace nnc::share
