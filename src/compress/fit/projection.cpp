#include "nncompress/compress/fit/projection.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "nncompress/compress/common/knapsack.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/store/bitpack.hpp"
#include "nncompress/store/entropy.hpp"
#include "nncompress/store/tensor_bytes.hpp"

namespace nnc::fit {
namespace {

// Ascending values seen through a window that skips the middle: x[0, a) followed by x[b0, n).
// The k largest magnitudes of a layer are exactly such a window of its sorted values (its a most
// negative and k - a most positive ones), so one sort serves every k.
struct Window {
  const double* x;
  const double* p1;  // p1[i] = sum of x[0, i)
  const double* p2;  // squares
  int64_t a, b0, m;  // m = a + (n - b0) values in the window

  int64_t real(int64_t j) const { return j < a ? j : b0 + (j - a); }
  double value(int64_t j) const { return x[real(j)]; }
  double sum(const double* p, int64_t i, int64_t j) const {  // window positions [i, j)
    double s = 0;
    if (i < a) s += p[std::min(j, a)] - p[i];
    if (j > a) s += p[real(j - 1) + 1] - p[real(std::max(i, a))];
    return s;
  }
};

Clusters lloyd(const Window& w, int max_levels) {
  Clusters c;
  const int64_t m = w.m;
  if (m == 0) return c;
  const auto L = static_cast<std::size_t>(std::min<int64_t>(max_levels, m));
  // Clusters of sorted values are runs: bound[i], bound[i + 1] delimit cluster i. Start from
  // equal counts (quantiles), then alternate means and boundaries (midpoints between neighbouring
  // means) until the boundaries stop moving.
  std::vector<int64_t> bound(L + 1), next(L + 1);
  for (std::size_t i = 0; i <= L; ++i) bound[i] = static_cast<int64_t>(i) * m / static_cast<int64_t>(L);
  std::vector<double> mean(L);
  auto sse_of = [&](std::size_t i) {
    const auto lo = bound[i], hi = bound[i + 1];
    if (hi == lo) return 0.0;
    const double s1 = w.sum(w.p1, lo, hi), s2 = w.sum(w.p2, lo, hi);
    return std::max(0.0, s2 - s1 * s1 / static_cast<double>(hi - lo));
  };
  auto first_at_least = [&](double t, int64_t lo, int64_t hi) {
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (w.value(mid) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (std::size_t round = 0; round <= L; ++round) {
    for (int iter = 0; iter < 100; ++iter) {
      for (std::size_t i = 0; i < L; ++i)
        if (bound[i + 1] > bound[i])
          mean[i] = w.sum(w.p1, bound[i], bound[i + 1]) / static_cast<double>(bound[i + 1] - bound[i]);
      next.front() = 0;
      next.back() = m;
      for (std::size_t i = 1; i < L; ++i) {
        // An empty cluster has no mean: its boundary stays with its left neighbour's.
        if (bound[i + 1] == bound[i] || bound[i] == bound[i - 1]) {
          next[i] = std::max(next[i - 1], bound[i]);
          continue;
        }
        next[i] = first_at_least(0.5 * (mean[i - 1] + mean[i]), next[i - 1], m);
      }
      if (next == bound) break;
      bound.swap(next);
    }
    // Lloyd can settle with empty clusters: move each to split the cluster of largest error at
    // its mean, and iterate again.
    std::size_t empty = L;
    for (std::size_t i = 0; i < L && empty == L; ++i)
      if (bound[i + 1] == bound[i]) empty = i;
    if (empty == L) break;
    std::size_t worst = 0;
    for (std::size_t i = 1; i < L; ++i)
      if (sse_of(i) > sse_of(worst)) worst = i;
    const auto lo = bound[worst], hi = bound[worst + 1];
    if (hi - lo < 2 || sse_of(worst) == 0) break;  // nothing left to split
    int64_t cut = first_at_least(w.sum(w.p1, lo, hi) / static_cast<double>(hi - lo), lo, hi);
    if (cut == lo || cut == hi) cut = lo + (hi - lo) / 2;
    bound.erase(bound.begin() + static_cast<std::ptrdiff_t>(empty));
    auto at = std::lower_bound(bound.begin(), bound.end(), cut);
    bound.insert(at, cut);
  }
  for (std::size_t i = 0; i < L; ++i) {
    const auto lo = bound[i], hi = bound[i + 1];
    if (hi == lo) continue;
    c.levels.push_back(w.sum(w.p1, lo, hi) / static_cast<double>(hi - lo));
    c.counts.push_back(hi - lo);
    c.sse += sse_of(i);
  }
  return c;
}

// One layer's weights, sorted once: by magnitude (which k weights stay) and by value (k-means).
struct SortedLayer {
  std::size_t n;
  std::vector<double> x, p1, p2;   // ascending values, prefix sums of values and squares
  std::vector<int64_t> rank;       // per element: its place by magnitude (0 = largest), ties by index
  std::vector<int64_t> negatives;  // negatives[k]: negative values among the k largest magnitudes

  explicit SortedLayer(std::span<const float> v) : n(v.size()) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
      return std::fabs(v[static_cast<std::size_t>(i)]) > std::fabs(v[static_cast<std::size_t>(j)]);
    });
    rank.resize(n);
    negatives.assign(n + 1, 0);
    for (std::size_t r = 0; r < n; ++r) {
      rank[static_cast<std::size_t>(order[r])] = static_cast<int64_t>(r);
      negatives[r + 1] = negatives[r] + (v[static_cast<std::size_t>(order[r])] < 0 ? 1 : 0);
    }
    x.assign(v.begin(), v.end());
    std::sort(x.begin(), x.end());
    p1.assign(n + 1, 0.0);
    p2.assign(n + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      p1[i + 1] = p1[i] + x[i];
      p2[i + 1] = p2[i] + x[i] * x[i];
    }
  }
  Window kept(int64_t k) const {
    const int64_t a = negatives[static_cast<std::size_t>(k)];
    return {x.data(), p1.data(), p2.data(), a, static_cast<int64_t>(n) - (k - a), k};
  }
  std::vector<uint64_t> positions(int64_t k) const {
    std::vector<uint64_t> p;
    p.reserve(static_cast<std::size_t>(k));
    for (std::size_t i = 0; i < n; ++i)
      if (rank[i] < k) p.push_back(i);
    return p;
  }
  // Squared error of pruning everything outside the k largest magnitudes.
  double pruned_sse(int64_t k) const {
    const auto w = kept(k);
    return p2[n] - w.sum(p2.data(), 0, w.m);
  }
};

std::vector<int64_t> kept_grid(std::size_t n, int64_t most, const GridOptions& g) {
  std::vector<int64_t> ks;
  const int D = std::max(2, g.densities);
  for (int i = 0; i < D; ++i) {
    const double d = std::pow(g.min_density, static_cast<double>(i) / (D - 1));
    auto k = std::clamp<int64_t>(std::llround(d * static_cast<double>(n)), 1, most);
    if (k == static_cast<int64_t>(n) && !g.allow_dense) continue;
    if (ks.empty() || ks.back() != k) ks.push_back(k);
  }
  return ks;
}

}  // namespace

Clusters kmeans_sorted(std::span<const double> sorted, int levels) {
  std::vector<double> p1(sorted.size() + 1, 0.0), p2(sorted.size() + 1, 0.0);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    p1[i + 1] = p1[i] + sorted[i];
    p2[i + 1] = p2[i] + sorted[i] * sorted[i];
  }
  const auto m = static_cast<int64_t>(sorted.size());
  return lloyd({sorted.data(), p1.data(), p2.data(), m, m, m}, levels);
}

namespace {

// What order-0 entropy coding (rANS) reaches: its table plus the empirical entropy, within a
// few bytes of what rans_bytes counts on the actual stream.
std::size_t entropy_coded_bytes(const std::vector<uint32_t>& hist) {
  double total = 0, bits = 0;
  for (auto c : hist) total += c;
  for (auto c : hist)
    if (c > 0) bits += c * std::log2(total / c);
  return 5 + 2 * hist.size() + static_cast<std::size_t>(std::ceil(bits / 8));
}

// The smallest of the writer's index coders, from the histogram.
std::size_t index_bytes(const std::vector<uint32_t>& hist, std::size_t count) {
  const auto alphabet = static_cast<uint32_t>(hist.size());
  return std::min({store::bitpacked_bytes(count, store::bits_for(alphabet)), store::huffman_bytes(hist),
                   entropy_coded_bytes(hist)});
}

}  // namespace

int64_t layer_payload_bytes(std::size_t numel, std::span<const uint64_t> positions, std::span<const int64_t> counts) {
  const bool dense = positions.size() == numel;
  // A pruned layer's codebook has one more entry, the exact zero of its pruned elements.
  std::vector<uint32_t> hist(counts.begin(), counts.end());
  if (!dense) hist.push_back(0);
  const auto alphabet = static_cast<uint32_t>(hist.size());
  std::size_t payload = 0;
  if (dense) {
    payload = index_bytes(hist, numel);
  } else {
    // The writer stores the smaller of positions + the non-zeros' indices and every element's
    // index, the zero entry a symbol of its own.
    const std::size_t sparse = store::positions_payload_bytes(numel, positions) + index_bytes(hist, positions.size());
    auto with_zeros = hist;
    with_zeros.back() = static_cast<uint32_t>(numel - positions.size());
    payload = std::min(sparse, index_bytes(with_zeros, numel));
  }
  // Record overhead: the sparse record's and the index block's varints and flags, the codebook
  // section's type and lengths (measured against the writer: tests/compress/fit).
  constexpr std::size_t kOverhead = 16;
  return static_cast<int64_t>(payload + 4 * alphabet + kOverhead);
}

struct LayerProjector::Sorted : SortedLayer {
  using SortedLayer::SortedLayer;
};

LayerProjector::LayerProjector(std::span<const float> values)
    : values_(values.begin(), values.end()), sorted_(std::make_unique<Sorted>(values)) {}
LayerProjector::~LayerProjector() = default;
LayerProjector::LayerProjector(LayerProjector&&) noexcept = default;

std::vector<LayerOption> layer_options(std::span<const float> values, const GridOptions& g) {
  return LayerProjector(values).options(g);
}

ProjectedLayer project_layer(std::span<const float> values, int64_t kept, int bits) {
  return LayerProjector(values).project(kept, bits);
}

std::vector<LayerOption> LayerProjector::options(const GridOptions& g) const {
  NNC_CHECK(g.min_bits >= 1 && g.max_bits <= 8 && g.min_bits <= g.max_bits, "bits {}..{}: must lie within 1..8",
            g.min_bits, g.max_bits);
  std::vector<LayerOption> out;
  const std::span<const float> values = values_;
  if (values.empty()) return out;
  const SortedLayer& s = *sorted_;
  int64_t most = static_cast<int64_t>(values.size());
  if (g.only_nonzero) most = std::max<int64_t>(1, std::count_if(values.begin(), values.end(), [](float v) { return v != 0; }));
  for (const int64_t k : kept_grid(values.size(), most, g)) {
    const auto pos = s.positions(k);
    const double pruned = s.pruned_sse(k);
    int64_t last_levels = -1;
    for (int b = g.min_bits; b <= g.max_bits; ++b) {
      const auto c = lloyd(s.kept(k), 1 << b);
      // More bits than kept weights add nothing: one option per distinct codebook size.
      if (static_cast<int64_t>(c.levels.size()) == last_levels) break;
      last_levels = static_cast<int64_t>(c.levels.size());
      out.push_back({k, b, c.sse + pruned, layer_payload_bytes(values.size(), pos, c.counts)});
    }
  }
  return out;
}

int64_t LayerProjector::bytes(int64_t kept, int bits) const {
  NNC_CHECK(kept >= 1 && kept <= static_cast<int64_t>(values_.size()) && bits >= 1 && bits <= 8,
            "bytes of {} weights kept to {} at {} bits", values_.size(), kept, bits);
  const SortedLayer& s = *sorted_;
  return layer_payload_bytes(values_.size(), s.positions(kept), lloyd(s.kept(kept), 1 << bits).counts);
}

ProjectedLayer LayerProjector::project(int64_t kept, int bits) const {
  const std::span<const float> values = values_;
  NNC_CHECK(kept >= 1 && kept <= static_cast<int64_t>(values.size()) && bits >= 1 && bits <= 8,
            "projection of {} weights to {} kept at {} bits", values.size(), kept, bits);
  const SortedLayer& s = *sorted_;
  const auto c = lloyd(s.kept(kept), 1 << bits);
  ProjectedLayer p;
  p.kept = kept;
  p.bits = bits;
  p.levels.assign(c.levels.begin(), c.levels.end());
  p.values.assign(values.size(), 0.0f);
  p.level.assign(values.size(), static_cast<uint16_t>(p.levels.size()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (s.rank[i] >= kept) {
      p.distortion += v * v;
      continue;
    }
    // The nearest level (levels ascending).
    auto it = std::lower_bound(p.levels.begin(), p.levels.end(), static_cast<float>(v));
    std::size_t j = static_cast<std::size_t>(it - p.levels.begin());
    if (j == p.levels.size() || (j > 0 && v - p.levels[j - 1] < p.levels[j] - v)) --j;
    p.level[i] = static_cast<uint16_t>(j);
    p.values[i] = p.levels[j];
    p.distortion += (v - p.levels[j]) * (v - p.levels[j]);
  }
  return p;
}

namespace {

std::vector<compress::ChoiceGroup> choice_groups(const std::vector<std::vector<LayerOption>>& options) {
  std::vector<compress::ChoiceGroup> groups;
  for (const auto& opts : options) {
    compress::ChoiceGroup g;
    for (const auto& o : opts) {
      g.cost.push_back(o.bytes);
      g.distortion.push_back(o.distortion);
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::vector<std::vector<LayerOption>> all_options(const std::vector<std::span<const float>>& layers,
                                                  const GridOptions& grid) {
  std::vector<std::vector<LayerOption>> options;
  for (const auto& l : layers) {
    options.push_back(layer_options(l, grid));
    NNC_CHECK(!options.back().empty(), "a layer without weights");
  }
  return options;
}

}  // namespace

std::vector<LayerOption> choose_options(const std::vector<std::vector<LayerOption>>& options, int64_t budget) {
  const auto groups = choice_groups(options);
  const int64_t need = compress::min_total_cost(groups);
  NNC_CHECK(budget >= need, "{} bytes for the layer weights is below the {} that their sparsest, coarsest setting needs",
            budget, need);
  const auto pick = compress::min_distortion_choice(groups, budget);
  std::vector<LayerOption> out;
  for (std::size_t l = 0; l < options.size(); ++l) out.push_back(options[l][static_cast<std::size_t>(pick.choice[l])]);
  return out;
}

std::vector<LayerOption> choose_uniform(const std::vector<std::vector<LayerOption>>& options, const GridOptions& g,
                                        int64_t budget) {
  std::vector<LayerOption> best;
  double best_distortion = std::numeric_limits<double>::infinity();
  const int D = std::max(2, g.densities);
  for (int i = 0; i < D; ++i) {
    const double d = std::pow(g.min_density, static_cast<double>(i) / (D - 1));
    for (int b = g.min_bits; b <= g.max_bits; ++b) {
      std::vector<LayerOption> pick;
      int64_t bytes = 0;
      double distortion = 0;
      for (const auto& opts : options) {
        if (opts.empty()) break;
        const auto n = static_cast<double>(std::max_element(opts.begin(), opts.end(), [](auto& x, auto& y) {
                                             return x.kept < y.kept;
                                           })->kept);
        const auto k = std::clamp<int64_t>(std::llround(d * n), 1, static_cast<int64_t>(n));
        // The tensor's kept count nearest to k (a tensor that is never pruned, a bias by default,
        // lists only its dense one), then its most bits up to b (a layer with fewer weights than
        // levels lists its last distinct codebook size only).
        int64_t near = 0;
        for (const auto& c : opts)
          if (near == 0 || std::abs(std::log(static_cast<double>(c.kept) / static_cast<double>(k))) <
                               std::abs(std::log(static_cast<double>(near) / static_cast<double>(k))))
            near = c.kept;
        const LayerOption* o = nullptr;
        for (const auto& c : opts)
          if (c.kept == near && c.bits <= b && (!o || c.bits > o->bits)) o = &c;
        if (!o) break;
        pick.push_back(*o);
        bytes += o->bytes;
        distortion += o->distortion;
      }
      if (pick.size() == options.size() && bytes <= budget && distortion < best_distortion) {
        best = pick;
        best_distortion = distortion;
      }
    }
  }
  NNC_CHECK(!best.empty(), "no uniform kept fraction and bit width fits {} bytes for the layer weights", budget);
  return best;
}

JointProjection project_to_options(const std::vector<std::span<const float>>& layers,
                                   const std::vector<LayerOption>& options) {
  NNC_CHECK(options.size() == layers.size(), "{} options for {} layers", options.size(), layers.size());
  JointProjection j;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    j.layers.push_back(project_layer(layers[l], options[l].kept, options[l].bits));
    j.bytes.push_back(options[l].bytes);
    j.predicted_bytes += options[l].bytes;
    j.distortion += j.layers.back().distortion;
  }
  return j;
}

int64_t min_payload_bytes(const std::vector<std::vector<LayerOption>>& options) {
  return compress::min_total_cost(choice_groups(options));
}

JointProjection project_to_budget(const std::vector<std::span<const float>>& layers, int64_t budget,
                                  const GridOptions& grid) {
  const auto options = all_options(layers, grid);
  const auto groups = choice_groups(options);
  const int64_t need = compress::min_total_cost(groups);
  NNC_CHECK(budget >= need, "{} bytes for the layer weights is below the {} that their sparsest, coarsest setting needs",
            budget, need);
  const auto pick = compress::min_distortion_choice(groups, budget);
  JointProjection j;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& o = options[l][static_cast<std::size_t>(pick.choice[l])];
    j.layers.push_back(project_layer(layers[l], o.kept, o.bits));
    j.bytes.push_back(o.bytes);
    j.predicted_bytes += o.bytes;
    j.distortion += j.layers.back().distortion;
  }
  return j;
}

}  // namespace nnc::fit
