#pragma once
// A small dependency-free SVG chart (lines and markers on linear or logarithmic axes) for the
// reports every method writes: Pareto fronts, error-vs-budget sweeps, distortion curves.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nnc::report {

struct Series {
  std::string label;  // legend text; empty: not in the legend
  std::string color = "#1f77b4";
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite points are skipped
  bool line = true;       // connect consecutive points
  double marker = 3;      // circle radius; 0 draws none
  bool hollow = false;    // ring instead of a dot
  double line_width = 2;
};

// A series with no points yet: a line (with markers of radius `marker`, 0 for none), or only
// markers when `line` is false.
Series make_series(std::string label, std::string color, bool line = true, double marker = 3, bool hollow = false,
                   double line_width = 2);

struct ReferenceLine {
  double y = 0;
  std::string label;
};

struct Plot {
  std::string title, x_label, y_label;
  std::vector<Series> series;                 // drawn in order (later on top)
  std::vector<ReferenceLine> reference_lines;  // dashed horizontal lines
  std::optional<double> x_min, x_max, y_min, y_max;  // default: the data's range
  bool log_y = false;       // logarithmic y axis (non-positive values are skipped)
  bool log_x = false;       // logarithmic x axis (ticks at 1, 2, 5 x 10^k; non-positive values skipped)
  double y_tick_scale = 1;  // tick labels show y * scale (e.g. 100 for percent)
  bool legend_right = true;  // legend in the top-right corner (else top-left)
  double width = 720, height = 420;
};

std::string render_svg(const Plot& plot);

// Text for XML and HTML (element content and quoted attributes): < > & ' " escaped.
std::string xml_escape(const std::string& s);

// A qualitative colour for series i (cycles through ten).
std::string palette(std::size_t i);

}  // namespace nnc::report
