#pragma once
// Pruning reports: the distortion curves as CSV and as an SVG (one line per layer, log scale,
// the chosen point of each layer marked), and the allocation as editable JSON that
// `--alloc file:ALLOCATION.json` reads back.
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/compress/prune/rd_curve.hpp"

namespace nnc::prune {

// `chosen_phi[l]`: the fraction the allocation prunes from layer l (marked on the plot).
void write_prune_report(const std::filesystem::path& dir, const RdCurves& curves, const std::vector<double>& chosen_phi,
                        const nlohmann::json& allocation);

}  // namespace nnc::prune
