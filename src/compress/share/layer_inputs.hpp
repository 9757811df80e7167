#pragma once
// Private to the share module: one pass over calibration images that hands the values some
// layers read (their inputs) to a visitor, batch by batch, for the passes that measure layer
// inputs once (bias correction, error-feedback rounding).
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nncompress/core/control.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::share::detail {

class LayerInputs {
 public:
  // `values`: names of graph values (repeats allowed) made extra outputs of a private engine.
  LayerInputs(const onnx::ModelProto& model, std::vector<std::string> values);
  ~LayerInputs();
  // Runs the model (inference mode) on `images` in batches of `batch` and calls `visit` with the
  // values of each batch in the order given to the constructor. With a progress label, reports
  // progress to the control and stops early when it asks to.
  void run(const at::Tensor& images, int64_t batch, const std::function<void(const std::vector<at::Tensor>&)>& visit,
           const std::string& progress_label = {}, const Control& control = {});
  // The engine the values come from (holds the model's weights).
  exec::Engine& engine() { return *engine_; }

 private:
  std::vector<std::string> values_;
  std::unique_ptr<exec::Engine> engine_;
  std::vector<std::size_t> slots_;  // per value: index in the engine's outputs
};

}  // namespace nnc::share::detail
