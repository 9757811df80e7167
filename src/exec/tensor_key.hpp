#pragma once
// Identity + version of a tensor, for caches of derived data (folded BatchNorm, prepacked
// oneDNN weights). The key holds a reference to the tensor, so the address it compares can
// never be reused by a different tensor while the cache entry lives; in-place writes bump the
// version counter (inference tensors cannot be written in place, so theirs is fixed at 0).
#include <ATen/core/Tensor.h>

namespace nnc::exec {

class TensorKey {
 public:
  TensorKey() = default;
  explicit TensorKey(const at::Tensor& t) : tensor_(t), version_(version_of(t)) {}

  bool matches(const at::Tensor& t) const {
    if (!t.defined() || !tensor_.defined()) return t.defined() == tensor_.defined();
    return t.unsafeGetTensorImpl() == tensor_.unsafeGetTensorImpl() && version_of(t) == version_;
  }

 private:
  static int64_t version_of(const at::Tensor& t) {
    return !t.defined() || t.is_inference() ? 0 : static_cast<int64_t>(t._version());
  }
  at::Tensor tensor_;
  int64_t version_ = -1;
};

}  // namespace nnc::exec
