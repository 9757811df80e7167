#pragma once
// Per-layer rate–distortion curves: delta_l(phi) = output distortion (MSE of logits against
// the unpruned model on the calibration set; or its worst case over samples) when only layer l
// loses the fraction phi of its smallest-magnitude weights.
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "nncompress/compress/prune/magnitude.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::prune {

struct RdCurveOptions {
  std::vector<double> grid;  // fractions phi; default 0, 0.01, ..., 0.99
  bool worst_case = false;   // max over samples of the per-sample MSE instead of the mean
  int64_t batch = 256;
  bool cache_activations = true;  // run only the layers from the pruned one on (Engine::run_prefix)
};

struct RdCurves {
  std::vector<PrunableLayer> layers;
  std::vector<double> grid;
  std::vector<std::vector<double>> distortion;  // [layer][grid point]
  double seconds = 0;
  double skipped_fraction = 0;  // mean fraction of inference steps activation caching skipped
  bool from_cache = false;      // read from the on-disk curve cache (seconds = 0)
};

std::vector<double> default_grid(double step = 0.01);

// Distortion of `logits` against `reference` (mean, or worst sample).
double logit_distortion(const at::Tensor& logits, const at::Tensor& reference, bool worst_case);

// Computes every layer's curve on `calib` (N x C x H x W, normalised). Each layer is restored
// before the next. `evaluate` (optional) replaces the plain full-network evaluation, e.g. an
// incremental runner that only recomputes what the changed layer affects.
RdCurves compute_rd_curves(exec::Engine& engine, const at::Tensor& calib, const std::vector<PrunableLayer>& layers,
                           const RdCurveOptions& options,
                           const std::function<at::Tensor()>& evaluate = {});

}  // namespace nnc::prune
