#pragma once
// NPY arrays (C order, little endian): float32/float64/int64/int32/uint8/int8/bool.
#include <ATen/core/Tensor.h>

#include <filesystem>

namespace nnc::data {

at::Tensor read_npy(const std::filesystem::path& path);
void write_npy(const std::filesystem::path& path, const at::Tensor& tensor);

}  // namespace nnc::data
