#pragma once
// Tensors in distributed messages: dtype, shape and the contiguous bytes (an undefined tensor too).
#include <ATen/core/Tensor.h>

#include "nncompress/dist/archive.hpp"

namespace nnc::dist {

void put_tensor(ArchiveWriter& w, const at::Tensor& t);
at::Tensor get_tensor(ArchiveReader& r);

}  // namespace nnc::dist
