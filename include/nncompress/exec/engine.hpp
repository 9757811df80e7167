#pragma once
// The engine: an ONNX graph compiled once into a flat list of kernel steps over integer value
// slots, run on LibTorch tensors. Inference runs under InferenceMode with eval-time folding
// (BatchNorm into the preceding Conv) that follows weight swaps; training mode runs the plain
// graph with initializers as leaf parameters so autograd and BatchNorm statistics work.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <memory>
#include <string>
#include <vector>

#include "nncompress/exec/op_registry.hpp"
#include "nncompress/exec/weight_store.hpp"

namespace nnc::exec {

struct EngineOptions {
  bool fold_batchnorm = true;  // inference-time Conv+BatchNormalization folding
  // Inference on oneDNN blocked layouts with prepacked convolution weights (src/exec/onednn.hpp).
  // The environment variable NNC_ONEDNN=0 turns it off (diagnostics, benchmarks).
  bool onednn = true;
  const OpRegistry* registry = nullptr;  // default_registry() when null
};

struct ValueInfo {
  std::string name;
  int onnx_type = 0;              // TensorProto data type, 0 if unknown
  std::vector<int64_t> shape;     // -1 for symbolic/unknown dims
};

// One compiled inference step: the ONNX nodes it runs (several when fused, e.g. Conv +
// BatchNormalization) and its median wall time.
struct StepTime {
  std::vector<std::string> nodes;
  double ms = 0;
};

// Activation cache for searches that change one weight at a time (see Engine::run_prefix).
struct PrefixCache;

class Engine {
 public:
  explicit Engine(onnx::ModelProto model, EngineOptions options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Graph inputs that are fed at run time (initializers excluded), and graph outputs, in order.
  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;

  WeightStore& weights();
  const WeightStore& weights() const;

  // Runs the graph. Under inference this uses InferenceMode; in training mode gradients flow.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);
  at::Tensor run_single(const at::Tensor& input);  // one input, first output

  // BatchNorm recalibration (no gradients, no Dropout): runs the unfused graph on `batches`
  // (values of the single graph input) and sets every BatchNormalization's running mean and
  // variance to the average of its batch statistics over them, so the statistics match weights
  // that were changed without retraining (pruning, sharing). Returns the number of
  // BatchNormalization nodes (0: nothing to do, nothing run).
  int recalibrate_batchnorm(const std::vector<at::Tensor>& batches);
  // The same when one weight changes at a time (RD curves with recalibration):
  // recalibration_prefix() runs the unfused graph in recalibration mode on each batch up to the
  // first step that reads `weight` (empty when the model has no BatchNormalization), setting the
  // statistics of the BatchNorm nodes it runs, and recalibrate_batchnorm_from() then runs only
  // the rest: while the weights read before that step are unchanged, the statistics after it
  // come out as recalibrate_batchnorm() on the same batches sets them.
  std::vector<std::shared_ptr<const PrefixCache>> recalibration_prefix(const std::vector<at::Tensor>& batches,
                                                                       const std::string& weight);
  void recalibrate_batchnorm_from(const std::vector<std::shared_ptr<const PrefixCache>>& prefixes);

  // Per-step median wall time over `runs` inference runs (after one warm-up run), in plan order.
  std::vector<StepTime> profile(const std::vector<at::Tensor>& inputs, int runs = 10);

  // Activation caching (inference only): runs the graph up to, not including, the first step
  // that reads `weight` and keeps the values live at that point. run_from() then runs only the
  // remaining steps with the store's current weights, so changing `weight` (or anything read
  // after it) and re-running costs only the tail of the network. The cache stays valid while
  // the weights read before that step are unchanged.
  std::shared_ptr<const PrefixCache> run_prefix(const std::vector<at::Tensor>& inputs, const std::string& weight);
  at::Tensor run_from(const PrefixCache& cache);  // first output
  // Fraction of the inference steps run_from() skips (diagnostics, benchmarks).
  double prefix_fraction(const PrefixCache& cache) const;

  // Training mode: float initializers become leaf tensors requiring grad (trainable() lists
  // them); BatchNormalization uses batch statistics and updates its running statistics.
  void set_training(bool training);
  bool training() const;
  std::vector<at::Tensor> trainable() const;        // float initializers consumed as weights
  std::vector<std::string> trainable_names() const;

  // True when the first graph output comes from a Softmax (possibly through Identity, Reshape,
  // Flatten, Squeeze or Unsqueeze): the model outputs probabilities, not logits.
  bool outputs_probabilities() const;
  // The first output as logits for losses and metrics: its logarithm when the model outputs
  // probabilities (cross-entropy of log-probabilities is the true loss), else the output itself.
  at::Tensor as_logits(const at::Tensor& output) const;

  // The original model with every initializer replaced by the store's current value.
  onnx::ModelProto to_model() const;
  const onnx::ModelProto& model() const;

  // Number of compiled steps per mode, for tests/diagnostics.
  std::size_t num_steps(bool training) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nnc::exec
