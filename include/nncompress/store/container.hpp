#pragma once
// The .nnc container: one versioned, CRC32-checksummed file holding the graph (ONNX protobuf
// without the stored tensors), codebooks of shared float values, and every float tensor as
// raw fp32, codebook indices (bit-packed, Huffman or rANS, whichever is smallest) or sparse
// (bitmask, varint gaps or entropy-coded gaps as positions, with raw or codebook-indexed values),
// and every int8 tensor (quantised weights) as coded integers, dense or sparse. Format: docs/nnc-format.md;
// a dependency-free C decoder (src/store/decode.c) reads it.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "nncompress/store/entropy.hpp"

namespace nnc::store {

// 6: tensor names and shapes deflated with the graph; 5: int8 tensors; 4: sparse positions as
// entropy-coded gaps; 3: scaled codebooks; 2: varint fields, deflated graph. A file is written in
// the oldest version that holds what it needs; every older version is still read.
constexpr uint16_t kContainerVersion = 6;

struct StoredTensor {
  enum class Kind : uint8_t { kRaw = 0, kIndexed = 1, kSparse = 2, kInt8 = 3 };
  std::string name;
  std::vector<int64_t> shape;
  Kind kind = Kind::kRaw;
  std::vector<float> values;        // raw values; sparse: non-zero values when not indexed
  int codebook = -1;                // indexed (or sparse with indexed values): codebook id
  std::vector<uint16_t> indices;    // indexed: one per element; sparse: one per non-zero
  std::vector<uint64_t> positions;  // sparse: sorted flat positions of the non-zeros
  // int8 tensors (kInt8, or kSparse with int8_values): every element, or the non-zeros.
  bool int8_values = false;
  std::vector<int8_t> ints;

  int64_t numel() const;
  bool is_int8() const { return kind == Kind::kInt8 || (kind == Kind::kSparse && int8_values); }
  // Dense values; an int8 tensor's integers as floats.
  std::vector<float> decode(const std::vector<std::vector<float>>& codebooks) const;
  std::vector<int8_t> decode_int8() const;  // an int8 tensor's dense integers
};

// A codebook stored as another one times a scale (format 3): its values are base value x scale,
// each one float multiplication; weight sharing with a per-tensor scale refers its tensors to
// these. base < 0: a codebook of its own values.
struct CodebookScale {
  int base = -1;
  float scale = 1.0f;
};

struct ContainerContent {
  std::string graph;  // serialised onnx::ModelProto without the stored tensors
  std::vector<std::vector<float>> codebooks;  // every codebook's values, scaled ones included
  std::vector<CodebookScale> scales;          // per codebook (empty: none is scaled)
  std::vector<StoredTensor> tensors;
};

struct ContainerStats {
  std::size_t total_bytes = 0, graph_bytes = 0, codebook_bytes = 0, raw_bytes = 0, index_bytes = 0,
              sparse_bytes = 0, int8_bytes = 0, header_bytes = 0;  // int8_bytes: coded int8 values
  std::size_t indexed_elements = 0;  // elements stored as codebook indices
  std::vector<std::pair<std::string, Coder>> coders;  // per indexed tensor
  // Per sparse tensor: how its positions are stored ("bitmask", "varint gaps", "coded gaps").
  std::vector<std::pair<std::string, std::string>> positions;
};

// values[i] = base[i] x scale, as both readers compute it.
std::vector<float> scaled_codebook(const std::vector<float>& base, float scale);

// Bytes of sorted positions as coded gaps (position format 2), the writer's third form.
std::size_t coded_gaps_bytes(std::span<const uint64_t> positions);
// Bytes of int8 values as the writer codes them (tensor kind 3, sparse value kind 2).
std::size_t int8_payload_bytes(std::span<const int8_t> values);

std::vector<uint8_t> encode_container(const ContainerContent& content, ContainerStats* stats = nullptr);
ContainerContent decode_container(std::span<const uint8_t> bytes, const std::string& what);

}  // namespace nnc::store
