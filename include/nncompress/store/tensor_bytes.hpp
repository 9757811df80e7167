#pragma once
// Payload bytes of a tensor's storage forms in the .nnc container, computed without writing
// them: what the writer compares to pick a tensor's form, and what searches count as the real
// encoded size of a candidate (docs/nnc-format.md).
#include <cstdint>
#include <span>

namespace nnc::store {

// Codebook indices coded with the best of bit-packing, Huffman and rANS (tables included).
std::size_t indexed_payload_bytes(std::span<const uint16_t> indices, uint32_t alphabet);
// Sparse positions (sorted flat element numbers): the smallest of a bitmask, varint gaps and
// coded gaps, as the writer chooses.
std::size_t positions_payload_bytes(std::size_t numel, std::span<const uint64_t> positions);

}  // namespace nnc::store
