#include "nncompress/compress/prune/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/report/svg_plot.hpp"

namespace nnc::prune {
namespace {

std::string curves_csv(const RdCurves& curves) {
  std::string csv = "phi";
  for (const auto& l : curves.layers) csv += "," + l.weight;  // by weight, as info and allocation.json name them
  csv += "\n";
  for (std::size_t g = 0; g < curves.grid.size(); ++g) {
    csv += fmt::format("{:.4f}", curves.grid[g]);
    for (std::size_t l = 0; l < curves.layers.size(); ++l) {
      const double d = curves.distortion[l][g];
      csv += std::isnan(d) ? std::string(",") : fmt::format(",{:.6g}", d);  // empty: not evaluated
    }
    csv += "\n";
  }
  return csv;
}

// (x, y) on the polyline `points` (ascending x) at x, interpolated; the nearest end outside it.
std::pair<double, double> point_on(const std::vector<std::pair<double, double>>& points, double x) {
  if (x <= points.front().first) return points.front();
  for (std::size_t i = 1; i < points.size(); ++i)
    if (x <= points[i].first) {
      const auto& [x0, y0] = points[i - 1];
      const auto& [x1, y1] = points[i];
      return {x, y0 + (y1 - y0) * (x - x0) / (x1 - x0)};
    }
  return points.back();
}

std::string curves_svg(const RdCurves& curves, const std::vector<double>& chosen_phi) {
  report::Plot plot;
  plot.title = "Pruning: output distortion of pruning one layer (o = allocation)";
  plot.x_label = "fraction of the layer's weights pruned";
  plot.y_label = "logit distortion (MSE)";
  plot.log_y = true;
  plot.x_min = 0, plot.x_max = 1;
  plot.legend_right = false;
  plot.height = std::max(420.0, 90.0 + 16.0 * static_cast<double>(curves.layers.size()));
  for (std::size_t l = 0; l < curves.layers.size(); ++l) {
    auto line = report::make_series(curves.layers[l].weight, report::palette(l), true, 0, false, 1.5);
    auto pick = report::make_series("", report::palette(l), false, 5, true);
    for (std::size_t g = 0; g < curves.grid.size(); ++g) {
      const double d = curves.distortion[l][g];
      if (std::isnan(d)) continue;
      line.points.emplace_back(curves.grid[g], d);
    }
    // The allocation's point on the curve, between grid points when it falls between them (the
    // DP's leftover budget moves points off the grid).
    if (l < chosen_phi.size() && !line.points.empty()) pick.points.push_back(point_on(line.points, chosen_phi[l]));
    plot.series.push_back(std::move(line));
    plot.series.push_back(std::move(pick));
  }
  return report::render_svg(plot);
}

}  // namespace

void write_prune_report(const std::filesystem::path& dir, const RdCurves& curves, const std::vector<double>& chosen_phi,
                        const nlohmann::json& allocation) {
  write_file_atomic(dir / "curves.csv", curves_csv(curves));
  write_file_atomic(dir / "curves.svg", curves_svg(curves, chosen_phi));
  write_file_atomic(dir / "allocation.json", nnc::json_text(allocation, 2));
}

}  // namespace nnc::prune
