#include "nncompress/compress/lowrank/report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/report/svg_plot.hpp"

namespace nnc::lowrank {
namespace {

std::string svg_plot(const std::vector<BudgetPoint>& sweep, double chosen_keep, double chosen_error,
                     const std::string& unit) {
  report::Plot plot;
  plot.title = "Low-rank: maximum relative layer error vs budget";
  plot.x_label = fmt::format("fraction of the model's {} kept", unit);
  plot.y_label = "max relative error";
  plot.x_min = 0, plot.x_max = 1, plot.y_min = 0;
  auto alds = report::make_series("ALDS", report::palette(0));
  auto svd = report::make_series("plain SVD (k = 1)", report::palette(1));
  for (const auto& p : sweep) {
    alds.points.emplace_back(p.keep, p.alds_error);
    svd.points.emplace_back(p.keep, p.svd_error);
  }
  auto chosen = report::make_series("chosen", "#d62728", false, 6, true);
  chosen.points = {{chosen_keep, chosen_error}};
  plot.series = {alds, svd, chosen};
  return report::render_svg(plot);
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
  write_file_atomic(dir / "lowrank.json", nnc::json_text(all, 2));
  write_file_atomic(dir / "error_vs_budget.svg",
                    svg_plot(sweep, chosen_keep, chosen_error, summary.value("budget", std::string("params"))));
}

}  // namespace nnc::lowrank
