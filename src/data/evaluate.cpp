#include "nncompress/data/evaluate.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::data {

double macro_f1(const at::Tensor& logits, const at::Tensor& labels, int num_classes) {
  auto pred = logits.argmax(1).to(at::kLong);
  auto conf = at::zeros({num_classes * num_classes}, at::kLong);
  conf.index_add_(0, labels.to(at::kLong) * num_classes + pred, at::ones_like(pred));
  conf = conf.reshape({num_classes, num_classes}).to(at::kDouble);  // [true, predicted]
  auto tp = conf.diagonal();
  auto precision_den = conf.sum(0), recall_den = conf.sum(1);
  double total = 0;
  int counted = 0;
  for (int c = 0; c < num_classes; ++c) {
    double t = tp[c].item<double>(), p = precision_den[c].item<double>(), r = recall_den[c].item<double>();
    if (r == 0 && p == 0) continue;  // class absent from labels and predictions
    total += (p + r) > 0 ? 2 * t / (p + r) : 0.0;
    ++counted;
  }
  return counted ? total / counted : 0.0;
}

double output_distortion(const at::Tensor& logits, const at::Tensor& reference) {
  NNC_CHECK_CODE(logits.sizes() == reference.sizes(), kShape, "distortion: logits and reference differ in shape");
  return (logits - reference).pow(2).mean().item<double>();
}

Metrics metrics_from_logits(const at::Tensor& logits_in, const at::Tensor& labels, int num_classes) {
  auto logits = logits_in.to(at::kFloat).reshape({logits_in.size(0), -1});
  NNC_CHECK_CODE(logits.size(0) == labels.size(0), kShape, "{} outputs for {} labels", logits.size(0), labels.size(0));
  NNC_CHECK_CODE(logits.size(1) >= num_classes, kShape,
                 "model has {} outputs per image but the data has {} classes", logits.size(1), num_classes);
  Metrics m;
  m.n = labels.size(0);
  auto y = labels.to(at::kLong);
  m.correct = logits.argmax(1).eq(y);
  m.top1 = m.correct.to(at::kDouble).mean().item<double>();
  const int64_t k = std::min<int64_t>(5, logits.size(1));
  auto top5 = std::get<1>(logits.topk(k, 1));
  m.top5 = top5.eq(y.unsqueeze(1)).any(1).to(at::kDouble).mean().item<double>();
  m.loss = at::cross_entropy_loss(logits, y).item<double>();
  m.macro_f1 = macro_f1(logits, y, static_cast<int>(logits.size(1)));
  return m;
}

double paired_top1_se(const at::Tensor& correct_a, const at::Tensor& correct_b) {
  NNC_CHECK(correct_a.numel() == correct_b.numel() && correct_a.numel() > 0,
            "paired comparison of {} and {} images", correct_a.numel(), correct_b.numel());
  const auto n = static_cast<double>(correct_a.numel());
  auto a = correct_a.to(at::kDouble), b = correct_b.to(at::kDouble);
  const double only_a = (a * (1 - b)).sum().item<double>(), only_b = (b * (1 - a)).sum().item<double>();
  const double d = (only_a - only_b) / n;
  return std::sqrt(std::max(0.0, (only_a + only_b) / n - d * d) / n);
}

std::vector<at::Tensor> split_batches(const at::Tensor& images, int64_t batch) {
  NNC_CHECK_OPTION(batch > 0, "batch", "{}: must be positive", batch);
  std::vector<at::Tensor> batches;
  for (int64_t i = 0; i < images.size(0); i += batch)
    batches.push_back(images.narrow(0, i, std::min(batch, images.size(0) - i)));
  return batches;
}

at::Tensor run_batches(exec::Engine& engine, const std::vector<at::Tensor>& batches) {
  c10::InferenceMode guard;
  std::vector<at::Tensor> parts;
  parts.reserve(batches.size());
  for (const auto& b : batches) parts.push_back(engine.run_single(b));
  return at::cat(parts, 0);
}

Evaluator::Evaluator(const Dataset& data, int64_t batch)
    : data_(data), batch_(batch), batches_(split_batches(data.images, batch)) {}

at::Tensor Evaluator::logits(exec::Engine& engine) const {
  auto l = engine.as_logits(run_batches(engine, batches_));
  return l.reshape({l.size(0), -1});
}

Metrics Evaluator::evaluate(exec::Engine& engine) const {
  auto start = std::chrono::steady_clock::now();
  auto l = logits(engine);
  auto m = metrics_from_logits(l, data_.labels, data_.num_classes);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

Metrics Evaluator::evaluate(exec::Engine& engine, const EarlyExit& rule, bool* partial) const {
  *partial = false;
  for (const auto& r : rule.rules)
    NNC_CHECK(r.reference_correct.numel() == data_.labels.size(0), "early exit: {} reference results for {} images",
              r.reference_correct.numel(), data_.labels.size(0));
  auto start = std::chrono::steady_clock::now();
  c10::InferenceMode guard;
  std::vector<at::Tensor> parts;
  parts.reserve(batches_.size());
  int64_t seen = 0;
  for (std::size_t b = 0; b < batches_.size(); ++b) {
    parts.push_back(engine.as_logits(engine.run_single(batches_[b])).reshape({batches_[b].size(0), -1}));
    seen += batches_[b].size(0);
    if (b + 1 == batches_.size()) break;
    auto labels = data_.labels.narrow(0, 0, seen).to(at::kLong);
    auto correct = at::cat(parts, 0).argmax(1).eq(labels);
    const double top1 = correct.to(at::kDouble).mean().item<double>();
    const bool out = std::any_of(rule.rules.begin(), rule.rules.end(), [&](const EarlyExit::Rule& r) {
      auto reference = r.reference_correct.narrow(0, 0, seen);
      const double diff = top1 - reference.to(at::kDouble).mean().item<double>();
      return diff + rule.z * paired_top1_se(reference, correct) < -r.max_drop;
    });
    if (out) {
      *partial = true;
      auto m = metrics_from_logits(at::cat(parts, 0), data_.labels.narrow(0, 0, seen), data_.num_classes);
      m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return m;
    }
  }
  auto m = metrics_from_logits(at::cat(parts, 0), data_.labels, data_.num_classes);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

}  // namespace nnc::data
