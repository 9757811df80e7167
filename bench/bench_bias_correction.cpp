// Bias correction and error-feedback rounding for one global uniform codebook, measured against
// plain binning in the same run: test top-1 at each bin count K, and the encoded index bits per
// weight of each assignment.
//   build/bench/bench_bias_correction MODEL [K...]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/share/bias_correction.hpp"
#include "nncompress/compress/share/error_feedback.hpp"
#include "nncompress/compress/share/search.hpp"
#include "nncompress/compress/share/uniform_bins.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/metadata.hpp"
#include "nncompress/onnx/model_io.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_bias_correction MODEL [K...]\n");
    return 2;
  }
  std::vector<int> ks;
  for (int i = 2; i < argc; ++i) ks.push_back(std::atoi(argv[i]));
  if (ks.empty()) ks = {24, 32, 40, 48, 64, 96};
  at::set_num_threads(2);
  auto model = nnc::compress::fold_batchnorm(nnc::onnxio::load_model(argv[1]));
  auto set = nnc::share::collect_shared(model, false);
  auto norm = nnc::onnxio::get_normalisation(model);
  nnc::data::Normalisation dn;
  if (norm) {
    dn.mean = norm->mean;
    dn.std = norm->std;
  }
  auto source = nnc::data::load_data("fashion-mnist");
  nnc::data::Dataset test{nnc::data::normalise(source.test_x, dn), source.test_y, source.num_classes};
  // Calibration: the last 1,024 training images (the CLI's default calibration split).
  const int64_t n = source.train_x.size(0);
  auto calib = nnc::data::normalise(source.train_x.slice(0, n - 1024, n), dn);
  nnc::data::Evaluator eval(test, 256);
  nnc::exec::Engine engine(model);
  nnc::share::BiasCorrection bc(model, set, calib, 256);
  auto t0 = std::chrono::steady_clock::now();
  nnc::share::ErrorFeedback ef(model, set, calib);
  const double ef_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %zu shared weights in %zu tensors, %d biases corrected, %d layers with error feedback (H in %.1f s); "
              "original test top-1 %.2f%%\n",
              argv[1], set.size(), set.names.size(), bc.corrected_layers(), ef.layers(), ef_seconds,
              100 * eval.evaluate(engine).top1);
  std::printf("| K | bins | index bits/weight | test top-1 | with bias correction | gain | error feedback: bits | "
              "top-1 | + bias correction | assign ms |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (int k : ks) {
    auto cb = nnc::share::uniform_bins(set, k);
    auto values = nnc::share::shared_values(set, cb);
    nnc::share::write_shared(engine, set, values);
    bc.restore(engine);
    const double plain = 100 * eval.evaluate(engine).top1;
    bc.apply(engine, set, values);
    const double corrected = 100 * eval.evaluate(engine).top1;
    bc.restore(engine);
    auto t1 = std::chrono::steady_clock::now();
    auto fed = ef.assign(set, cb);
    const double assign_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    auto fed_values = nnc::share::entry_values(cb, fed);
    nnc::share::write_shared(engine, set, fed_values);
    const double fed_plain = 100 * eval.evaluate(engine).top1;
    bc.apply(engine, set, fed_values);
    const double fed_corrected = 100 * eval.evaluate(engine).top1;
    bc.restore(engine);
    std::printf("| %d | %zu | %.3f | %.2f%% | %.2f%% | %+.2f pt | %.3f | %.2f%% | %.2f%% | %.0f |\n", k, cb.size(),
                nnc::share::encoded_index_bits(set, cb.indices(), cb.size()), plain, corrected, corrected - plain,
                nnc::share::encoded_index_bits(set, fed, cb.size()), fed_plain, fed_corrected, assign_ms);
    std::fflush(stdout);
  }
  return 0;
}
