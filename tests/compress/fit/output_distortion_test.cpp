// fit's output distortion of each (kept, bits) option: the logits' mean squared error on a batch,
// measured from cached activations (the network's head run once per tensor) exactly as a full
// run measures it; the engine's weights are left as they were.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/fit/output_distortion.hpp"
#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"

using namespace nnc;

TEST(OutputDistortion, CachedActivationsMeasureWhatAFullRunMeasures) {
  exec::Engine engine(onnxio::load_model(NNC_SOURCE_DIR "/models/lenet5.onnx"));
  torch::manual_seed(0);
  const auto images = torch::randn({32, 1, 28, 28});
  // conv1 (the first layer: nothing to cache), conv2's bias (read by the same step as its weight)
  // and fc2 (the last layer: almost all of the network cached).
  const std::vector<std::string> names{"conv1.weight", "conv2.bias", "fc2.weight"};
  std::vector<std::vector<fit::LayerOption>> options;
  std::vector<at::Tensor> before;
  for (const auto& n : names) {
    before.push_back(engine.weights().get(n).clone());
    options.push_back({{before.back().numel(), 2, 0, 0}, {std::max<int64_t>(1, before.back().numel() / 10), 4, 0, 0}});
  }
  fit::measure_output_distortion(engine, images, names, options);
  const auto reference = engine.as_logits(engine.run_single(images)).reshape({32, -1});
  for (std::size_t l = 0; l < names.size(); ++l) {
    EXPECT_TRUE(torch::equal(engine.weights().get(names[l]), before[l])) << names[l] << ": weights not restored";
    const auto flat = before[l].contiguous().reshape({-1});
    const fit::LayerProjector projector({flat.data_ptr<float>(), static_cast<std::size_t>(flat.numel())});
    for (const auto& o : options[l]) {
      const auto p = projector.project(o.kept, o.bits);
      engine.weights().set(names[l], torch::tensor(p.values).reshape(before[l].sizes()));
      const double full = (engine.as_logits(engine.run_single(images)).reshape({32, -1}) - reference).pow(2).mean().item<double>();
      engine.weights().set(names[l], before[l]);
      EXPECT_GT(full, 0) << names[l];
      EXPECT_NEAR(o.distortion, full, 1e-6 * full + 1e-9) << names[l] << " kept " << o.kept << " bits " << o.bits;
    }
  }
}
