#pragma once
// LeNet-5 (models/lenet5.onnx) with Fashion-MNIST cut to subsets, for step tests that run in
// seconds: the first `train` training images, 2,000 hold-out and 2,000 test images, no disk
// cache; and the check that what is written is the model in memory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/store/model_store.hpp"

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

// What is written is the model in memory: the container decodes to its shared weights, the
// compressed ONNX (codebook lookup, scales, masks unpacked in the graph) computes its outputs.
inline void expect_written_is_in_memory(const compress::CompressedModel& model, compress::Context& context) {
  const auto unpacked = store::unpack_model(compress::pack_nnc(model).bytes, "written");
  for (const auto& [name, a] : model.assignments())
    EXPECT_TRUE(torch::equal(exec::to_tensor(*onnxio::find_initializer(unpacked.graph(), name)).reshape({-1}),
                             flat_weight(model, name)))
        << name;
  exec::Engine in_memory(model.model()), written(compress::compressed_onnx(model).model);
  const auto x = context.splits().test.images.narrow(0, 0, 64);
  EXPECT_TRUE(torch::allclose(in_memory.run_single(x), written.run_single(x), 1e-5, 1e-5));
}

}  // namespace nnc::test_support
