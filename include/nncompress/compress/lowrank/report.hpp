#pragma once
// Low-rank reports: the per-layer table as CSV and JSON, and an SVG of the maximum relative
// error against the budget (ALDS and plain SVD swept over budgets) with the chosen point.
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

namespace nnc::lowrank {

struct BudgetPoint {
  double keep = 0;  // fraction of the model's parameters (or FLOPs) kept
  double alds_error = 0, svd_error = 0;
};

void write_lowrank_report(const std::filesystem::path& dir, const nlohmann::json& summary,
                          const std::vector<BudgetPoint>& sweep, double chosen_keep, double chosen_error);

}  // namespace nnc::lowrank
