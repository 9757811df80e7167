#pragma once
// What a CompressedModel becomes on disk:
//  - the .nnc container: shared weights as codebook indices, pruned ones as positions plus
//    values (or indices of the non-zeros, for pruned-then-shared weights), whichever form is
//    smaller per tensor, everything else raw fp32 (store/container.hpp);
//  - an ONNX file any runtime runs: shared weights as packed indices unpacked in the graph by
//    standard operators (pruned-then-shared: a bitmask plus the non-zeros' indices); pruned
//    weights as dense zeros, or with `compact_pruned` each in its smallest form (bitmask +
//    values unpacked in the graph, a sparse initializer, or dense).
// Sizes are read from the bytes written: the honest ratio is original fp32 bytes / file bytes.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/core/control.hpp"
#include "nncompress/store/container.hpp"
#include "nncompress/store/model_store.hpp"

namespace nnc::compress {

class CompressedModel;

// The container's description of what the steps did (codebooks, indices, sparse tensors).
store::Compression storage(const CompressedModel& model);

struct PackedModel {
  std::vector<uint8_t> bytes;
  store::ContainerStats stats;
};
PackedModel pack_nnc(const CompressedModel& model);

struct OnnxForm {
  bool compact_pruned = false;  // pruned weights in their smallest form instead of dense zeros
};
struct CompressedOnnx {
  onnx::ModelProto model;
  nlohmann::json pruned = nullptr;  // compact_pruned: what was written how (tensors, bytes)
};
CompressedOnnx compressed_onnx(const CompressedModel& model, OnnxForm form = {});

// Writes the requested outputs atomically (never over `protect`, the input) and returns their
// figures: fp32_bytes, nnc_bytes, ratio, onnx_bytes, onnx_ratio, nnc_parts (what the container's
// bytes hold) and onnx_sparse (compact_pruned only).
struct OutputPaths {
  std::filesystem::path onnx, nnc, protect;
  OnnxForm form;
};
nlohmann::json write_outputs(const CompressedModel& model, const OutputPaths& paths, const Control& control = {});

}  // namespace nnc::compress
