#pragma once
// On-disk cache of rate-distortion curves. The key hashes everything the curves depend on: the
// graph's nodes and outputs, the pruned layers' names and current weights, every other weight
// the network reads, the calibration inputs, the grid and the distortion measure, so a rerun on
// the same model and data is instant and any change recomputes.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>

#include "nncompress/compress/prune/rd_curve.hpp"

namespace nnc::prune {

std::string curve_cache_key(exec::Engine& engine, const at::Tensor& calib, const std::vector<PrunableLayer>& layers,
                            const RdCurveOptions& options);

// `dir`/<key>.json, or nullopt when absent or unreadable (a damaged entry is recomputed).
std::optional<RdCurves> load_cached_curves(const std::filesystem::path& dir, const std::string& key,
                                           const std::vector<PrunableLayer>& layers);
void save_cached_curves(const std::filesystem::path& dir, const std::string& key, const RdCurves& curves);

// $NNC_CACHE_DIR, else $XDG_CACHE_HOME/nncompress, else ~/.cache/nncompress; plus "/curves".
std::filesystem::path default_curve_cache_dir();

}  // namespace nnc::prune
