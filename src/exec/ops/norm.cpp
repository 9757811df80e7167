// Normalisation: BatchNormalization (inference and training), Softmax, LogSoftmax.
#include <ATen/ATen.h>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

OpFn build_batchnorm(const NodeInfo& n) {
  n.expect_attrs({"epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"});
  if (n.attr_int("spatial", 1) != 1) n.unsupported("BatchNormalization spatial=0");
  if (n.attr_int("training_mode", 0) != 0) n.unsupported("BatchNormalization training_mode=1");
  for (std::size_t i = 1; i < n.num_outputs(); ++i)
    if (!n.proto().output(static_cast<int>(i)).empty()) n.unsupported("BatchNormalization training outputs");
  const double eps = n.attr_float("epsilon", 1e-5f);
  // ONNX: running = running * momentum + batch * (1 - momentum); ATen's momentum is the
  // weight of the batch statistic.
  const double momentum = 1.0 - n.attr_float("momentum", 0.9f);
  return [eps, momentum](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::batch_norm(in[0], in[1], in[2], in[3], in[4], rc.training, momentum, eps, false);
  };
}

// Softmax/LogSoftmax: before opset 13 the input is coerced to 2-D around `axis` (default 1);
// from 13 the operation is along `axis` (default -1).
OpFn build_softmax(const NodeInfo& n, bool log) {
  n.expect_attrs({"axis"});
  const bool legacy = n.opset() < 13;
  const int64_t axis = n.attr_int("axis", legacy ? 1 : -1);
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    int64_t a = axis < 0 ? axis + x.dim() : axis;
    if (!legacy) {
      out[0] = log ? at::log_softmax(x, a) : at::softmax(x, a);
      return;
    }
    int64_t outer = 1;
    for (int64_t d = 0; d < a; ++d) outer *= x.size(d);
    auto flat = x.reshape({outer, -1});
    auto y = log ? at::log_softmax(flat, 1) : at::softmax(flat, 1);
    out[0] = y.reshape(x.sizes());
  };
}

}  // namespace

void register_norm_ops(OpRegistry& r) {
  r.add("BatchNormalization", build_batchnorm);
  r.add("Softmax", [](const NodeInfo& n) { return build_softmax(n, false); });
  r.add("LogSoftmax", [](const NodeInfo& n) { return build_softmax(n, true); });
}

}  // namespace nnc::exec
