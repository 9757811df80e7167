#include "nncompress/compress/fit/size_sparsity.hpp"

#include <algorithm>
#include <cmath>

#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/compress/fit/size_model.hpp"
#include "nncompress/core/bisect.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::fit {
namespace {

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
    if (!v.empty()) r.bias_bytes += LayerProjector(v).bytes(static_cast<int64_t>(v.size()), bits);
  }
  struct Layer {
    LayerProjector projector;
    int64_t numel, nonzero;
  };
  std::vector<Layer> layers;
  int64_t total = 0, nonzero = 0;
  for (const auto& w : weights) {
    const auto v = values_of(model, w);
    if (v.empty()) continue;
    const auto nz = static_cast<int64_t>(std::count_if(v.begin(), v.end(), [](float x) { return x != 0.0f; }));
    total += static_cast<int64_t>(v.size());
    nonzero += nz;
    layers.push_back({LayerProjector(v), static_cast<int64_t>(v.size()), nz});
  }
  if (total == 0) return r;
  r.current = 1.0 - static_cast<double>(nonzero) / static_cast<double>(total);
  // Every layer keeps `density` of its elements: at least one, at most its nonzeros (as fit's
  // options keep at least one of an all-zero layer).
  auto kept_at = [&](const Layer& l, double density) {
    const auto k = static_cast<int64_t>(std::llround(density * static_cast<double>(l.numel)));
    return std::clamp<int64_t>(k, 1, std::max<int64_t>(1, l.nonzero));
  };
  auto bytes_at = [&](double density) {
    int64_t b = r.fixed_bytes + r.bias_bytes;
    for (const auto& l : layers) b += l.projector.bytes(kept_at(l, density), bits);
    return b;
  };
  auto settle = [&](double density, int64_t bytes) {
    int64_t kept = 0;
    for (const auto& l : layers) kept += kept_at(l, density);
    r.sparsity = 1.0 - static_cast<double>(kept) / static_cast<double>(total);
    r.predicted_bytes = bytes;
  };
  // The densest setting within the cap, bisected in log density (the bytes grow with it).
  const double lo = 1e-5, hi = 1.0;
  if (const int64_t dense = bytes_at(hi); dense <= cap) {
    settle(hi, dense);
    return r;
  }
  int64_t inside = bytes_at(lo);
  if (inside > cap) {
    r.fits = false;
    settle(lo, inside);
    return r;
  }
  const double t = bisect(std::log(lo), std::log(hi), [&](double t) {
    const int64_t b = bytes_at(std::exp(t));
    if (b <= cap) inside = b;
    return b <= cap;
  }, 40);
  settle(std::exp(t), inside);
  return r;
}

}  // namespace nnc::fit
