#include "nncompress/compress/prune/rd_curve.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "nncompress/core/error.hpp"
#include "nncompress/core/interrupt.hpp"
#include "nncompress/core/progress.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::prune {

std::vector<double> default_grid(double step) {
  std::vector<double> g;
  const int n = static_cast<int>(std::lround(1.0 / step));
  for (int i = 0; i < n; ++i) g.push_back(i * step);
  return g;
}

double logit_distortion(const at::Tensor& logits, const at::Tensor& reference, bool worst_case) {
  auto sq = (logits - reference).pow(2);
  if (!worst_case) return sq.mean().item<double>();
  return sq.reshape({sq.size(0), -1}).mean(1).max().item<double>();
}

RdCurves compute_rd_curves(exec::Engine& engine, const at::Tensor& calib, const std::vector<PrunableLayer>& layers,
                           const RdCurveOptions& options, const std::function<at::Tensor()>& evaluate) {
  NNC_CHECK(!layers.empty(), "model has no prunable layers (Conv/Gemm/MatMul with an initializer weight)");
  auto start = std::chrono::steady_clock::now();
  std::vector<at::Tensor> batches;
  for (int64_t i = 0; i < calib.size(0); i += options.batch)
    batches.push_back(calib.narrow(0, i, std::min(options.batch, calib.size(0) - i)));
  auto full_logits = [&]() {
    std::vector<at::Tensor> parts;
    for (const auto& b : batches) parts.push_back(engine.run_single(b));
    return at::cat(parts, 0);
  };
  auto logits = evaluate ? evaluate : std::function<at::Tensor()>(full_logits);
  RdCurves curves;
  curves.layers = layers;
  curves.grid = options.grid.empty() ? default_grid() : options.grid;
  at::Tensor reference = logits();
  Progress progress("rd curves", static_cast<long>(layers.size()));
  double skipped = 0;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    NNC_CHECK_CODE(!interrupted(), kInvalidArgument, "interrupted while computing distortion curves");
    auto& store = engine.weights();
    const std::size_t idx = store.index_of(layers[l].weight);
    at::Tensor original = store.at(idx).detach().clone();
    // Activation caching: the part of the network before this layer does not change while only
    // this layer is pruned, so its outputs are computed once per layer.
    std::vector<std::shared_ptr<const exec::PrefixCache>> prefix;
    if (options.cache_activations && !evaluate) {
      for (const auto& b : batches) prefix.push_back(engine.run_prefix({b}, layers[l].weight));
      skipped += engine.prefix_fraction(*prefix.front());
    }
    auto layer_logits = [&]() {
      if (prefix.empty()) return logits();
      std::vector<at::Tensor> parts;
      for (const auto& p : prefix) parts.push_back(engine.run_from(*p));
      return at::cat(parts, 0);
    };
    std::vector<double> row;
    for (double phi : curves.grid) {
      if (phi == 0.0) {
        row.push_back(0.0);
        continue;
      }
      store.set(idx, original * magnitude_mask(original, phi));
      row.push_back(logit_distortion(layer_logits(), reference, options.worst_case));
    }
    store.set(idx, original);
    curves.distortion.push_back(std::move(row));
    progress.update(static_cast<long>(l + 1), layers[l].node);
  }
  curves.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  curves.skipped_fraction = skipped / static_cast<double>(layers.size());
  return curves;
}

}  // namespace nnc::prune
