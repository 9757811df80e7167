#include "nncompress/compress/fit/report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/report/svg_plot.hpp"

namespace nnc::fit {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string layers_csv(const nlohmann::json& step) {
  std::string s = "tensor,weight,params,kept,density,bits,levels,bytes\n";
  for (const auto& l : step.at("layers"))
    s += fmt::format("{},{},{},{},{:.6f},{},{},{}\n", csv_field(l.at("layer").get<std::string>()),
                     csv_field(l.at("weight").get<std::string>()), l.at("params").get<int64_t>(),
                     l.at("kept").get<int64_t>(), l.at("density").get<double>(), l.at("bits").get<int>(),
                     l.at("levels").get<int64_t>(), l.at("bytes").get<int64_t>());
  return s;
}

std::string admm_csv(const nlohmann::json& step) {
  std::string s = "phase,epoch,val_top1,val_top1_projected,rho,gap,predicted_bytes,seconds\n";
  for (const auto& r : step.at("admm"))
    s += fmt::format("{},{},{:.6f},{:.6f},{:.6g},{:.6g},{},{:.3f}\n", r.at("phase").get<std::string>(),
                     r.at("epoch").get<int>(), r.at("val_top1").get<double>(), r.at("val_top1_projected").get<double>(),
                     r.at("rho").get<double>(), r.at("gap").get<double>(), r.at("predicted_bytes").get<int64_t>(),
                     r.at("seconds").get<double>());
  return s;
}

// ADMM epoch by epoch as an SVG plot ("" when the report has no ADMM epochs).
std::string admm_svg(const nlohmann::json& step, const std::string& title) {
  if (!step.contains("admm") || !step["admm"].is_array() || step["admm"].empty()) return {};
  report::Plot p;
  p.title = title;
  p.x_label = "ADMM epoch (joint, then quantisation with the sparsity held)";
  p.y_label = "validation top-1 (%)";
  p.y_tick_scale = 100;
  auto w = report::make_series("W (trained)", report::palette(0), true, 4);
  auto v = report::make_series("V (projected into the size)", report::palette(1), true, 4, true);
  double lo = 1, hi = 0;
  int i = 0;
  for (const auto& r : step["admm"]) {
    ++i;
    const double a = r.at("val_top1").get<double>(), b = r.at("val_top1_projected").get<double>();
    w.points.emplace_back(i, a);
    v.points.emplace_back(i, b);
    lo = std::min({lo, a, b});
    hi = std::max({hi, a, b});
  }
  const double pad = std::max(0.002, 0.15 * (hi - lo));
  p.y_min = lo - pad;
  p.y_max = hi + 2.5 * pad;  // room for the legend above the data
  p.x_min = 0.5;
  p.x_max = i + 0.5;
  p.series = {w, v};
  p.height = 340;
  return report::render_svg(p);
}

}  // namespace

void write_fit_report(const std::filesystem::path& dir, const nlohmann::json& step) {
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "layers.csv", layers_csv(step));
  write_file_atomic(dir / "admm.csv", admm_csv(step));
  const auto svg = admm_svg(step, fmt::format("fit into {} bytes: ADMM epoch by epoch", step.value("size_cap", int64_t{0})));
  if (!svg.empty()) write_file_atomic(dir / "admm.svg", svg);
  write_file_atomic(dir / "fit.json", nnc::json_text(step, 2));
}

}  // namespace nnc::fit
