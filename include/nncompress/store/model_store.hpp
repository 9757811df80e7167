#pragma once
// ONNX models in and out of storage formats:
//  - pack_model / unpack_model: a model <-> .nnc container (every float initializer becomes a
//    raw, codebook-indexed or sparse record; the graph keeps everything else);
//  - codebook_onnx: the compressed ONNX any runtime runs: shared codebook initializer + index
//    initializers unpacked by standard operators, producing each weight under its original name:
//    codebooks of up to 128 values pack 8 indices into 1-7 bytes (src/store/packed_indices.hpp),
//    larger ones use uint8/uint16 indices -> Cast(to=INT64) -> Gather; a weight with a scale
//    gets a Mul by it (the .nnc refers it to a scaled codebook instead).
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "nncompress/core/control.hpp"
#include "nncompress/store/container.hpp"

namespace nnc::store {

struct IndexedWeight {
  int codebook = 0;
  std::vector<uint16_t> indices;  // one per element (row-major)
  float scale = 1.0f;             // the weight is codebook value x scale (per-tensor scale)
};

struct Compression {
  std::vector<std::vector<float>> codebooks;
  std::map<std::string, IndexedWeight> indexed;  // initializer name -> indices
  std::map<std::string, bool> sparse;            // initializer name -> store zeros sparsely
};

std::vector<uint8_t> pack_model(const onnx::ModelProto& model, const Compression& compression,
                                ContainerStats* stats = nullptr);
onnx::ModelProto unpack_model(std::span<const uint8_t> bytes, const std::string& what);

// Writes the .nnc atomically (never over `protect`); returns its size in bytes.
std::size_t write_nnc(const std::filesystem::path& path, const onnx::ModelProto& model,
                      const Compression& compression, const std::filesystem::path& protect = {},
                      ContainerStats* stats = nullptr);
onnx::ModelProto read_nnc(const std::filesystem::path& path);
// A model file of either kind: an .nnc container (by its magic bytes) or ONNX (load_model).
onnx::ModelProto load_any_model(const std::filesystem::path& path, const Control& control = {});
bool is_nnc_file(const std::filesystem::path& path);

onnx::ModelProto codebook_onnx(const onnx::ModelProto& model, const Compression& compression);

// The pruned ONNX any runtime runs, each named tensor in its smallest form: a bitmask with the
// non-zero values, unpacked in-graph (opset >= 11; src/store/packed_indices.hpp), an ONNX sparse
// initializer (int64 positions: smaller only below ~1.6% density), or dense.
struct PrunedOnnx {
  onnx::ModelProto model;
  int masked = 0, sparse = 0;     // tensors in each compact form; the rest stay dense
  std::size_t dense_bytes = 0;    // fp32 bytes of the named tensors
  std::size_t stored_bytes = 0;   // their bytes as written (masks + values, or values + positions)
};
PrunedOnnx pruned_onnx(const onnx::ModelProto& model, const std::set<std::string>& names);

// fp32 bytes of all the model's float initializers (the honest ratio's numerator).
std::size_t fp32_initializer_bytes(const onnx::ModelProto& model);

}  // namespace nnc::store
