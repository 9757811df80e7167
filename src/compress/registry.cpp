#include "nncompress/compress/registry.hpp"

#include <fmt/ranges.h>

#include "nncompress/compress/finetune/finetune_step.hpp"
#include "nncompress/compress/fit/fit_step.hpp"
#include "nncompress/compress/lowrank/lowrank_step.hpp"
#include "nncompress/compress/options.hpp"
#include "nncompress/compress/prune/prune_step.hpp"
#include "nncompress/compress/prune/rd_curve.hpp"
#include "nncompress/compress/quantize/quantize_step.hpp"
#include "nncompress/compress/share/search.hpp"
#include "nncompress/compress/share/share_step.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/train/data_parallel.hpp"

namespace nnc::compress {
namespace {

// A registry entry for a step type whose options type has visit() and validate().
template <typename StepT, typename Options>
StepInfo entry(std::string name, std::string summary, std::string paper) {
  auto make = [name](const nlohmann::json& j) { return Step(StepT(options_from_json<Options>(j, name))); };
  auto defaults = [] {
    const Options o;
    return options_to_json(o);
  };
  return {std::move(name), std::move(summary), std::move(paper), make, defaults};
}

}  // namespace

void register_distributed_tasks() {
  share::register_distributed_tasks();
  prune::register_distributed_tasks();
  train::register_distributed_tasks();
}

const std::vector<StepInfo>& registered_steps() {
  // One line per step: adding a method touches this list once.
  static const std::vector<StepInfo> steps{
      entry<PruneStep, PruneOptions>(
          "prune", "layer-adaptive magnitude pruning: rate-distortion curves + dynamic programme, iterative schedule",
          "rate-distortion optimised layer-adaptive pruning (RD_VIT_PRUNE)"),
      entry<ShareStep, ShareOptions>("share",
                                     "structure-agnostic weight sharing: one codebook of uniform bins searched by "
                                     "NSGA-II, merged, entropy-coded",
                                     "structure-agnostic weight sharing searched by NSGA-II"),
      entry<LowrankStep, LowrankOptions>(
          "lowrank", "ALDS low-rank decomposition to a parameter, FLOP or latency budget, with ONNX surgery",
          "Liebenwein et al., Compressing Neural Networks: Towards Determining the Optimal Layer-wise Decomposition, "
          "NeurIPS 2021"),
      entry<FitStep, FitOptions>(
          "fit", "joint pruning + per-layer quantisation to a file size by ADMM: the most accurate model that fits",
          "Yang, Gui, Zhu, Liu, Automatic Neural Network Compression by Sparsity-Quantization Joint Learning: A "
          "Constrained Optimization-based Approach, CVPR 2020"),
      entry<QuantizeStep, QdqOptions>(
          "quantize",
          "8-bit integer quantisation (QDQ): int8 weights per output channel, uint8 activations calibrated on the "
          "calibration images, int32 biases; runtimes keep and run the model in 8 bits; the last step",
          "Jacob et al., Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference, "
          "CVPR 2018"),
      entry<FinetuneStep, FinetuneOptions>(
          "finetune", "fine-tuning with masks and codebook assignments fixed; shared codebook values trained",
          "Han et al., Deep Compression, ICLR 2016 (trained quantization)"),
  };
  return steps;
}

const StepInfo& find_step(std::string_view name) {
  for (const auto& s : registered_steps())
    if (s.name == name) return s;
  std::vector<std::string> names;
  for (const auto& s : registered_steps()) names.push_back(s.name);
  fail(ErrorCode::kInvalidArgument, "unknown step '{}' (steps: {})", name, fmt::join(names, ", "));
}

Step make_step(std::string_view name, const nlohmann::json& options) { return find_step(name).make(options); }

}  // namespace nnc::compress
