// Normalisation: BatchNormalization (inference and training), Softmax.
#include <ATen/ATen.h>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

OpFn build_batchnorm(const NodeInfo& n) {
  n.expect_attrs({"epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"});
  if (n.attr_int("spatial", 1) != 1) n.unsupported("BatchNormalization spatial=0");
  if (n.attr_int("training_mode", 0) != 0) n.unsupported("BatchNormalization training_mode=1");
  const double eps = n.attr_float("epsilon", 1e-5f);
  // ONNX: running = running * momentum + batch * (1 - momentum); ATen's momentum is the
  // weight of the batch statistic.
  const double momentum = 1.0 - n.attr_float("momentum", 0.9f);
  return [eps, momentum](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::batch_norm(in[0], in[1], in[2], in[3], in[4], rc.training, momentum, eps, false);
  };
}

}  // namespace

void register_norm_ops(OpRegistry& r) { r.add("BatchNormalization", build_batchnorm); }

}  // namespace nnc::exec
