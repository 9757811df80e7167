#include "nncompress/compress/share/report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/report/svg_plot.hpp"

namespace nnc::share {

nlohmann::json candidate_json(const Candidate& c) {
  // The search minimises f1 = 1 - macro-F1; reports give the macro-F1 itself.
  nlohmann::json j{{"k", c.k}, {"bins", c.entries}, {"val_macro_f1", 1.0 - c.f1}, {"val_top1", c.val_top1},
                   {"index_bits", c.index_bits}};
  if (c.test_top1 >= 0) j["test_top1"] = c.test_top1;
  if (!c.strides.empty()) j["strides"] = c.strides;
  if (c.partial) j["partial"] = true;
  return j;
}

namespace {

std::string svg_plot(const std::vector<Candidate>& front, const std::vector<Candidate>& evaluated,
                     const Candidate& chosen, const Candidate& merged, double original) {
  report::Plot plot;
  plot.title = "Weight sharing: validation top-1 vs encoded index bits per weight";
  plot.x_label = "encoded index bits per shared weight";
  plot.y_label = "validation top-1 (%)";
  plot.y_tick_scale = 100;
  plot.legend_right = false;
  plot.x_min = 0;
  double ymin = std::min(original, merged.val_top1);
  for (const auto& c : evaluated) ymin = std::min(ymin, c.val_top1);
  plot.y_min = std::max(0.0, ymin - 0.01);
  plot.y_max = std::min(1.0, original + 0.01);
  plot.reference_lines.push_back({original, "original"});
  auto all = report::make_series("all evaluated", "#bbb", false, 2);
  for (const auto& c : evaluated) all.points.emplace_back(c.index_bits, c.val_top1);
  auto front_line = report::make_series("front before merge", report::palette(0), true, 3.5);
  for (const auto& c : front) front_line.points.emplace_back(c.index_bits, c.val_top1);
  auto chosen_pt = report::make_series(fmt::format("chosen ({} bins)", chosen.entries), report::palette(1), false, 6, true);
  chosen_pt.points = {{chosen.index_bits, chosen.val_top1}};
  auto merged_pt = report::make_series(fmt::format("after merge ({} values)", merged.entries), "#d62728", false, 6);
  merged_pt.points = {{merged.index_bits, merged.val_top1}};
  plot.series = {all, front_line, chosen_pt, merged_pt};
  return report::render_svg(plot);
}

}  // namespace

void write_front_files(const std::filesystem::path& dir, const std::vector<Candidate>& front,
                       const std::vector<Candidate>& evaluated, const Candidate& chosen, const Candidate& merged,
                       double original_val_top1) {
  nlohmann::json j = nlohmann::json::array();
  std::string csv = "k,bins,index_bits,val_macro_f1,val_top1,test_top1,strides\n";
  for (const auto& c : front) {
    j.push_back(candidate_json(c));
    csv += fmt::format("{},{},{:.4f},{:.6f},{:.6f},{},{}\n", c.k, c.entries, c.index_bits, 1.0 - c.f1, c.val_top1,
                       c.test_top1 >= 0 ? fmt::format("{:.6f}", c.test_top1) : "", fmt::join(c.strides, " "));
  }
  nlohmann::json all{{"front", j}, {"chosen", candidate_json(chosen)}, {"merged", candidate_json(merged)},
                     {"original_val_top1", original_val_top1}};
  write_file_atomic(dir / "pareto.json", nnc::json_text(all, 2));
  write_file_atomic(dir / "pareto.csv", csv);
  write_file_atomic(dir / "front.svg", svg_plot(front, evaluated, chosen, merged, original_val_top1));
}

}  // namespace nnc::share
