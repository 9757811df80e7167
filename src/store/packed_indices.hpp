#pragma once
// Codebook indices of fewer than 8 bits, packed into the ONNX file and unpacked by standard
// operators inside the graph (runtimes fold the unpacking once, as it depends on initializers
// only). Eight b-bit indices fill exactly b bytes: block j holds indices 8j..8j+7, index k of a
// block at bits [k*b, (k+1)*b) of its bytes read as one little-endian integer. Unpacking:
//   Cast(uint8 -> int64) [blocks, b] -> Mul [1, 256, 256^2, ...] -> ReduceSum(axis 1) [blocks, 1]
//   -> Div by 2^(k*b) minus 2^b * Div by 2^((k+1)*b)  (k = 0..7)  [blocks, 8]
//   -> Reshape [-1] (-> Concat the last n % 8 indices, stored one per byte) -> Gather(codebook)
//   -> Reshape to the weight's shape.
// Every operator exists since opset 6 (ReduceSum takes its axes as an input from opset 13).
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::store {

// Bits per index for a codebook of `entries` values (at least 1).
int index_bits(std::size_t entries);

// True when the packed form is written: 1-7 bits, at least one whole block, opset >= 6.
bool packable(int bits, std::size_t count, int opset);

// Adds `weight`'s packed indices (as initializers) and its unpacking nodes (appended to `nodes`)
// to `graph`; the last node outputs `weight` with shape `dims`.
void add_packed_weight(onnx::GraphProto& graph, std::vector<onnx::NodeProto>& nodes, const std::string& weight,
                       const std::vector<int64_t>& dims, const std::vector<uint16_t>& indices, int bits,
                       const std::string& codebook, int opset);

}  // namespace nnc::store
