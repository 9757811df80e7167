// Gemm (transA/transB, alpha/beta, C broadcast) and MatMul (numpy-style batched).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <memory>

#include "exec/onednn.hpp"
#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

OpFn build_gemm(const NodeInfo& n) {
  n.expect_attrs({"alpha", "beta", "transA", "transB", "broadcast"});
  n.expect_int_in("transA", 0, 1);
  n.expect_int_in("transB", 0, 1);
  n.expect_int_in("broadcast", 0, 1);
  for (std::size_t i : {0, 1})
    if (auto t = n.constant_input(i); t && t->dim() != 2)
      n.invalid(fmt::format("input {} has rank {}; Gemm multiplies matrices", i == 0 ? "A" : "B", t->dim()));
  const float alpha = n.attr_float("alpha", 1.0f);
  const float beta = n.attr_float("beta", 1.0f);
  const bool ta = n.attr_int("transA", 0) != 0;
  const bool tb = n.attr_int("transB", 0) != 0;
  auto packed = std::make_shared<onednn::PackedLinear>();
  const std::string label = n.label();
  return [=](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const bool has_c = in.size() > 2 && in[2].defined();
    if (rc.onednn_dense && c10::InferenceMode::is_enabled() && !ta && alpha == 1.0f && (!has_c || beta == 0.0f || beta == 1.0f)) {
      if (auto y = onednn::linear(*packed, in[0], in[1], tb, has_c && beta != 0.0f ? in[2] : at::Tensor())) {
        out[0] = std::move(*y);
        return;
      }
    }
    NNC_CHECK_CODE(in[0].dim() == 2 && in[1].dim() == 2, kShape, "{}: A of rank {} and B of rank {}; Gemm multiplies matrices",
                   label, in[0].dim(), in[1].dim());
    at::Tensor a = ta ? in[0].t() : in[0];
    at::Tensor b = tb ? in[1].t() : in[1];
    if (has_c && beta != 0.0f) {
      out[0] = at::addmm(in[2], a, b, beta, alpha);
    } else {
      out[0] = alpha == 1.0f ? at::mm(a, b) : at::mm(a, b) * alpha;
    }
  };
}

OpFn build_matmul(const NodeInfo& n) {
  n.expect_attrs({});
  auto packed = std::make_shared<onednn::PackedLinear>();
  return [packed](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor &x = in[0], &w = in[1];
    if (rc.onednn_dense && c10::InferenceMode::is_enabled() && x.dim() >= 2 && w.dim() == 2 && x.size(-1) > 0 &&
        !x.is_mkldnn()) {
      if (auto y = onednn::linear(*packed, x.reshape({-1, x.size(-1)}), w, false, at::Tensor())) {
        std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
        shape.back() = w.size(1);
        out[0] = y->reshape(shape);
        return;
      }
    }
    out[0] = at::matmul(x, w);
  };
}

}  // namespace

void register_gemm_ops(OpRegistry& r) {
  r.add("Gemm", build_gemm);
  r.add("MatMul", build_matmul);
}

}  // namespace nnc::exec
