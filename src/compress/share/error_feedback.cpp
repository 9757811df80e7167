#include "nncompress/compress/share/error_feedback.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <map>
#include <string>

#include "nncompress/dist/archive.hpp"
#include "conv_window.hpp"
#include "layer_inputs.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/onnx/attributes.hpp"

namespace nnc::share {
namespace {

// Upper Cholesky factor of H⁻¹ (columns already in rounding order), damped until it exists.
at::Tensor inverse_factor(const at::Tensor& h, double damp) {
  const auto mean_diag = h.diagonal().mean().item<double>();
  const auto eye = at::eye(h.size(0), h.options());
  for (int attempt = 0; attempt < 6; ++attempt, damp *= 10) {
    auto [l, info] = at::linalg_cholesky_ex(h + eye * (damp * mean_diag));
    if (info.item<int64_t>() != 0) continue;
    auto [u, info2] = at::linalg_cholesky_ex(at::cholesky_inverse(l), /*upper=*/true);
    if (info2.item<int64_t>() == 0 && u.diagonal().gt(0).all().item<bool>()) return u;
  }
  return {};
}

}  // namespace

ErrorFeedback::ErrorFeedback(const onnx::ModelProto& model, const SharedSet& set, const at::Tensor& calib,
                             ErrorFeedbackOptions options, const Control& control) {
  const auto& g = model.graph();
  std::map<std::string, std::size_t> tensor_of;
  for (std::size_t t = 0; t < set.names.size(); ++t) tensor_of[set.names[t]] = t;
  std::map<std::string, int> readers;  // a weight read by several layers has no single H
  for (const auto& n : g.node())
    for (const auto& in : n.input()) ++readers[in];

  struct Pending {
    Layer layer;
    std::string input;
    bool conv = false;
    detail::Window window;
    at::Tensor h;  // [groups, cols, cols], double sums
    int64_t count = 0;
    int64_t images = 0;
  };
  std::vector<Pending> pending;
  for (const auto& n : g.node()) {
    const auto& op = n.op_type();
    if ((op != "Conv" && op != "Gemm" && op != "MatMul") || n.input_size() < 2) continue;
    auto w = tensor_of.find(n.input(1));
    if (w == tensor_of.end() || readers[n.input(1)] != 1 || tensor_of.count(n.input(0))) continue;
    const auto& shape = set.shapes[w->second];
    Pending p;
    p.layer.tensor = w->second;
    p.input = n.input(0);
    if (op == "Conv") {
      p.conv = true;
      p.layer.groups = onnxio::attr_int(n, "group", 1);
      if (!detail::conv_window(n, shape, p.window) || p.layer.groups < 1 || shape[0] % p.layer.groups != 0) continue;
      p.layer.rows = shape[0] / p.layer.groups;
      p.layer.cols = shape[1] * shape[2] * shape[3];
    } else {
      if (shape.size() != 2) continue;
      if (op == "Gemm" && onnxio::attr_int(n, "transA", 0) != 0) continue;
      p.layer.transposed = op == "MatMul" || onnxio::attr_int(n, "transB", 0) == 0;
      p.layer.rows = p.layer.transposed ? shape[1] : shape[0];
      p.layer.cols = p.layer.transposed ? shape[0] : shape[1];
    }
    if (p.layer.cols > options.max_columns || p.layer.rows < 1 || p.layer.cols < 1) continue;
    pending.push_back(std::move(p));
  }
  if (pending.empty() || calib.size(0) == 0) return;

  // One pass over the calibration images with the values the layers read as extra outputs.
  std::vector<std::string> values;
  for (const auto& p : pending) values.push_back(p.input);
  detail::LayerInputs inputs(model, values);
  const auto images = calib.slice(0, 0, std::min(options.images, calib.size(0)));
  inputs.run(images, options.batch, [&](const std::vector<at::Tensor>& xs) {
    for (std::size_t i = 0; i < pending.size(); ++i) {
      auto& p = pending[i];
      auto x = xs[i].to(at::kFloat).contiguous();
      const int64_t groups = p.layer.groups, d = p.layer.cols;
      at::Tensor h;
      if (p.conv) {
        if (p.images >= options.conv_images) continue;
        p.images += x.size(0);
        if (x.dim() != 4 || x.size(1) * p.window.kh * p.window.kw != groups * d) continue;
        for (int64_t j = 0; j < x.size(0); j += 16) {
          auto cols = detail::conv_columns(x.slice(0, j, std::min(x.size(0), j + 16)), p.window);
          const int64_t n = cols.size(0), l = cols.size(2);
          auto cg = cols.reshape({n, groups, d, l}).permute({1, 2, 0, 3}).reshape({groups, d, n * l});
          auto part = at::bmm(cg, cg.transpose(1, 2)).to(at::kDouble);
          h = h.defined() ? h + part : part;
          p.count += n * l;
        }
      } else {
        if (x.dim() < 2 || x.size(-1) != d) continue;
        auto flat = x.reshape({-1, d});
        h = at::matmul(flat.t(), flat).to(at::kDouble).unsqueeze(0);
        p.count += flat.size(0);
      }
      if (h.defined()) p.h = p.h.defined() ? p.h + h : h;
    }
  }, "error feedback: layer input statistics", control);
  for (auto& p : pending) {
    if (!p.h.defined() || p.count == 0) continue;
    Layer l = std::move(p.layer);
    bool ok = true;
    for (int64_t grp = 0; grp < l.groups && ok; ++grp) {
      auto h = p.h[grp] / static_cast<double>(p.count);
      auto diag = h.diagonal().clone();
      // An input that is always zero: any value of its column gives the same output.
      auto dead = diag.eq(0);
      h.diagonal().masked_fill_(dead, 1.0);
      diag.masked_fill_(dead, 0.0);
      auto order = at::argsort(diag, /*dim=*/0, /*descending=*/true);
      auto u = inverse_factor(h.index_select(0, order).index_select(1, order), options.damp);
      if (!u.defined()) {
        ok = false;
        break;
      }
      auto o = order.to(at::kInt).contiguous();
      l.order.emplace_back(o.data_ptr<int32_t>(), o.data_ptr<int32_t>() + o.numel());
      auto uf = u.to(at::kFloat).contiguous();
      l.u.emplace_back(uf.data_ptr<float>(), uf.data_ptr<float>() + uf.numel());
    }
    if (ok) layers_.push_back(std::move(l));
  }
}

std::vector<uint16_t> ErrorFeedback::assign(const SharedSet& set, const Codebook& cb) const {
  auto idx = cb.indices();
  at::parallel_for(0, static_cast<int64_t>(layers_.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row, vals;
    std::vector<uint16_t> ids;
    std::vector<char> used;
    for (int64_t li = begin; li < end; ++li) {
      const auto& l = layers_[static_cast<std::size_t>(li)];
      const std::size_t base = set.offsets[l.tensor], n = set.offsets[l.tensor + 1] - base;
      const float* w = set.values.data() + base;
      uint16_t* out = idx.data() + base;
      // The entries this tensor's plain binning draws on, in value order.
      used.assign(cb.size(), 0);
      for (std::size_t i = 0; i < n; ++i) used[out[i]] = 1;
      vals.clear();
      ids.clear();
      // Pruned weights keep the zero entry; nothing else is rounded to it.
      if (cb.zero_entry >= 0) used[static_cast<std::size_t>(cb.zero_entry)] = 0;
      for (std::size_t e = 0; e < cb.size(); ++e)
        if (used[e]) {
          vals.push_back(cb.values[e]);
          ids.push_back(static_cast<uint16_t>(e));
        }
      auto nearest = [&](float x) {
        auto it = std::lower_bound(vals.begin(), vals.end(), x);
        if (it == vals.end()) return vals.size() - 1;
        const auto j = static_cast<std::size_t>(it - vals.begin());
        return j > 0 && x - vals[j - 1] < *it - x ? j - 1 : j;
      };
      const int64_t rows = l.rows, cols = l.cols, total_rows = rows * l.groups;
      row.resize(static_cast<std::size_t>(cols));
      for (int64_t grp = 0; grp < l.groups; ++grp) {
        const auto& order = l.order[static_cast<std::size_t>(grp)];
        const float* u = l.u[static_cast<std::size_t>(grp)].data();
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t gr = grp * rows + r;
          auto at_ = [&](int64_t c) -> std::size_t {
            return static_cast<std::size_t>(l.transposed ? c * total_rows + gr : gr * cols + c);
          };
          for (int64_t k = 0; k < cols; ++k) row[static_cast<std::size_t>(k)] = w[at_(order[static_cast<std::size_t>(k)])];
          for (int64_t k = 0; k < cols; ++k) {
            // A pruned weight stays an exact zero and takes no error (its column is skipped).
            if (set.is_pruned(base + at_(order[static_cast<std::size_t>(k)]))) continue;
            const float x = row[static_cast<std::size_t>(k)];
            const auto q = nearest(x);
            out[at_(order[static_cast<std::size_t>(k)])] = ids[q];
            const float* uk = u + k * cols;
            const float e = (x - vals[q]) / uk[k];
            for (int64_t j = k + 1; j < cols; ++j) row[static_cast<std::size_t>(j)] -= e * uk[j];
          }
        }
      }
    }
  });
  return idx;
}

}  // namespace nnc::share

namespace nnc::share {

void ErrorFeedback::save(dist::ArchiveWriter& w) const {
  w.put<uint64_t>(layers_.size());
  for (const auto& l : layers_) {
    w.put<uint64_t>(l.tensor);
    w.put(l.groups);
    w.put(l.rows);
    w.put(l.cols);
    w.put(l.transposed);
    w.put(l.order);
    w.put(l.u);
  }
}

std::shared_ptr<const ErrorFeedback> ErrorFeedback::load(dist::ArchiveReader& r) {
  std::shared_ptr<ErrorFeedback> ef(new ErrorFeedback());
  const auto n = r.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    Layer l;
    l.tensor = r.get<uint64_t>();
    l.groups = r.get<int64_t>();
    l.rows = r.get<int64_t>();
    l.cols = r.get<int64_t>();
    l.transposed = r.get<bool>();
    r.get(l.order);
    r.get(l.u);
    ef->layers_.push_back(std::move(l));
  }
  return ef;
}

}  // namespace nnc::share
