#pragma once
// How much each (kept, bits) option of a tensor costs the network's output, measured: the tensor
// alone projected to the option (fit/projection.hpp), the mean squared error of the logits on the
// calibration images against the model's own. Summed over tensors this is the rate-distortion
// measure of layer-adaptive pruning (output distortions of several layers nearly add up), here
// over pruning and quantisation jointly. fit allocates bytes by it: squared weight error alone
// (the Euclidean projection) starves wide layers whose many small weights matter together.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/core/control.hpp"

namespace nnc::exec {
class Engine;
}

namespace nnc::fit {

// Replaces every option's `distortion` with its measured output distortion. The engine's
// weights are restored afterwards. The network runs up to the tensor's first reader once per
// tensor (Engine::run_prefix), then only its tail per option.
void measure_output_distortion(exec::Engine& engine, const at::Tensor& images, const std::vector<std::string>& names,
                               std::vector<std::vector<LayerOption>>& options, const Control& control = {});

}  // namespace nnc::fit
