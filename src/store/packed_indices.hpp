#pragma once
// Index sequences packed into an ONNX file and unpacked by standard operators inside the graph
// (runtimes fold the unpacking once: it reads initializers only). Used for the codebook indices
// of shared weights (store::codebook_onnx: one sequence for all weights of a codebook, then
// Gather, Split, Reshape) and the masks of pruned ones (store::pruned_onnx).
//  - 1-6 bits: eight b-bit indices fill b bytes (blocks of at most 48 bits: ONNX Runtime sums
//    int64 inexactly above 2^53); block j holds indices 8j..8j+7, index k at bits
//    [k*b, (k+1)*b) of its bytes read as one little-endian integer. Unpacking: Cast(uint8 ->
//    int64) [blocks, b] -> Mul [1, 256, 256^2, ...] -> ReduceSum(axis 1) [blocks, 1] -> Div by
//    2^(k*b) minus 2^b * Div by 2^((k+1)*b) (k = 0..7) [blocks, 8] -> Reshape [-1] (-> Concat
//    the last n % 8 indices, one per byte). Opset >= 6 (ReduceSum's axes are an input from 13).
//  - 7 and 9-16 bits: one bit stream, see add_stream_indices (opset >= 11).
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::store {

// Bits per index for a codebook of `entries` values (at least 1).
int index_bits(std::size_t entries);

// True when the packed form is written: 1-6 bits, at least one whole block, opset >= 6.
bool packable(int bits, std::size_t count, int opset);

// Adds packed `indices` (initializers named after `prefix`) and the nodes unpacking them (appended
// to `nodes`); returns the name of the flat int64 tensor of the indices.
std::string add_unpacked_indices(onnx::GraphProto& graph, std::vector<onnx::NodeProto>& nodes, const std::string& prefix,
                                 const std::vector<uint16_t>& indices, int bits, int opset);

// Indices of 7 or 9-16 bits as one bit stream (index i at bits [i*b, (i+1)*b)), unpacked in-graph:
// Range numbers the indices, each reads the 3-byte window holding it (Gather x3), shifts it down
// (Div by a power of two) and keeps b bits (Sub of Div x Mul). Needs opset 11 (Range).
bool streamable(int bits, std::size_t count, int opset);
std::string add_stream_indices(onnx::GraphProto& graph, std::vector<onnx::NodeProto>& nodes, const std::string& prefix,
                               const std::vector<uint16_t>& indices, int bits, int opset);

// The smallest of the forms above for indices into a codebook of `entries` values (1-6 bits in
// blocks, 7 and 9-16 bits as a stream; otherwise one or two bytes per index and a Cast); returns the
// name of the flat int64 tensor of the indices.
std::string add_index_decoder(onnx::GraphProto& graph, std::vector<onnx::NodeProto>& nodes, const std::string& prefix,
                              const std::vector<uint16_t>& indices, std::size_t entries, int opset);

// Pruned weights as a bitmask plus their non-zero values: the mask is unpacked as 1-bit indices,
// CumSum numbers the set positions 1, 2, ..., and Gather reads [0, v1, v2, ...] at mask * rank.
// (n + 7) / 8 + 4 * (non-zeros + 1) bytes, against 4 n dense and 12 per non-zero for ONNX's
// sparse initializers (int64 positions). Needs opset 11 (CumSum).
bool maskable(std::size_t count, int opset);
std::size_t masked_bytes(std::size_t count, std::size_t nonzeros);
void add_masked_weight(onnx::GraphProto& graph, std::vector<onnx::NodeProto>& nodes, const std::string& weight,
                       const std::vector<int64_t>& dims, const std::vector<float>& values, int opset);
// The flat values of a masked weight from its non-zero values computed in the graph (a codebook
// lookup): the same mask unpacking, then Gather reads [0, nonzero_values...] at mask * rank.
// Returns the name of the flat values (the caller reshapes them).
std::string add_masked_values(onnx::GraphProto& graph, std::vector<onnx::NodeProto>& nodes, const std::string& weight,
                              const std::vector<uint16_t>& mask, const std::string& nonzero_values, int opset);

}  // namespace nnc::store
