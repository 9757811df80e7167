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
  // Early exit for searches (sequential, paired): after each batch but the last, the images seen
  // so far are compared with each rule's reference model, image by image; once the top-1
  // difference plus `z` paired standard errors is still below -max_drop for some rule, the model
  // is worse than that rule allows with that confidence, evaluation stops and the metrics of the
  // images seen so far are returned with *partial = true.
  struct EarlyExit {
    struct Rule {
      at::Tensor reference_correct;  // per image of this set: the reference model's top-1 right
      double max_drop = 0;           // fraction, e.g. 0.005
    };
    std::vector<Rule> rules;
    double z = 3;
  };
  Metrics evaluate(exec::Engine& engine, const EarlyExit& rule, bool* partial) const;
  const Dataset& data() const { return data_; }
  int64_t batch() const { return batch_; }

 private:
  Dataset data_;
  int64_t batch_ = 256;
  std::vector<at::Tensor> batches_;
};

}  // namespace nnc::data
