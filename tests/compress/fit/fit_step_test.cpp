// The fit step on LeNet-5 and a Fashion-MNIST subset (seconds, not accuracy): the file written
// is within the cap, every tensor is on its own codebook with pruned elements exact zeros, the
// written files are the model in memory, and impossible caps fail before any training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/registry.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/store/model_store.hpp"
#include "compress/lenet5_subset.hpp"

using namespace nnc;

namespace {

test_support::Lenet5Subset lenet5() { return test_support::lenet5_subset(4000); }

at::Tensor weight(const compress::CompressedModel& m, const std::string& name) { return test_support::flat_weight(m, name); }

std::string error_of(compress::CompressedModel& model, compress::Context& context, const std::string& size) {
  try {
    compress::make_step("fit", {{"size", size}, {"epochs", 1}}).apply(model, context);
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST(FitStep, WritesAFileWithinTheCapWithEveryTensorOnItsOwnCodebook) {
  auto [model, context] = lenet5();
  const int64_t cap = 16 * 1024;
  auto r = compress::make_step("fit", {{"size", "16KB"}, {"epochs", 2}, {"masked_epochs", 1}, {"finetune", {{"epochs", 1}}}})
               .apply(model, context);
  const auto packed = compress::pack_nnc(model);
  EXPECT_LE(static_cast<int64_t>(packed.bytes.size()), cap);
  EXPECT_EQ(r["nnc_bytes"].get<int64_t>(), static_cast<int64_t>(packed.bytes.size()));
  EXPECT_NEAR(r["predicted_bytes"].get<double>(), static_cast<double>(packed.bytes.size()), 0.02 * cap);
  ASSERT_EQ(r["admm"].size(), 3u);
  EXPECT_EQ(r["admm"][2]["phase"], "quantise");
  EXPECT_LT(r["admm"][2]["gap"].get<double>(), r["admm"][0]["gap"].get<double>());
  // Four weights and four biases, one codebook each, levels within the bits chosen.
  ASSERT_EQ(model.codebooks().size(), 8u);
  ASSERT_EQ(r["layers"].size(), 8u);
  for (const auto& l : r["layers"]) {
    const auto& a = model.assignments().at(l["weight"].get<std::string>());
    const auto& cb = model.codebooks()[static_cast<std::size_t>(a.codebook)];
    const auto w = weight(model, l["weight"].get<std::string>());
    const auto* mask = model.mask(l["weight"].get<std::string>());
    EXPECT_LE(l["levels"].get<std::size_t>(), std::size_t{1} << l["bits"].get<int>());
    int64_t kept = 0;
    for (std::size_t i = 0; i < a.indices.size(); ++i) {
      ASSERT_EQ(w[static_cast<int64_t>(i)].item<float>(), cb.values[a.indices[i]]);
      const bool pruned = static_cast<int>(a.indices[i]) == cb.zero_entry;
      if (mask) {
        ASSERT_EQ(!(*mask)[i], pruned);
      }
      kept += !pruned;
    }
    EXPECT_EQ(kept, l["kept"].get<int64_t>());
  }
  // Far better than chance even on this subset, and the fine-tuning did not lose accuracy.
  EXPECT_GT(r["top1_after"].get<double>(), 0.5);
  EXPECT_GE(r["top1_after"].get<double>(), r["top1_projected"].get<double>() - 0.01);
  test_support::expect_written_is_in_memory(model, context);
}

// A pruned model (keep_zeros, the default): its zeros stay zeros through ADMM, the projection
// and the fine-tuning; fit prunes further among the weights pruning left.
TEST(FitStep, APrunedModelsZerosStayZeros) {
  auto [model, context] = lenet5();
  compress::make_step("prune", {{"sparsity", 0.8}, {"alloc", "uniform"}, {"comparison", false}}).apply(model, context);
  const std::vector<std::string> names{"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"};
  std::map<std::string, at::Tensor> zero_before;
  for (const auto& n : names) zero_before[n] = weight(model, n).eq(0);
  auto r = compress::make_step("fit", {{"size", "16KB"}, {"epochs", 2}, {"masked_epochs", 1}, {"finetune", {{"epochs", 1}}}})
               .apply(model, context);
  EXPECT_LE(r["nnc_bytes"].get<int64_t>(), 16 * 1024);
  for (const auto& n : names) {
    const auto w = weight(model, n);
    EXPECT_GT(zero_before[n].sum().item<int64_t>(), w.numel() / 2) << n;  // pruned at 80%
    EXPECT_EQ(w.masked_select(zero_before[n]).abs().max().item<float>(), 0.0f) << n;
  }
  EXPECT_GT(r["top1_after"].get<double>(), 0.5);
}

TEST(FitStep, ImpossibleCapsFailNamingTheFigures) {
  auto [model, context] = lenet5();
  const auto stored = compress::pack_nnc(model).bytes.size();
  EXPECT_EQ(error_of(model, context, std::to_string(stored)),
            fmt::format("size {} B ({:.1f} KB): nothing to do, the model stored uncompressed already fits ({} B "
                        "({:.1f} KB))",
                        stored, stored / 1024.0, stored, stored / 1024.0));
  const auto tiny = error_of(model, context, "600");
  EXPECT_NE(tiny.find("size 600 B (0.6 KB) is below the "), std::string::npos) << tiny;
  EXPECT_NE(tiny.find("bytes this model needs at least"), std::string::npos) << tiny;
  EXPECT_TRUE(model.codebooks().empty()) << "nothing changed";
}
