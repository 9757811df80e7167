#include "nncompress/compress/finetune/finetune_step.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/finetune/holdout_control.hpp"
#include "nncompress/compress/options.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/run_state.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/metadata.hpp"
#include "nncompress/train/trainer.hpp"

namespace nnc::compress {

bool resolve_augment(const std::string& augment, const onnx::ModelProto& model) {
  if (augment != "auto") return augment == "on";
  if (auto train = onnxio::get_metadata(model, "nncompress.train")) {
    if (train->find("augment=1") != std::string::npos) return true;
    if (train->find("augment=0") != std::string::npos) return false;
  }
  for (const auto& node : model.graph().node()) {
    if (node.op_type() != "Conv") continue;
    for (const auto& a : node.attribute())
      if (a.name() == "kernel_shape")
        for (auto k : a.ints())
          if (k > 1) return true;
    // Without kernel_shape the kernel comes from the weight's shape.
    for (const auto& init : model.graph().initializer())
      if (node.input_size() > 1 && init.name() == node.input(1) && init.dims_size() > 2)
        for (int d = 2; d < init.dims_size(); ++d)
          if (init.dims(d) > 1) return true;
  }
  return false;
}

namespace {

at::Tensor from_vector(const std::vector<float>& v) {
  return at::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, at::kFloat).clone();
}

}  // namespace

void FinetuneOptions::validate() const {
  NNC_CHECK_OPTION(epochs >= 0, "epochs", "{}: must not be negative", epochs);
  NNC_CHECK_OPTION(lr > 0, "lr", "{}: must be positive", lr);
  NNC_CHECK_OPTION(weight_decay >= 0, "weight_decay", "{}: must not be negative", weight_decay);
  NNC_CHECK_OPTION(augment == "auto" || augment == "on" || augment == "off", "augment", "'{}': expected auto, on or off",
                   augment);
  NNC_CHECK_OPTION(distill >= 0 && distill <= 1, "distill", "{}: must be in [0, 1]", distill);
  NNC_CHECK_OPTION(temperature > 0, "temperature", "{}: must be positive", temperature);
}

nlohmann::json FinetuneStep::options() const { return options_to_json(options_); }

nlohmann::json finetune_engine(exec::Engine& engine, CompressedModel& model, Context& context,
                               const FinetuneOptions& o, uint64_t seed, exec::Engine* teacher) {
  const auto& proto = model.model();
  const auto norm = data::resolve_normalisation({}, proto);
  train::TrainOptions to;
  to.epochs = o.epochs;
  to.lr = o.lr;
  to.optimizer = "adamw";
  to.weight_decay = o.weight_decay;
  to.schedule = "cosine";
  to.batch = 128;
  to.seed = seed;
  to.augment = resolve_augment(o.augment, proto);
  to.pad_value = -norm.mean[0] / norm.std[0];
  to.distill = o.distill;
  to.temperature = o.temperature;
  to.teacher = o.distill > 0 ? teacher : nullptr;
  to.keep_best = o.keep_best_epoch;
  // Pruned elements stay zero; shared weights train through their codebooks (or stay fixed).
  for (const auto& [name, mask] : model.masks())
    to.masks[name] = at::tensor(std::vector<float>(mask.begin(), mask.end()), at::kFloat);
  const auto& codebooks = model.codebooks();
  for (std::size_t c = 0; c < codebooks.size(); ++c) {
    train::SharedCodebook sc;
    sc.values = from_vector(codebooks[c].values);
    sc.frozen_entry = codebooks[c].zero_entry;
    sc.fixed = !o.train_codebooks;
    for (const auto& [name, a] : model.assignments())
      if (static_cast<std::size_t>(a.codebook) == c) {
        sc.indices[name] = at::tensor(std::vector<int64_t>(a.indices.begin(), a.indices.end()), at::kLong);
        if (a.scale != 1.0f) sc.scales[name] = a.scale;
      }
    to.codebooks.push_back(std::move(sc));
  }
  for (auto& [name, m] : to.masks) m = m.reshape(engine.weights().get(name).sizes());
  // Checkpoints at epoch ends (compress/run_state.hpp): rerun after a crash, training resumes.
  auto key_options = options_to_json(o);
  key_options["seed"] = seed;
  key_options["augment"] = to.augment;
  if (!o.keep_best_epoch) key_options["keep_best_epoch"] = false;
  if (auto path = run_state_file(context, "finetune", run_key("finetune", key_options, model, context, to.teacher != nullptr),
                                 ".ckpt"))
    to.checkpoint = *path;
  const auto r = train::train(engine, context.splits(), to, context.control());
  // The engine holds the kept epoch's weights; the model takes them with its codebook values.
  std::map<std::size_t, std::vector<float>> values;
  for (std::size_t c = 0; c < codebooks.size() && o.train_codebooks; ++c) {
    auto v = r.codebook_values.at(c).contiguous();
    values[c].assign(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
  }
  model.set_model(engine.to_model(), {}, std::move(values));
  return {{"epochs", r.epochs_run}, {"epochs_resumed", r.resumed_epochs}, {"best_epoch", r.best_epoch}, {"best_val_top1", r.best_val_top1},
          {"codebooks_trained", o.train_codebooks ? codebooks.size() : 0}, {"stopped", r.interrupted}, {"seconds", r.seconds}};
}

nlohmann::json FinetuneStep::apply(CompressedModel& model, Context& context) const {
  const auto t0 = std::chrono::steady_clock::now();
  auto engine = context.make_engine(model.model());
  const double before = context.test().evaluate(*engine).top1;
  if (options_.epochs == 0) return {{"step", "finetune"}, {"top1_before", before}, {"top1_after", before}, {"epochs", 0}};
  std::unique_ptr<exec::Engine> teacher;
  if (options_.distill > 0) teacher = context.make_engine(model.original());
  auto r = finetune_engine(*engine, model, context, options_, context.seed(), teacher.get());
  train_holdout_control(context, options_, context.seed(), teacher.get());
  const double after = context.test().evaluate(*engine).top1;
  const auto packed = pack_nnc(model);
  r["step"] = "finetune";
  r["top1_before"] = before;
  r["top1_after"] = after;
  r["top1_gain_pt"] = 100 * (after - before);
  r["nnc_bytes"] = packed.bytes.size();
  r["ratio"] = static_cast<double>(model.original_fp32_bytes()) / static_cast<double>(packed.bytes.size());
  r["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace nnc::compress
