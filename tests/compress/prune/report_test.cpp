// The pruning report: the allocation marked on every layer's curve, also between grid points.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "nncompress/compress/prune/report.hpp"
#include "nncompress/core/files.hpp"

using namespace nnc;

TEST(PruneReport, MarksEveryLayersAllocationEvenBetweenGridPoints) {
  prune::RdCurves curves;
  curves.grid = {0.0, 0.25, 0.5, 0.75};
  curves.layers.resize(2);
  curves.layers[0].node = "conv1";
  curves.layers[1].node = "fc1";
  curves.distortion = {{0.0, 0.1, 0.4, 1.6}, {0.0, 0.2, 0.3, 0.9}};
  const auto dir = std::filesystem::temp_directory_path() / "nnc_prune_report_test";
  std::filesystem::remove_all(dir);
  // conv1 on a grid point, fc1 between 0.5 and 0.75 (as the DP's leftover budget places it).
  prune::write_prune_report(dir, curves, {0.25, 0.6}, {{"layers", nlohmann::json::array()}});
  const auto svg = read_file_text(dir / "curves.svg");
  // The markers are filled circles of radius 5 (the curve points are drawn without markers).
  const std::regex marker("<circle cx='[0-9.]+' cy='[0-9.]+' r='5' fill=");
  const auto markers = std::distance(std::sregex_iterator(svg.begin(), svg.end(), marker), std::sregex_iterator());
  EXPECT_EQ(markers, 2);
  std::filesystem::remove_all(dir);
}
