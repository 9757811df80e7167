#pragma once
// NPY arrays (C order, little endian): float32/float64/int64/int32/uint8/int8/bool.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace nnc::data {

at::Tensor read_npy(const std::filesystem::path& path);
// The same from bytes in memory (an NPZ member); `what` names them in errors.
at::Tensor parse_npy(std::span<const uint8_t> bytes, const std::string& what);
void write_npy(const std::filesystem::path& path, const at::Tensor& tensor);

}  // namespace nnc::data
