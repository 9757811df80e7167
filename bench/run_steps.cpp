// Runs compression steps in memory, one after the other, on one model: how composed methods are
// measured (bench/RESULTS.md). The steps are a JSON list of {"step": name, ...its options}.
// Usage: run_steps MODEL.onnx OUT.onnx OUT.nnc '[{"step":"share","max_drop":0.5},{"step":"finetune","epochs":2}]'
//        [--seed S] [--val N]
// Prints one JSON object: every step's report, the test top-1 before and after, the sizes.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/outputs.hpp"
#include "nncompress/compress/registry.hpp"
#include "nncompress/core/blas_threads.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"

namespace {

class StderrReporter final : public nnc::Reporter {
 public:
  void note(std::string_view line) override { std::cerr << line << "\n"; }
  void progress(const nnc::ProgressEvent& e) override {
    if (e.finished || e.done == e.total) std::cerr << e.what << " [" << e.done << "/" << e.total << "] " << e.message << "\n";
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s MODEL.onnx OUT.onnx OUT.nnc STEPS_JSON [--seed S] [--val N]\n", argv[0]);
    return 2;
  }
  nnc::single_threaded_blas();
  try {
    nnc::data::DataOptions data;
    for (int i = 5; i + 1 < argc; i += 2) {
      if (std::strcmp(argv[i], "--seed") == 0) data.seed = std::stoull(argv[i + 1]);
      if (std::strcmp(argv[i], "--val") == 0) data.val = std::stoll(argv[i + 1]);
    }
    StderrReporter reporter;
    const nnc::Control control{{}, &reporter};
    auto model = nnc::compress::CompressedModel::load(argv[1], control);
    auto context = nnc::compress::load_context(model, data, control);
    std::vector<nnc::compress::Step> steps;
    for (auto s : nlohmann::json::parse(argv[4])) {
      const auto name = s.at("step").get<std::string>();
      s.erase("step");
      steps.push_back(nnc::compress::make_step(name, s));
    }
    auto before = context.make_engine(model.model());
    const double top1_before = context.test().evaluate(*before).top1;
    nlohmann::json reports = nnc::compress::apply_steps(steps, model, context);
    auto after = context.make_engine(model.model());
    const double top1_after = context.test().evaluate(*after).top1;
    auto j = nnc::compress::write_outputs(model, {argv[2], argv[3], argv[1], {}}, control);
    j["model"] = argv[1];
    j["steps"] = reports;
    j["top1_before"] = top1_before;
    j["top1_after"] = top1_after;
    j["top1_drop_pt"] = 100 * (top1_before - top1_after);
    const auto s = model.summary();
    j["weights"] = s.weights;
    j["pruned"] = s.masked;
    j["shared"] = s.shared;
    std::cout << j.dump(2) << std::endl;
  } catch (const nnc::Error& e) {
    std::fprintf(stderr, "run_steps: %s\n", e.what());
    return 1;
  }
}
