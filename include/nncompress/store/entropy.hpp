#pragma once
// Entropy coders for index streams over an alphabet of up to 65536 symbols. Each encoded
// block is self-describing (it carries its own table), so its byte size is the honest cost.
//   Huffman: canonical codes, lengths limited to 24 bits, table = code length per symbol.
//   rANS:    static frequencies quantised to 2^scale, 32-bit state, byte-wise renormalisation.
// Both also have exact size functions that do not build the output.
#include <cstdint>
#include <span>
#include <vector>

namespace nnc::store {

enum class Coder : uint8_t { kBitpack = 0, kHuffman = 1, kRans = 2 };
const char* coder_name(Coder c);

std::vector<uint32_t> histogram(std::span<const uint16_t> values, uint32_t alphabet);
// Shannon entropy in bits per symbol (the ideal lower bound).
double entropy_bits(std::span<const uint32_t> histogram);

std::vector<uint8_t> huffman_encode(std::span<const uint16_t> values, uint32_t alphabet);
std::vector<uint16_t> huffman_decode(std::span<const uint8_t> bytes, std::size_t count, uint32_t alphabet);
std::size_t huffman_bytes(std::span<const uint32_t> histogram);

std::vector<uint8_t> rans_encode(std::span<const uint16_t> values, uint32_t alphabet);
std::vector<uint16_t> rans_decode(std::span<const uint8_t> bytes, std::size_t count, uint32_t alphabet);
std::size_t rans_bytes(std::span<const uint16_t> values, uint32_t alphabet);

// Encodes with every coder and keeps the smallest.
struct Encoded {
  Coder coder = Coder::kBitpack;
  std::vector<uint8_t> bytes;
};
Encoded encode_smallest(std::span<const uint16_t> values, uint32_t alphabet);
std::vector<uint16_t> decode(Coder coder, std::span<const uint8_t> bytes, std::size_t count, uint32_t alphabet);

}  // namespace nnc::store
