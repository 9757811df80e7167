#pragma once
// Grouped SVD of one layer (ALDS, Liebenwein et al. 2021, Sec. 3): the folded weight
// W (f x c*kappa) is split along input channels into k groups W_i (f x c/k*kappa), each
// factorised by SVD. Keeping the top-j triplets of every group costs j*(k*f + c*kappa)
// parameters; the per-layer relative error proxy is max_i sigma_{j+1}(W_i) / ||W||_2
// (Eckart–Young–Mirsky: sigma_{j+1}(W_i) is exactly group i's spectral-norm error).
// With `equalize_rows`, the SVD and the errors are those of D^-1 W, each output channel (row)
// scaled to unit norm, and D goes back into the decoder: every output channel weighs the same,
// whatever scale a BatchNorm folded into the weight left on it.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace nnc::lowrank {

struct GroupFactors {
  at::Tensor U, S, Vh;  // U: f x r (row scales restored), S: r (descending), Vh: r x (c/k*kappa)
};

class GroupedSvd {
 public:
  // `matrix` is the folded weight f x (c*kappa) whose columns are grouped by input channel
  // (channel-major, as Conv weights reshape). Requires c % k == 0.
  GroupedSvd(const at::Tensor& matrix, int64_t channels, int64_t k, bool equalize_rows = false);

  int64_t k() const { return k_; }
  int64_t max_rank() const { return max_rank_; }  // min over groups of full rank
  double op_norm() const { return op_norm_; }      // ||W||_2 of the whole layer
  const std::vector<GroupFactors>& groups() const { return groups_; }

  // max_i sigma_{j+1}(W_i) / ||W||_2 (0 when j >= the group's rank); j >= 1.
  double error(int64_t j) const { return errors_[static_cast<std::size_t>(std::min(j, max_rank_))]; }
  // Smallest j in [1, max_rank] whose error is <= eps.
  int64_t rank_for_error(double eps) const;

  // Rank-j reconstruction of the folded matrix (f x c*kappa).
  at::Tensor reconstruct(int64_t j) const;
  // Encoder rows (k*j x c/k*kappa: group i's rows are Vh_i[:j]) and decoder (f x k*j: U_i S_i).
  at::Tensor encoder(int64_t j) const;
  at::Tensor decoder(int64_t j) const;

 private:
  int64_t k_, max_rank_ = 0;
  double op_norm_ = 0;
  std::vector<GroupFactors> groups_;
  std::vector<double> errors_;  // errors_[j] for j = 0..max_rank
};

}  // namespace nnc::lowrank
