#pragma once
// IDX files (MNIST / Fashion-MNIST), gzip-compressed or raw.
#include <ATen/core/Tensor.h>

#include <filesystem>

namespace nnc::data {

// Reads an IDX file (.gz or raw) into a tensor of its element type (uint8 for MNIST) and shape.
at::Tensor read_idx(const std::filesystem::path& path);

}  // namespace nnc::data
