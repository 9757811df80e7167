#include "nncompress/compress/lowrank/grouped_svd.hpp"

#include <ATen/ATen.h>

#include "nncompress/core/bisect.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::lowrank {

GroupedSvd::GroupedSvd(const at::Tensor& matrix, int64_t channels, int64_t k, bool equalize_rows) : k_(k) {
  NNC_CHECK(matrix.dim() == 2, "grouped SVD needs a 2-D folded weight");
  NNC_CHECK(k >= 1 && channels % k == 0, "grouped SVD: {} input channels do not split into {} groups", channels, k);
  const int64_t cols = matrix.size(1);
  NNC_CHECK(cols % channels == 0, "grouped SVD: {} columns are not a multiple of {} channels", cols, channels);
  const int64_t width = cols / k;
  auto m = matrix.to(at::kDouble);  // double keeps the error bounds exact to ~1e-12
  at::Tensor rows;  // equalize_rows: each row's norm (a zero row keeps scale 1)
  if (equalize_rows) {
    rows = m.norm(2, 1, /*keepdim=*/true);
    rows = at::where(rows > 0, rows, at::ones_like(rows));
    m = m / rows;
  }
  op_norm_ = at::linalg_matrix_norm(m, 2).item<double>();
  max_rank_ = std::numeric_limits<int64_t>::max();
  for (int64_t i = 0; i < k; ++i) {
    auto block = m.narrow(1, i * width, width);
    auto [U, S, Vh] = at::linalg_svd(block, /*full_matrices=*/false);
    groups_.push_back({rows.defined() ? U * rows : U, S, Vh});
    max_rank_ = std::min(max_rank_, S.size(0));
  }
  errors_.assign(static_cast<std::size_t>(max_rank_) + 1, 0.0);
  for (int64_t j = 0; j <= max_rank_; ++j) {
    double worst = 0;
    for (const auto& g : groups_)
      if (j < g.S.size(0)) worst = std::max(worst, g.S[j].item<double>());
    errors_[static_cast<std::size_t>(j)] = op_norm_ > 0 ? worst / op_norm_ : 0.0;
  }
}

int64_t GroupedSvd::rank_for_error(double eps) const {
  // errors_ is non-increasing in j: binary search the first j >= 1 with errors_[j] <= eps.
  return first_true<int64_t>(1, max_rank_, [&](int64_t j) { return errors_[static_cast<std::size_t>(j)] <= eps; });
}

at::Tensor GroupedSvd::reconstruct(int64_t j) const {
  std::vector<at::Tensor> blocks;
  for (const auto& g : groups_) {
    int64_t r = std::min(j, g.S.size(0));
    blocks.push_back(at::matmul(g.U.narrow(1, 0, r) * g.S.narrow(0, 0, r), g.Vh.narrow(0, 0, r)));
  }
  return at::cat(blocks, 1).to(at::kFloat);
}

at::Tensor GroupedSvd::encoder(int64_t j) const {
  std::vector<at::Tensor> rows;
  for (const auto& g : groups_) rows.push_back(g.Vh.narrow(0, 0, j));
  return at::cat(rows, 0).to(at::kFloat);
}

at::Tensor GroupedSvd::decoder(int64_t j) const {
  std::vector<at::Tensor> cols;
  for (const auto& g : groups_) cols.push_back(g.U.narrow(1, 0, j) * g.S.narrow(0, 0, j));
  return at::cat(cols, 1).to(at::kFloat);
}

}  // namespace nnc::lowrank
