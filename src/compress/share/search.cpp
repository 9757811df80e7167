#include "nncompress/compress/share/search.hpp"

#include <ATen/ATen.h>
#include <pagmo/algorithms/nsga2.hpp>
#include <pagmo/population.hpp>
#include <pagmo/problem.hpp>

#include <chrono>
#include <cmath>

#include "nncompress/core/error.hpp"
#include "nncompress/core/interrupt.hpp"
#include "nncompress/core/progress.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/store/bitpack.hpp"
#include "nncompress/store/entropy.hpp"

namespace nnc::share {

double encoded_index_bits(const SharedSet& set, const std::vector<uint16_t>& indices, std::size_t alphabet) {
  std::size_t bytes = 0;
  const auto a = static_cast<uint32_t>(alphabet);
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    std::span<const uint16_t> part(indices.data() + set.offsets[t], set.offsets[t + 1] - set.offsets[t]);
    auto hist = store::histogram(part, a);
    bytes += std::min({store::bitpacked_bytes(part.size(), store::bits_for(a)), store::huffman_bytes(hist),
                       store::rans_bytes(part, a)});
  }
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(set.size());
}

ShareContext::ShareContext(exec::Engine& engine, SharedSet set, const data::Dataset& val, int64_t batch)
    : engine_(engine), set_(std::move(set)), val_(val, batch) {
  for (const auto& n : set_.names) store_index_.push_back(engine_.weights().index_of(n));
  original_ = val_.evaluate(engine_);
}

void ShareContext::apply(const Codebook& cb) {
  auto values = shared_values(set_, cb);
  for (std::size_t t = 0; t < set_.names.size(); ++t) {
    const auto begin = set_.offsets[t], n = set_.offsets[t + 1] - begin;
    auto src = at::from_blob(values.data() + begin, {static_cast<int64_t>(n)}, at::kFloat);
    engine_.weights().set(store_index_[t], src.reshape(set_.shapes[t]));
  }
}

void ShareContext::restore() {
  for (std::size_t t = 0; t < set_.names.size(); ++t) {
    const auto begin = set_.offsets[t], n = set_.offsets[t + 1] - begin;
    auto src = at::from_blob(set_.values.data() + begin, {static_cast<int64_t>(n)}, at::kFloat);
    engine_.weights().set(store_index_[t], src.reshape(set_.shapes[t]));
  }
}

Candidate ShareContext::evaluate(const Codebook& cb) {
  auto start = std::chrono::steady_clock::now();
  apply(cb);
  auto m = val_.evaluate(engine_);
  Candidate c;
  c.k = cb.k;
  c.entries = static_cast<int>(cb.size());
  c.f1 = 1 - m.macro_f1;
  c.val_top1 = m.top1;
  c.index_bits = encoded_index_bits(set_, cb.indices(), cb.size());
  ++evaluations_;
  eval_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return c;
}

std::vector<Candidate> pareto_front(const std::vector<Candidate>& all) {
  std::vector<Candidate> front;
  for (const auto& a : all) {
    bool dominated = false;
    for (const auto& b : all) {
      bool no_worse = b.f1 <= a.f1 && b.entries <= a.entries;
      bool better = b.f1 < a.f1 || b.entries < a.entries;
      if (no_worse && better) {
        dominated = true;
        break;
      }
    }
    bool duplicate = false;
    for (const auto& f : front) duplicate = duplicate || (f.entries == a.entries && f.f1 == a.f1);
    if (!dominated && !duplicate) front.push_back(a);
  }
  std::sort(front.begin(), front.end(), [](const auto& x, const auto& y) { return x.entries < y.entries; });
  return front;
}

namespace {

struct SearchState {
  ShareContext* ctx = nullptr;
  int k_min = 2, k_max = 1024;
  std::map<int, Candidate> cache;
  int hits = 0;
};

// pagmo user-defined problem: one continuous gene, rounded to k in the fitness.
struct BinCountProblem {
  std::shared_ptr<SearchState> state;
  pagmo::vector_double fitness(const pagmo::vector_double& x) const {
    const int k = std::clamp(static_cast<int>(std::lround(x[0])), state->k_min, state->k_max);
    auto it = state->cache.find(k);
    if (it != state->cache.end()) {
      ++state->hits;
      return {it->second.f1, static_cast<double>(it->second.entries)};
    }
    auto c = state->ctx->evaluate(uniform_bins(state->ctx->set(), k));
    state->cache[k] = c;
    return {c.f1, static_cast<double>(c.entries)};
  }
  std::pair<pagmo::vector_double, pagmo::vector_double> get_bounds() const {
    return {{static_cast<double>(state->k_min)}, {static_cast<double>(state->k_max)}};
  }
  pagmo::vector_double::size_type get_nobj() const { return 2; }
  std::string get_name() const { return "uniform bin count"; }
};

}  // namespace

SearchResult nsga2_search(ShareContext& ctx, const SearchOptions& o) {
  NNC_CHECK(o.pop >= 8 && o.pop % 4 == 0, "--pop {}: NSGA-II needs a population that is a multiple of 4 and at least 8",
            o.pop);
  NNC_CHECK(o.gens >= 0, "--gens must not be negative");
  NNC_CHECK(o.k_min >= 2 && o.k_max <= 1024 && o.k_min < o.k_max, "bin range [{}, {}] must lie in [2, 1024]", o.k_min,
            o.k_max);
  auto start = std::chrono::steady_clock::now();
  auto state = std::make_shared<SearchState>();
  state->ctx = &ctx;
  state->k_min = o.k_min;
  state->k_max = o.k_max;
  pagmo::problem prob{BinCountProblem{state}};
  SearchResult r;
  pagmo::population pop(prob, static_cast<pagmo::population::size_type>(o.pop), static_cast<unsigned>(o.seed));
  // SBX crossover 0.9, eta_c 15; polynomial mutation on the single gene (prob. 1), eta_m 20:
  // pymoo's defaults, which the published code used.
  pagmo::nsga2 algo(1u, 0.9, 15.0, 1.0, 20.0, static_cast<unsigned>(o.seed));
  Progress progress("nsga2 generation", o.gens);
  for (int g = 0; g < o.gens && !interrupted(); ++g) {
    algo.set_seed(static_cast<unsigned>(o.seed * 1000003u + static_cast<uint64_t>(g)));
    pop = algo.evolve(pop);
    r.generations = g + 1;
    auto front = pareto_front([&] {
      std::vector<Candidate> v;
      for (const auto& [k, c] : state->cache) v.push_back(c);
      return v;
    }());
    progress.update(g + 1, fmt::format("{} distinct k evaluated, {} cache hits, front {} points ({}..{} bins)",
                                       state->cache.size(), state->hits, front.size(), front.front().entries,
                                       front.back().entries));
  }
  r.interrupted = interrupted();
  for (const auto& [k, c] : state->cache) r.evaluated.push_back(c);
  r.front = pareto_front(r.evaluated);
  r.evaluations = static_cast<int>(state->cache.size());
  r.cache_hits = state->hits;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

MergeResult iterative_merge(ShareContext& ctx, const Codebook& start, MergeRule rule, double min_top1,
                            int max_evaluations) {
  MergeResult r;
  r.codebook = start;
  r.before = ctx.evaluate(start);
  Candidate cur = r.before;
  auto accept = [&](const Candidate& c) {
    if (rule == MergeRule::kPaper) return c.f1 <= cur.f1;
    return c.val_top1 >= min_top1;
  };
  bool merged = true;
  while (merged && !interrupted() && r.tried < max_evaluations) {
    merged = false;
    ++r.passes;
    Progress progress(fmt::format("merge pass {}", r.passes), static_cast<long>(r.codebook.size()));
    // Walk the sorted codebook; try each entry with its right, then its left neighbour.
    for (int e = 0; e < static_cast<int>(r.codebook.size()) && !interrupted() && r.tried < max_evaluations; ++e) {
      bool done = false;
      for (int side : {0, -1}) {
        const int left = e + side;
        if (done || left < 0 || left + 1 >= static_cast<int>(r.codebook.size())) continue;
        auto trial = merge_entries(r.codebook, left);
        auto c = ctx.evaluate(trial);
        ++r.tried;
        if (accept(c)) {
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
  r.interrupted = interrupted();
  r.after = cur;
  ctx.apply(r.codebook);
  return r;
}

}  // namespace nnc::share
