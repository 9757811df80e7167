// The HTML report of `compress`: built from a summary as compose writes it, self-contained, every
// table and figure present, text escaped; log-scaled x axes of the SVG plots.
#include <gtest/gtest.h>

#include <regex>

#include "nncompress/report/compress_report.hpp"
#include "nncompress/report/svg_plot.hpp"

using nlohmann::json;

namespace {

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

json summary() {
  json rows = json::array();
  const char* steps[] = {"original", "prune", "share", "finetune"};
  const double top1[] = {0.914, 0.915, 0.911, 0.912}, bytes[] = {1724961, 84435, 18524, 18524};
  for (int i = 0; i < 4; ++i)
    rows.push_back({{"step", steps[i]}, {"holdout_top1", top1[i] + 0.006}, {"test_top1", top1[i]},
                    {"holdout_drop_pt", 100 * (top1[0] - top1[i])}, {"holdout_drop_se_pt", 0.2},
                    {"test_drop_pt", 100 * (top1[0] - top1[i])}, {"nnc_bytes", bytes[i]},
                    {"ratio", 1724320 / bytes[i]}, {"pruned", i ? 413128 : 0}, {"shared", i > 1 ? 430500 : 0},
                    {"seconds", 10 * i}});
  rows[1]["budget"] = {{"left_pt", 0.5}, {"share", 0.6}, {"given_pt", 0.3}};
  json climb = json::array();
  for (int t = 1; t <= 4; ++t)
    climb.push_back({{"step", t}, {"target_sparsity", 1 - std::pow(0.7, t)}, {"holdout_drop_pt", 0.1 * t - 0.2},
                     {"within", t < 4}});
  return {{"model", "models/<lenet5>.onnx"},
          {"recipe", {{"name", "default"}, {"source", "built-in"}, {"description", "d"}, {"steps", json::array()}}},
          {"max_drop", 0.5},
          {"reference", {{"holdout_top1", 0.92}, {"test_top1", 0.914}, {"test_images", 10000}, {"flattered", false}}},
          {"fp32_bytes", 1724320},
          {"steps", rows},
          {"reports", {{{"step", "prune"}, {"report", {{"climb", {{"held_step", 3}}}, {"steps", climb}}}},
                       {{"step", "share"}, {"report", json::object()}},
                       {{"step", "finetune"}, {"report", json::object()}}}},
          {"final", {{"after_step", 3}, {"ratio", 93.09}, {"nnc_bytes", 18524}, {"test_top1", 0.912},
                     {"holdout_top1", 0.918}, {"test_drop_pt", 0.2}, {"holdout_drop_pt", 0.2},
                     {"holdout_drop_se_pt", 0.25}, {"within", true}}},
          {"layers", {{{"layer", "fc1"}, {"op", "Gemm"}, {"params", 400000}, {"kept", 8000}, {"values", 60},
                       {"bits_per_value", 3.1}, {"bytes_estimate", 10000}}}},
          {"batch", 256}, {"batch_ms_before", 20.6}, {"batch_ms_after", 22.7}, {"cpu", "AMD EPYC, 2 threads"},
          {"seconds", 1079}, {"command", "nncompress compress models/lenet5.onnx --max-drop 0.5"},
          {"versions", {{"nncompress", "0.1.0"}}}};
}

}  // namespace

TEST(CompressReport, HoldsEveryTableAndFigureAndNeedsNothingElse) {
  const auto html = nnc::report::compress_report_html(summary(), "/nonexistent");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<script"), 0);
  EXPECT_FALSE(std::regex_search(html, std::regex("(src|href)=\"https?:")));
  // Accuracy and ratio after each step, and the budget search of the prune step.
  EXPECT_EQ(count(html, "<figure>"), 3);
  EXPECT_EQ(count(html, "<svg"), 3);
  EXPECT_NE(html.find("93.09x"), std::string::npos);
  EXPECT_NE(html.find("91.40% &rarr; 91.20%"), std::string::npos);
  EXPECT_NE(html.find("AMD EPYC, 2 threads"), std::string::npos);
  EXPECT_NE(html.find("nncompress compress models/lenet5.onnx --max-drop 0.5"), std::string::npos);
  EXPECT_EQ(count(html, "<tr><td>"), 4 + 1);  // four steps, one layer
  // Text from the summary is escaped.
  EXPECT_NE(html.find("models/&lt;lenet5&gt;.onnx"), std::string::npos);
  EXPECT_EQ(html.find("<lenet5>"), std::string::npos);
}

TEST(CompressReport, AFlatteredHoldOutSaysSoAndNamesItsControl) {
  auto j = summary();
  EXPECT_EQ(nnc::report::compress_report_html(j, "/nonexistent").find("trained on the hold-out images"), std::string::npos);
  j["reference"]["flattered"] = true;
  j["reference"]["holdout_control_top1"] = nullptr;
  auto html = nnc::report::compress_report_html(j, "/nonexistent");
  EXPECT_NE(html.find("trained on the hold-out images"), std::string::npos);
  EXPECT_EQ(html.find("control"), std::string::npos);
  j["reference"]["holdout_control_top1"] = 0.9778;
  html = nnc::report::compress_report_html(j, "/nonexistent");
  EXPECT_NE(html.find("measured against a control, the model fine-tuned alike without compression (now 97.78% on "
                      "the hold-out)"),
            std::string::npos);
}

// Routes: the rows name their route, the page says which was kept, and the plots branch each
// route from the last step before the routes instead of joining one route's end to the next.
TEST(CompressReport, RoutesAreNamedAndBranchFromTheStepBeforeThem) {
  auto j = summary();
  j["steps"][2]["route"] = "joint";
  j["steps"][2]["step"] = "fit";
  j["steps"][2]["label"] = "fit (joint)";  // as compose writes a routed row
  j["steps"][3]["route"] = "shared";
  j["steps"][3]["step"] = "share";
  j["steps"][3]["label"] = "share (shared)";
  j["size_cap"] = 20000;
  j["final"]["route"] = "joint";
  j["final"]["after_step"] = 2;
  j["final"]["routes"] = {{{"route", "joint"}, {"after_step", 2}, {"nnc_bytes", 18524}, {"holdout_top1", 0.917},
                           {"test_top1", 0.911}, {"chosen", true}},
                          {{"route", "shared"}, {"after_step", nullptr}, {"chosen", false}}};
  const auto html = nnc::report::compress_report_html(j, "/nonexistent");
  EXPECT_NE(html.find("<td>fit (joint)</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>share (shared)</td>"), std::string::npos);
  EXPECT_NE(html.find("the most accurate within the size cap"), std::string::npos);
  EXPECT_NE(html.find("<b>joint</b> (the result): 18524 bytes"), std::string::npos);
  EXPECT_NE(html.find("<b>shared</b>: nothing within the limits"), std::string::npos);
  EXPECT_NE(html.find("The routes branch from the last step before them."), std::string::npos);
  // Without routes one line per series; with them the unrouted line and one per route, each route
  // starting at row 1 (the prune): three lines instead of one in the ratio plot, and in the
  // accuracy plot three for each split.
  const auto plain = nnc::report::compress_report_html(summary(), "/nonexistent");
  EXPECT_EQ(count(html, "<path d=") - count(plain, "<path d="), 2 * 2 + 2);
}

TEST(SvgPlot, LogXAxisSpreadsSmallValues) {
  nnc::report::Plot p;
  p.log_x = true;
  auto s = nnc::report::make_series("s", "#000", true, 3);
  s.points = {{70, 0}, {10, 1}, {2, 2}, {0, 5}};  // 0 cannot be placed on a log axis: skipped
  p.series = {s};
  const auto svg = nnc::report::render_svg(p);
  // Ticks at 1, 2, 5 x 10^k across 1..100.
  for (const char* tick : {">1<", ">2<", ">5<", ">10<", ">20<", ">50<", ">100<"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(count(svg, "<circle"), 3);
}
