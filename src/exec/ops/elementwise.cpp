// Element-wise operators: binary arithmetic with numpy broadcasting, activations, Clip,
// Identity, Dropout.
#include <ATen/ATen.h>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

template <typename F>
OpBuilder unary(F f) {
  return [f](const NodeInfo& n) -> OpFn {
    n.expect_attrs({});
    return [f](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) { out[0] = f(in[0]); };
  };
}

template <typename F>
OpBuilder binary(F f) {
  return [f](const NodeInfo& n) -> OpFn {
    // opset < 7 "broadcast"/"axis" attributes are not supported (we require opset >= 7).
    n.expect_attrs({});
    return [f](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
      out[0] = f(in[0], in[1]);
    };
  };
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  r.add("Relu", unary([](const at::Tensor& x) { return at::relu(x); }));
  r.add("Add", binary([](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }));
  r.add("Sub", binary([](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }));
  r.add("Mul", binary([](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }));
  r.add("Identity", unary([](const at::Tensor& x) { return x; }));
}

}  // namespace nnc::exec
