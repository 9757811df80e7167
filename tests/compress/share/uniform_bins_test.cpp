#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <random>
#include <set>

#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/compress/common/fold_batchnorm.hpp"
#include "nncompress/compress/share/uniform_bins.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"

using namespace nnc;

namespace {
share::SharedSet random_set(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  share::SharedSet s;
  s.names = {"a", "b"};
  s.shapes = {{static_cast<int64_t>(n / 2)}, {static_cast<int64_t>(n - n / 2)}};
  s.offsets = {0, n / 2, n};
  for (std::size_t i = 0; i < n; ++i) s.values.push_back(nd(rng));
  s.min = *std::min_element(s.values.begin(), s.values.end());
  s.max = *std::max_element(s.values.begin(), s.values.end());
  return s;
}
}  // namespace

TEST(UniformBins, MatchesBruteForceLinspaceBinning) {
  auto s = random_set(5000, 1);
  for (int k : {2, 3, 7, 64, 255, 1024}) {
    auto cb = share::uniform_bins(s, k);
    // Brute force: edges = linspace(min, max, k+1); bin i holds [e_i, e_{i+1}), the max in the last.
    std::vector<double> edges;
    for (int i = 0; i <= k; ++i) edges.push_back(s.min + (static_cast<double>(s.max) - s.min) * i / k);
    std::vector<double> sum(k, 0);
    std::vector<int> count(k, 0);
    for (std::size_t w = 0; w < s.size(); ++w) {
      int b = k - 1;
      for (int i = 0; i < k; ++i)
        if (s.values[w] < edges[i + 1]) {
          b = i;
          break;
        }
      EXPECT_EQ(cb.fine[w], b) << "k=" << k << " w=" << s.values[w];
      sum[b] += s.values[w];
      ++count[b];
    }
    std::vector<float> expect;
    for (int b = 0; b < k; ++b)
      if (count[b]) expect.push_back(static_cast<float>(sum[b] / count[b]));
    ASSERT_EQ(cb.values.size(), expect.size()) << "empty bins are dropped";
    for (std::size_t e = 0; e < expect.size(); ++e) EXPECT_NEAR(cb.values[e], expect[e], 1e-6);
    EXPECT_TRUE(std::is_sorted(cb.values.begin(), cb.values.end()));
  }
}

TEST(UniformBins, MergeJoinsNeighboursIntoTheirMean) {
  auto s = random_set(2000, 2);
  auto cb = share::uniform_bins(s, 16);
  auto m = share::merge_entries(cb, 3);
  EXPECT_EQ(m.size(), cb.size() - 1);
  double sum = 0;
  int64_t n = 0;
  for (std::size_t w = 0; w < s.size(); ++w)
    if (cb.index_of(w) == 3 || cb.index_of(w) == 4) {
      sum += s.values[w];
      ++n;
      EXPECT_EQ(m.index_of(w), 3);
    }
  EXPECT_NEAR(m.values[3], sum / n, 1e-6);
  EXPECT_THROW(share::merge_entries(m, static_cast<int>(m.size()) - 1), Error);
}

TEST(UniformBins, StridesCoarsenOneTensorOnTheSharedGrid) {
  auto s = random_set(6000, 3);
  const int k = 60;
  auto paper = share::uniform_bins(s, k);
  const std::vector<int> ones{1, 1};
  auto same = share::uniform_bins(s, k, ones);
  EXPECT_EQ(same.fine, paper.fine) << "stride 1 is the paper's binning";
  const std::vector<int> strides{1, 4};
  auto cb = share::uniform_bins(s, k, strides);
  std::set<uint16_t> used_b;
  for (std::size_t w = 0; w < s.size(); ++w) {
    if (w < s.offsets[1]) {
      EXPECT_EQ(cb.fine[w], paper.fine[w]);
    } else {
      const int b = paper.fine[w];
      EXPECT_EQ(cb.fine[w], std::min(4 * (b / 4) + 2, k - 1)) << "bin of a stride-4 tensor";
      used_b.insert(cb.index_of(w));
    }
  }
  EXPECT_LE(used_b.size(), static_cast<std::size_t>((k + 3) / 4));
  // One codebook: every entry is the mean of all weights assigned to it, from both tensors.
  std::map<int, std::pair<double, int>> acc;
  for (std::size_t w = 0; w < s.size(); ++w) {
    acc[cb.index_of(w)].first += s.values[w];
    ++acc[cb.index_of(w)].second;
  }
  for (auto& [e, sn] : acc) EXPECT_NEAR(cb.values[static_cast<std::size_t>(e)], sn.first / sn.second, 1e-6);
  const std::vector<int> wrong{1};
  EXPECT_THROW(share::uniform_bins(s, k, wrong), Error);
}

// Two tensors 1000x apart in range (what BatchNorm folded by an exporter leaves): on one absolute
// grid the narrow one falls into two bins; with a scale spread R it spans 1/R of the grid (the
// widest keeps scale 1), and a weight is its value times its tensor's scale. Pruned zeros stay
// out of the ranges.
TEST(UniformBins, PerTensorScalesCapHowFarApartTensorRangesAre) {
  auto s = random_set(6000, 4);
  for (std::size_t i = 0; i < s.offsets[1]; ++i) s.values[i] *= 1000.0f;
  s.pruned.assign(s.size(), 0);
  s.values[s.offsets[1]] = 0.0f;
  s.pruned[s.offsets[1]] = 1;
  s.min = *std::min_element(s.values.begin(), s.values.end());
  s.max = *std::max_element(s.values.begin(), s.values.end());
  auto entries_of_b = [&](const share::SharedSet& set, const share::Codebook& cb) {
    std::set<uint16_t> used;
    for (std::size_t w = set.offsets[1]; w < set.size(); ++w)
      if (!set.is_pruned(w)) used.insert(cb.index_of(w));
    return used.size();
  };
  EXPECT_LE(entries_of_b(s, share::uniform_bins(s, 64)), 2u);
  const auto weights = s.values;
  auto within = s;
  EXPECT_EQ(share::scale_tensors(within, 5000), 0u) << "ranges 1000x apart are within a spread of 5000";
  EXPECT_TRUE(within.scales.empty());
  EXPECT_EQ(within.values, weights);
  auto top_of = [&](const share::SharedSet& set, std::size_t t) {
    float top = 0;
    for (std::size_t i = set.offsets[t]; i < set.offsets[t + 1]; ++i)
      if (!set.is_pruned(i)) top = std::max(top, std::abs(set.values[i]));
    return top;
  };
  EXPECT_EQ(share::scale_tensors(s, 4), 1u);
  EXPECT_EQ(s.original(), weights);
  EXPECT_EQ(s.scale(0), 1.0f) << "the widest tensor keeps the absolute grid";
  for (std::size_t i = s.offsets[1]; i < s.size(); ++i) EXPECT_FLOAT_EQ(s.values[i] * s.scale(1), weights[i]);
  EXPECT_FLOAT_EQ(top_of(s, 1) * 4, top_of(s, 0)) << "the narrow one spans a quarter of the widest's range";
  auto cb = share::uniform_bins(s, 64);
  EXPECT_GE(entries_of_b(s, cb), 12u);
  EXPECT_LE(entries_of_b(s, cb), 20u);  // about 64 / 4, give or take the edges
  EXPECT_EQ(s.values[s.offsets[1]], 0.0f);
  EXPECT_THROW(share::scale_tensors(s, 4), Error) << "scaling twice";
  auto whole = within;
  EXPECT_EQ(share::scale_tensors(whole, 1), 1u);
  EXPECT_FLOAT_EQ(top_of(whole, 1), top_of(whole, 0)) << "spread 1: both span the whole grid";
  EXPECT_GE(entries_of_b(whole, share::uniform_bins(whole, 64)), 50u);
}

TEST(UniformBins, MergeManyEqualsSuccessiveSingleMerges) {
  auto s = random_set(3000, 4);
  auto cb = share::uniform_bins(s, 32);
  const std::vector<int> lefts{2, 3, 10, 20};  // 2 and 3 chain: entries 2,3,4 become one
  auto many = share::merge_many(cb, lefts);
  auto seq = share::merge_entries(cb, 20);
  seq = share::merge_entries(seq, 10);
  seq = share::merge_entries(seq, 3);
  seq = share::merge_entries(seq, 2);
  EXPECT_EQ(many.size(), cb.size() - 4);
  EXPECT_EQ(many.indices(), seq.indices());
  ASSERT_EQ(many.values.size(), seq.values.size());
  for (std::size_t e = 0; e < many.values.size(); ++e) EXPECT_NEAR(many.values[e], seq.values[e], 1e-6);
}

TEST(UniformBins, NothingToShareAndBadKAreErrors) {
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 4});
  b.add_node("Relu", {"x"}, {"y"});
  b.add_output("y", {-1, 4});
  try {
    share::collect_shared(b.build(), false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model has nothing to share (no Conv/ConvTranspose/Gemm/MatMul/LSTM/GRU/RNN with an initializer weight)");
  }
  EXPECT_THROW(share::uniform_bins(random_set(10, 3), 0), Error);
}

// A transformer's LayerNorm scale and shift join the codebook with share_other, after the layer
// weights and biases; keep_fp32 leaves them out by name like a layer.
TEST(UniformBins, OtherParametersAreSharedOnRequest) {
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 16});
  exec::add_initializer(b, "w", torch::randn({16, 16}));
  exec::add_initializer(b, "bias", torch::randn({16}));
  exec::add_initializer(b, "gamma", torch::ones({16}));
  exec::add_initializer(b, "beta", torch::zeros({16}));
  b.add_node("MatMul", {"x", "w"}, {"m"});
  b.add_node("Add", {"m", "bias"}, {"y1"});
  b.add_node("Mul", {"y1", "gamma"}, {"y2"});
  b.add_node("Add", {"y2", "beta"}, {"y"});
  b.add_output("y", {-1, 16});
  const auto model = b.build();
  EXPECT_EQ(share::collect_shared(model, true).names, (std::vector<std::string>{"w", "bias"}));
  const auto all = share::collect_shared(model, true, {}, "", true);
  EXPECT_EQ(all.names, (std::vector<std::string>{"w", "bias", "gamma", "beta"}));
  EXPECT_EQ(all.values.size(), 16u * 16u + 3u * 16u);
  EXPECT_EQ(share::collect_shared(model, false, {}, "gam", true).names, (std::vector<std::string>{"w", "beta"}));
}

TEST(FoldBatchNorm, FoldedModelComputesTheSameFunction) {
  torch::manual_seed(4);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 2, 5, 5});
  nnc::exec::add_initializer(b, "w", torch::randn({3, 2, 3, 3}));
  nnc::exec::add_initializer(b, "g", torch::rand({3}) + 0.5);
  nnc::exec::add_initializer(b, "be", torch::randn({3}));
  nnc::exec::add_initializer(b, "m", torch::randn({3}));
  nnc::exec::add_initializer(b, "v", torch::rand({3}) + 0.2);
  b.add_node("Conv", {"x", "w"}, {"c"});
  b.add_node("BatchNormalization", {"c", "g", "be", "m", "v"}, {"y"});
  b.add_output("y", {-1, 3, 3, 3});
  auto model = b.build();
  int folded = 0;
  auto f = compress::fold_batchnorm(model, &folded);
  EXPECT_EQ(folded, 1);
  EXPECT_EQ(f.graph().node_size(), 1);
  EXPECT_EQ(f.graph().initializer_size(), 2);  // folded weight + new bias
  exec::Engine e1(model, {false}), e2(f);
  auto x = torch::randn({2, 2, 5, 5});
  EXPECT_LT((e1.run_single(x) - e2.run_single(x)).abs().max().item<float>(), 1e-4);
}
