#pragma once
// Per-layer (groups k, rank j) allocation for a global budget.
// ALDS (Liebenwein et al., NeurIPS 2021, Sec. 3.2): for fixed k per layer, ranks follow from
// one error level eps (every layer's relative error <= eps); the smallest eps meeting the
// budget is found by bisection. Then k is re-picked per layer given the others (alternating
// minimisation of the maximum error), over several restarts. SVDs are computed once per
// (layer, k) and reused for the whole search.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nncompress/compress/lowrank/grouped_svd.hpp"
#include "nncompress/compress/lowrank/layers.hpp"

namespace nnc::lowrank {

// What the budget counts: parameters, FLOPs (multiply-accumulates), or the latency model's
// blocked multiply-accumulates (cost_model.hpp).
enum class BudgetKind { kParams, kFlops, kLatency };
const char* budget_unit(BudgetKind kind);  // "parameters", "FLOPs", "blocked FLOPs"

struct LayerChoice {
  bool factored = false;  // false: layer kept dense
  int64_t k = 1, j = 0;
  double error = 0;       // relative error proxy (0 when dense)
  int64_t params = 0, flops = 0;
  int64_t blocked_flops = 0;  // latency model (cost_model.hpp)
};

struct Allocation {
  std::string method;                // "alds", "svd", "uniform", "energy"
  std::vector<LayerChoice> layers;   // parallel to the problem's layers
  double max_error = 0;
  int64_t params = 0, flops = 0;     // of the decomposable layers after allocation
  int64_t blocked_flops = 0;
};

class AldsProblem {
 public:
  // simd_block: channels per SIMD block for the latency model (0: this CPU's).
  // equalize_channels: factorise with every output channel at unit norm (GroupedSvd), except
  // in layers whose output goes into a BatchNormalization.
  AldsProblem(std::vector<Layer> layers, BudgetKind kind, std::vector<int64_t> k_candidates = {1, 2, 3, 5, 7, 9},
              int64_t simd_block = 0, bool equalize_channels = false);

  const std::vector<Layer>& layers() const { return layers_; }
  BudgetKind kind() const { return kind_; }
  int64_t simd_block() const { return block_; }
  // Budget units of a layer as it is (decomposable or not), and of an allocation.
  int64_t dense_cost(const Layer& layer) const;
  int64_t cost(const Allocation& a) const;
  // Cost units (params or FLOPs) of the decomposable layers as they are.
  int64_t dense_cost() const;
  // Cheapest possible cost (rank 1 with the cheapest k in every decomposable layer).
  int64_t min_cost() const;

  // Takes a layer out of the search (it stays dense, e.g. when factoring it is slower).
  void keep_dense(std::size_t layer, std::string reason);
  // Undoes keep_dense (only for a layer that was decomposable before it).
  void allow_factoring(std::size_t layer);

  const GroupedSvd& svd(std::size_t layer, int64_t k);  // cached
  LayerChoice choose(std::size_t layer, int64_t k, int64_t j);
  LayerChoice dense_choice(std::size_t layer) const;

  // Ranks for a fixed k per layer at error level eps (dense where factoring does not pay).
  Allocation at_error(const std::vector<int64_t>& ks, double eps);
  // Smallest eps whose allocation fits `budget` cost units, for fixed ks (bisection).
  Allocation fit_budget(const std::vector<int64_t>& ks, int64_t budget);

  // The full ALDS search. Throws if even rank 1 everywhere exceeds the budget.
  // Its minimax solution then spends what the budget has left on the layers with the largest
  // errors (spend_slack).
  Allocation alds(int64_t budget, int iterations = 3, int random_restarts = 3, uint64_t seed = 0);
  // Raises ranks of the worst layers (a dense layer when that is no dearer) while `a` fits.
  Allocation spend_slack(Allocation a, int64_t budget);
  // Baselines at the same budget: plain SVD (k = 1, same eps rule), uniform rank ratio,
  // energy-based rank (keep a fixed fraction of sum sigma^2 per layer).
  Allocation plain_svd(int64_t budget);
  Allocation uniform_rank(int64_t budget);
  Allocation energy_rank(int64_t budget);

  std::vector<int64_t> valid_ks(std::size_t layer) const;

 private:
  void check_budget(int64_t budget) const;
  Allocation finish(std::string method, std::vector<LayerChoice> choices) const;
  template <typename RankOf>
  Allocation bisect_rule(const char* method, int64_t budget, RankOf rank_of);

  std::vector<Layer> layers_;
  BudgetKind kind_;
  int64_t block_;
  bool equalize_channels_ = false;
  std::vector<int64_t> k_candidates_;
  std::map<std::pair<std::size_t, int64_t>, std::unique_ptr<GroupedSvd>> svds_;
};

}  // namespace nnc::lowrank
