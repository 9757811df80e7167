#pragma once
// The model being compressed, carried in memory from step to step: the ONNX graph with its
// current weights, the original it started from (the baseline of every ratio, the teacher of
// fine-tuning), and everything the container and ONNX writers need to store what the steps did:
//  - masks: per weight, which elements may be non-zero (pruning); masked elements are exact
//    zeros and stay so through every later step;
//  - codebooks and assignments: shared values and, per shared weight, the codebook entry of
//    every element (weight sharing); a codebook's zero entry is the exact 0 that only masked
//    elements use;
//  - factorisations: which layers low-rank decomposition replaced by which factors;
//  - history: what each step did (its report).
// A value type: copying it snapshots the model (a budget search rolls back by copying).
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/core/control.hpp"

namespace nnc::compress {

// 1 = the element may be non-zero, 0 = pruned (an exact zero). Row-major, one per element.
using Mask = std::vector<uint8_t>;

struct Codebook {
  std::vector<float> values;
  int zero_entry = -1;  // entry holding the exact 0 of masked elements (-1: none)
};

struct Assignment {
  int codebook = 0;
  std::vector<uint16_t> indices;  // codebook entry of every element, row-major
  // The weight is entry value x scale (one float multiplication): weight sharing with a
  // per-tensor scale keeps unit-range values in the codebook and the tensor's range here.
  float scale = 1.0f;
  float value(const Codebook& cb, std::size_t element) const { return cb.values[indices[element]] * scale; }
};

struct Factorisation {
  std::string node;                 // the replaced node
  std::string weight;               // its weight, no longer in the graph
  std::vector<std::string> factors; // the initializers that replace it
  int64_t groups = 1, rank = 0;     // ALDS's (k, j)
};

class CompressedModel {
 public:
  // The model as given; exact zeros of layer weights count as masks (a pruned file keeps its
  // sparsity through later steps), and layer weights that take only a few distinct values as
  // one shared codebook (a shared file keeps its sharing; see sharing_from_values).
  explicit CompressedModel(onnx::ModelProto model, std::string source = {});
  // Loads an ONNX file (checked), folds layer weights the graph computes from initializers back
  // into initializers (a shared or bitmask-pruned ONNX written by us, or an export without
  // constant folding), then as above.
  static CompressedModel load(const std::filesystem::path& path, const Control& control = {});

  const std::string& source() const { return source_; }  // the file it came from, for messages
  const onnx::ModelProto& original() const { return *original_; }
  // fp32 bytes of the original's float initializers: the numerator of every honest ratio.
  std::size_t original_fp32_bytes() const;

  const onnx::ModelProto& model() const { return model_; }
  // A step's result, with the masks it set (pruning; each replaces the weight's mask, see
  // set_mask). Masks, assignments and factorisations of tensors that no longer exist (or changed
  // shape) are dropped; every mask and assignment must hold in the new model (checked).
  // With `codebook_values` (codebook -> new values, e.g. trained), the codebooks change too.
  void set_model(onnx::ModelProto model, std::map<std::string, Mask> new_masks = {},
                 std::map<std::size_t, std::vector<float>> codebook_values = {});
  // Before any step: adopts what data preparation changed (normalisation metadata, a relaxed
  // batch dimension) in the original too.
  void set_prepared(onnx::ModelProto model);

  const std::map<std::string, Mask>& masks() const { return masks_; }
  const Mask* mask(const std::string& weight) const;
  // Sets (or with an all-ones mask, clears) a weight's mask; the model's weight must already be
  // zero where the mask is. A shared weight's newly masked elements move to its codebook's zero
  // entry (added when missing).
  void set_mask(const std::string& weight, Mask mask);
  // Drops all sharing state (the weights keep their values).
  void clear_sharing();

  const std::vector<Codebook>& codebooks() const { return codebooks_; }
  const std::map<std::string, Assignment>& assignments() const { return assignments_; }
  // Replaces all sharing state. Every assigned weight must equal its codebook values times its
  // scale (checked).
  void set_sharing(std::vector<Codebook> codebooks, std::map<std::string, Assignment> assignments);

  const std::vector<Factorisation>& factorisations() const { return factorisations_; }
  void add_factorisation(Factorisation f) { factorisations_.push_back(std::move(f)); }

  // One entry per applied step: {"step": name, "options": ..., "report": ...}.
  const nlohmann::json& history() const { return history_; }
  void record(const std::string& step, nlohmann::json options, nlohmann::json report);

  // Element counts of the layer weights (weight_inputs) and how many are masked or shared.
  struct Summary {
    int64_t weights = 0, masked = 0, shared = 0;
  };
  Summary summary() const;

 private:
  void install_mask(const std::string& weight, Mask mask);  // unchecked; see set_mask
  void check_mask(const std::string& weight, const Mask& mask) const;
  void check_assignment(const std::string& weight, const Assignment& a) const;

  std::string source_;
  std::shared_ptr<const onnx::ModelProto> original_;
  onnx::ModelProto model_;
  std::map<std::string, Mask> masks_;
  std::vector<Codebook> codebooks_;
  std::map<std::string, Assignment> assignments_;
  std::vector<Factorisation> factorisations_;
  nlohmann::json history_ = nlohmann::json::array();
};

// Masks from the exact zeros of every layer weight (weight_inputs) that has any.
std::map<std::string, Mask> masks_from_zeros(const onnx::ModelProto& model);
// One codebook of the distinct non-zero values of all layer weights (plus the zero entry of the
// masked elements) when they are few: at most 4,096 and at most one per 8 non-zero weights
// (trained, unshared weights are all different). Empty otherwise.
std::optional<std::pair<Codebook, std::map<std::string, Assignment>>> sharing_from_values(
    const onnx::ModelProto& model, const std::map<std::string, Mask>& masks);

}  // namespace nnc::compress
