#pragma once
// The accuracy guard of the steps that take a budget (prune, lowrank): `max_drop`, the allowed
// top-1 drop in percentage points. Settings are searched and allocations chosen on the
// hold-out (all held-out training images, 5,000 by default), a setting counting as within the
// drop when its drop plus one paired standard error is; the drop is then checked on the test
// split, which is what is reported.
// Models trained elsewhere have usually seen the hold-out images (trained on all training
// images), so their hold-out accuracy flatters them: the reference measurement says so when the
// hold-out is clearly above the test split, and the final check on the test split is what
// decides.
#include <optional>
#include <string>

#include "nncompress/data/evaluate.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::compress {

class Context;

// The original model on the hold-out and test splits.
struct Reference {
  data::Metrics holdout, test;
  bool flattered = false;  // hold-out top-1 clearly above test top-1 (seen in training?)
};
Reference measure_reference(exec::Engine& original, const data::Evaluator& holdout, const Context& context,
                            const std::string& step);

// Whether `a` is above `b` by more than z paired standard errors (same images).
bool clearly_better(const data::Metrics& a, const data::Metrics& b, double z = 2);

// The hold-out top-1 drop from the reference to `m` and its paired standard error, points.
struct Drop {
  double pt = 0, se_pt = 0;
  bool within(double max_drop) const { return pt + se_pt <= max_drop; }
};
Drop holdout_drop(const Reference& reference, const data::Metrics& m);

// Throws a run-time error when the test top-1 drop from `reference` to `after_test` exceeds
// max_drop (percentage points), naming the setting and the hold-out drop.
void check_drop(const std::optional<double>& max_drop, const Reference& reference, double after_holdout,
                double after_test, const std::string& step, const std::string& setting);

}  // namespace nnc::compress
