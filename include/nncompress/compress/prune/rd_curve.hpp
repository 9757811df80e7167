#pragma once
// Per-layer rate–distortion curves: delta_l(phi) = output distortion (MSE of logits against
// the unpruned model on the calibration set; its worst case over samples; or the KL divergence
// of the predicted class distribution) when only layer l loses the fraction phi of its
// smallest-magnitude weights.
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "nncompress/compress/prune/magnitude.hpp"
#include "nncompress/core/control.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::prune {

// How the output change of the pruned model is measured against the unpruned one.
enum class Distortion {
  kMse,    // mean squared error of the logits (the published measure)
  kWorst,  // the worst sample's mean squared logit error
  kKl,     // mean KL(softmax(reference) || softmax(logits)): logit changes weighted by what they do to the prediction
};

// "mse" | "worst" | "kl"; throws a one-line error otherwise.
Distortion parse_distortion(const std::string& name);
const char* distortion_name(Distortion d);

struct RdCurveOptions {
  std::vector<double> grid;  // fractions phi; default 0, 0.01, ..., 0.99
  Distortion distortion = Distortion::kMse;
  int64_t batch = 256;
  bool cache_activations = true;  // run only the layers from the pruned one on (Engine::run_prefix)
  // Curves in context: when non-empty (one tensor per layer), every OTHER layer holds its
  // context weights while a layer's points are measured, so a point is the distortion of the
  // whole allocation with that one layer changed (phi = 0 is measured too, not 0). Used to
  // re-linearise the allocation around a pruned point where single-layer distortions do not add
  // up. Not cached on disk.
  std::vector<at::Tensor> context;
  // BatchNorm-aware curves: after a layer is pruned, the running statistics of the BatchNorm
  // nodes after it (in graph order) are re-estimated on the first `recalibration_images`
  // calibration images before its distortion is measured, as Engine::recalibrate_batchnorm
  // does for the pruned model; the distortion of re-estimating alone (phi = 0) is subtracted,
  // so phi = 0 stays 0 outside a context. No effect on models without BatchNorm.
  bool recalibrate_batchnorm = false;
  int64_t recalibration_images = 256;
};

struct RdCurves {
  std::vector<PrunableLayer> layers;
  std::vector<double> grid;
  std::vector<std::vector<double>> distortion;  // [layer][grid point]; NaN = not evaluated
  double seconds = 0;
  double skipped_fraction = 0;  // mean fraction of inference steps activation caching skipped
  int prefix_runs = 0;          // layer runs that skipped_fraction averages over
  bool from_cache = false;      // read from the on-disk curve cache (seconds = 0)
};

std::vector<double> default_grid(double step = 0.01);

// Distortion of `logits` against `reference` (N x classes). For kKl, outputs that are already
// probabilities (non-negative rows summing to 1, e.g. a graph ending in Softmax) are used as such.
double logit_distortion(const at::Tensor& logits, const at::Tensor& reference, Distortion kind);

// Curves with every point unevaluated (NaN) except phi = 0 (distortion 0; without a context).
RdCurves empty_rd_curves(const std::vector<PrunableLayer>& layers, const RdCurveOptions& options);

// Evaluates the grid indices todo[l] of each layer l on `calib` (N x C x H x W, normalised),
// writing them into `curves`; layers with nothing to do are not run. Each layer is restored
// before the next. Adds the time spent to curves.seconds. A stop request ends the work at the next
// layer: the points not measured stay NaN (unevaluated).
void evaluate_rd_points(exec::Engine& engine, const at::Tensor& calib, RdCurves& curves,
                        const std::vector<std::vector<std::size_t>>& todo, const RdCurveOptions& options,
                        const Control& control = {});

// Every layer's whole curve.
RdCurves compute_rd_curves(exec::Engine& engine, const at::Tensor& calib, const std::vector<PrunableLayer>& layers,
                           const RdCurveOptions& options, const Control& control = {});

// Coarse-to-fine evaluation for one allocation: evaluates every `coarse_every`-th grid point
// (and the last) of every layer, then a halving search around the grid point `choose` picks for
// each layer: the points s = coarse_every / 2 steps either side of the choice are evaluated and
// the choice re-made until they all are, then s is halved, down to s = 1, so the final choice
// rests on evaluated neighbours (at most `max_rounds` rounds). Points already in `curves` are
// reused, so successive budgets refine the same curves. The DP only picks evaluated points.
void refine_rd_curves(exec::Engine& engine, const at::Tensor& calib, RdCurves& curves, const RdCurveOptions& options,
                      int coarse_every, const std::function<std::vector<std::size_t>(const RdCurves&)>& choose,
                      const Control& control = {}, int max_rounds = 64);

// Registers the "prune.rd_layer" task that the other ranks of a distributed run serve (whole
// layers of evaluate_rd_points).
void register_distributed_tasks();

// Fraction of the curves' points that have been evaluated.
double evaluated_fraction(const RdCurves& curves);

}  // namespace nnc::prune
