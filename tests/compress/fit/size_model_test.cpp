// fit's size model against the file the container writer produces: the fixed part (graph,
// headers, fp32 leftovers) plus each projected tensor's payload bytes must be the real .nnc size
// within 2%, from tight to loose budgets.
#include <gtest/gtest.h>

#include <cmath>

#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/compress/fit/size_model.hpp"
#include "nncompress/compress/prune/magnitude.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/onnx/weight_inputs.hpp"
#include "nncompress/store/model_store.hpp"

using namespace nnc;

namespace {

// The weights and biases of the model's layers, as fit takes them.
std::vector<std::string> weights_and_biases(const onnx::ModelProto& m) {
  std::vector<std::string> names;
  for (const auto& l : prune::prunable_layers(m)) names.push_back(l.weight);
  for (const auto& n : m.graph().node())
    for (int i : onnxio::weight_inputs(n).biases)
      if (i < n.input_size() && onnxio::find_initializer(m.graph(), n.input(i))) names.push_back(n.input(i));
  return names;
}

void check_model(const std::string& path, const std::vector<int64_t>& caps) {
  const auto model = onnxio::load_model(path);
  const auto names = weights_and_biases(model);
  std::vector<std::vector<float>> values;
  for (const auto& n : names) values.push_back(onnxio::float_values(*onnxio::find_initializer(model.graph(), n)));
  const int64_t fixed = fit::fixed_container_bytes(model, names);
  for (const int64_t cap : caps) {
    const auto p = fit::project_to_budget({values.begin(), values.end()}, cap - fixed, {});
    // The projection as the container stores it: per tensor a codebook (levels + the zero of
    // its pruned elements), indices, and sparse positions.
    onnx::ModelProto projected = model;
    store::Compression c;
    for (std::size_t l = 0; l < names.size(); ++l) {
      auto* t = onnxio::find_initializer(*projected.mutable_graph(), names[l]);
      *t = onnxio::float_tensor(names[l], {t->dims().begin(), t->dims().end()}, p.layers[l].values);
      auto levels = p.layers[l].levels;
      levels.push_back(0.0f);
      c.codebooks.push_back(levels);
      c.indexed[names[l]] = {static_cast<int>(l), p.layers[l].level, 1.0f};
      c.sparse[names[l]] = true;
    }
    const auto real = static_cast<int64_t>(store::pack_model(projected, c).size());
    const int64_t predicted = fixed + p.predicted_bytes;
    EXPECT_NEAR(static_cast<double>(real), static_cast<double>(predicted), 0.02 * static_cast<double>(real))
        << path << " cap " << cap << ": real " << real << ", predicted " << predicted;
    EXPECT_LE(predicted, cap);
  }
}

}  // namespace

TEST(SizeModel, PredictsTheWrittenFileWithinTwoPercent) {
  check_model(NNC_SOURCE_DIR "/models/lenet5.onnx", {6 * 1024, 12 * 1024, 40 * 1024, 200 * 1024});
  check_model(NNC_SOURCE_DIR "/models/lenet300.onnx", {8 * 1024, 20 * 1024, 80 * 1024});
}

TEST(SizeModel, FixedBytesAreTheFileWithEveryCompressedTensorEmpty) {
  const auto model = onnxio::load_model(NNC_SOURCE_DIR "/models/lenet5.onnx");
  const auto names = weights_and_biases(model);
  const int64_t none = fit::fixed_container_bytes(model, {});
  const int64_t all = fit::fixed_container_bytes(model, names);
  // Nothing compressed: the whole model raw (fp32) in the container.
  EXPECT_EQ(none, static_cast<int64_t>(store::pack_model(model, {}).size()));
  EXPECT_GT(none, static_cast<int64_t>(store::fp32_initializer_bytes(model)));
  // Everything compressed and empty: little more than the graph.
  EXPECT_LT(all, 1024);
}
