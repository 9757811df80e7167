#pragma once
// The report of `nncompress compress` that people read: DIR/report.html, self-contained (inline
// CSS and SVG; no script, no network) with the summary (size, honest ratio, top-1 before/after,
// batch latency before/after), the per-step table, the per-layer table, the plots (accuracy and
// size step by step, the budget search probe by probe, and each step's own figures from its
// report folder under DIR/steps/), the exact command and the versions; DIR/summary.json beside it.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace nnc::report {

// The page for compress's summary JSON; figures that steps wrote under `dir`/steps/ are inlined.
std::string compress_report_html(const nlohmann::json& summary, const std::filesystem::path& dir);
// Writes report.html and summary.json into `dir` (atomically).
void write_compress_report(const std::filesystem::path& dir, const nlohmann::json& summary);

}  // namespace nnc::report
