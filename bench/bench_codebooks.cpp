// bench_codebooks MODEL [K...]: building the codebook, one global uniform grid (the method)
// against per-layer 1-D k-means (Deep Compression style: one codebook per layer, linear
// initialisation, Lloyd iterations to convergence) and per-layer uniform bins, on the model's
// Conv/Gemm/MatMul weights after BatchNorm folding. For each total codebook size K:
//   - time to build each codebook (median of repeats, one thread) and the ratio k-means / uniform
//     at equal k (every layer's k-means gets K entries, the global grid K bins) and at equal
//     total codebook size (each of the L layers gets K/L entries);
//   - Fashion-MNIST test top-1 with the shared weights, no retraining (equal total size).
// The k-means is an honest one: assignment by binary search over the sorted centroids'
// midpoints (O(N log k) per iteration), not the O(N k) textbook loop.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/share/search.hpp"
#include "nncompress/compress/share/uniform_bins.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/metadata.hpp"
#include "nncompress/onnx/model_io.hpp"

namespace {
using Values = std::vector<float>;

// Per-layer 1-D k-means with linear initialisation; returns each weight's shared value.
Values kmeans_layer(const float* w, std::size_t n, int k, int* iterations) {
  auto [lo, hi] = std::minmax_element(w, w + n);
  std::vector<double> c(static_cast<std::size_t>(k));
  for (int i = 0; i < k; ++i) c[static_cast<std::size_t>(i)] = *lo + (static_cast<double>(*hi) - *lo) * (i + 0.5) / k;
  std::vector<int> assign(n, -1);
  int it = 0;
  for (; it < 300; ++it) {
    std::vector<double> mid(c.size() - 1);
    for (std::size_t i = 0; i + 1 < c.size(); ++i) mid[i] = 0.5 * (c[i] + c[i + 1]);
    std::vector<double> sum(c.size(), 0.0);
    std::vector<int64_t> cnt(c.size(), 0);
    bool changed = false;
    for (std::size_t i = 0; i < n; ++i) {
      const int a = static_cast<int>(std::upper_bound(mid.begin(), mid.end(), static_cast<double>(w[i])) - mid.begin());
      changed = changed || a != assign[i];
      assign[i] = a;
      sum[static_cast<std::size_t>(a)] += w[i];
      ++cnt[static_cast<std::size_t>(a)];
    }
    for (std::size_t j = 0; j < c.size(); ++j)
      if (cnt[j]) c[j] = sum[j] / static_cast<double>(cnt[j]);
    std::sort(c.begin(), c.end());
    if (!changed) break;
  }
  *iterations = it + 1;
  Values out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(c[static_cast<std::size_t>(assign[i])]);
  return out;
}

nnc::share::SharedSet layer_set(const nnc::share::SharedSet& s, std::size_t t) {
  nnc::share::SharedSet one;
  one.names = {s.names[t]};
  one.shapes = {s.shapes[t]};
  one.values.assign(s.values.begin() + static_cast<std::ptrdiff_t>(s.offsets[t]),
                    s.values.begin() + static_cast<std::ptrdiff_t>(s.offsets[t + 1]));
  one.offsets = {0, one.values.size()};
  auto [lo, hi] = std::minmax_element(one.values.begin(), one.values.end());
  one.min = *lo;
  one.max = *hi;
  return one;
}

Values global_uniform(const nnc::share::SharedSet& s, int k) {
  return nnc::share::shared_values(s, nnc::share::uniform_bins(s, k));
}

Values per_layer_uniform(const nnc::share::SharedSet& s, int k) {
  Values out;
  out.reserve(s.size());
  for (std::size_t t = 0; t < s.names.size(); ++t) {
    auto one = layer_set(s, t);
    auto v = nnc::share::shared_values(one, nnc::share::uniform_bins(one, k));
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

Values per_layer_kmeans(const nnc::share::SharedSet& s, int k, int* max_iterations) {
  Values out;
  out.reserve(s.size());
  *max_iterations = 0;
  for (std::size_t t = 0; t < s.names.size(); ++t) {
    int it = 0;
    auto v = kmeans_layer(s.values.data() + s.offsets[t], s.offsets[t + 1] - s.offsets[t], k, &it);
    *max_iterations = std::max(*max_iterations, it);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

double median_seconds(const std::function<void()>& f, int repeats) {
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    auto s = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_codebooks MODEL [K...]\n");
    return 2;
  }
  std::vector<int> ks;
  for (int i = 2; i < argc; ++i) ks.push_back(std::atoi(argv[i]));
  if (ks.empty()) ks = {32, 64, 128, 256};
  at::set_num_threads(2);
  auto model = nnc::compress::fold_batchnorm(nnc::onnxio::load_model(argv[1]));
  auto set = nnc::share::collect_shared(model, false);
  const int layers = static_cast<int>(set.names.size());
  auto norm = nnc::onnxio::get_normalisation(model);
  nnc::data::Normalisation dn;
  if (norm) {
    dn.mean = norm->mean;
    dn.std = norm->std;
  }
  auto source = nnc::data::load_data("fashion-mnist", nnc::data::TrainSplit::kSkipped);
  nnc::data::Dataset test{nnc::data::normalise(source.test_x, dn), source.test_y, source.num_classes};
  nnc::data::Evaluator eval(test, 256);
  nnc::exec::Engine engine(model);
  auto top1 = [&](const Values& v) {
    nnc::share::write_shared(engine, set, v);
    return 100 * eval.evaluate(engine).top1;
  };
  std::printf("%s: %zu shared weights in %d layers; original test top-1 %.2f%%\n", argv[1], set.size(), layers,
              top1(set.values));
  std::printf("| K | global uniform (K bins) | per-layer uniform (K/L each) | per-layer k-means (K/L each) | "
              "build time: global uniform / per-layer uniform / k-means K/L / k-means K each | k-means vs uniform, equal total | equal k |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int k : ks) {
    const int kl = std::max(2, k / layers);
    int it_small = 0, it_big = 0;
    Values gu, lu, km, km_big;
    const double t_gu = median_seconds([&] { gu = global_uniform(set, k); }, 9);
    const double t_lu = median_seconds([&] { lu = per_layer_uniform(set, kl); }, 9);
    const double t_km = median_seconds([&] { km = per_layer_kmeans(set, kl, &it_small); }, 3);
    const double t_kb = median_seconds([&] { km_big = per_layer_kmeans(set, k, &it_big); }, 3);
    std::printf("| %d | %.2f%% | %.2f%% (%d/layer) | %.2f%% (≤%d iterations) | %.2f / %.2f / %.2f / %.2f ms (≤%d it.) "
                "| %.1fx | %.1fx |\n",
                k, top1(gu), top1(lu), kl, top1(km), it_small, 1e3 * t_gu, 1e3 * t_lu, 1e3 * t_km, 1e3 * t_kb, it_big,
                t_km / t_gu, t_kb / t_gu);
    std::fflush(stdout);
  }
  return 0;
}
