#include "nncompress/compress/share/search.hpp"

#include <ATen/ATen.h>
#include <pagmo/algorithms/nsga2.hpp>
#include <pagmo/bfe.hpp>
#include <pagmo/population.hpp>
#include <pagmo/problem.hpp>
#include <pagmo/rng.hpp>
#include <pagmo/utils/generic.hpp>

#include <chrono>
#include <cmath>

#include "nncompress/compress/share/evaluation_log.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/hash.hpp"
#include "nncompress/dist/cluster.hpp"
#include "nncompress/dist/model_archive.hpp"
#include "nncompress/dist/tensor_archive.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/store/bitpack.hpp"
#include "nncompress/store/entropy.hpp"
#include "nncompress/store/tensor_bytes.hpp"

namespace nnc::share {

double encoded_index_bits(const SharedSet& set, const std::vector<uint16_t>& indices, std::size_t alphabet) {
  std::size_t bytes = 0;
  const auto a = static_cast<uint32_t>(alphabet);
  std::vector<uint64_t> positions;
  std::vector<uint16_t> nonzero;
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    const std::size_t begin = set.offsets[t], n = set.offsets[t + 1] - begin;
    std::span<const uint16_t> part(indices.data() + begin, n);
    std::size_t dense = store::indexed_payload_bytes(part, a);
    if (!set.pruned.empty()) {
      // A tensor with pruned weights is stored sparse when smaller: positions of the others
      // and their indices (what the container writes, store::pack_model).
      positions.clear();
      nonzero.clear();
      for (std::size_t i = 0; i < n; ++i)
        if (!set.pruned[begin + i]) {
          positions.push_back(i);
          nonzero.push_back(part[i]);
        }
      if (nonzero.size() < n)
        dense = std::min(dense, store::positions_payload_bytes(n, positions) + store::indexed_payload_bytes(nonzero, a));
    }
    bytes += dense;
  }
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(set.size());
}

void write_shared(exec::Engine& engine, const SharedSet& set, std::span<const float> values,
                  const std::function<bool(std::size_t)>& only) {
  NNC_CHECK(values.size() == set.size(), "{} shared values given for {} shared weights", values.size(), set.size());
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    if (only && !only(t)) continue;
    const auto begin = set.offsets[t], n = set.offsets[t + 1] - begin;
    auto src = at::from_blob(const_cast<float*>(values.data() + begin), {static_cast<int64_t>(n)}, at::kFloat);
    // In float, as CompressedModel, the writers and the decoders compute value x scale.
    if (set.scale(t) != 1.0f) src = src * set.scale(t);
    engine.weights().set(set.names[t], src.reshape(set.shapes[t]));
  }
}

void write_original(exec::Engine& engine, const SharedSet& set) {
  const auto& w = set.original();
  for (std::size_t t = 0; t < set.names.size(); ++t) {
    const auto begin = set.offsets[t], n = set.offsets[t + 1] - begin;
    auto src = at::from_blob(const_cast<float*>(w.data() + begin), {static_cast<int64_t>(n)}, at::kFloat);
    engine.weights().set(set.names[t], src.reshape(set.shapes[t]));
  }
}

ShareContext::ShareContext(exec::Engine& engine, SharedSet set, const data::Dataset& val, int64_t batch)
    : engine_(engine), set_(std::move(set)), val_(val, batch) {
  original_ = val_.evaluate(engine_);
}

std::vector<uint16_t> ShareContext::indices(const Codebook& cb) const {
  return error_feedback_ ? error_feedback_->assign(set_, cb) : cb.indices();
}

void ShareContext::apply(const Codebook& cb) { apply(cb, indices(cb)); }

void ShareContext::apply(const Codebook& cb, std::span<const uint16_t> indices) {
  const auto values = entry_values(cb, indices);
  write_shared(engine_, set_, values);
  if (bias_correction_) bias_correction_->apply(engine_, set_, values);
}

void ShareContext::restore() {
  write_original(engine_, set_);
  if (bias_correction_) bias_correction_->restore(engine_);
}

uint64_t ShareContext::evaluation_key(const Codebook& cb) const {
  Hash64 h;
  h.value(cb.k);
  h.value(cb.zero_entry);
  h.bytes(cb.group.data(), cb.group.size() * sizeof(int));
  h.bytes(cb.bin_count.data(), cb.bin_count.size() * sizeof(int64_t));
  h.bytes(cb.values.data(), cb.values.size() * sizeof(float));
  // Which context asks (the validation or the hold-out images) and how it measures.
  h.value(val_.data().size());
  h.value(early_exit_drop_);
  h.value(early_exit_z_);
  h.value(confidence_);
  h.value(static_cast<bool>(bias_correction_));
  h.value(static_cast<bool>(error_feedback_));
  return h.digest();
}

ShareContext::ShareContext(exec::Engine& engine, SharedSet set, const data::Dataset& val, int64_t batch,
                           data::Metrics original)
    : engine_(engine), set_(std::move(set)), val_(val, batch), original_(std::move(original)) {}

Codebook ShareContext::codebook(const Chromosome& c) const { return uniform_bins(set_, c.k, c.strides); }

Measurement ShareContext::measure(const Codebook& cb) {
  const auto idx = indices(cb);
  apply(cb, idx);
  const double bits = encoded_index_bits(set_, idx, cb.size());
  bool partial = false;
  data::Metrics m;
  Measurement out;
  if (early_exit_drop_ >= 0) {
    data::Evaluator::EarlyExit exit;
    exit.z = early_exit_z_;
    exit.rules.push_back({original_.correct, early_exit_drop_});
    // Dominance: a candidate surely less accurate than one already measured that is no larger
    // cannot join the front, so it need not be measured precisely either.
    const Measured* best = nullptr;
    for (const auto& f : measured_)
      if (f.index_bits <= bits && (!best || f.top1 > best->top1)) best = &f;
    if (best) exit.rules.push_back({best->correct, 0.0});
    m = val_.evaluate(engine_, exit, &partial);
    if (!partial) {
      auto bytes = m.correct.to(at::kByte).contiguous();
      out.correct.assign(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
    }
  } else {
    m = val_.evaluate(engine_);
  }
  Candidate& c = out.candidate;
  c.partial = partial;
  c.k = cb.k;
  c.entries = static_cast<int>(cb.size());
  c.f1 = 1 - m.macro_f1;
  c.val_top1 = m.top1;
  c.top1_se = partial || !m.correct.defined() ? 0.0 : data::paired_top1_se(original_.correct, m.correct);
  c.val_top1_low = c.val_top1 - confidence_ * c.top1_se;
  c.index_bits = bits;
  return out;
}

void ShareContext::replay(const Measurement& m) {
  // As if measured now: the counts and early exit's references are what they were.
  if (!m.correct.empty()) {
    auto correct = at::tensor(at::ArrayRef<uint8_t>(m.correct), at::kByte).to(at::kBool);
    measured_.push_back({m.candidate.index_bits, m.candidate.val_top1, std::move(correct)});
  }
  partial_ += m.candidate.partial ? 1 : 0;
  ++evaluations_;
}

void ShareContext::record(uint64_t key, const Measurement& m) {
  replay(m);
  if (log_) log_->append(key, {m.candidate, m.correct});
}

Candidate ShareContext::evaluate(const Codebook& cb) {
  const uint64_t key = log_ ? evaluation_key(cb) : 0;
  if (log_) {
    if (auto logged = log_->next(key)) {
      replay({logged->candidate, logged->correct});
      return logged->candidate;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto m = measure(cb);
  eval_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  record(key, m);
  return m.candidate;
}

namespace {

std::string chromosome_bytes(const Chromosome& c) {
  dist::ArchiveWriter w;
  w.put(c.k);
  w.put(c.strides);
  return w.take();
}

Chromosome read_chromosome(std::string_view bytes) {
  dist::ArchiveReader r(bytes);
  Chromosome c;
  c.k = r.get<int>();
  r.get(c.strides);
  return c;
}

std::string measurement_bytes(const Measurement& m) {
  dist::ArchiveWriter w;
  const auto& c = m.candidate;
  w.put(c.partial);
  w.put(c.k);
  w.put(c.entries);
  w.put(c.f1);
  w.put(c.val_top1);
  w.put(c.top1_se);
  w.put(c.val_top1_low);
  w.put(c.index_bits);
  w.put(m.correct);
  return w.take();
}

Measurement read_measurement(std::string_view bytes) {
  dist::ArchiveReader r(bytes);
  Measurement m;
  auto& c = m.candidate;
  c.partial = r.get<bool>();
  c.k = r.get<int>();
  c.entries = r.get<int>();
  c.f1 = r.get<double>();
  c.val_top1 = r.get<double>();
  c.top1_se = r.get<double>();
  c.val_top1_low = r.get<double>();
  c.index_bits = r.get<double>();
  r.get(m.correct);
  return m;
}

// This rank's share of a batch: the same bytes in and out as on the other ranks.
class LocalMeasure final : public dist::Task {
 public:
  explicit LocalMeasure(ShareContext& ctx) : ctx_(ctx) {}
  std::string evaluate(std::string_view item) override {
    return measurement_bytes(ctx_.measure(ctx_.codebook(read_chromosome(item))));
  }

 private:
  ShareContext& ctx_;
};

}  // namespace

std::vector<std::optional<Candidate>> ShareContext::evaluate_batch(const std::vector<Chromosome>& batch,
                                                                  dist::Pool& pool,
                                                                  const std::function<void(std::size_t)>& measured_so_far) {
  std::vector<std::optional<Candidate>> out(batch.size());
  std::vector<uint64_t> keys(batch.size(), 0);
  std::vector<std::optional<Measurement>> replayed(batch.size());
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (log_) {
      keys[i] = evaluation_key(codebook(batch[i]));
      if (auto logged = log_->next(keys[i])) {
        replayed[i] = Measurement{logged->candidate, logged->correct};
        continue;
      }
    }
    todo.push_back(i);
  }
  std::vector<std::string> items;
  for (auto i : todo) items.push_back(chromosome_bytes(batch[i]));
  const auto start = std::chrono::steady_clock::now();
  const auto results = pool.map(items, control_, measured_so_far);
  eval_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::optional<Measurement>> measured(batch.size());
  for (std::size_t j = 0; j < todo.size(); ++j)
    if (results[j]) measured[todo[j]] = read_measurement(*results[j]);
  // Recorded in batch order (the log replays in that order); the references this batch adds go
  // to the other ranks before the next batch.
  const std::size_t references = measured_.size();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (replayed[i]) {
      replay(*replayed[i]);
      out[i] = replayed[i]->candidate;
    } else if (measured[i]) {
      record(keys[i], *measured[i]);
      out[i] = measured[i]->candidate;
    }
  }
  if (pool.ranks() > 1 && measured_.size() > references) {
    dist::ArchiveWriter w;
    put_references(w, references);
    pool.update(w.take());
  }
  return out;
}

void ShareContext::put_references(dist::ArchiveWriter& w, std::size_t from) const {
  w.put<uint64_t>(measured_.size() - from);
  for (std::size_t r = from; r < measured_.size(); ++r) {
    w.put(measured_[r].index_bits);
    w.put(measured_[r].top1);
    dist::put_tensor(w, measured_[r].correct);
  }
}

void ShareContext::get_references(dist::ArchiveReader& r) {
  const auto n = r.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    Measured m;
    m.index_bits = r.get<double>();
    m.top1 = r.get<double>();
    m.correct = dist::get_tensor(r);
    measured_.push_back(std::move(m));
  }
}

std::string ShareContext::distributed_state() const {
  dist::ArchiveWriter w;
  dist::put_model(w, engine_.to_model());
  set_.save(w);
  dist::put_tensor(w, val_.data().images);
  dist::put_tensor(w, val_.data().labels);
  w.put(val_.data().num_classes);
  w.put(val_.batch());
  w.put(original_.top1);
  w.put(original_.macro_f1);
  dist::put_tensor(w, original_.correct);
  w.put(early_exit_drop_);
  w.put(early_exit_z_);
  w.put(confidence_);
  w.put<uint8_t>(bias_correction_ ? 1 : 0);
  if (bias_correction_) bias_correction_->save(w);
  w.put<uint8_t>(error_feedback_ ? 1 : 0);
  if (error_feedback_) error_feedback_->save(w);
  put_references(w, 0);
  return w.take();
}

// Another rank's side of "share.evaluate": the context rebuilt from distributed_state().
class ShareWorker final : public dist::Task {
 public:
  explicit ShareWorker(std::string_view state) {
    dist::ArchiveReader r(state);
    engine_ = std::make_unique<exec::Engine>(dist::get_model(r));
    auto set = SharedSet::load(r);
    data::Dataset val;
    val.images = dist::get_tensor(r);
    val.labels = dist::get_tensor(r);
    val.num_classes = r.get<int>();
    const auto batch = r.get<int64_t>();
    data::Metrics original;
    original.top1 = r.get<double>();
    original.macro_f1 = r.get<double>();
    original.correct = dist::get_tensor(r);
    ctx_.reset(new ShareContext(*engine_, std::move(set), val, batch, std::move(original)));
    ctx_->early_exit_drop_ = r.get<double>();
    ctx_->early_exit_z_ = r.get<double>();
    ctx_->confidence_ = r.get<double>();
    if (r.get<uint8_t>()) ctx_->bias_correction_ = BiasCorrection::load(r);
    if (r.get<uint8_t>()) ctx_->error_feedback_ = ErrorFeedback::load(r);
    ctx_->get_references(r);
    NNC_CHECK(r.done(), "distributed message: {} bytes of share state left over", state.size());
  }
  std::string evaluate(std::string_view item) override {
    return measurement_bytes(ctx_->measure(ctx_->codebook(read_chromosome(item))));
  }
  void update(std::string_view payload) override {  // what a batch's records added
    dist::ArchiveReader r(payload);
    ctx_->get_references(r);
  }

 private:
  std::unique_ptr<exec::Engine> engine_;
  std::unique_ptr<ShareContext> ctx_;
};

void register_distributed_tasks() {
  dist::register_task("share.evaluate", [](std::string_view state) { return std::make_unique<ShareWorker>(state); });
}

Codebook candidate_codebook(const SharedSet& set, const Candidate& c) { return uniform_bins(set, c.k, c.strides); }

std::vector<Candidate> pareto_front(const std::vector<Candidate>& all, SearchMode mode) {
  auto size = [mode](const Candidate& c) {
    return mode == SearchMode::kPaper ? static_cast<double>(c.entries) : c.index_bits;
  };
  std::vector<Candidate> front;
  for (const auto& a : all) {
    bool dominated = false;
    for (const auto& b : all) {
      bool no_worse = b.f1 <= a.f1 && size(b) <= size(a);
      bool better = b.f1 < a.f1 || size(b) < size(a);
      if (no_worse && better) {
        dominated = true;
        break;
      }
    }
    bool duplicate = false;
    for (const auto& f : front) duplicate = duplicate || (size(f) == size(a) && f.f1 == a.f1);
    if (!dominated && !duplicate) front.push_back(a);
  }
  std::sort(front.begin(), front.end(), [&](const auto& x, const auto& y) { return size(x) < size(y); });
  return front;
}

namespace {

struct SearchState {
  ShareContext* ctx = nullptr;
  dist::Pool* pool = nullptr;       // the other ranks, when distributed
  Progress* progress = nullptr;     // while the initial population is measured
  SearchOptions options;
  int groups = 0;                   // stride genes (extended mode)
  std::vector<int> group_of;        // tensor -> stride gene
  std::map<std::vector<int>, Candidate> cache;  // chromosome (k, group strides...) -> result
  int hits = 0;
  pagmo::detail::random_engine_type rng;    // draws the random initial individuals

  std::vector<int> decode(const pagmo::vector_double& x) const {
    std::vector<int> key{std::clamp(static_cast<int>(std::lround(x[0])), options.k_min, options.k_max)};
    for (int g = 0; g < groups; ++g)
      key.push_back(std::clamp(static_cast<int>(std::floor(std::exp2(x[static_cast<std::size_t>(g) + 1]))), 1,
                               options.max_stride));
    return key;
  }
  pagmo::vector_double objectives(const Candidate& c) const {
    return {c.f1, options.mode == SearchMode::kPaper ? static_cast<double>(c.entries) : c.index_bits};
  }
  // Fitness of every decision vector, the new chromosomes measured as one batch; empty for the
  // ones a stop request left unmeasured.
  std::vector<std::optional<pagmo::vector_double>> evaluate(const std::vector<pagmo::vector_double>& xs) {
    std::vector<std::vector<int>> keys;
    std::vector<Chromosome> batch;
    std::map<std::vector<int>, std::size_t> fresh;  // new chromosome -> its place in the batch
    for (const auto& x : xs) {
      keys.push_back(decode(x));
      const auto& key = keys.back();
      if (cache.count(key) || fresh.count(key)) {
        ++hits;
        continue;
      }
      Chromosome c{key[0], {}};
      if (groups > 0) {
        c.strides.resize(group_of.size());
        for (std::size_t t = 0; t < c.strides.size(); ++t) c.strides[t] = key[static_cast<std::size_t>(group_of[t]) + 1];
      }
      fresh[key] = batch.size();
      batch.push_back(std::move(c));
    }
    std::function<void(std::size_t)> report;
    if (progress)
      report = [&](std::size_t n) { progress->update(static_cast<long>(n), fmt::format("{} of {} new chromosomes", n, batch.size())); };
    NNC_CHECK_CODE(pool != nullptr, kInternal, "share: candidates measured outside the search");
    auto measured = ctx->evaluate_batch(batch, *pool, report);
    for (const auto& [key, i] : fresh)
      if (measured[i]) {
        measured[i]->strides = batch[i].strides;
        cache[key] = *measured[i];
      }
    std::vector<std::optional<pagmo::vector_double>> f;
    for (const auto& key : keys) {
      auto it = cache.find(key);
      f.push_back(it == cache.end() ? std::nullopt : std::optional(objectives(it->second)));
    }
    return f;
  }
};

// Unmeasured (stopped): the worst fitness, so the generation's selection drops it.
pagmo::vector_double unmeasured() { return {1.0, 1e30}; }

// pagmo user-defined problem: continuous genes rounded in the fitness.
struct ShareProblem {
  std::shared_ptr<SearchState> state;
  pagmo::vector_double fitness(const pagmo::vector_double& x) const {
    return state->evaluate({x}).front().value_or(unmeasured());
  }
  std::pair<pagmo::vector_double, pagmo::vector_double> get_bounds() const {
    pagmo::vector_double lo{static_cast<double>(state->options.k_min)}, hi{static_cast<double>(state->options.k_max)};
    for (int g = 0; g < state->groups; ++g) {
      lo.push_back(0.0);
      hi.push_back(std::log2(state->options.max_stride + 1.0) - 1e-9);
    }
    return {lo, hi};
  }
  pagmo::vector_double::size_type get_nobj() const { return 2; }
  std::string get_name() const { return "uniform bins on one shared grid"; }
};

// pagmo batch fitness evaluation: a generation's offspring measured as one batch (by every rank
// of a distributed run).
struct ShareBatchEvaluation {
  std::shared_ptr<SearchState> state;
  pagmo::vector_double operator()(const pagmo::problem& p, const pagmo::vector_double& dvs) const {
    const auto nx = p.get_nx();
    std::vector<pagmo::vector_double> xs;
    for (std::size_t i = 0; i + nx <= dvs.size(); i += nx)
      xs.emplace_back(dvs.begin() + static_cast<std::ptrdiff_t>(i), dvs.begin() + static_cast<std::ptrdiff_t>(i + nx));
    pagmo::vector_double out;
    for (const auto& f : state->evaluate(xs)) {
      const auto v = f.value_or(unmeasured());
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }
};

}  // namespace

void SearchOptions::validate() const {
  NNC_CHECK_OPTION(pop >= 8 && pop % 4 == 0, "pop", "{}: NSGA-II needs a population that is a multiple of 4 and at least 8",
                   pop);
  NNC_CHECK_OPTION(gens >= 0, "gens", "{}: must not be negative", gens);
  NNC_CHECK_OPTION(k_min >= 2 && k_min < k_max, "k_min", "{}: need 2 <= k_min < k_max ({})", k_min, k_max);
  NNC_CHECK_OPTION(k_max <= 16384, "k_max", "{}: at most 16384 bins", k_max);
  NNC_CHECK_OPTION(max_evals >= 0, "max_evals", "{}: must not be negative", max_evals);
  NNC_CHECK_OPTION(max_groups >= 1, "max_groups", "{}: must be at least 1", max_groups);
  NNC_CHECK_OPTION(max_stride >= 1 && max_stride <= 64, "max_stride", "{}: must be in [1, 64]", max_stride);
}

std::vector<int> stride_groups(int tensors, int max_groups) {
  const int groups = std::max(1, std::min(tensors, max_groups));
  std::vector<int> g;
  for (int t = 0; t < tensors; ++t) g.push_back(t * groups / tensors);
  return g;
}

SearchResult nsga2_search(ShareContext& ctx, const SearchOptions& o) {
  o.validate();
  auto start = std::chrono::steady_clock::now();
  auto state = std::make_shared<SearchState>();
  state->ctx = &ctx;
  state->options = o;
  state->rng.seed(static_cast<pagmo::detail::random_engine_type::result_type>(o.seed));
  const int tensors = static_cast<int>(ctx.set().names.size());
  if (o.mode == SearchMode::kExtended && o.max_stride > 1) {
    state->group_of = stride_groups(tensors, o.max_groups);
    state->groups = state->group_of.back() + 1;
  }
  pagmo::problem prob{ShareProblem{state}};
  SearchResult r;
  // Every individual of a batch (the initial population, each generation's offspring) is
  // measured against the references known before it, by this rank and, when distributed, the
  // others: the same search for any number of ranks.
  LocalMeasure local(ctx);
  dist::Pool pool("share.evaluate", [&] { return ctx.distributed_state(); }, local);
  state->pool = &pool;
  if (pool.ranks() > 1)
    ctx.control().note(fmt::format("nsga2: candidates measured by {} ranks", pool.ranks()));
  // Every individual is chosen first and evaluated once (pagmo's sized constructor would
  // evaluate random individuals that the seeding below then replaces).
  pagmo::population pop(prob, 0u, static_cast<unsigned>(o.seed));
  std::vector<pagmo::vector_double> xs;
  for (int i = 0; i < o.pop; ++i) xs.push_back(pagmo::random_decision_vector(prob, state->rng));
  if (state->groups > 0) {
    // Half the initial population starts from the paper's points (all strides 1, random k), so
    // the search refines known-good codebooks instead of starting from random coarse ones.
    for (std::size_t i = 0; i < xs.size(); i += 2) std::fill(xs[i].begin() + 1, xs[i].end(), 0.0);
    // The other half starts from the given seeds (random individuals fill what is left).
    std::size_t slot = 1;
    for (const auto& [k, strides] : o.seeds) {
      if (slot >= xs.size()) break;
      NNC_CHECK(static_cast<int>(strides.size()) == state->groups, "seed has {} strides for {} groups", strides.size(),
                state->groups);
      pagmo::vector_double x{static_cast<double>(std::clamp(k, o.k_min, o.k_max))};
      for (int s : strides) x.push_back(std::log2(std::clamp(s, 1, o.max_stride) + 0.5));
      xs[slot] = x;
      slot += 2;
    }
  }
  {
    Progress init(ctx.control().reporter, "nsga2 initial population", o.pop);
    state->progress = &init;
    const auto f = state->evaluate(xs);
    state->progress = nullptr;
    for (std::size_t i = 0; i < xs.size(); ++i)
      if (f[i]) pop.push_back(xs[i], *f[i]);  // a stop leaves the rest out; the generations do not run
    init.update(o.pop, fmt::format("{} distinct chromosomes measured", state->cache.size()));
  }
  // SBX crossover 0.9, eta_c 15; polynomial mutation with probability 1/genes, eta_m 20:
  // pymoo's defaults, which the published code used.
  const double genes = 1.0 + state->groups;
  pagmo::nsga2 algo(1u, 0.9, 15.0, 1.0 / genes, 20.0, static_cast<unsigned>(o.seed));
  algo.set_bfe(pagmo::bfe{ShareBatchEvaluation{state}});
  auto all = [&] {
    std::vector<Candidate> v;
    for (const auto& [key, c] : state->cache) v.push_back(c);
    return v;
  };
  Progress progress(ctx.control().reporter, "nsga2 generation", o.gens);
  for (int g = 0; g < o.gens && !ctx.control().stop_requested(); ++g) {
    if (o.max_evals > 0 && ctx.evaluations() >= o.max_evals) {
      r.budget_reached = true;
      break;
    }
    algo.set_seed(static_cast<unsigned>(o.seed * 1000003u + static_cast<uint64_t>(g)));
    pop = algo.evolve(pop);
    r.generations = g + 1;
    auto front = pareto_front(all(), o.mode);
    progress.update(g + 1, fmt::format("{} distinct chromosomes evaluated, {} cache hits, front {} points "
                                       "({:.2f}..{:.2f} bits/weight)",
                                       state->cache.size(), state->hits, front.size(), front.front().index_bits,
                                       front.back().index_bits));
  }
  state->pool = nullptr;
  r.items_by_rank = pool.items_by_rank();
  r.wire_bytes = pool.wire_bytes();
  r.seconds_by_rank = pool.seconds_by_rank();
  r.interrupted = ctx.control().stop_requested();
  r.evaluated = all();
  r.front = pareto_front(r.evaluated, o.mode);
  r.evaluations = static_cast<int>(state->cache.size());
  r.cache_hits = state->hits;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace nnc::share
