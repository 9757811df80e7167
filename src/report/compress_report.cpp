#include "nncompress/core/json_text.hpp"
#include "nncompress/report/compress_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <cmath>
#include <fstream>
#include <sstream>

#include "nncompress/core/files.hpp"
#include "nncompress/report/svg_plot.hpp"

namespace nnc::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

double num(const json& j, const char* key, double fallback = NAN) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

std::string bytes_text(double b) {
  if (!std::isfinite(b)) return "–";
  if (b >= 1024 * 1024) return fmt::format("{:.2f} MB", b / (1024 * 1024));
  if (b >= 10 * 1024) return fmt::format("{:.1f} KB", b / 1024);
  return fmt::format("{:.0f} B", b);
}

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", 100 * v) : "–"; }

// An SVG file a step wrote, without its XML declaration, to inline.
std::string inline_svg(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  auto start = s.find("<svg");
  return start == std::string::npos ? std::string() : s.substr(start);
}

std::string figure(const std::string& svg, const std::string& caption) {
  return fmt::format("<figure>{}<figcaption>{}</figcaption></figure>\n", svg, caption);
}

// The rows of the step table as lines to draw: the unrouted steps from the original, then each
// route from the last unrouted row (routes branch there, they do not follow each other).
std::vector<std::vector<int>> row_lines(const json& j) {
  std::vector<std::vector<int>> lines(1);
  std::map<std::string, std::size_t> route_line;
  int fork = 0, i = 0;
  for (const auto& r : j["steps"]) {
    if (!r.contains("route")) {
      lines[0].push_back(i);
      fork = i;
    } else {
      const auto name = r["route"].get<std::string>();
      auto it = route_line.find(name);
      if (it == route_line.end()) {
        it = route_line.emplace(name, lines.size()).first;
        lines.push_back({fork});
      }
      lines[it->second].push_back(i);
    }
    ++i;
  }
  return lines;
}

// Top-1 (test and hold-out) after each step, with the budget line.
std::string accuracy_plot(const json& j) {
  Plot p;
  p.title = "Top-1 after each step";
  p.x_label = "step (0 = the original)";
  p.y_label = "top-1 (%)";
  p.y_tick_scale = 100;
  double lo = 1, hi = 0;
  const int i = static_cast<int>(j["steps"].size());
  for (const auto& line : row_lines(j)) {
    const bool first = p.series.empty();
    auto test = make_series(first ? "test split" : "", palette(0), true, 4);
    auto holdout = make_series(first ? "hold-out (decides)" : "", palette(1), true, 4, true);
    for (int k : line) {
      const auto& r = j["steps"][static_cast<std::size_t>(k)];
      test.points.emplace_back(k, num(r, "test_top1"));
      holdout.points.emplace_back(k, num(r, "holdout_top1"));
      lo = std::min({lo, num(r, "test_top1"), num(r, "holdout_top1")});
      hi = std::max({hi, num(r, "test_top1"), num(r, "holdout_top1")});
    }
    if (line.size() < 2 && !first) continue;
    p.series.push_back(test);
    p.series.push_back(holdout);
  }
  if (!j["max_drop"].is_null()) {
    const double line = num(j["reference"], "holdout_top1") - j["max_drop"].get<double>() / 100;
    p.reference_lines.push_back({line, fmt::format("hold-out budget ({} pt)", j["max_drop"].get<double>())});
    lo = std::min(lo, line);
  }
  // The region that matters: a little around the measured values, not 0-100%.
  const double pad = std::max(0.002, 0.15 * (hi - lo));
  p.y_min = lo - pad;
  p.y_max = hi + 2.5 * pad;  // room for the legend above the data
  p.x_min = -0.25;
  p.x_max = std::max(1.0, i - 0.75);
  p.height = 340;
  return render_svg(p);
}

// Compression ratio after each step (log scale).
std::string ratio_plot(const json& j) {
  Plot p;
  p.title = "Compression ratio after each step";
  p.x_label = "step (0 = the original)";
  p.y_label = "ratio (fp32 bytes / .nnc bytes, log)";
  p.log_y = true;
  p.legend_right = false;
  const int i = static_cast<int>(j["steps"].size());
  for (const auto& line : row_lines(j)) {
    auto s = make_series("", palette(2), true, 4);
    for (int k : line) s.points.emplace_back(k, num(j["steps"][static_cast<std::size_t>(k)], "ratio"));
    p.series.push_back(std::move(s));
  }
  p.x_min = -0.25;
  p.x_max = std::max(1.0, i - 0.75);
  p.height = 300;
  return render_svg(p);
}

// The budget search probe by probe: a pruning climb (sparsity of each schedule step against its
// hold-out drop) or a one-shot bisection, with the step's budget.
std::string probes_plot(const json& step_report, const json& budget, const std::string& step) {
  Plot p;
  p.title = step + ": budget search, probe by probe";
  p.x_label = "weights kept (%, log scale: the high sparsities get the room)";
  p.log_x = true;
  p.y_label = "hold-out top-1 drop (pt)";
  auto held = make_series("held", palette(2), false, 5);
  auto broke = make_series("broke the budget", palette(3), false, 5, true);
  auto path = make_series("", "#999999", true, 0, false, 1);
  auto add = [&](double sparsity, double drop, bool within) {
    const double kept = 100 * (1 - sparsity);
    path.points.emplace_back(kept, drop);
    (within ? held : broke).points.emplace_back(kept, drop);
  };
  if (step_report.contains("climb"))
    for (const auto& r : step_report["steps"]) {
      if (!r.contains("holdout_drop_pt")) continue;
      add(num(r, "target_sparsity"), num(r, "holdout_drop_pt"), r.value("within", false));
    }
  else if (step_report.contains("sparsity_search"))
    for (const auto& r : step_report["sparsity_search"])
      add(num(r, "sparsity"), num(r, "holdout_drop_pt"), r.value("within", false));
  if (path.points.empty()) return {};
  if (step_report.contains("sparsity_search")) {
    path.line = false;  // bisection: the order is not a path
    std::sort(path.points.begin(), path.points.end());
  }
  if (budget.is_object()) p.reference_lines.push_back({num(budget, "given_pt"), "budget given to the step"});
  p.series = {path, held, broke};
  p.legend_right = true;  // kept weights fall to the left, where the last probes are
  p.height = 340;
  return render_svg(p);
}

const char* const kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.8em 1.1em;min-width:12em;background:#fafafa}
.card .v{font-size:1.5em;font-weight:600}.card .l{color:#555;font-size:.9em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border-bottom:1px solid #e4e4e4;padding:.3em .7em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
td.l{text-align:left}
.bad{color:#b00020}.good{color:#0a7d32}
figure{margin:1em 0;display:inline-block;vertical-align:top}figcaption{color:#555;font-size:.9em;max-width:720px}
pre{background:#f6f6f6;padding:.7em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
)";

}  // namespace

std::string compress_report_html(const json& j, const fs::path& dir) {
  std::string h;
  const auto& f = j["final"];
  const auto& ref = j["reference"];
  const std::string model = j.value("model", std::string("model"));
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nncompress report: " + xml_escape(model) +
       "</title><style>" + kStyle + "</style></head><body>\n";
  h += fmt::format("<h1>nncompress report: {}</h1>\n<p class=\"sub\">recipe <b>{}</b> ({}); {}</p>\n", xml_escape(model),
                   xml_escape(j["recipe"].value("name", std::string())), xml_escape(j["recipe"].value("source", std::string())),
                   xml_escape(j["recipe"].value("description", std::string())));

  // Summary.
  const double fp32 = num(j, "fp32_bytes"), nnc = num(f, "nnc_bytes");
  const double drop = num(f, "test_drop_pt");
  h += "<h2>Summary</h2>\n<div class=\"cards\">\n";
  auto card = [&](const std::string& value, const std::string& label) {
    h += fmt::format("<div class=\"card\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>\n", value, label);
  };
  card(fmt::format("{:.2f}x", num(f, "ratio")),
       fmt::format("compression ratio: {} fp32 bytes of the original / {} .nnc bytes", bytes_text(fp32), bytes_text(nnc)));
  card(fmt::format("{} &rarr; {}", pct(num(ref, "test_top1")), pct(num(f, "test_top1"))),
       fmt::format("test top-1 ({:+.2f} pt, {} images; measured, never searched on)", -drop,
                   ref.value("test_images", 0)));
  card(fmt::format("{} &rarr; {}", pct(num(ref, "holdout_top1")), pct(num(f, "holdout_top1"))),
       fmt::format("hold-out top-1 ({:+.2f} &plusmn; {:.2f} pt; budget {}{})", -num(f, "holdout_drop_pt"),
                   num(f, "holdout_drop_se_pt"),
                   j["max_drop"].is_null() ? std::string("none") : fmt::format("{} pt", j["max_drop"].get<double>()),
                   j.contains("size_cap") && j["size_cap"].is_number()
                       ? fmt::format("; size cap {} = {:.0f} bytes", bytes_text(num(j, "size_cap")), num(j, "size_cap"))
                       : std::string()));
  card(fmt::format("{:.1f} &rarr; {:.1f} ms", num(j, "batch_ms_before"), num(j, "batch_ms_after")),
       fmt::format("one batch of {} in the engine ({})", j.value("batch", 0), xml_escape(j.value("cpu", std::string("CPU")))));
  if (j.contains("onnx_bytes"))
    card(bytes_text(num(j, "onnx_bytes")),
         fmt::format("compressed ONNX file ({:.2f}x), runs in any ONNX runtime", num(j, "onnx_ratio")));
  card(fmt::format("{:.0f} s", num(j, "seconds")), "time for all steps");
  h += "</div>\n";
  if (f.value("rolled_back", false))
    h += fmt::format("<p class=\"bad\">A later step broke a limit (the budget on the hold-out, or the size cap): the "
                     "result is the model after step {}.</p>\n",
                     f.value("after_step", 0));
  if (ref.value("flattered", false)) {
    h += "<p class=\"bad\">The original is clearly better on the hold-out than on the test split: it has probably been "
         "trained on the hold-out images, so hold-out figures flatter it; the test column is the honest one.";
    if (ref.contains("holdout_control_top1") && ref["holdout_control_top1"].is_number())
      h += fmt::format(" Fine-tuning without those images makes it forget them, compressed or not, so hold-out changes "
                       "are measured against a control, the model fine-tuned alike without compression (now {:.2f}% on "
                       "the hold-out).",
                       100 * ref["holdout_control_top1"].get<double>());
    h += "</p>\n";
  }

  // Per-step table.
  h += "<h2>Step by step</h2>\n<table><tr><th>step</th><th>budget given (pt)</th><th>hold-out top-1</th><th>hold-out "
       "change (pt)</th><th>test top-1</th><th>test change (pt)</th><th>.nnc bytes</th><th>ratio</th><th>pruned</th>"
       "<th>shared</th><th>time (s)</th></tr>\n";
  for (const auto& r : j["steps"]) {
    const auto& b = r.contains("budget") ? r["budget"] : json();
    h += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:+.2f} &plusmn; {:.2f}</td><td>{}</td><td>{:+.2f}</td><td>{}</td>"
        "<td>{:.2f}x</td><td>{}</td><td>{}</td><td>{:.0f}</td></tr>\n",
        xml_escape(r.value("label", r.value("step", std::string()))),
        b.is_object() ? fmt::format("{:.3f}", num(b, "given_pt")) : "–",
        pct(num(r, "holdout_top1")), -num(r, "holdout_drop_pt", 0), num(r, "holdout_drop_se_pt", 0),
        pct(num(r, "test_top1")), -num(r, "test_drop_pt", 0), static_cast<long long>(num(r, "nnc_bytes", 0)),
        num(r, "ratio"), static_cast<long long>(num(r, "pruned", 0)), static_cast<long long>(num(r, "shared", 0)),
        num(r, "seconds", 0));
  }
  h += "</table>\n";
  if (f.contains("routes")) {
    h += "<p>The recipe's routes are alternatives, each run from the model the steps before them left; the result "
         "is the " + std::string(j["size_cap"].is_number() ? "most accurate within the size cap" : "smallest within the budget") +
         " (decided on the hold-out): ";
    bool first = true;
    for (const auto& r : f["routes"]) {
      h += fmt::format("{}<b>{}</b>{}: {}", first ? "" : "; ", xml_escape(r.value("route", std::string())),
                       r.value("chosen", false) ? " (the result)" : "",
                       r["after_step"].is_null()
                           ? std::string("nothing within the limits")
                           : fmt::format("{} bytes, hold-out top-1 {}, test top-1 {}",
                                         static_cast<long long>(num(r, "nnc_bytes")), pct(num(r, "holdout_top1")),
                                         pct(num(r, "test_top1"))));
      first = false;
    }
    h += ".</p>\n";
  }
  if (j.contains("nnc_parts")) {
    h += "<p>What the .nnc bytes hold: ";
    bool first = true;
    for (const auto& [k, v] : j["nnc_parts"].items()) {
      h += fmt::format("{}{} {}", first ? "" : ", ", xml_escape(k), bytes_text(v.get<double>()));
      first = false;
    }
    h += ".</p>\n";
  }

  // Plots.
  h += "<h2>Plots</h2>\n";
  const std::string branches = f.contains("routes") ? " The routes branch from the last step before them." : "";
  h += figure(accuracy_plot(j), "Top-1 after each step on the test split and on the hold-out, which every decision "
                                "is made on; the dashed line is the original's hold-out top-1 less the budget." +
                                    branches);
  h += figure(ratio_plot(j), "Honest compression ratio after each step (original fp32 bytes / .nnc bytes)." + branches);
  std::size_t i = 0;
  for (const auto& r : j["reports"]) {
    ++i;
    const std::string step = r.value("step", std::string());
    const auto& budget = i < j["steps"].size() && j["steps"][i].contains("budget") ? j["steps"][i]["budget"] : json();
    if (step == "prune") {
      auto svg = probes_plot(r["report"], budget, fmt::format("step {} (prune)", i));
      if (!svg.empty())
        h += figure(svg, "Each probe of the budget search: a schedule step (pruned further, then fine-tuned) held "
                         "within the step's budget or broke it; the model rolls back to the last that held.");
    }
    const fs::path steps = dir / "steps" / fmt::format("{:02d}-{}", i, step);
    for (const auto& [file, caption] :
         std::vector<std::pair<std::string, std::string>>{
             {"curves.svg", "Rate-distortion curves of the pruning step: output distortion against the fraction of "
                            "each layer's weights removed."},
             {"front.svg", "Weight sharing: the Pareto front of the NSGA-II search (accuracy against encoded bits)."},
             {"error_vs_budget.svg", "Low-rank decomposition: approximation error against the budget."},
             {"admm.svg", "fit: validation top-1 of the weights ADMM trains (W) and of their projection into the "
                          "size (V) after each epoch; the budget shrinks to the cap over the first joint epochs, then "
                          "the sparsity is held while the weights settle onto their levels."}}) {
      const auto svg = inline_svg(steps / file);
      if (!svg.empty()) h += figure(svg, fmt::format("Step {} ({}): {}", i, xml_escape(step), caption));
    }
  }

  // Per-layer table.
  h += "<h2>Layer by layer</h2>\n<table><tr><th>layer</th><th>op</th><th>params</th><th>kept</th><th>kept %</th>"
       "<th>shared values</th><th>bits/value</th><th>rank</th><th>bytes (estimate)</th></tr>\n";
  for (const auto& l : j["layers"]) {
    const double params = num(l, "params", 0), kept = num(l, "kept", 0);
    h += fmt::format("<tr><td>{}</td><td class=\"l\">{}</td><td>{:.0f}</td><td>{:.0f}</td><td>{:.1f}</td><td>{}</td>"
                     "<td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     xml_escape(l.value("layer", std::string())), xml_escape(l.value("op", std::string())), params, kept,
                     params > 0 ? 100 * kept / params : 0.0,
                     l.contains("values") ? std::to_string(l["values"].get<long long>()) : "–",
                     l.contains("bits_per_value") ? fmt::format("{:.2f}", l["bits_per_value"].get<double>()) : "fp32",
                     l.contains("rank") ? std::to_string(l["rank"].get<long long>()) : "–",
                     bytes_text(num(l, "bytes_estimate", 0)));
  }
  h += "</table>\n<p class=\"sub\">Bytes per layer are estimates (the entropy of the positions and indices); the "
       "summary's sizes are read from the written file.</p>\n";

  // Command and versions.
  h += "<h2>How this was made</h2>\n<pre>" + xml_escape(j.value("command", std::string())) + "</pre>\n";
  if (j.contains("versions")) {
    h += "<p>";
    for (const auto& [k, v] : j["versions"].items()) h += xml_escape(k) + " " + xml_escape(v.get<std::string>()) + "; ";
    h += "</p>\n";
  }
  h += "<h3>Recipe</h3>\n<pre>" + xml_escape(nnc::json_text(j["recipe"]["steps"], 2)) + "</pre>\n";
  h += "</body></html>\n";
  return h;
}

void write_compress_report(const fs::path& dir, const json& summary) {
  fs::create_directories(dir);
  write_file_atomic(dir / "summary.json", nnc::json_text(summary, 2));
  write_file_atomic(dir / "report.html", compress_report_html(summary, dir));
}

}  // namespace nnc::report
