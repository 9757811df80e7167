#include "nncompress/compress/fit/sweep.hpp"

#include <fmt/format.h>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/report/svg_plot.hpp"

namespace nnc::fit {

std::pair<std::filesystem::path, std::filesystem::path> write_sweep(const std::filesystem::path& stem,
                                                                    const std::vector<SweepPoint>& points,
                                                                    const std::filesystem::path& protect) {
  NNC_CHECK(!points.empty(), "a sweep without points");
  std::string csv = "size_cap,nnc_bytes,ratio,top1_before,top1_after,seconds\n";
  for (const auto& p : points)
    csv += fmt::format("{},{},{:.4f},{:.4f},{:.4f},{:.1f}\n", p.cap, p.nnc_bytes, p.ratio, p.top1_before, p.top1_after,
                       p.seconds);
  report::Plot plot;
  plot.title = "fit: test top-1 against the .nnc file's size";
  plot.x_label = ".nnc bytes";
  plot.y_label = "test top-1 (%)";
  plot.y_tick_scale = 100;
  plot.log_x = true;
  plot.legend_right = false;
  auto curve = report::make_series("fit", report::palette(0));
  for (const auto& p : points) curve.points.emplace_back(static_cast<double>(p.nnc_bytes), p.top1_after);
  plot.series.push_back(curve);
  plot.reference_lines.push_back({points.front().top1_before, "uncompressed"});
  const auto csv_path = std::filesystem::path(stem.string() + "-sweep.csv");
  const auto svg_path = std::filesystem::path(stem.string() + "-sweep.svg");
  write_file_atomic(csv_path, csv, protect);
  write_file_atomic(svg_path, report::render_svg(plot), protect);
  return {csv_path, svg_path};
}

}  // namespace nnc::fit
