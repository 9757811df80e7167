// bench_engine MODEL [batch] [threads] [iterations] [swap]: median milliseconds of one inference
// of a random batch in our engine (after warm-up). With "swap", every timed run is preceded by
// replacing all float weights (the compression methods' hot path: folding and prepacking redone);
// swap_ms is the replacement alone. Prints one JSON line.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/model_io.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_engine MODEL [batch=256] [threads=2] [iterations=30]\n");
    return 2;
  }
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 256;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const int iters = argc > 4 ? std::atoi(argv[4]) : 30;
  const bool swap = argc > 5 && std::string(argv[5]) == "swap";
  at::set_num_threads(threads);
  nnc::exec::Engine engine(nnc::onnxio::load_model(argv[1]));
  std::vector<int64_t> shape{batch};
  for (std::size_t d = 1; d < engine.inputs()[0].shape.size(); ++d) shape.push_back(engine.inputs()[0].shape[d]);
  auto x = at::randn(shape);
  for (int i = 0; i < 5; ++i) engine.run_single(x);
  std::vector<double> ms, swap_ms;
  auto& store = engine.weights();
  for (int i = 0; i < iters; ++i) {
    auto t = std::chrono::steady_clock::now();
    if (swap) {
      for (std::size_t w = 0; w < store.size(); ++w)
        if (store.at(w).is_floating_point()) store.set(w, store.at(w) * 1.0f);
      swap_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
    }
    engine.run_single(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(swap_ms.begin(), swap_ms.end());
  std::printf("{\"model\": \"%s\", \"batch\": %ld, \"threads\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, "
              "\"swap_ms\": %.3f}\n",
              argv[1], static_cast<long>(batch), threads, ms[ms.size() / 2], ms.front(),
              swap ? swap_ms[swap_ms.size() / 2] : 0.0);
  return 0;
}
