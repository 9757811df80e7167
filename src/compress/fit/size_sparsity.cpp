#include "nncompress/compress/fit/size_sparsity.hpp"

#include <algorithm>
#include <cmath>

#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/compress/fit/size_model.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::fit {
namespace {

// The payload bytes of a layer kept at `kept` of its largest magnitudes on 2^bits levels.
int64_t payload(const LayerProjector& projector, std::size_t numel, int64_t kept, int bits) {
  const auto p = projector.project(kept, bits);
  std::vector<uint64_t> positions;
  std::vector<int64_t> counts(p.levels.size(), 0);
  for (std::size_t e = 0; e < p.level.size(); ++e)
    if (p.level[e] < p.levels.size()) {
      positions.push_back(e);
      ++counts[p.level[e]];
    }
  return layer_payload_bytes(numel, positions, counts);
}

std::vector<float> values_of(const onnx::ModelProto& model, const std::string& name) {
  const auto* t = onnxio::find_initializer(model.graph(), name);
  NNC_CHECK(t && t->data_type() == onnx::TensorProto::FLOAT, "'{}' is not a float initializer", name);
  return onnxio::float_values(*t);
}

}  // namespace

SizeSparsity sparsity_for_size(const onnx::ModelProto& model, const std::vector<std::string>& weights,
                               const std::vector<std::string>& biases, int64_t cap, int bits) {
  NNC_CHECK(bits >= 1 && bits <= 8, "bits {}: must be in 1..8", bits);
  SizeSparsity r;
  std::vector<std::string> all = weights;
  all.insert(all.end(), biases.begin(), biases.end());
  r.fixed_bytes = fixed_container_bytes(model, all);
  for (const auto& b : biases) {
    const auto v = values_of(model, b);
    r.bias_bytes += payload(LayerProjector(v), v.size(), static_cast<int64_t>(v.size()), bits);
  }
  struct Layer {
    LayerProjector projector;
    std::size_t numel;
    int64_t nonzero;
  };
  std::vector<Layer> layers;
  int64_t total = 0;
  for (const auto& w : weights) {
    const auto v = values_of(model, w);
    const auto nonzero = static_cast<int64_t>(std::count_if(v.begin(), v.end(), [](float x) { return x != 0.0f; }));
    total += static_cast<int64_t>(v.size());
    layers.push_back({LayerProjector(v), v.size(), nonzero});
  }
  if (total == 0) return r;
  int64_t nonzero = 0;
  for (const auto& l : layers) nonzero += l.nonzero;
  r.current = 1.0 - static_cast<double>(nonzero) / static_cast<double>(total);
  // Every layer keeps `density` of its elements (at least one, at most its nonzeros).
  auto kept_at = [&](const Layer& l, double density) {
    const auto k = static_cast<int64_t>(std::llround(density * static_cast<double>(l.numel)));
    return std::clamp<int64_t>(k, std::min<int64_t>(1, l.nonzero), l.nonzero);
  };
  auto bytes_at = [&](double density) {
    int64_t b = r.fixed_bytes + r.bias_bytes;
    for (const auto& l : layers) b += payload(l.projector, l.numel, kept_at(l, density), bits);
    return b;
  };
  auto sparsity_at = [&](double density) {
    int64_t kept = 0;
    for (const auto& l : layers) kept += kept_at(l, density);
    return 1.0 - static_cast<double>(kept) / static_cast<double>(total);
  };
  // The densest setting within the cap, bisected in log density (the bytes grow with it).
  double lo = 1e-5, hi = 1.0;
  if (bytes_at(hi) <= cap) {
    r.sparsity = sparsity_at(hi);
    r.predicted_bytes = bytes_at(hi);
    return r;
  }
  if (bytes_at(lo) > cap) {
    r.fits = false;
    r.sparsity = sparsity_at(lo);
    r.predicted_bytes = bytes_at(lo);
    return r;
  }
  for (int i = 0; i < 40; ++i) {
    const double mid = std::sqrt(lo * hi);
    (bytes_at(mid) <= cap ? lo : hi) = mid;
  }
  r.sparsity = sparsity_at(lo);
  r.predicted_bytes = bytes_at(lo);
  return r;
}

}  // namespace nnc::fit
