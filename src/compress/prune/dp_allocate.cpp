#include "nncompress/compress/prune/dp_allocate.hpp"

#include "nncompress/compress/common/knapsack.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::prune {
namespace {

// A layer curve as a knapsack group: its kept weights are the cost.
std::vector<compress::ChoiceGroup> as_groups(const std::vector<LayerCurve>& curves) {
  std::vector<compress::ChoiceGroup> groups;
  for (const auto& c : curves) groups.push_back({c.kept, c.distortion, c.forced_dense ? std::size_t{1} : c.kept.size()});
  return groups;
}

DpResult as_result(compress::KnapsackChoice k) { return {std::move(k.choice), k.distortion, k.cost}; }

}  // namespace

DpResult dp_allocate(const std::vector<LayerCurve>& curves, int64_t budget, int64_t buckets) {
  NNC_CHECK(!curves.empty(), "no prunable layers");
  const auto groups = as_groups(curves);
  const int64_t need = compress::min_total_cost(groups);
  NNC_CHECK(budget >= need, "budget of {} kept weights is below the {} that the dense-forced layers and the "
            "sparsest grid point of every other layer need", budget, need);
  return as_result(compress::min_distortion_choice(groups, budget, buckets));
}

DpResult brute_force_allocate(const std::vector<LayerCurve>& curves, int64_t budget) {
  return as_result(compress::brute_force_choice(as_groups(curves), budget));
}

}  // namespace nnc::prune
