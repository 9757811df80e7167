#include "nncompress/dist/tensor_archive.hpp"

#include <ATen/ATen.h>

namespace nnc::dist {

void put_tensor(ArchiveWriter& w, const at::Tensor& t) {
  w.put<uint8_t>(t.defined() ? 1 : 0);
  if (!t.defined()) return;
  auto c = t.detach().contiguous();
  w.put<int8_t>(static_cast<int8_t>(c.scalar_type()));
  std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
  w.put(shape);
  w.raw(c.data_ptr(), c.nbytes());
}

at::Tensor get_tensor(ArchiveReader& r) {
  if (r.get<uint8_t>() == 0) return {};
  const auto type = static_cast<at::ScalarType>(r.get<int8_t>());
  NNC_CHECK(type == at::kFloat || type == at::kLong || type == at::kBool || type == at::kByte || type == at::kDouble ||
                type == at::kInt || type == at::kChar,
            "distributed message: tensor of element type {}", static_cast<int>(type));
  std::vector<int64_t> shape;
  r.get(shape);
  auto t = at::empty(shape, at::TensorOptions().dtype(type));
  const auto bytes = r.raw(t.nbytes());
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

}  // namespace nnc::dist
