#pragma once
// What a compression step works with besides the model: the data splits (train, val, calib,
// holdout, test; see data/dataset.hpp), the batch size and seed, the engine factory, a disk
// cache folder, and the Control (stop token, reporter). No step reads globals or prints.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "nncompress/core/control.hpp"
#include "nncompress/data/dataset.hpp"
#include "nncompress/data/model_data.hpp"

namespace nnc::exec {
class Engine;
}
namespace nnc::data {
class Evaluator;
}

namespace nnc::compress {

class CompressedModel;
struct HoldoutControl;

class Context {
 public:
  Context(data::Splits splits, int64_t batch, uint64_t seed, Control control = {});
  ~Context();
  Context(Context&&) noexcept;
  Context& operator=(Context&&) noexcept;

  const data::Splits& splits() const { return splits_; }
  int64_t batch() const { return batch_; }
  uint64_t seed() const { return seed_; }
  const Control& control() const { return control_; }
  void set_control(Control control) { control_ = std::move(control); }
  bool stop_requested() const { return control_.stop_requested(); }
  void note(std::string_view line) const { control_.note(line); }

  // Disk caches (RD curves): this folder when set, else $NNC_CACHE_DIR, $XDG_CACHE_HOME/nncompress
  // or ~/.cache/nncompress. use_cache = false: nothing is read from or written to disk.
  std::filesystem::path cache_dir;
  bool use_cache = true;
  // Run state files the steps keep while they run (compress/run_state.hpp); whoever writes the
  // outputs removes them afterwards (remove_run_state), so the same command then starts afresh.
  std::vector<std::filesystem::path> run_state;

  // Whether steps with an accuracy budget (max_drop) also refuse a result whose TEST drop exceeds
  // it (the CLI's single-method commands). A composition (compress) sets it false: there the
  // hold-out decides and the test split is only measured.
  bool test_guard = true;

  // The hold-out control of a model trained on its hold-out images, once a step started one
  // (finetune/holdout_control.hpp); the steps of a composition continue it.
  std::shared_ptr<HoldoutControl> holdout_control;

  // How the input normalisation was found (load_context fills it).
  data::NormalisationChoice normalisation;
  nlohmann::json normalisation_json() const;

  // An inference engine for a model (the project's engine options).
  std::unique_ptr<exec::Engine> make_engine(const onnx::ModelProto& model) const;
  // The test split's evaluator (built once). The test split is only measured, never searched on.
  const data::Evaluator& test() const;

 private:
  data::Splits splits_;
  int64_t batch_;
  uint64_t seed_;
  Control control_;
  mutable std::unique_ptr<data::Evaluator> test_;
};

// Loads the data named by `options` for the model: checks the images against its input, finds
// its normalisation (options, metadata, or inferred and recorded), fits the batch to a fixed
// batch dimension, makes the splits. Changes to the model (metadata, a relaxed batch) are adopted
// by `model` (CompressedModel::set_prepared), so call this before applying any step.
Context load_context(CompressedModel& model, data::DataOptions options, Control control = {});

}  // namespace nnc::compress
