// Compresses a model through the nncompress library: prune, then share what is left (the pruned
// weights stay exact zeros), then fine-tune the shared values; writes the .nnc and the ONNX file.
// Usage: prune_then_share MODEL.onnx OUT.onnx OUT.nnc [--quick]
#include <cstdio>
#include <cstring>
#include <string>

#include <nncompress/compress/compressed_model.hpp>
#include <nncompress/compress/context.hpp>
#include <nncompress/compress/outputs.hpp>
#include <nncompress/compress/registry.hpp>
#include <nncompress/compress/run_state.hpp>
#include <nncompress/core/error.hpp>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.onnx OUT.onnx OUT.nnc [--quick]\n", argv[0]);
    return 2;
  }
  const bool quick = argc > 4 && std::strcmp(argv[4], "--quick") == 0;
  try {
    auto model = nnc::compress::CompressedModel::load(argv[1]);
    nnc::data::DataOptions data;  // Fashion-MNIST, the project's fixed splits
    auto context = nnc::compress::load_context(model, data);
    // Steps by name with their options, as a recipe would give them.
    const std::vector<nnc::compress::Step> steps{
        nnc::compress::make_step("prune", {{"sparsity", 0.9}, {"alloc", quick ? "global" : "rd"}}),
        nnc::compress::make_step("share", {{"max_drop", 1.0}, {"pop", 8}, {"gens", quick ? 2 : 10}}),
        nnc::compress::make_step("finetune", {{"epochs", 1}, {"lr", 1e-3}}),
    };
    for (const auto& step : steps) {
      const auto report = step.apply(model, context);
      std::printf("%-8s test top-1 %.2f%%, %.1fx\n", step.name().c_str(), 100 * report["top1_after"].get<double>(),
                  report.value("ratio", 1.0));
    }
    const auto sizes = nnc::compress::write_outputs(model, {argv[2], argv[3], argv[1], {}});
    // The outputs are written: the progress the steps saved for a rerun after a crash can go.
    nnc::compress::remove_run_state(context);
    std::printf("%s: %zu bytes = %.1fx the fp32 weights; %s: %zu bytes\n", argv[3],
                sizes["nnc_bytes"].get<std::size_t>(), sizes["ratio"].get<double>(), argv[2],
                sizes["onnx_bytes"].get<std::size_t>());
  } catch (const nnc::Error& e) {
    std::fprintf(stderr, "prune_then_share: %s\n", e.what());
    return 1;
  }
}
