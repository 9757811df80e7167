#include "nncompress/compress/finetune/holdout_control.hpp"

#include <fmt/format.h>

#include <memory>

#include "nncompress/compress/context.hpp"
#include "nncompress/compress/finetune/finetune_step.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::compress {

bool start_holdout_control(Context& context, const CompressedModel& model, const Reference& reference) {
  if (context.holdout_control) return true;
  if (!reference.flattered) return false;
  context.holdout_control = std::make_shared<HoldoutControl>(HoldoutControl{model, reference.holdout, 0});
  context.note(fmt::format("hold-out control: the hold-out drops of fine-tuned steps are measured against the model "
                           "fine-tuned alike without compression (the forgetting of images it was trained on cancels); "
                           "fine-tuning costs twice the time"));
  return true;
}

void train_holdout_control(Context& context, const FinetuneOptions& options, uint64_t seed, exec::Engine* teacher) {
  auto& control = context.holdout_control;
  if (!control || options.epochs <= 0) return;
  auto engine = context.make_engine(control->model.model());
  finetune_engine(*engine, control->model, context, options, seed, teacher);
  control->holdout = data::Evaluator(context.splits().holdout, context.batch()).evaluate(*engine);
  control->epochs += options.epochs;
  context.note(fmt::format("hold-out control after {} epochs: {:.2f}%", control->epochs, 100 * control->holdout.top1));
}

std::shared_ptr<HoldoutControl> copy_holdout_control(const Context& context) {
  return context.holdout_control ? std::make_shared<HoldoutControl>(*context.holdout_control) : nullptr;
}

Reference controlled(const Reference& reference, const Context& context) {
  Reference r = reference;
  if (context.holdout_control) r.holdout = context.holdout_control->holdout;
  return r;
}

}  // namespace nnc::compress
