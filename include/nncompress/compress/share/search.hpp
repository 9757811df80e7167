#pragma once
// The search around uniform binning: a context that applies a codebook to the engine's
// weights and measures it on the validation subset (the hot path), NSGA-II over the bin count
// (pagmo), and the iterative merge of adjacent bins.
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nncompress/compress/share/uniform_bins.hpp"
#include "nncompress/data/evaluate.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::share {

struct Candidate {
  int k = 0;               // uniform bins asked for
  int entries = 0;         // non-empty bins (codebook size) = objective f2
  double f1 = 1;           // 1 - macro-F1 on the validation subset = objective f1
  double val_top1 = 0;
  double index_bits = 0;   // exact encoded index bits per shared weight (best coder per tensor)
  double test_top1 = -1;   // filled in for reported solutions only
};

class ShareContext {
 public:
  ShareContext(exec::Engine& engine, SharedSet set, const data::Dataset& val, int64_t batch);

  Candidate evaluate(const Codebook& cb);  // writes the shared weights into the engine
  void apply(const Codebook& cb);
  void restore();                           // the original weights
  const SharedSet& set() const { return set_; }
  double original_top1() const { return original_.top1; }
  double original_f1() const { return 1 - original_.macro_f1; }
  int evaluations() const { return evaluations_; }
  double evaluation_seconds() const { return eval_seconds_; }

 private:
  exec::Engine& engine_;
  SharedSet set_;
  data::Evaluator val_;
  data::Metrics original_;
  std::vector<std::size_t> store_index_;
  int evaluations_ = 0;
  double eval_seconds_ = 0;
};

// Exact bits per weight of the indices when each tensor is coded with its best coder.
double encoded_index_bits(const SharedSet& set, const std::vector<uint16_t>& indices, std::size_t alphabet);

struct SearchOptions {
  int pop = 100, gens = 100;
  uint64_t seed = 0;
  int k_min = 2, k_max = 1024;
};

struct SearchResult {
  std::vector<Candidate> evaluated;  // every distinct k, ascending
  std::vector<Candidate> front;      // non-dominated (f1, entries), ascending entries
  int evaluations = 0, cache_hits = 0, generations = 0;
  bool interrupted = false;
  double seconds = 0;
};

// NSGA-II (pagmo::nsga2) over k encoded as one continuous gene, rounded in the fitness; every
// evaluated k is cached so no candidate is evaluated twice.
SearchResult nsga2_search(ShareContext& ctx, const SearchOptions& options);

// Non-dominated subset of candidates on (f1, entries), sorted by entries.
std::vector<Candidate> pareto_front(const std::vector<Candidate>& all);

enum class MergeRule {
  kPaper,     // keep a merge if f1 is not worse than the current solution's
  kMaxDrop,   // keep a merge if validation top-1 stays >= min_top1
};

struct MergeResult {
  Codebook codebook;
  Candidate before, after;
  int tried = 0, accepted = 0, passes = 0;
  bool interrupted = false;
};

MergeResult iterative_merge(ShareContext& ctx, const Codebook& start, MergeRule rule, double min_top1,
                            int max_evaluations);

}  // namespace nnc::share
