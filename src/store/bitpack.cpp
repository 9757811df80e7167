#include "nncompress/store/bitpack.hpp"

#include "nncompress/core/error.hpp"

namespace nnc::store {

int bits_for(uint32_t alphabet) {
  int w = 1;
  while (w < 16 && (1u << w) < alphabet) ++w;
  return w;
}

std::vector<uint8_t> bitpack(std::span<const uint16_t> values, int width) {
  NNC_CHECK(width >= 1 && width <= 16, "bit width {} outside 1..16", width);
  std::vector<uint8_t> out(bitpacked_bytes(values.size(), width), 0);
  uint64_t bit = 0;
  for (uint16_t v : values) {
    NNC_CHECK(width == 16 || v < (1u << width), "value {} does not fit in {} bits", v, width);
    for (int b = 0; b < width; ++b, ++bit)
      if (v >> b & 1) out[bit >> 3] |= static_cast<uint8_t>(1u << (bit & 7));
  }
  return out;
}

std::vector<uint16_t> bitunpack(std::span<const uint8_t> bytes, std::size_t count, int width) {
  NNC_CHECK_CODE(bytes.size() >= bitpacked_bytes(count, width), kCorrupt, "bit-packed stream is truncated");
  std::vector<uint16_t> out(count);
  uint64_t bit = 0;
  for (std::size_t i = 0; i < count; ++i) {
    uint32_t v = 0;
    for (int b = 0; b < width; ++b, ++bit) v |= static_cast<uint32_t>(bytes[bit >> 3] >> (bit & 7) & 1) << b;
    out[i] = static_cast<uint16_t>(v);
  }
  return out;
}

}  // namespace nnc::store
