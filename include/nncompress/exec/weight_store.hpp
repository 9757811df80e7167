#pragma once
// Named weights (the model's initializers) that compression code reads and replaces by name,
// in place, without rebuilding the graph. Every replacement bumps the tensor's version so
// cached derived data (folded BatchNorm, prepacked kernels) is recomputed.
#include <ATen/core/Tensor.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace nnc::exec {

class WeightStore {
 public:
  void add(const std::string& name, at::Tensor value);
  bool contains(const std::string& name) const;
  std::size_t size() const { return tensors_.size(); }
  std::size_t index_of(const std::string& name) const;  // throws if unknown
  const std::string& name(std::size_t index) const { return names_[index]; }
  const std::vector<std::string>& names() const { return names_; }

  const at::Tensor& get(const std::string& name) const;
  const at::Tensor& at(std::size_t index) const { return tensors_[index]; }

  // Copies `value` into the stored tensor (same shape required; dtype converted). Thread-unsafe.
  void set(const std::string& name, const at::Tensor& value);
  void set(std::size_t index, const at::Tensor& value);

  // Monotonic per-tensor version, bumped by set().
  uint64_t version(std::size_t index) const { return versions_[index]; }

  // Replace the tensor object itself (used when switching training mode). Keeps the version.
  void rebind(std::size_t index, at::Tensor value) { tensors_[index] = std::move(value); ++versions_[index]; }

 private:
  std::vector<std::string> names_;
  std::vector<at::Tensor> tensors_;
  std::vector<uint64_t> versions_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace nnc::exec
