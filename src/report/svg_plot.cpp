#include "nncompress/report/svg_plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nnc::report {
namespace {

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` intervals.
double nice_step(double range, int count) {
  if (!(range > 0)) return 1;
  const double raw = range / count, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

std::string tick_label(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e4 || a < 1e-3) return fmt::format("{:.0e}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

}  // namespace

Series make_series(std::string label, std::string color, bool line, double marker, bool hollow, double line_width) {
  Series s;
  s.label = std::move(label);
  s.color = std::move(color);
  s.line = line;
  s.marker = marker;
  s.hollow = hollow;
  s.line_width = line_width;
  return s;
}

std::string palette(std::size_t i) {
  static const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colors[i % 10];
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '\'') out += "&#39;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string render_svg(const Plot& p) {
  const double W = p.width, H = p.height, L = 78, R = 20, T = 40, B = 60;
  auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!p.log_y || y > 0) && (!p.log_x || x > 0);
  };
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : p.series)
    for (auto [x, y] : s.points)
      if (usable(x, y)) {
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  for (const auto& r : p.reference_lines)
    if (usable(x0 == x0 ? x0 : 0, r.y)) y0 = std::min(y0, r.y), y1 = std::max(y1, r.y);
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = p.log_y ? 1 : 0, y1 = p.log_y ? 10 : 1;
  x0 = p.x_min.value_or(x0), x1 = p.x_max.value_or(x1), y0 = p.y_min.value_or(y0), y1 = p.y_max.value_or(y1);
  if (p.log_x) {
    if (!(x0 > 0)) x0 = 1;
    x0 = std::pow(10.0, std::floor(std::log10(x0) * 2) / 2), x1 = std::pow(10.0, std::ceil(std::log10(x1) * 2) / 2);
    if (x1 <= x0) x1 = x0 * 10;
  }
  if (x1 <= x0) x1 = x0 + 1;
  if (p.log_y) {
    y0 = std::pow(10.0, std::floor(std::log10(y0))), y1 = std::pow(10.0, std::ceil(std::log10(y1)));
    if (y1 <= y0) y1 = y0 * 10;
  } else if (y1 <= y0) {
    y1 = y0 + (y0 == 0 ? 1 : std::abs(y0) * 0.1);
  }
  auto X = [&](double x) {
    const double f = p.log_x ? (std::log10(x) - std::log10(x0)) / (std::log10(x1) - std::log10(x0)) : (x - x0) / (x1 - x0);
    return L + (W - L - R) * f;
  };
  auto Y = [&](double y) {
    const double f = p.log_y ? (std::log10(y) - std::log10(y0)) / (std::log10(y1) - std::log10(y0)) : (y - y0) / (y1 - y0);
    return T + (H - T - B) * (1 - f);
  };
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-family='sans-serif' font-size='12'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='{}' y='22' font-size='15'>{}</text>\n"
      "<line x1='{}' y1='{}' x2='{}' y2='{}' stroke='black'/><line x1='{}' y1='{}' x2='{}' y2='{}' stroke='black'/>\n"
      "<text x='{}' y='{}' text-anchor='middle'>{}</text>\n"
      "<text x='16' y='{}' transform='rotate(-90 16 {})' text-anchor='middle'>{}</text>\n",
      W, H, L, xml_escape(p.title), L, H - B, W - R, H - B, L, T, L, H - B, (L + W - R) / 2, H - 18, xml_escape(p.x_label),
      (T + H - B) / 2, (T + H - B) / 2, xml_escape(p.y_label));
  if (p.log_x) {
    for (double decade = std::pow(10.0, std::floor(std::log10(x0))); decade <= x1; decade *= 10)
      for (double m : {1.0, 2.0, 5.0})
        if (m * decade >= x0 * (1 - 1e-9) && m * decade <= x1 * (1 + 1e-9))
          s += fmt::format("<text x='{:.1f}' y='{}' text-anchor='middle'>{}</text>"
                           "<line x1='{:.1f}' y1='{}' x2='{:.1f}' y2='{}' stroke='#eee'/>\n",
                           X(m * decade), H - B + 16, tick_label(m * decade), X(m * decade), T, X(m * decade), H - B - 1);
  } else {
    const double xs = nice_step(x1 - x0, 6);
    for (double v = std::ceil(x0 / xs - 1e-9) * xs; v <= x1 + 1e-9 * xs; v += xs)
      s += fmt::format("<text x='{:.1f}' y='{}' text-anchor='middle'>{}</text>\n", X(v), H - B + 16, tick_label(v));
  }
  if (p.log_y) {
    for (double v = y0; v <= y1 * 1.0001; v *= 10)
      s += fmt::format("<text x='{}' y='{:.1f}' text-anchor='end'>{}</text>"
                       "<line x1='{}' y1='{:.1f}' x2='{}' y2='{:.1f}' stroke='#eee'/>\n",
                       L - 6, Y(v) + 4, tick_label(v * p.y_tick_scale), L + 1, Y(v), W - R, Y(v));
  } else {
    const double ys = nice_step(y1 - y0, 5);
    for (double v = std::ceil(y0 / ys - 1e-9) * ys; v <= y1 + 1e-9 * ys; v += ys)
      s += fmt::format("<text x='{}' y='{:.1f}' text-anchor='end'>{}</text>"
                       "<line x1='{}' y1='{:.1f}' x2='{}' y2='{:.1f}' stroke='#eee'/>\n",
                       L - 6, Y(v) + 4, tick_label(v * p.y_tick_scale), L + 1, Y(v), W - R, Y(v));
  }
  for (const auto& r : p.reference_lines) {
    if (!usable(x0, r.y) || r.y < y0 || r.y > y1) continue;
    s += fmt::format("<line x1='{}' y1='{:.1f}' x2='{}' y2='{:.1f}' stroke='#888' stroke-dasharray='4 3'/>"
                     "<text x='{}' y='{:.1f}' fill='#555' text-anchor='end'>{}</text>\n",
                     L, Y(r.y), W - R, Y(r.y), W - R - 4, Y(r.y) - 4, xml_escape(r.label));
  }
  auto inside = [&](double x, double y) { return usable(x, y) && x >= x0 && x <= x1 && y >= y0 && y <= y1; };
  for (const auto& series : p.series) {
    if (series.line) {
      std::string path;
      bool pen_down = false;
      for (auto [x, y] : series.points) {
        if (!inside(x, y)) {
          pen_down = false;
          continue;
        }
        path += fmt::format("{}{:.1f},{:.1f} ", pen_down ? "L" : "M", X(x), Y(y));
        pen_down = true;
      }
      if (!path.empty())
        s += fmt::format("<path d='{}' fill='none' stroke='{}' stroke-width='{}'/>\n", path, series.color,
                         series.line_width);
    }
    if (series.marker > 0)
      for (auto [x, y] : series.points)
        if (inside(x, y))
          s += series.hollow ? fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='{}' fill='none' stroke='{}' "
                                           "stroke-width='2'/>\n",
                                           X(x), Y(y), series.marker, series.color)
                             : fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='{}' fill='{}'/>\n", X(x), Y(y),
                                           series.marker, series.color);
  }
  int row = 0;
  const double lx = p.legend_right ? W - R - 190 : L + 10;
  for (const auto& series : p.series) {
    if (series.label.empty()) continue;
    s += fmt::format("<text x='{}' y='{}' fill='{}'>{} {}</text>\n", lx, T + 14 + 16 * row++, series.color,
                     series.hollow ? "&#9675;" : "&#9679;", xml_escape(series.label));
  }
  s += "</svg>\n";
  return s;
}

}  // namespace nnc::report
