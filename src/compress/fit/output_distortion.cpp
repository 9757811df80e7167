#include "nncompress/compress/fit/output_distortion.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::fit {

void measure_output_distortion(exec::Engine& engine, const at::Tensor& images, const std::vector<std::string>& names,
                               std::vector<std::vector<LayerOption>>& options, const Control& control) {
  NNC_CHECK(names.size() == options.size(), "{} tensors, {} option lists", names.size(), options.size());
  c10::InferenceMode guard;
  const auto reference = engine.as_logits(engine.run_single(images)).reshape({images.size(0), -1}).clone();
  long total = 0, done = 0;
  for (const auto& o : options) total += static_cast<long>(o.size());
  Progress progress(control.reporter, "output distortion of each option", total);
  for (std::size_t l = 0; l < names.size() && !control.stop_requested(); ++l) {
    const auto original = engine.weights().get(names[l]).clone();
    const auto flat = original.to(at::kFloat).contiguous().reshape({-1});
    const LayerProjector projector({flat.data_ptr<float>(), static_cast<std::size_t>(flat.numel())});
    // The activations before the first step that reads the tensor are the same for every option:
    // run once, then only the tail of the network per option.
    const auto prefix = engine.run_prefix({images}, names[l]);
    for (auto& o : options[l]) {
      const auto p = projector.project(o.kept, o.bits);
      engine.weights().set(names[l], at::from_blob(const_cast<float*>(p.values.data()), original.sizes(), at::kFloat));
      const auto out = engine.as_logits(engine.run_from(*prefix)).reshape({images.size(0), -1});
      o.distortion = (out - reference).pow(2).mean().item<double>();
      progress.update(++done, names[l]);
    }
    engine.weights().set(names[l], original);
  }
  progress.finish();
}

}  // namespace nnc::fit
