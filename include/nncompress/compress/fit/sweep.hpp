#pragma once
// fit's size-accuracy curve (`fit --sweep 8KB,12KB,20KB`): one point per cap, written as
// STEM-sweep.csv and STEM-sweep.svg (test top-1 against the .nnc bytes written).
#include <cstdint>
#include <filesystem>
#include <vector>

namespace nnc::fit {

struct SweepPoint {
  int64_t cap = 0, nnc_bytes = 0;
  double ratio = 0, top1_before = 0, top1_after = 0, seconds = 0;
};

// Writes both files atomically (never over `protect`); returns their paths (csv, svg).
std::pair<std::filesystem::path, std::filesystem::path> write_sweep(const std::filesystem::path& stem,
                                                                    const std::vector<SweepPoint>& points,
                                                                    const std::filesystem::path& protect = {});

}  // namespace nnc::fit
