#include "layer_inputs.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>

#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::share::detail {

LayerInputs::LayerInputs(const onnx::ModelProto& model, std::vector<std::string> values)
    : values_(std::move(values)), engine_(std::make_unique<exec::Engine>(onnxio::with_graph_outputs(model, values_))) {
  std::map<std::string, std::size_t> slot;
  for (std::size_t i = 0; i < engine_->outputs().size(); ++i) slot[engine_->outputs()[i].name] = i;
  for (const auto& v : values_) slots_.push_back(slot.at(v));
}

LayerInputs::~LayerInputs() = default;

void LayerInputs::run(const at::Tensor& images, int64_t batch,
                      const std::function<void(const std::vector<at::Tensor>&)>& visit,
                      const std::string& progress_label, const Control& control) {
  c10::InferenceMode guard;
  const auto batches = data::split_batches(images, batch);
  std::unique_ptr<Progress> progress;
  if (!progress_label.empty())
    progress = std::make_unique<Progress>(control.reporter, progress_label, static_cast<long>(batches.size()));
  long done = 0;
  std::vector<at::Tensor> picked(values_.size());
  for (const auto& b : batches) {
    if (progress) {
      if (control.stop_requested()) break;
      progress->update(done++);
    }
    auto outs = engine_->run({b});
    for (std::size_t i = 0; i < values_.size(); ++i) picked[i] = outs.at(slots_[i]);
    visit(picked);
  }
}

}  // namespace nnc::share::detail
