#include "nncompress/compress/lowrank/report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "nncompress/core/files.hpp"

namespace nnc::lowrank {
namespace {

std::string svg_plot(const std::vector<BudgetPoint>& sweep, double chosen_keep, double chosen_error,
                     const std::string& unit) {
  const double W = 720, H = 420, L = 70, R = 20, T = 40, B = 60;
  double ymax = std::max(0.05, chosen_error);
  for (const auto& p : sweep) ymax = std::max({ymax, p.alds_error, p.svd_error});
  ymax = std::min(1.05, ymax * 1.05);
  auto X = [&](double keep) { return L + (W - L - R) * keep; };
  auto Y = [&](double e) { return T + (H - T - B) * (1 - e / ymax); };
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-family='sans-serif' font-size='12'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='{}' y='22' font-size='15'>Low-rank: maximum relative layer error vs budget</text>\n"
      "<line x1='{}' y1='{}' x2='{}' y2='{}' stroke='black'/><line x1='{}' y1='{}' x2='{}' y2='{}' stroke='black'/>\n"
      "<text x='{}' y='{}' text-anchor='middle'>fraction of the model's {} kept</text>\n"
      "<text x='16' y='{}' transform='rotate(-90 16 {})' text-anchor='middle'>max relative error</text>\n",
      W, H, L, L, H - B, W - R, H - B, L, T, L, H - B, (L + W - R) / 2, H - 18, unit, (T + H - B) / 2,
      (T + H - B) / 2);
  for (int i = 0; i <= 10; i += 2)
    s += fmt::format("<text x='{:.1f}' y='{}' text-anchor='middle'>{:.1f}</text>\n", X(i / 10.0), H - B + 16, i / 10.0);
  for (int i = 0; i <= 4; ++i)
    s += fmt::format("<text x='{}' y='{:.1f}' text-anchor='end'>{:.2f}</text>\n", L - 6, Y(ymax * i / 4) + 4,
                     ymax * i / 4);
  auto line = [&](auto value, const char* color, const char* label, int row) {
    std::string path;
    for (const auto& p : sweep) path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", X(p.keep), Y(value(p)));
    s += fmt::format("<path d='{}' fill='none' stroke='{}' stroke-width='2'/>\n", path, color);
    for (const auto& p : sweep)
      s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='{}'/>\n", X(p.keep), Y(value(p)), color);
    s += fmt::format("<text x='{}' y='{}' fill='{}'>&#9679; {}</text>\n", W - R - 170, T + 14 + 16 * row, color, label);
  };
  line([](const BudgetPoint& p) { return p.alds_error; }, "#1f77b4", "ALDS", 0);
  line([](const BudgetPoint& p) { return p.svd_error; }, "#ff7f0e", "plain SVD (k = 1)", 1);
  s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='6' fill='none' stroke='#d62728' stroke-width='2'/>"
                   "<text x='{}' y='{}' fill='#d62728'>&#9675; chosen</text>\n",
                   X(chosen_keep), Y(chosen_error), W - R - 170, T + 46);
  s += "</svg>\n";
  return s;
}

}  // namespace

void write_lowrank_report(const std::filesystem::path& dir, const nlohmann::json& summary,
                          const std::vector<BudgetPoint>& sweep, double chosen_keep, double chosen_error) {
  std::string csv = "layer,k,j,error,params_before,params_after,flops_before,flops_after,note\n";
  for (const auto& l : summary.at("layers"))
    csv += fmt::format("{},{},{},{:.6f},{},{},{},{},{}\n", l.at("layer").get<std::string>(), l.at("k").get<int>(),
                       l.at("j").get<int>(), l.at("error").get<double>(), l.at("params_before").get<int64_t>(),
                       l.at("params_after").get<int64_t>(), l.at("flops_before").get<int64_t>(),
                       l.at("flops_after").get<int64_t>(), l.at("note").get<std::string>());
  nlohmann::json sw = nlohmann::json::array();
  for (const auto& p : sweep) sw.push_back({{"keep", p.keep}, {"alds_max_error", p.alds_error}, {"svd_max_error", p.svd_error}});
  auto all = summary;
  all["error_vs_budget"] = sw;
  write_file_atomic(dir / "layers.csv", csv);
  write_file_atomic(dir / "lowrank.json", all.dump(2));
  write_file_atomic(dir / "error_vs_budget.svg",
                    svg_plot(sweep, chosen_keep, chosen_error, summary.value("budget", std::string("params"))));
}

}  // namespace nnc::lowrank
