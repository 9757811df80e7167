// fit's size model against the file the container writer produces: the fixed part (graph,
// headers, fp32 leftovers) plus each projected tensor's payload bytes must be the real .nnc size
// within 2%, from tight to loose budgets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "nncompress/compress/fit/projection.hpp"
#include "nncompress/compress/fit/size_model.hpp"
#include "nncompress/compress/fit/size_sparsity.hpp"
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
  for (const auto& t : prune::layer_tensors(m, true)) names.push_back(t.name);
  return names;
}

// The file of `model` with each named tensor replaced by its projection, as the container stores
// it: per tensor a codebook (levels + the zero of its pruned elements), indices, sparse positions.
int64_t written_bytes(const onnx::ModelProto& model, const std::vector<std::string>& names,
                      const std::vector<fit::ProjectedLayer>& layers) {
  onnx::ModelProto projected = model;
  store::Compression c;
  for (std::size_t l = 0; l < names.size(); ++l) {
    auto* t = onnxio::find_initializer(*projected.mutable_graph(), names[l]);
    *t = onnxio::float_tensor(names[l], {t->dims().begin(), t->dims().end()}, layers[l].values);
    auto levels = layers[l].levels;
    levels.push_back(0.0f);
    c.codebooks.push_back(levels);
    c.indexed[names[l]] = {static_cast<int>(l), layers[l].level, 1.0f};
    c.sparse[names[l]] = true;
  }
  return static_cast<int64_t>(store::pack_model(projected, c).size());
}

// The model's file with every weight kept at `density` (its largest magnitudes) and every tensor
// (biases dense) on a codebook of 2^bits levels, as the container writes it.
int64_t written_at_density(const onnx::ModelProto& model, double density, int bits) {
  std::vector<std::string> names;
  std::vector<fit::ProjectedLayer> layers;
  for (const auto& t : prune::layer_tensors(model, true)) {
    const auto values = onnxio::float_values(*onnxio::find_initializer(model.graph(), t.name));
    const auto n = static_cast<int64_t>(values.size());
    const int64_t kept = t.bias ? n : std::clamp<int64_t>(std::llround(density * static_cast<double>(n)), 1, n);
    names.push_back(t.name);
    layers.push_back(fit::project_layer(values, kept, bits));
  }
  return written_bytes(model, names, layers);
}

void check_model(const std::string& path, const std::vector<int64_t>& caps) {
  const auto model = onnxio::load_model(path);
  const auto names = weights_and_biases(model);
  std::vector<std::vector<float>> values;
  for (const auto& n : names) values.push_back(onnxio::float_values(*onnxio::find_initializer(model.graph(), n)));
  const int64_t fixed = fit::fixed_container_bytes(model, names);
  for (const int64_t cap : caps) {
    const auto p = fit::project_to_budget({values.begin(), values.end()}, cap - fixed, {});
    const int64_t real = written_bytes(model, names, p.layers);
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

// The sparsity a size cap asks for (pruning's `size`): the file with every layer kept at that
// one density on 4-bit codebooks, as the container writes it, fills the cap (within the size
// model's 2%), and a tenth more kept weights would not fit.
TEST(SizeSparsity, TheKeptWeightsAtThatSparsityFillTheCapAsTheFileIsWritten) {
  for (const auto& [path, caps] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
           {NNC_SOURCE_DIR "/models/lenet5.onnx", {8 * 1024, 12 * 1024, 40 * 1024}},
           {NNC_SOURCE_DIR "/models/lenet300.onnx", {17774, 40 * 1024}}}) {
    const auto model = onnxio::load_model(path);
    std::vector<std::string> weights, biases;
    for (const auto& t : prune::layer_tensors(model, true)) (t.bias ? biases : weights).push_back(t.name);
    double last = 1.0;
    for (const int64_t cap : caps) {
      const auto s = fit::sparsity_for_size(model, weights, biases, cap, 4);
      ASSERT_TRUE(s.fits) << path << " " << cap;
      EXPECT_LE(s.predicted_bytes, cap);
      EXPECT_EQ(s.fixed_bytes, fit::fixed_container_bytes(model, weights_and_biases(model)));
      EXPECT_GT(s.sparsity, 0.5) << path << " " << cap;
      EXPECT_LT(s.sparsity, last) << "a larger cap asks for less sparsity";
      last = s.sparsity;
      const double density = 1.0 - s.sparsity;
      const auto real = static_cast<double>(written_at_density(model, density, 4));
      EXPECT_NEAR(real, static_cast<double>(cap), 0.02 * static_cast<double>(cap)) << path << " cap " << cap;
      EXPECT_GT(written_at_density(model, 1.1 * density, 4), cap) << path << " cap " << cap;
      // More bits per kept weight: fewer of them fit.
      EXPECT_GT(fit::sparsity_for_size(model, weights, biases, cap, 6).sparsity, s.sparsity);
    }
    // Below what the graph and the biases need, nothing fits; above the dense file, no pruning.
    const auto tiny = fit::sparsity_for_size(model, weights, biases, 600, 4);
    EXPECT_FALSE(tiny.fits);
    EXPECT_GT(tiny.predicted_bytes, 600);
    EXPECT_EQ(fit::sparsity_for_size(model, weights, biases, 8 << 20, 4).sparsity, 0.0);
  }
}
