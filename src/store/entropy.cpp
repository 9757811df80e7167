#include "nncompress/store/entropy.hpp"

#include <algorithm>
#include <cmath>
#include <queue>

#include "nncompress/core/error.hpp"
#include "nncompress/store/bitpack.hpp"

namespace nnc::store {
namespace {

constexpr int kMaxCodeLength = 24;

// ---------- Huffman ----------

// Code lengths (0 for absent symbols), limited to kMaxCodeLength.
std::vector<uint8_t> huffman_lengths(std::span<const uint32_t> hist) {
  const std::size_t n = hist.size();
  std::vector<uint8_t> len(n, 0);
  std::vector<std::size_t> present;
  for (std::size_t i = 0; i < n; ++i)
    if (hist[i]) present.push_back(i);
  if (present.empty()) return len;
  if (present.size() == 1) {
    len[present[0]] = 1;
    return len;
  }
  // Standard Huffman tree over the present symbols.
  struct Node {
    uint64_t w;
    int left, right;
  };
  std::vector<Node> nodes;
  using Item = std::pair<uint64_t, int>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> pq;
  for (auto s : present) {
    nodes.push_back({hist[s], -1, static_cast<int>(s)});
    pq.push({hist[s], static_cast<int>(nodes.size() - 1)});
  }
  while (pq.size() > 1) {
    auto [wa, a] = pq.top();
    pq.pop();
    auto [wb, b] = pq.top();
    pq.pop();
    nodes.push_back({wa + wb, a, b});
    pq.push({wa + wb, static_cast<int>(nodes.size() - 1)});
  }
  // Depths by explicit stack (leaves have left == -1, right = symbol).
  std::vector<std::pair<int, int>> stack{{pq.top().second, 0}};
  while (!stack.empty()) {
    auto [i, d] = stack.back();
    stack.pop_back();
    if (nodes[i].left < 0) {
      len[static_cast<std::size_t>(nodes[i].right)] = static_cast<uint8_t>(std::max(d, 1));
    } else {
      stack.push_back({nodes[i].left, d + 1});
      stack.push_back({nodes[i].right, d + 1});
    }
  }
  // Length limiting: clamp, then lengthen the longest codes below the limit until Kraft holds.
  bool over = false;
  for (auto s : present) over = over || len[s] > kMaxCodeLength;
  if (over) {
    for (auto s : present) len[s] = static_cast<uint8_t>(std::min<int>(len[s], kMaxCodeLength));
    auto kraft = [&] {
      uint64_t k = 0;
      for (auto s : present) k += uint64_t{1} << (kMaxCodeLength - len[s]);
      return k;
    };
    const uint64_t one = uint64_t{1} << kMaxCodeLength;
    std::vector<std::size_t> order = present;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return hist[a] < hist[b]; });
    while (kraft() > one) {
      for (auto s : order) {
        if (len[s] < kMaxCodeLength) {
          ++len[s];
          break;
        }
      }
    }
  }
  return len;
}

// Canonical codes from lengths: symbols sorted by (length, symbol).
std::vector<uint32_t> canonical_codes(const std::vector<uint8_t>& len) {
  std::vector<uint32_t> code(len.size(), 0);
  std::vector<uint32_t> count(kMaxCodeLength + 2, 0), next(kMaxCodeLength + 2, 0);
  for (auto l : len)
    if (l) ++count[l];
  uint32_t c = 0;
  for (int l = 1; l <= kMaxCodeLength; ++l) {
    c = (c + count[l - 1]) << 1;
    next[l] = c;
  }
  for (std::size_t s = 0; s < len.size(); ++s)
    if (len[s]) code[s] = next[len[s]]++;
  return code;
}

std::size_t huffman_table_bytes(std::size_t alphabet) { return (alphabet * 5 + 7) / 8; }

// ---------- rANS ----------

constexpr uint32_t kRansL = 1u << 23;

struct RansTable {
  int scale = 0;
  std::vector<uint32_t> freq, cum;
};

std::size_t varint_size(uint32_t v);

// Frequencies normalised to sum to 2^scale, every present symbol at least 1.
RansTable rans_table(std::span<const uint32_t> hist, int scale) {
  RansTable t;
  uint64_t total = 0;
  for (auto h : hist) total += h;
  t.scale = scale;
  const uint64_t M = uint64_t{1} << scale;
  t.freq.assign(hist.size(), 0);
  if (!total) return t;
  uint64_t sum = 0;
  std::size_t biggest = 0;
  for (std::size_t s = 0; s < hist.size(); ++s) {
    if (!hist[s]) continue;
    t.freq[s] = static_cast<uint32_t>(std::max<uint64_t>(1, hist[s] * M / total));
    sum += t.freq[s];
    if (hist[s] > hist[biggest]) biggest = s;
  }
  // Fix the sum to exactly M: adjust the most frequent symbol, then others if it would drop to 0.
  while (sum != M) {
    if (sum < M) {
      t.freq[biggest] += static_cast<uint32_t>(M - sum);
      sum = M;
    } else {
      uint64_t excess = sum - M;
      for (std::size_t s = 0; s < hist.size() && excess; ++s) {
        std::size_t i = (biggest + s) % hist.size();
        if (t.freq[i] > 1) {
          uint64_t take = std::min<uint64_t>(excess, t.freq[i] - 1);
          t.freq[i] -= static_cast<uint32_t>(take);
          excess -= take;
        }
      }
      sum = M + excess;
      NNC_CHECK_CODE(excess == 0, kInternal, "rANS frequency normalisation failed");
    }
  }
  t.cum.assign(hist.size() + 1, 0);
  for (std::size_t s = 0; s < hist.size(); ++s) t.cum[s + 1] = t.cum[s] + t.freq[s];
  return t;
}

// The scale with the fewest table + ideal stream bytes: coarse frequencies make the table
// small (every frequency is a varint) but cost rate; small tensors want coarse tables.
RansTable rans_table(std::span<const uint32_t> hist) {
  std::size_t present = 0;
  for (auto h : hist) present += h > 0;
  int lo = 1;
  while ((std::size_t{1} << lo) < std::max<std::size_t>(present, 2) * 2 && lo < 22) ++lo;
  RansTable best;
  double best_bytes = 0;
  for (int scale = lo; scale <= 22; ++scale) {
    auto t = rans_table(hist, scale);
    double bits = 0;
    std::size_t table = 0;
    for (std::size_t s = 0; s < hist.size(); ++s) {
      table += varint_size(t.freq[s]);
      if (hist[s]) bits -= static_cast<double>(hist[s]) * std::log2(static_cast<double>(t.freq[s]) / std::ldexp(1.0, scale));
    }
    const double bytes = static_cast<double>(table) + bits / 8;
    if (best.freq.empty() || bytes < best_bytes) {
      best = std::move(t);
      best_bytes = bytes;
    }
  }
  return best;
}

void put_varint(std::vector<uint8_t>& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

// LEB128 as the container reads it: at most ten bytes, the value within 64 bits.
uint64_t get_varint(std::span<const uint8_t> in, std::size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    NNC_CHECK_CODE(pos < in.size(), kCorrupt, "rANS table is truncated");
    const uint8_t b = in[pos++];
    if (shift == 63 && b > 1) break;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  fail(ErrorCode::kCorrupt, "rANS table has an overlong number");
}

std::size_t varint_size(uint32_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace

const char* coder_name(Coder c) {
  switch (c) {
    case Coder::kBitpack: return "bitpack";
    case Coder::kHuffman: return "huffman";
    case Coder::kRans: return "rans";
  }
  return "?";
}

std::vector<uint32_t> histogram(std::span<const uint16_t> values, uint32_t alphabet) {
  std::vector<uint32_t> h(alphabet, 0);
  for (auto v : values) {
    NNC_CHECK(v < alphabet, "symbol {} outside an alphabet of {}", v, alphabet);
    ++h[v];
  }
  return h;
}

double entropy_bits(std::span<const uint32_t> hist) {
  double total = 0, e = 0;
  for (auto h : hist) total += h;
  for (auto h : hist)
    if (h) e -= (h / total) * std::log2(h / total);
  return e;
}

std::size_t huffman_bytes(std::span<const uint32_t> hist) {
  auto len = huffman_lengths(hist);
  uint64_t bits = 0;
  for (std::size_t s = 0; s < hist.size(); ++s) bits += uint64_t{hist[s]} * len[s];
  return huffman_table_bytes(hist.size()) + (bits + 7) / 8;
}

std::vector<uint8_t> huffman_encode(std::span<const uint16_t> values, uint32_t alphabet) {
  auto hist = histogram(values, alphabet);
  auto len = huffman_lengths(hist);
  auto code = canonical_codes(len);
  std::vector<uint8_t> out(huffman_table_bytes(alphabet), 0);
  // Table: 5-bit code length per symbol (0 = absent), LSB-first.
  for (std::size_t s = 0; s < alphabet; ++s)
    for (int b = 0; b < 5; ++b)
      if (len[s] >> b & 1) out[(s * 5 + static_cast<std::size_t>(b)) >> 3] |= static_cast<uint8_t>(1u << ((s * 5 + static_cast<std::size_t>(b)) & 7));
  // Codes MSB-first.
  uint64_t acc = 0;
  int nacc = 0;
  for (auto v : values) {
    acc = (acc << len[v]) | code[v];
    nacc += len[v];
    while (nacc >= 8) {
      out.push_back(static_cast<uint8_t>(acc >> (nacc - 8)));
      nacc -= 8;
    }
    acc &= (uint64_t{1} << nacc) - 1;
  }
  if (nacc) out.push_back(static_cast<uint8_t>(acc << (8 - nacc)));
  return out;
}

std::vector<uint16_t> huffman_decode(std::span<const uint8_t> bytes, std::size_t count, uint32_t alphabet) {
  const std::size_t table = huffman_table_bytes(alphabet);
  NNC_CHECK_CODE(bytes.size() >= table, kCorrupt, "Huffman table is truncated");
  std::vector<uint8_t> len(alphabet, 0);
  uint64_t kraft = 0;  // sum of 2^(24 - length): at most 2^24 for a prefix code
  for (std::size_t s = 0; s < alphabet; ++s) {
    uint8_t l = 0;
    for (int b = 0; b < 5; ++b) {
      std::size_t bit = s * 5 + static_cast<std::size_t>(b);
      l |= static_cast<uint8_t>((bytes[bit >> 3] >> (bit & 7) & 1) << b);
    }
    NNC_CHECK_CODE(l <= kMaxCodeLength, kCorrupt, "Huffman code length {} is invalid", l);
    len[s] = l;
    if (l) kraft += uint64_t{1} << (kMaxCodeLength - l);
  }
  NNC_CHECK_CODE(kraft <= uint64_t{1} << kMaxCodeLength, kCorrupt, "Huffman code lengths are over-subscribed");
  // Every code takes at least one bit: a count the stream cannot hold is refused before allocating.
  NNC_CHECK_CODE(count <= (bytes.size() - table) * 8, kCorrupt, "Huffman stream is truncated or corrupt");
  // Canonical decoding tables: per length, the first code and the index into sorted symbols.
  std::vector<uint32_t> count_len(kMaxCodeLength + 1, 0);
  for (auto l : len)
    if (l) ++count_len[l];
  std::vector<uint16_t> sorted;
  for (int l = 1; l <= kMaxCodeLength; ++l)
    for (std::size_t s = 0; s < alphabet; ++s)
      if (len[s] == l) sorted.push_back(static_cast<uint16_t>(s));
  std::vector<uint16_t> out(count);
  if (!count) return out;
  NNC_CHECK_CODE(!sorted.empty(), kCorrupt, "Huffman table has no symbols");
  std::size_t bit = table * 8;
  const std::size_t end_bit = bytes.size() * 8;
  for (std::size_t i = 0; i < count; ++i) {
    uint32_t code = 0, first = 0, index = 0;
    for (int l = 1;; ++l) {
      NNC_CHECK_CODE(l <= kMaxCodeLength && bit < end_bit, kCorrupt, "Huffman stream is truncated or corrupt");
      code = (code << 1) | (bytes[bit >> 3] >> (7 - (bit & 7)) & 1);
      ++bit;
      if (code - first < count_len[l]) {
        out[i] = sorted[index + (code - first)];
        break;
      }
      index += count_len[l];
      first = (first + count_len[l]) << 1;
    }
  }
  return out;
}

std::vector<uint8_t> rans_encode(std::span<const uint16_t> values, uint32_t alphabet) {
  auto hist = histogram(values, alphabet);
  auto t = rans_table(hist);
  std::vector<uint8_t> out{static_cast<uint8_t>(t.scale)};
  for (auto f : t.freq) put_varint(out, f);
  std::vector<uint8_t> stream;  // produced backwards
  uint32_t x = kRansL;
  for (std::size_t i = values.size(); i-- > 0;) {
    const uint32_t s = values[i], f = t.freq[s];
    const uint64_t x_max = (uint64_t{kRansL >> t.scale} << 8) * f;
    while (x >= x_max) {
      stream.push_back(static_cast<uint8_t>(x & 0xff));
      x >>= 8;
    }
    x = ((x / f) << t.scale) + (x % f) + t.cum[s];
  }
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<uint8_t>(x >> (8 * b)));
  out.insert(out.end(), stream.rbegin(), stream.rend());
  return out;
}

std::size_t rans_bytes(std::span<const uint16_t> values, uint32_t alphabet) {
  auto hist = histogram(values, alphabet);
  auto t = rans_table(hist);
  std::size_t n = 1 + 4;
  for (auto f : t.freq) n += varint_size(f);
  uint32_t x = kRansL;
  for (std::size_t i = values.size(); i-- > 0;) {
    const uint32_t s = values[i], f = t.freq[s];
    const uint64_t x_max = (uint64_t{kRansL >> t.scale} << 8) * f;
    while (x >= x_max) {
      ++n;
      x >>= 8;
    }
    x = ((x / f) << t.scale) + (x % f) + t.cum[s];
  }
  return n;
}

std::vector<uint16_t> rans_decode(std::span<const uint8_t> bytes, std::size_t count, uint32_t alphabet) {
  NNC_CHECK_CODE(!bytes.empty(), kCorrupt, "rANS stream is empty");
  std::size_t pos = 0;
  const int scale = bytes[pos++];
  NNC_CHECK_CODE(scale >= 1 && scale <= 22, kCorrupt, "rANS scale {} is invalid", scale);
  RansTable t;
  t.scale = scale;
  t.freq.resize(alphabet);
  t.cum.assign(alphabet + 1, 0);
  const uint32_t M = 1u << scale;
  for (uint32_t s = 0; s < alphabet; ++s) {
    const uint64_t f = get_varint(bytes, pos);
    // Checked before adding: no frequency or partial sum can wrap past 2^scale.
    NNC_CHECK_CODE(f <= M - t.cum[s], kCorrupt, "rANS frequencies do not sum to 2^{}", scale);
    t.freq[s] = static_cast<uint32_t>(f);
    t.cum[s + 1] = t.cum[s] + t.freq[s];
  }
  NNC_CHECK_CODE(t.cum[alphabet] == M || (count == 0 && t.cum[alphabet] == 0), kCorrupt,
                 "rANS frequencies do not sum to 2^{}", scale);
  NNC_CHECK_CODE(pos + 4 <= bytes.size(), kCorrupt, "rANS stream is truncated");
  uint32_t x = 0;
  for (int b = 0; b < 4; ++b) x |= static_cast<uint32_t>(bytes[pos++]) << (8 * b);
  // A slot -> symbol table costs 2^scale entries: built only when the stream is long enough to
  // repay it (a short tensor at scale 22 would otherwise cost 4M writes); else a binary search.
  std::vector<uint16_t> slot_symbol;
  if (count && uint64_t{count} * 4 >= M) {
    slot_symbol.resize(M);
    for (uint32_t s = 0; s < alphabet; ++s)
      for (uint32_t k = t.cum[s]; k < t.cum[s + 1]; ++k) slot_symbol[k] = static_cast<uint16_t>(s);
  }
  auto symbol_of = [&](uint32_t slot) {
    if (!slot_symbol.empty()) return slot_symbol[slot];
    // The last symbol whose cumulative frequency is <= slot (it has a non-zero frequency).
    auto it = std::upper_bound(t.cum.begin(), t.cum.end() - 1, slot);
    return static_cast<uint16_t>(it - t.cum.begin() - 1);
  };
  std::vector<uint16_t> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    const uint32_t slot = x & (M - 1);
    const uint16_t s = symbol_of(slot);
    out[i] = s;
    x = t.freq[s] * (x >> scale) + slot - t.cum[s];
    while (x < kRansL) {
      NNC_CHECK_CODE(pos < bytes.size(), kCorrupt, "rANS stream is truncated");
      x = (x << 8) | bytes[pos++];
    }
  }
  return out;
}

Encoded encode_smallest(std::span<const uint16_t> values, uint32_t alphabet) {
  auto hist = histogram(values, alphabet);
  const int width = bits_for(alphabet);
  const std::size_t pack = bitpacked_bytes(values.size(), width);
  const std::size_t huff = huffman_bytes(hist);
  const std::size_t rans = rans_bytes(values, alphabet);
  if (pack <= huff && pack <= rans) return {Coder::kBitpack, bitpack(values, width)};
  if (huff <= rans) return {Coder::kHuffman, huffman_encode(values, alphabet)};
  return {Coder::kRans, rans_encode(values, alphabet)};
}

std::vector<uint16_t> decode(Coder coder, std::span<const uint8_t> bytes, std::size_t count, uint32_t alphabet) {
  NNC_CHECK_CODE(alphabet <= 65536, kCorrupt, "index alphabet {} is larger than 65536", alphabet);
  switch (coder) {
    case Coder::kBitpack: {
      // A width holds values up to 2^width - 1; only those below the alphabet index a codebook.
      auto out = bitunpack(bytes, count, bits_for(alphabet));
      for (auto v : out)
        NNC_CHECK_CODE(v < alphabet, kCorrupt, "bit-packed index {} is outside an alphabet of {}", v, alphabet);
      return out;
    }
    case Coder::kHuffman: return huffman_decode(bytes, count, alphabet);
    case Coder::kRans: return rans_decode(bytes, count, alphabet);
  }
  fail(ErrorCode::kCorrupt, "unknown index coder {}", static_cast<int>(coder));
}

}  // namespace nnc::store
