#include "nncompress/compress/share/merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>


namespace nnc::share {
namespace {

bool accepts(MergeRule rule, const Candidate& c, const Candidate& current, double min_top1) {
  if (rule == MergeRule::kPaper) return c.f1 <= current.f1;
  return c.val_top1_low >= min_top1;
}

// Adjacent pairs ordered by (increase of squared weight error) / (index bits saved).
std::vector<int> pairs_by_rd_cost(const Codebook& cb) {
  std::vector<double> count(cb.size(), 0.0);
  for (int b = 0; b < cb.k; ++b)
    if (cb.group[static_cast<std::size_t>(b)] >= 0)
      count[static_cast<std::size_t>(cb.group[static_cast<std::size_t>(b)])] +=
          static_cast<double>(cb.bin_count[static_cast<std::size_t>(b)]);
  auto xlogx = [](double n) { return n > 0 ? n * std::log2(n) : 0.0; };
  std::vector<double> score(cb.size() > 0 ? cb.size() - 1 : 0);
  for (std::size_t e = 0; e + 1 < cb.size(); ++e) {
    const double n1 = count[e], n2 = count[e + 1], dv = cb.values[e + 1] - cb.values[e];
    const double distortion = n1 * n2 / std::max(1.0, n1 + n2) * dv * dv;
    const double bits = xlogx(n1 + n2) - xlogx(n1) - xlogx(n2);
    score[e] = distortion / std::max(1e-9, bits);
  }
  std::vector<int> order;
  for (int e = 0; e < static_cast<int>(score.size()); ++e)
    if (mergeable(cb, e)) order.push_back(e);  // never the zero entry of pruned weights
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[static_cast<std::size_t>(a)] < score[static_cast<std::size_t>(b)]; });
  return order;
}

}  // namespace

MergeResult iterative_merge(ShareContext& ctx, const Codebook& start, MergeRule rule, double min_top1,
                            int max_evaluations) {
  MergeResult r;
  r.codebook = start;
  r.before = ctx.evaluate(start);
  Candidate cur = r.before;
  bool merged = true;
  while (merged && !ctx.control().stop_requested() && r.tried < max_evaluations) {
    merged = false;
    ++r.passes;
    Progress progress(ctx.control().reporter, fmt::format("merge pass {}", r.passes), static_cast<long>(r.codebook.size()));
    // Walk the sorted codebook; try each entry with its right, then its left neighbour.
    for (int e = 0; e < static_cast<int>(r.codebook.size()) && !ctx.control().stop_requested() && r.tried < max_evaluations; ++e) {
      bool done = false;
      for (int side : {0, -1}) {
        const int left = e + side;
        if (done || !mergeable(r.codebook, left)) continue;
        auto trial = merge_entries(r.codebook, left);
        auto c = ctx.evaluate(trial);
        ++r.tried;
        if (accepts(rule, c, cur, min_top1)) {
          r.codebook = std::move(trial);
          cur = c;
          ++r.accepted;
          merged = done = true;
        }
      }
      progress.update(e + 1, fmt::format("{} entries, f1 {:.4f}, val top-1 {:.2f}%", r.codebook.size(), cur.f1,
                                         100 * cur.val_top1));
    }
  }
  r.interrupted = ctx.control().stop_requested();
  r.after = cur;
  ctx.apply(r.codebook);
  return r;
}

MergeResult rd_merge(ShareContext& ctx, const Codebook& start, MergeRule rule, double min_top1, int max_evaluations) {
  MergeResult r;
  r.codebook = start;
  r.before = ctx.evaluate(start);
  Candidate cur = r.before;
  int batch = std::max<int>(1, static_cast<int>(start.size()) / 4);
  const int single_tries = 2;  // at batch 1: cheapest pairs tried before giving up
  Progress progress(ctx.control().reporter, "rd merge", max_evaluations);
  while (!ctx.control().stop_requested() && r.tried < max_evaluations && r.codebook.size() > 1) {
    ++r.passes;
    auto order = pairs_by_rd_cost(r.codebook);
    if (order.empty()) break;  // only the zero entry's neighbours are left
    bool accepted = false;
    const int attempts = batch > 1 ? 1 : std::min<int>(single_tries, static_cast<int>(order.size()));
    for (int a = 0; a < attempts && !accepted && r.tried < max_evaluations && !ctx.control().stop_requested(); ++a) {
      std::vector<int> lefts;
      if (batch > 1)
        lefts.assign(order.begin(), order.begin() + std::min<std::ptrdiff_t>(batch, static_cast<std::ptrdiff_t>(order.size())));
      else
        lefts = {order[static_cast<std::size_t>(a)]};
      auto trial = merge_many(r.codebook, lefts);
      auto c = ctx.evaluate(trial);
      ++r.tried;
      if (accepts(rule, c, cur, min_top1)) {
        r.codebook = std::move(trial);
        cur = c;
        r.accepted += static_cast<int>(lefts.size());
        accepted = true;
      }
      progress.update(r.tried, fmt::format("{} entries, batch {}, {:.3f} bits/weight, val top-1 {:.2f}%",
                                           r.codebook.size(), batch, cur.index_bits, 100 * cur.val_top1));
    }
    if (!accepted) {
      if (batch == 1) break;
      batch /= 2;
    } else if (batch > 1) {
      batch = std::min<int>(batch, std::max<int>(1, static_cast<int>(r.codebook.size()) / 4));
    }
  }
  r.interrupted = ctx.control().stop_requested();
  r.after = cur;
  ctx.apply(r.codebook);
  return r;
}

}  // namespace nnc::share
