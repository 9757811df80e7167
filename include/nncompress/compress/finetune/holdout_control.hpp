#pragma once
// The hold-out control of a model that has seen its hold-out images.
// Models from elsewhere are usually trained on all training images, the held-out ones included,
// and such a model forgets them under any fine-tuning on the other images, compressed or not: a
// LeNet-300 trained on all 60,000 reads 98.34% on the hold-out and 90.23% on test, and ten dense
// epochs of fine-tuning take the hold-out to 97.82% while test stays at 90.1%. Judged against the
// original, every fine-tuned step would seem to break its budget by what is only forgetting.
// When the reference measurement finds the hold-out flattered (accuracy_guard.hpp), the steps
// that fine-tune also fine-tune a control, the model as it was before them, with the same epochs,
// options and seeds, and measure hold-out drops against it: the forgetting is in both and cancels
// in the paired difference. What does not cancel, memorised images that compression damages and
// fine-tuning without them does not restore, still makes the hold-out drop larger than the test
// drop, so decisions stay on the safe side. The control lives in the Context, so the steps of a
// composition continue one control.
#include <cstdint>
#include <memory>

#include "nncompress/compress/accuracy_guard.hpp"
#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/data/evaluate.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::compress {

class Context;
struct FinetuneOptions;

struct HoldoutControl {
  CompressedModel model;   // the model without the compression since the control began, fine-tuned alike
  data::Metrics holdout;   // its hold-out metrics now
  int epochs = 0;          // fine-tuning epochs it has had
};

// Starts the context's control from `model` (measured as `reference`) when the reference finds
// the hold-out flattered and no control runs yet; returns whether a control runs.
bool start_holdout_control(Context& context, const CompressedModel& model, const Reference& reference);

// Fine-tunes the context's control (when one runs) exactly as the model was: same options, seed and teacher.
void train_holdout_control(Context& context, const FinetuneOptions& options, uint64_t seed, exec::Engine* teacher);

// A copy of the context's control as it is now (null when none runs), to go back to.
std::shared_ptr<HoldoutControl> copy_holdout_control(const Context& context);

// `reference` with its hold-out metrics those of the context's control when one runs: the
// reference that hold-out drops are measured against.
Reference controlled(const Reference& reference, const Context& context);

}  // namespace nnc::compress
