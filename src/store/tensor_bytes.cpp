#include "nncompress/store/tensor_bytes.hpp"

#include <algorithm>

#include "nncompress/store/bitpack.hpp"
#include "nncompress/store/container.hpp"
#include "nncompress/store/entropy.hpp"

namespace nnc::store {
namespace {

std::size_t varint_bytes(uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace

std::size_t indexed_payload_bytes(std::span<const uint16_t> indices, uint32_t alphabet) {
  const auto hist = histogram(indices, alphabet);
  return std::min({bitpacked_bytes(indices.size(), bits_for(alphabet)), huffman_bytes(hist), rans_bytes(indices, alphabet)});
}

std::size_t positions_payload_bytes(std::size_t numel, std::span<const uint64_t> positions) {
  std::size_t gaps = 0;
  for (std::size_t i = 0; i < positions.size(); ++i) gaps += varint_bytes(positions[i] - (i ? positions[i - 1] + 1 : 0));
  const std::size_t smaller = std::min((numel + 7) / 8, gaps);
  const std::size_t coded = coded_gaps_bytes(positions);
  return coded > 0 && coded < smaller ? coded : smaller;
}

}  // namespace nnc::store
