#include "nncompress/compress/share/report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "nncompress/core/files.hpp"

namespace nnc::share {

nlohmann::json candidate_json(const Candidate& c) {
  nlohmann::json j{{"k", c.k}, {"bins", c.entries}, {"f1", c.f1}, {"val_top1", c.val_top1}, {"index_bits", c.index_bits}};
  if (c.test_top1 >= 0) j["test_top1"] = c.test_top1;
  if (!c.strides.empty()) j["strides"] = c.strides;
  if (c.partial) j["partial"] = true;
  return j;
}

namespace {

std::string svg_plot(const std::vector<Candidate>& front, const std::vector<Candidate>& evaluated,
                     const Candidate& chosen, const Candidate& merged, double original) {
  const double W = 720, H = 420, L = 70, R = 20, T = 40, B = 60;
  double xmax = 1;
  double ymin = original, ymax = original;
  for (const auto& c : evaluated) {
    xmax = std::max<double>(xmax, c.index_bits);
    ymin = std::min(ymin, c.val_top1);
  }
  ymin = std::max(0.0, std::min(ymin, merged.val_top1) - 0.01);
  ymax = std::min(1.0, ymax + 0.01);
  xmax = std::ceil(xmax);
  auto X = [&](double bits) { return L + (W - L - R) * bits / xmax; };
  auto Y = [&](double top1) { return T + (H - T - B) * (1 - (top1 - ymin) / std::max(1e-9, ymax - ymin)); };
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-family='sans-serif' font-size='12'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='{}' y='22' font-size='15'>Weight sharing: validation top-1 vs encoded index bits per weight</text>\n"
      "<line x1='{}' y1='{}' x2='{}' y2='{}' stroke='black'/><line x1='{}' y1='{}' x2='{}' y2='{}' stroke='black'/>\n"
      "<text x='{}' y='{}' text-anchor='middle'>encoded index bits per shared weight</text>\n"
      "<text x='16' y='{}' transform='rotate(-90 16 {})' text-anchor='middle'>validation top-1 (%)</text>\n",
      W, H, L, L, H - B, W - R, H - B, L, T, L, H - B, (L + W - R) / 2, H - 18, (T + H - B) / 2, (T + H - B) / 2);
  for (double b = 0; b <= xmax; b += 1)
    s += fmt::format("<text x='{:.1f}' y='{}' text-anchor='middle'>{}</text>\n", X(b), H - B + 16, b);
  for (int i = 0; i <= 4; ++i) {
    double v = ymin + (ymax - ymin) * i / 4;
    s += fmt::format("<text x='{}' y='{:.1f}' text-anchor='end'>{:.2f}</text>\n", L - 6, Y(v) + 4, 100 * v);
  }
  s += fmt::format("<line x1='{}' y1='{:.1f}' x2='{}' y2='{:.1f}' stroke='#888' stroke-dasharray='4 3'/>"
                   "<text x='{}' y='{:.1f}' fill='#555'>original</text>\n",
                   L, Y(original), W - R, Y(original), W - R - 60, Y(original) - 4);
  for (const auto& c : evaluated)
    s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='2' fill='#bbb'/>\n", X(c.index_bits), Y(c.val_top1));
  std::string path;
  for (const auto& c : front) path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", X(c.index_bits), Y(c.val_top1));
  s += fmt::format("<path d='{}' fill='none' stroke='#1f77b4' stroke-width='2'/>\n", path);
  for (const auto& c : front)
    s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3.5' fill='#1f77b4'/>\n", X(c.index_bits), Y(c.val_top1));
  s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='6' fill='none' stroke='#ff7f0e' stroke-width='2'/>\n",
                   X(chosen.index_bits), Y(chosen.val_top1));
  s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='6' fill='#d62728'/>\n", X(merged.index_bits), Y(merged.val_top1));
  s += fmt::format(
      "<text x='{}' y='{}' fill='#1f77b4'>&#9679; front before merge</text><text x='{}' y='{}' fill='#ff7f0e'>&#9675; chosen ({} bins)</text>"
      "<text x='{}' y='{}' fill='#d62728'>&#9679; after merge ({} values)</text><text x='{}' y='{}' fill='#999'>&#9679; all evaluated</text>\n",
      L + 10, T + 14, L + 10, T + 30, chosen.entries, L + 10, T + 46, merged.entries, L + 10, T + 62);
  s += "</svg>\n";
  return s;
}

}  // namespace

void write_front_files(const std::filesystem::path& dir, const std::vector<Candidate>& front,
                       const std::vector<Candidate>& evaluated, const Candidate& chosen, const Candidate& merged,
                       double original_val_top1) {
  nlohmann::json j = nlohmann::json::array();
  std::string csv = "k,bins,index_bits,f1,val_top1,test_top1,strides\n";
  for (const auto& c : front) {
    j.push_back(candidate_json(c));
    csv += fmt::format("{},{},{:.4f},{:.6f},{:.6f},{},{}\n", c.k, c.entries, c.index_bits, c.f1, c.val_top1,
                       c.test_top1 >= 0 ? fmt::format("{:.6f}", c.test_top1) : "", fmt::join(c.strides, " "));
  }
  nlohmann::json all{{"front", j}, {"chosen", candidate_json(chosen)}, {"merged", candidate_json(merged)},
                     {"original_val_top1", original_val_top1}};
  write_file_atomic(dir / "pareto.json", all.dump(2));
  write_file_atomic(dir / "pareto.csv", csv);
  write_file_atomic(dir / "front.svg", svg_plot(front, evaluated, chosen, merged, original_val_top1));
}

}  // namespace nnc::share
