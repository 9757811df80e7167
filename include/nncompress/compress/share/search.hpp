#pragma once
// The search around uniform binning: a context that applies a codebook to the engine's
// weights and measures it on the validation subset (the hot path), and NSGA-II (pagmo) over
// the bin count (paper mode) or over the bin count plus per-tensor-group strides on the shared
// grid (extended mode). The merges live in merge.hpp.
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <memory>
#include <string>
#include <vector>

#include "nncompress/compress/share/bias_correction.hpp"
#include "nncompress/compress/share/error_feedback.hpp"
#include "nncompress/compress/share/uniform_bins.hpp"
#include "nncompress/core/control.hpp"
#include "nncompress/data/evaluate.hpp"

namespace nnc::exec {
class Engine;
}
namespace nnc::dist {
class Pool;
}

namespace nnc::share {

class EvaluationLog;

struct Candidate {
  int k = 0;               // uniform bins asked for
  std::vector<int> strides;  // per shared tensor (extended mode); empty = all 1 (paper mode)
  int entries = 0;         // non-empty bins (codebook size) = objective f2
  double f1 = 1;           // 1 - macro-F1 on the validation subset = objective f1
  double val_top1 = 0;
  double top1_se = 0;      // standard error of (original - candidate) top-1, paired, on the same images
  double val_top1_low = 0; // val_top1 - confidence * top1_se: what budget decisions compare
  double index_bits = 0;   // exact encoded index bits per shared weight (best coder per tensor)
  double test_top1 = -1;   // filled in for reported solutions only
  bool partial = false;    // evaluation stopped early: clearly out of the budget (see set_early_exit)
};

// A point of the search: the bin count and, in extended mode, every tensor's stride (empty: all 1).
struct Chromosome {
  int k = 0;
  std::vector<int> strides;
};

// One candidate as measured: its figures and, when it was fully measured with early exit on,
// which validation images it got right (a reference for the dominance rule).
struct Measurement {
  Candidate candidate;
  std::vector<uint8_t> correct;
};

enum class SearchMode {
  kPaper,     // one gene (k); objectives (1 - macro-F1, non-empty bins)
  kExtended,  // k plus one stride gene per tensor group; objectives (1 - macro-F1, encoded bits)
};

// Writes shared `values` (one per shared weight, SharedSet order, unit values of scaled tensors)
// into the engine's weights, each times its tensor's scale; with `only`, just the tensors it
// selects (by tensor index).
void write_shared(exec::Engine& engine, const SharedSet& set, std::span<const float> values,
                  const std::function<bool(std::size_t)>& only = {});
// Writes the original weights back.
void write_original(exec::Engine& engine, const SharedSet& set);

// The codebook a candidate stands for (uniform bins with its strides).
Codebook candidate_codebook(const SharedSet& set, const Candidate& c);

class ShareContext {
 public:
  // Measures the original on `val`: the engine must hold the original weights.
  ShareContext(exec::Engine& engine, SharedSet set, const data::Dataset& val, int64_t batch);

  Candidate evaluate(const Codebook& cb);  // writes the shared weights into the engine
  // Several candidates, each measured against the early-exit references known when the batch
  // starts (not against each other), so that their results depend neither on their order nor on
  // which rank measures them. `pool` is the phase opened with distributed_state() and a local
  // task measuring with this context: with other ranks they measure some of the candidates,
  // without, this rank measures all. They are recorded (counts, references, the log) in batch
  // order. After a stop request the ones not measured are empty.
  // `measured` (optional) hears the count measured so far (progress).
  std::vector<std::optional<Candidate>> evaluate_batch(const std::vector<Chromosome>& batch, dist::Pool& pool,
                                                       const std::function<void(std::size_t)>& measured = {});
  // What another rank needs to measure candidates exactly as this context does (the model with
  // its weights, the shared set, the validation images, the original's figures, early exit, bias
  // correction and error feedback, the references so far); the rank's task is "share.evaluate".
  std::string distributed_state() const;
  // Measures one candidate against every reference so far; records nothing.
  Measurement measure(const Codebook& cb);
  // The codebook of a chromosome.
  Codebook codebook(const Chromosome& c) const;
  // Candidates that the validation images seen so far show, by `z` paired standard errors, to
  // be more than `max_drop` (fraction) below the original, or below a fully measured candidate
  // with no more index bits (dominated), are not evaluated further (their metrics are those
  // images'); negative max_drop: always evaluate the whole set.
  void set_early_exit(double max_drop, double z = 3) { early_exit_drop_ = max_drop, early_exit_z_ = z; }
  int partial_evaluations() const { return partial_; }
  // Budget decisions use val_top1 - z * (paired standard error of the drop): with z > 0 a
  // candidate must stay within the budget by z standard errors of the measurement, so choosing
  // and merging against a small budget on a few thousand images does not walk into noise.
  void set_confidence(double z) { confidence_ = z; }
  void apply(const Codebook& cb);
  void apply(const Codebook& cb, std::span<const uint16_t> indices);  // indices from indices(cb)
  void restore();                           // the original weights
  // With a bias correction, apply() also corrects the biases of the shared layers (and
  // restore() puts the original ones back). Set before the first evaluation.
  void set_bias_correction(std::shared_ptr<const BiasCorrection> bc) { bias_correction_ = std::move(bc); }
  const std::shared_ptr<const BiasCorrection>& bias_correction() const { return bias_correction_; }
  // With error feedback, weights are rounded onto the codebook by ErrorFeedback::assign instead
  // of going to their own bin. Set before the first evaluation.
  void set_error_feedback(std::shared_ptr<const ErrorFeedback> ef) { error_feedback_ = std::move(ef); }
  const std::shared_ptr<const ErrorFeedback>& error_feedback() const { return error_feedback_; }
  // The codebook entry of every shared weight under this context's rounding.
  std::vector<uint16_t> indices(const Codebook& cb) const;
  const SharedSet& set() const { return set_; }
  double original_top1() const { return original_.top1; }
  double original_f1() const { return 1 - original_.macro_f1; }
  int evaluations() const { return evaluations_; }
  double evaluation_seconds() const { return eval_seconds_; }
  // Where the search and merges report progress and look for stop requests.
  void set_control(Control control) { control_ = std::move(control); }
  const Control& control() const { return control_; }
  // With a log, every evaluation is saved as it is made, and the ones a killed run of the same
  // command made are replayed from it instead of measured (evaluation_log.hpp). Several contexts
  // of one run share one log. Set before the first evaluation.
  void set_log(std::shared_ptr<EvaluationLog> log) { log_ = std::move(log); }

 private:
  friend class ShareWorker;
  // As on the rank that sent distributed_state(): the original's figures given, not measured.
  ShareContext(exec::Engine& engine, SharedSet set, const data::Dataset& val, int64_t batch, data::Metrics original);
  void record(uint64_t key, const Measurement& m);
  void replay(const Measurement& m);
  // Early-exit references from `from` on, for other ranks (the state, each batch's additions).
  void put_references(dist::ArchiveWriter& w, std::size_t from) const;
  void get_references(dist::ArchiveReader& r);
  exec::Engine& engine_;
  SharedSet set_;
  data::Evaluator val_;
  data::Metrics original_;
  int evaluations_ = 0, partial_ = 0;
  double eval_seconds_ = 0;
  double early_exit_drop_ = -1, early_exit_z_ = 3;
  struct Measured {  // fully evaluated while early exit was on: the references of dominance
    double index_bits, top1;
    at::Tensor correct;
  };
  std::vector<Measured> measured_;
  double confidence_ = 0;
  std::shared_ptr<const BiasCorrection> bias_correction_;
  std::shared_ptr<const ErrorFeedback> error_feedback_;
  Control control_;
  std::shared_ptr<EvaluationLog> log_;
  uint64_t evaluation_key(const Codebook& cb) const;
};

// Registers the "share.evaluate" task that the other ranks of a distributed run serve.
void register_distributed_tasks();

// Exact bits per weight of the indices when each tensor is coded with its best coder.
double encoded_index_bits(const SharedSet& set, const std::vector<uint16_t>& indices, std::size_t alphabet);

struct SearchOptions {
  SearchMode mode = SearchMode::kPaper;
  int pop = 100, gens = 100;
  uint64_t seed = 0;
  int k_min = 2, k_max = 1024;
  int max_evals = 0;    // stop after the generation that reaches this many evaluations (0: no cap)
  int max_groups = 24;  // extended mode: tensors are split into at most this many stride groups
  int max_stride = 8;   // extended mode: strides 1..max_stride
  // Extended mode: (k, per-group strides) put into the initial population (see stride_seeds.hpp).
  std::vector<std::pair<int, std::vector<int>>> seeds;
  void validate() const;  // OptionError naming the field (pop, gens, k_min, ...)
};

// Extended mode's tensor groups: consecutive tensors share a stride gene, at most `max_groups`
// groups of (nearly) equal tensor count. Returns the group of every tensor.
std::vector<int> stride_groups(int tensors, int max_groups);

struct SearchResult {
  std::vector<Candidate> evaluated;  // every distinct chromosome
  std::vector<Candidate> front;      // non-dominated on the mode's objectives, ascending size
  int evaluations = 0, cache_hits = 0, generations = 0;
  bool interrupted = false;  // stopped by a stop request
  bool budget_reached = false;
  double seconds = 0;
  std::vector<long> items_by_rank;  // candidates each rank measured (one entry per rank)
  std::vector<double> seconds_by_rank;  // and the seconds each spent measuring them
  double wire_bytes = 0;            // sent and received between the ranks
};

// NSGA-II (pagmo::nsga2) with k encoded as a continuous gene rounded in the fitness (and, in
// extended mode, one continuous stride gene per tensor group); every evaluated chromosome is
// cached so no candidate is evaluated twice.
SearchResult nsga2_search(ShareContext& ctx, const SearchOptions& options);

// Non-dominated subset of candidates on (f1, entries) in paper mode or (f1, index_bits) in
// extended mode, sorted by the size objective.
std::vector<Candidate> pareto_front(const std::vector<Candidate>& all, SearchMode mode = SearchMode::kPaper);

}  // namespace nnc::share
