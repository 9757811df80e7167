#pragma once
// LeNet-5 (models/lenet5.onnx) with Fashion-MNIST cut to subsets, for step tests that run in
// seconds: the first `train` training images, 2,000 hold-out and 2,000 test images, no disk cache.
#include <algorithm>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"

namespace nnc::test_support {

inline data::Dataset first(const data::Dataset& d, int64_t n) {
  n = std::min(n, d.size());
  return {d.images.narrow(0, 0, n), d.labels.narrow(0, 0, n), d.num_classes};
}

struct Lenet5Subset {
  compress::CompressedModel model;
  compress::Context context;
};

inline Lenet5Subset lenet5_subset(int64_t train = 8000, StopToken stop = {}) {
  auto model = compress::CompressedModel::load(NNC_SOURCE_DIR "/models/lenet5.onnx");
  data::DataOptions d;
  d.val = 500;
  d.calib = 256;
  auto full = compress::load_context(model, d);
  auto s = full.splits();
  s.train = first(s.train, train);
  s.holdout = first(s.holdout, 2000);
  s.test = first(s.test, 2000);
  compress::Context context(std::move(s), 256, 0, Control{std::move(stop), nullptr});
  context.use_cache = false;
  return {std::move(model), std::move(context)};
}

// A weight of the model in memory, flat.
inline at::Tensor flat_weight(const compress::CompressedModel& m, const std::string& name) {
  return exec::to_tensor(*onnxio::find_initializer(m.model().graph(), name)).reshape({-1});
}

}  // namespace nnc::test_support
