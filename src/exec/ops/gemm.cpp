// Gemm (transA/transB, alpha/beta, C broadcast) and MatMul (numpy-style batched).
#include <ATen/ATen.h>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

OpFn build_gemm(const NodeInfo& n) {
  n.expect_attrs({"alpha", "beta", "transA", "transB", "broadcast"});
  const float alpha = n.attr_float("alpha", 1.0f);
  const float beta = n.attr_float("beta", 1.0f);
  const bool ta = n.attr_int("transA", 0) != 0;
  const bool tb = n.attr_int("transB", 0) != 0;
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    at::Tensor a = ta ? in[0].t() : in[0];
    at::Tensor b = tb ? in[1].t() : in[1];
    const bool has_c = in.size() > 2 && in[2].defined();
    if (has_c && beta != 0.0f) {
      out[0] = at::addmm(in[2], a, b, beta, alpha);
    } else {
      out[0] = alpha == 1.0f ? at::mm(a, b) : at::mm(a, b) * alpha;
    }
  };
}

OpFn build_matmul(const NodeInfo& n) {
  n.expect_attrs({});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::matmul(in[0], in[1]);
  };
}

}  // namespace

void register_gemm_ops(OpRegistry& r) {
  r.add("Gemm", build_gemm);
  r.add("MatMul", build_matmul);
}

}  // namespace nnc::exec
