#include "nncompress/exec/weight_store.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/ranges.h>

#include "nncompress/core/error.hpp"

namespace nnc::exec {

void WeightStore::add(const std::string& name, at::Tensor value) {
  NNC_CHECK_CODE(!index_.count(name), kCorrupt, "initializer '{}' is defined twice", name);
  index_[name] = tensors_.size();
  names_.push_back(name);
  tensors_.push_back(std::move(value));
  versions_.push_back(0);
}

bool WeightStore::contains(const std::string& name) const { return index_.count(name) != 0; }

std::size_t WeightStore::index_of(const std::string& name) const {
  auto it = index_.find(name);
  NNC_CHECK(it != index_.end(), "no weight named '{}' in the model", name);
  return it->second;
}

const at::Tensor& WeightStore::get(const std::string& name) const { return tensors_[index_of(name)]; }

void WeightStore::set(const std::string& name, const at::Tensor& value) { set(index_of(name), value); }

void WeightStore::set(std::size_t index, const at::Tensor& value) {
  auto& dst = tensors_[index];
  NNC_CHECK_CODE(dst.sizes() == value.sizes(), kShape, "weight '{}': new value has shape {} but the model needs {}",
                 names_[index], fmt::format("{}", fmt::join(value.sizes(), "x")),
                 fmt::format("{}", fmt::join(dst.sizes(), "x")));
  c10::NoGradGuard no_grad;
  dst.copy_(value);
  ++versions_[index];
}

}  // namespace nnc::exec
