#pragma once
// Running a model over a data set and measuring it. This is the hot path of every search
// ("swap weights, re-evaluate"), so an Evaluator pre-slices its batches once and reuses them.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "nncompress/data/dataset.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::data {

struct Metrics {
  double top1 = 0, top5 = 0;  // fractions in [0, 1]
  double loss = 0;            // mean cross-entropy
  double macro_f1 = 0;        // mean over classes of per-class F1
  int64_t n = 0;
  double seconds = 0;
  at::Tensor correct;         // per image: top-1 right (bool), for paired comparisons
};

// Standard error of the top-1 difference between two models measured on the same images,
// from their per-image correctness (paired: only the images they disagree on count).
double paired_top1_se(const at::Tensor& correct_a, const at::Tensor& correct_b);

Metrics metrics_from_logits(const at::Tensor& logits, const at::Tensor& labels, int num_classes);
double macro_f1(const at::Tensor& logits, const at::Tensor& labels, int num_classes);
// Output distortion: mean squared error of logits against reference logits.
double output_distortion(const at::Tensor& logits, const at::Tensor& reference);

// `images` cut into batches of at most `batch` (views, no copies).
std::vector<at::Tensor> split_batches(const at::Tensor& images, int64_t batch);
// The engine's first output on every batch, concatenated along dim 0 (inference mode).
at::Tensor run_batches(exec::Engine& engine, const std::vector<at::Tensor>& batches);

class Evaluator {
 public:
  explicit Evaluator(const Dataset& data, int64_t batch = 256);
  // Runs the engine (inference mode) over every batch; returns N x classes logits.
  at::Tensor logits(exec::Engine& engine) const;
  Metrics evaluate(exec::Engine& engine) const;
  // Early exit for searches: after the first batch, if its top-1 is below `reject_below`, stops
  // and returns the metrics of that batch with *partial = true (the candidate is clearly out of
  // the running; the rest of the set would not change the verdict).
  Metrics evaluate(exec::Engine& engine, double reject_below, bool* partial) const;
  const Dataset& data() const { return data_; }

 private:
  Dataset data_;
  std::vector<at::Tensor> batches_;
};

}  // namespace nnc::data
