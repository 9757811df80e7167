#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "nncompress/report/svg_plot.hpp"

using namespace nnc;

namespace {
int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
}  // namespace

TEST(SvgPlot, DrawsEverySeriesWithinTheAxesAndSkipsUnusablePoints) {
  report::Plot plot;
  plot.title = "A <title> & more";
  plot.x_label = "x";
  plot.y_label = "y";
  auto a = report::make_series("first", report::palette(0));
  a.points = {{0, 1}, {1, 2}, {2, NAN}, {3, 4}};
  auto b = report::make_series("", report::palette(1), false, 5, true);
  b.points = {{1.5, 3}};
  plot.series = {a, b};
  plot.reference_lines.push_back({2.5, "ref"});
  auto svg = report::render_svg(plot);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("A &lt;title&gt; &amp; more"), std::string::npos);
  // Three finite points of `a` as dots, one ring for `b`; the NaN breaks the line into two pieces.
  EXPECT_EQ(count(svg, "r='3' fill='#1f77b4'"), 3);
  EXPECT_EQ(count(svg, "fill='none' stroke='#ff7f0e' stroke-width='2'"), 1);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("<path d='([^']*)' fill='none' stroke='#1f77b4'")));
  EXPECT_EQ(count(m[1].str(), "M"), 2);
  // Only the labelled series is in the legend.
  EXPECT_NE(svg.find("first"), std::string::npos);
  EXPECT_EQ(count(svg, "&#9675;"), 0);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  // Every coordinate lies inside the canvas.
  std::regex coord("c[xy]='(-?[0-9.]+)'");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), coord); it != std::sregex_iterator(); ++it) {
    double v = std::stod((*it)[1].str());
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 720);
  }
}

TEST(SvgPlot, LogAxisDropsNonPositiveValues) {
  report::Plot plot;
  plot.log_y = true;
  auto a = report::make_series("d", report::palette(2));
  a.points = {{0, 0}, {0.5, 1e-3}, {1, 10}};
  plot.series = {a};
  auto svg = report::render_svg(plot);
  EXPECT_EQ(count(svg, "r='3' fill='#2ca02c'"), 2);  // the zero is not drawn
  EXPECT_NE(svg.find(">0.001<"), std::string::npos);
  EXPECT_NE(svg.find(">10<"), std::string::npos);
}
