#pragma once
// Fixed-width bit-packing of index streams (1..16 bits per value, LSB-first).
#include <cstdint>
#include <span>
#include <vector>

namespace nnc::store {

// Smallest width that holds values < alphabet (at least 1).
int bits_for(uint32_t alphabet);
std::vector<uint8_t> bitpack(std::span<const uint16_t> values, int width);
std::vector<uint16_t> bitunpack(std::span<const uint8_t> bytes, std::size_t count, int width);
inline std::size_t bitpacked_bytes(std::size_t count, int width) { return (count * static_cast<std::size_t>(width) + 7) / 8; }

}  // namespace nnc::store
