#pragma once
// fit's report files (`report_dir`): the per-tensor choice as CSV (kept, density, bits, levels,
// bytes), ADMM epoch by epoch as CSV and as an SVG plot (validation top-1 of the trained weights
// W and of their projection V into the size), and the step's summary as JSON.
#include <filesystem>

#include <nlohmann/json.hpp>

namespace nnc::fit {

// `step`: the fit step's report (FitStep::apply's JSON).
void write_fit_report(const std::filesystem::path& dir, const nlohmann::json& step);

}  // namespace nnc::fit
