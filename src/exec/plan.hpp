#pragma once
// Internal: a compiled step of the engine's plan.
#include <string>
#include <vector>

#include "nncompress/exec/op_registry.hpp"

namespace nnc::exec {

struct Step {
  OpFn fn;
  std::vector<int> in, out;  // value slots; -1 for absent optional inputs/outputs
  std::vector<int> release;  // slots whose last reader is this step
  // Per input: the value is read here for the last time and by this input alone, so it is handed
  // over (moved, not copied) and kernels may reuse its buffer. Set by the engine's finish_plan.
  std::vector<bool> hand_over;
  std::string label;
  std::vector<std::string> nodes;  // names of the ONNX nodes it runs (first output when unnamed)
  bool onednn_inputs = false;  // kernel accepts oneDNN tensors (OpTraits::onednn)
};

}  // namespace nnc::exec
