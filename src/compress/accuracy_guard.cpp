#include "nncompress/compress/accuracy_guard.hpp"

#include <fmt/format.h>

#include <cmath>

#include "nncompress/compress/context.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::compress {

Reference measure_reference(exec::Engine& original, const data::Evaluator& holdout, const Context& context,
                            const std::string& step) {
  Reference r;
  r.holdout = holdout.evaluate(original);
  r.test = context.test().evaluate(original);
  // Different images: the standard error of an unpaired difference of two proportions.
  auto var = [](const data::Metrics& m) {
    return m.n > 0 ? m.top1 * (1 - m.top1) / static_cast<double>(m.n) : 0.0;
  };
  const double gap = r.holdout.top1 - r.test.top1, se = std::sqrt(var(r.holdout) + var(r.test));
  r.flattered = gap > std::max(3 * se, 0.01);
  if (r.flattered)
    context.note(fmt::format("{}: hold-out top-1 {:.2f}% is {:.2f} pt above test top-1 {:.2f}%: the model has probably "
                             "been trained on the hold-out images, so drops measured there flatter it; the test split "
                             "checks the result",
                             step, 100 * r.holdout.top1, 100 * gap, 100 * r.test.top1));
  return r;
}

bool clearly_better(const data::Metrics& a, const data::Metrics& b, double z) {
  return a.top1 - b.top1 > z * data::paired_top1_se(a.correct, b.correct);
}

Drop holdout_drop(const Reference& reference, const data::Metrics& m) {
  return {100 * (reference.holdout.top1 - m.top1), 100 * data::paired_top1_se(reference.holdout.correct, m.correct)};
}

void check_drop(const std::optional<double>& max_drop, const Reference& reference, double after_holdout,
                double after_test, const std::string& step, const std::string& setting) {
  if (!max_drop) return;
  const double drop = 100 * (reference.test.top1 - after_test), holdout_drop = 100 * (reference.holdout.top1 - after_holdout);
  NNC_CHECK_OPTION_CODE(drop <= *max_drop, "max_drop", kTargetMissed,
                        "{}: {} {} drops test top-1 {:.2f}% -> {:.2f}% ({:.2f} pt; hold-out drop {:.2f} pt{}); nothing written",
                        *max_drop, step, setting, 100 * reference.test.top1, 100 * after_test, drop, holdout_drop,
                        reference.flattered ? ", flattered: the model has seen the hold-out images" : "");
}

}  // namespace nnc::compress
