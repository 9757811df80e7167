#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nncompress/compress/lowrank/grouped_svd.hpp"

using nnc::lowrank::GroupedSvd;

namespace {
double spectral(const torch::Tensor& m) { return at::linalg_matrix_norm(m.to(torch::kDouble), 2).item<double>(); }
}  // namespace

TEST(GroupedSvd, EachGroupErrorIsItsNextSingularValue) {
  torch::manual_seed(1);
  const int64_t f = 12, c = 6, kappa = 9, k = 3;
  auto w = torch::randn({f, c * kappa});
  GroupedSvd s(w, c, k);
  const int64_t width = c / k * kappa;
  for (int64_t j = 1; j < s.max_rank(); ++j) {
    auto rec = s.reconstruct(j);
    double worst = 0;
    for (int64_t i = 0; i < k; ++i) {
      auto diff = w.narrow(1, i * width, width) - rec.narrow(1, i * width, width);
      double sigma_next = s.groups()[i].S[j].item<double>();
      EXPECT_NEAR(spectral(diff), sigma_next, 1e-4 * sigma_next + 1e-5) << "group " << i << " rank " << j;
      worst = std::max(worst, sigma_next);
    }
    EXPECT_NEAR(s.error(j), worst / spectral(w), 1e-9);
    // The whole layer's measured relative error lies between the max over groups and sqrt(k) times it.
    double layer = spectral(w - rec) / spectral(w);
    EXPECT_GE(layer, s.error(j) - 1e-6);
    EXPECT_LE(layer, std::sqrt(static_cast<double>(k)) * s.error(j) + 1e-6);
  }
  EXPECT_NEAR(s.error(s.max_rank()), 0.0, 1e-12);
}

namespace {
// Block-diagonal product of two groups: group i uses rows i*j..(i+1)*j of enc and the matching
// columns of dec.
torch::Tensor two_group_product(const torch::Tensor& dec, const torch::Tensor& enc, int64_t j) {
  return torch::cat({torch::matmul(dec.narrow(1, 0, j), enc.narrow(0, 0, j)),
                     torch::matmul(dec.narrow(1, j, j), enc.narrow(0, j, j))},
                    1);
}
}  // namespace

TEST(GroupedSvd, EncoderDecoderReproduceTheReconstruction) {
  torch::manual_seed(2);
  auto w = torch::randn({8, 4 * 3});
  GroupedSvd s(w, 4, 2);
  const int64_t j = 2;
  auto enc = s.encoder(j);  // 2*j x 6
  auto dec = s.decoder(j);  // 8 x 2*j
  EXPECT_LT((two_group_product(dec, enc, j) - s.reconstruct(j)).abs().max().item<float>(), 1e-5);
}

TEST(GroupedSvd, RankForErrorIsTheSmallestSufficientRank) {
  torch::manual_seed(3);
  GroupedSvd s(torch::randn({10, 20}), 20, 1);
  for (double eps : {0.9, 0.5, 0.2, 0.05, 0.0}) {
    int64_t j = s.rank_for_error(eps);
    EXPECT_LE(s.error(j), eps + 1e-12);
    if (j > 1) {
      EXPECT_GT(s.error(j - 1), eps);
    }
  }
}

TEST(GroupedSvd, RejectsIndivisibleGroups) { EXPECT_THROW(GroupedSvd(torch::randn({4, 10}), 5, 2), std::exception); }

// Equalised rows: scaling the output channels (what a folded BatchNorm does) changes neither the
// errors nor the subspace; the reconstruction carries the scales; at full rank it is exact, and
// the encoder and decoder still multiply to the reconstruction.
TEST(GroupedSvd, EqualizedRowsMakeTheFactorisationIndependentOfChannelScales) {
  torch::manual_seed(4);
  auto w = torch::randn({8, 4 * 3});
  auto scales = torch::rand({8, 1}) * 10 + 0.01;  // gamma / sigma of a folded BatchNorm
  GroupedSvd plain(w, 4, 2, true), folded(w * scales, 4, 2, true), unequal(w * scales, 4, 2);
  for (int64_t j = 1; j <= plain.max_rank(); ++j) {
    EXPECT_NEAR(folded.error(j), plain.error(j), 1e-6) << j;
    EXPECT_LT((folded.reconstruct(j) - plain.reconstruct(j) * scales).abs().max().item<float>(), 1e-4) << j;
  }
  // Without equalising, the scaled channels change the rank-2 approximation.
  EXPECT_GT((unequal.reconstruct(2) - plain.reconstruct(2) * scales).abs().max().item<float>(), 1e-2);
  EXPECT_LT((folded.reconstruct(folded.max_rank()) - w * scales).abs().max().item<float>(), 1e-4);
  const int64_t j = 2;
  auto enc = folded.encoder(j), dec = folded.decoder(j);
  EXPECT_LT((two_group_product(dec, enc, j) - folded.reconstruct(j)).abs().max().item<float>(), 1e-4);
  // A zero row stays zero and does not divide by zero.
  auto z = w.clone();
  z[3].zero_();
  GroupedSvd zero_row(z, 4, 2, true);
  EXPECT_TRUE(torch::isfinite(zero_row.reconstruct(2)).all().item<bool>());
  EXPECT_LT(zero_row.reconstruct(2)[3].abs().max().item<float>(), 1e-6f);
}
