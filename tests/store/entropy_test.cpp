#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "nncompress/core/error.hpp"
#include "nncompress/store/bitpack.hpp"
#include "nncompress/store/entropy.hpp"

using namespace nnc::store;

namespace {
struct Stream {
  std::string name;
  std::vector<uint16_t> values;
  uint32_t alphabet;
};

std::vector<Stream> streams() {
  std::mt19937 rng(123);
  std::vector<Stream> out;
  out.push_back({"empty", {}, 16});
  out.push_back({"one symbol", std::vector<uint16_t>(5000, 7), 64});
  out.push_back({"single value alphabet", std::vector<uint16_t>(100, 0), 1});
  {
    Stream s{"all symbols uniform", {}, 256};
    for (int i = 0; i < 20000; ++i) s.values.push_back(static_cast<uint16_t>(rng() % 256));
    out.push_back(s);
  }
  {
    Stream s{"65536 distinct symbols", {}, 65536};
    for (uint32_t i = 0; i < 65536; ++i) s.values.push_back(static_cast<uint16_t>(i));
    std::shuffle(s.values.begin(), s.values.end(), rng);
    out.push_back(s);
  }
  {
    Stream s{"geometric (weights-like)", {}, 200};
    std::geometric_distribution<int> g(0.15);
    for (int i = 0; i < 50000; ++i) s.values.push_back(static_cast<uint16_t>(std::min(199, g(rng))));
    out.push_back(s);
  }
  {
    Stream s{"extremely skewed (Fibonacci counts)", {}, 40};
    uint64_t a = 1, b = 1;
    for (uint16_t sym = 0; sym < 26; ++sym) {
      for (uint64_t k = 0; k < a; ++k) s.values.push_back(sym);
      uint64_t c = a + b;
      a = b;
      b = c;
    }
    std::shuffle(s.values.begin(), s.values.end(), rng);
    out.push_back(s);
  }
  return out;
}
}  // namespace

TEST(Entropy, EveryCoderRoundTripsRandomAndAdversarialStreams) {
  for (const auto& s : streams()) {
    const int w = bits_for(s.alphabet);
    EXPECT_EQ(bitunpack(bitpack(s.values, w), s.values.size(), w), s.values) << s.name;
    auto h = huffman_encode(s.values, s.alphabet);
    EXPECT_EQ(h.size(), huffman_bytes(histogram(s.values, s.alphabet))) << s.name;
    EXPECT_EQ(huffman_decode(h, s.values.size(), s.alphabet), s.values) << s.name;
    auto r = rans_encode(s.values, s.alphabet);
    EXPECT_EQ(r.size(), rans_bytes(s.values, s.alphabet)) << s.name;
    EXPECT_EQ(rans_decode(r, s.values.size(), s.alphabet), s.values) << s.name;
    auto best = encode_smallest(s.values, s.alphabet);
    EXPECT_EQ(decode(best.coder, best.bytes, s.values.size(), s.alphabet), s.values) << s.name;
    EXPECT_LE(best.bytes.size(), std::min({h.size(), r.size(), bitpacked_bytes(s.values.size(), w)})) << s.name;
  }
}

TEST(Entropy, CodersApproachTheEntropyOnSkewedData) {
  auto all = streams();
  const auto& s = all[5];  // geometric
  auto hist = histogram(s.values, s.alphabet);
  const double ideal_bytes = entropy_bits(hist) * static_cast<double>(s.values.size()) / 8;
  EXPECT_LT(static_cast<double>(rans_bytes(s.values, s.alphabet)), ideal_bytes * 1.01 + 400);
  EXPECT_LT(static_cast<double>(huffman_bytes(hist)), ideal_bytes * 1.05 + 200);
  EXPECT_LT(static_cast<double>(rans_bytes(s.values, s.alphabet)), static_cast<double>(bitpacked_bytes(s.values.size(), 8)) * 0.6);
}

TEST(Entropy, CorruptStreamsAreErrorsNotCrashes) {
  std::vector<uint16_t> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint16_t>(i % 13);
  auto h = huffman_encode(v, 13);
  h.resize(h.size() / 2);
  EXPECT_THROW(huffman_decode(h, v.size(), 13), nnc::Error);
  auto r = rans_encode(v, 13);
  r.resize(r.size() / 2);
  EXPECT_THROW(rans_decode(r, v.size(), 13), nnc::Error);
  EXPECT_THROW(histogram(std::vector<uint16_t>{20}, 13), nnc::Error);
}

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const nnc::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

// Tables are validated before they are used: frequencies that wrap 32 bits (0xFFFFFFFF + 3 = 2^1)
// once made the decoder fill a slot table of 2^32 entries into one of 2; over-subscribed code
// lengths; bit-packed indices at or above the alphabet (3 symbols take 2 bits, which hold 3).
TEST(Entropy, InvalidTablesAndIndicesAreRefused) {
  const std::vector<uint8_t> wraps{1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 3, 0, 0, 0x80, 0};
  EXPECT_EQ(error_of([&] { rans_decode(wraps, 4, 2); }), "rANS frequencies do not sum to 2^1");
  const std::vector<uint8_t> short_sum{2, 1, 1, 0, 0, 0x80, 0};
  EXPECT_EQ(error_of([&] { rans_decode(short_sum, 0, 2); }), "rANS frequencies do not sum to 2^2");
  const std::vector<uint8_t> three_one_bit_codes{0x21, 0x04, 0x00};
  EXPECT_EQ(error_of([&] { huffman_decode(three_one_bit_codes, 4, 3); }), "Huffman code lengths are over-subscribed");
  EXPECT_EQ(error_of([&] { decode(Coder::kBitpack, std::vector<uint8_t>{0b11100100}, 4, 3); }),
            "bit-packed index 3 is outside an alphabet of 3");
  // A count the stream cannot hold (every Huffman code takes a bit) is refused before allocating.
  auto h = huffman_encode(std::vector<uint16_t>{0, 1, 2, 1}, 3);
  EXPECT_EQ(error_of([&] { huffman_decode(h, std::size_t{1} << 40, 3); }), "Huffman stream is truncated or corrupt");
}

// The rANS decoder looks symbols up by binary search when the stream is too short to repay a
// 2^scale slot table; both ways give the same symbols.
TEST(Entropy, RansShortStreamsDecodeWithoutTheSlotTable) {
  std::vector<uint16_t> v;
  for (int i = 0; i < 40; ++i) v.push_back(static_cast<uint16_t>((i * 7) % 300));
  auto r = rans_encode(v, 300);
  ASSERT_GT(uint64_t{1} << r[0], v.size() * 4) << "scale " << int{r[0]} << " would take the slot table";
  EXPECT_EQ(rans_decode(r, v.size(), 300), v);
}
