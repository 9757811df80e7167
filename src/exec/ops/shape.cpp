// Shape manipulation and the shape sub-graph operators exporters emit.
#include <ATen/ATen.h>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::exec {
namespace {

OpFn build_flatten(const NodeInfo& n) {
  n.expect_attrs({"axis"});
  const int64_t axis = n.attr_int("axis", 1);
  return [axis](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    int64_t a = axis < 0 ? axis + x.dim() : axis;
    int64_t outer = 1;
    for (int64_t d = 0; d < a; ++d) outer *= x.size(d);
    out[0] = x.reshape({outer, outer == 0 ? 0 : x.numel() / std::max<int64_t>(outer, 1)});
  };
}

OpFn build_constant(const NodeInfo& n) {
  auto t = n.attr_tensor("value");
  if (!t) n.unsupported("Constant without a tensor 'value'");
  at::Tensor value = *t;
  return [value](const RunContext&, std::span<const at::Tensor>, std::span<at::Tensor> out) { out[0] = value; };
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.add("Flatten", build_flatten);
  r.add("Constant", build_constant);
}

}  // namespace nnc::exec
