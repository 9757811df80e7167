#include "nncompress/compress/prune/curve_cache.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cmath>
#include <cstring>
#include <limits>
#include <fstream>
#include <sstream>

#include "nncompress/core/files.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::prune {
namespace {

struct Fnv1a {
  uint64_t h = 1469598103934665603ull;
  void bytes(const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= c[i];
      h *= 1099511628211ull;
    }
  }
  void str(const std::string& s) {
    bytes(s.data(), s.size());
    bytes("\0", 1);
  }
  void tensor(const at::Tensor& t) {
    auto c = t.detach().contiguous().to(at::kCPU);
    auto sizes = c.sizes().vec();
    bytes(sizes.data(), sizes.size() * sizeof(int64_t));
    bytes(c.data_ptr(), static_cast<std::size_t>(c.numel()) * c.element_size());
  }
};

}  // namespace

std::string curve_cache_key(exec::Engine& engine, const at::Tensor& calib, const std::vector<PrunableLayer>& layers,
                            const RdCurveOptions& options) {
  Fnv1a f;
  f.str("nncompress rd curves v1");
  // The graph, not only the weights: the same weights under another head (e.g. a Softmax
  // appended for deployment) give curves on another scale.
  for (const auto& node : engine.model().graph().node()) f.str(node.SerializeAsString());
  for (const auto& out : engine.model().graph().output()) f.str(out.name());
  const auto& store = engine.weights();
  for (std::size_t i = 0; i < store.size(); ++i) {
    f.str(store.name(i));
    f.tensor(store.at(i));
  }
  for (const auto& l : layers) {
    f.str(l.node);
    f.str(l.weight);
  }
  f.tensor(calib);
  auto grid = options.grid.empty() ? default_grid() : options.grid;
  f.bytes(grid.data(), grid.size() * sizeof(double));
  // (v1 keys hashed a worst-case flag here; mse and worst keep their keys, so cached curves stay valid)
  const bool worst_case = options.distortion == Distortion::kWorst;
  f.bytes(&worst_case, sizeof(worst_case));
  if (options.distortion == Distortion::kKl) f.str("kl");
  if (options.recalibrate_batchnorm) f.str(fmt::format("bn recalibration {}", options.recalibration_images));
  return fmt::format("{:016x}", f.h);
}

std::optional<RdCurves> load_cached_curves(const std::filesystem::path& dir, const std::string& key,
                                           const std::vector<PrunableLayer>& layers) {
  auto path = dir / (key + ".json");
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(in);
    RdCurves c;
    c.layers = layers;
    c.grid = j.at("grid").get<std::vector<double>>();
    // Unevaluated points (coarse-to-fine curves) are stored as null.
    for (const auto& jrow : j.at("distortion")) {
      std::vector<double> row;
      for (const auto& v : jrow) row.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
      if (row.size() != c.grid.size()) return std::nullopt;
      c.distortion.push_back(std::move(row));
    }
    if (c.distortion.size() != layers.size()) return std::nullopt;
    c.seconds = 0;
    c.from_cache = true;
    return c;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void save_cached_curves(const std::filesystem::path& dir, const std::string& key, const RdCurves& curves) {
  try {
    std::filesystem::create_directories(dir);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : curves.distortion) {
      nlohmann::json r = nlohmann::json::array();
      for (double d : row) r.push_back(std::isnan(d) ? nlohmann::json() : nlohmann::json(d));
      rows.push_back(std::move(r));
    }
    nlohmann::json j{{"grid", curves.grid}, {"distortion", rows}, {"seconds", curves.seconds}};
    write_file_atomic(dir / (key + ".json"), nnc::json_text(j));
  } catch (const std::exception&) {
    // A cache that cannot be written only costs time on the next run.
  }
}

std::filesystem::path default_curve_cache_dir() {
  if (const char* d = std::getenv("NNC_CACHE_DIR"); d && *d) return std::filesystem::path(d) / "curves";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "nncompress" / "curves";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "nncompress" / "curves";
  return std::filesystem::temp_directory_path() / "nncompress" / "curves";
}

}  // namespace nnc::prune
