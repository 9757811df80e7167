// Crafted .nnc files, one defect each, through both readers: store::unpack_model (the C++ reader
// behind `unpack` and `info`) and the C decoder nnc_decode(). Each file is built field by field as
// docs/nnc-format.md lays it out, its CRC-32 trailer re-sealed so that only the record checks can
// notice; both readers must refuse it with one line naming the problem (the C++ one also names
// the file), and neither may crash or read or write out of bounds.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <limits>
#include <span>

#include "decode.h"
#include "nncompress/core/error.hpp"
#include "nncompress/store/bitpack.hpp"
#include "nncompress/store/container.hpp"
#include "nncompress/store/entropy.hpp"
#include "nncompress/store/model_store.hpp"

using namespace nnc;

namespace {

// Fields in the layout of one format: varints in format 2, fixed widths in format 1.
class Craft {
 public:
  explicit Craft(int version = 2) : version_(version) {}
  Craft& u8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  Craft& le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Craft& varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) b_.push_back(static_cast<uint8_t>(v | 0x80));
    b_.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  // An unsigned field: a varint in format 2, v1_bytes little endian in format 1.
  Craft& num(uint64_t v, int v1_bytes) { return version_ < 2 ? le(v, v1_bytes) : varint(v); }
  Craft& bytes(std::span<const uint8_t> b) {
    b_.insert(b_.end(), b.begin(), b.end());
    return *this;
  }
  Craft& text(const std::string& s) { return bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()}); }
  Craft& f32(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return le(u, 4);
  }
  Craft& section(uint8_t type, const Craft& payload) {
    u8(type).num(payload.b_.size(), 8);
    return bytes(payload.b_);
  }
  Craft& codebook(const std::vector<float>& values) {
    Craft p(version_);
    p.num(values.size(), 4);
    for (float v : values) p.f32(v);
    return section(2, p);
  }
  // A tensor record up to its kind byte; the kind's payload follows.
  Craft& tensor(const std::string& name, const std::vector<uint64_t>& dims, uint8_t kind) {
    num(name.size(), 2).text(name).num(dims.size(), 1);
    for (auto d : dims) num(d, 8);
    return u8(kind);
  }
  // Coded indices: codebook id, coder, alphabet, byte count, bytes.
  Craft& indices(uint64_t codebook, uint8_t coder, uint64_t alphabet, const std::vector<uint8_t>& coded) {
    num(codebook, 4).u8(coder).num(alphabet, 4).num(coded.size(), 8);
    return bytes(coded);
  }
  const std::vector<uint8_t>& data() const { return b_; }
  // The whole file: header with the section count, these sections, extra bytes, CRC-32 trailer.
  std::vector<uint8_t> file(uint64_t sections, const std::vector<uint8_t>& extra = {}) const {
    Craft f(version_);
    f.text(std::string("NNC\0", 4)).le(static_cast<uint64_t>(version_), 2).le(0, 2).num(sections, 4);
    f.bytes(b_).bytes(extra);
    const uint32_t crc = nnc_crc32(f.b_.data(), f.b_.size());
    return f.le(crc, 4).b_;
  }

 private:
  int version_;
  std::vector<uint8_t> b_;
};

// What each reader says about the file: {C++ reader's message, C decoder's message}.
std::pair<std::string, std::string> errors(const std::vector<uint8_t>& bytes) {
  std::string cpp = "(accepted)", c = "(accepted)";
  try {
    store::unpack_model(bytes, "m.nnc");
  } catch (const Error& e) {
    cpp = e.what();
  }
  nnc_model m;
  char err[256];
  if (nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err) == 0) nnc_free(&m);
  else c = err;
  return {cpp, c};
}

// The same problem from both readers; the C decoder has no file name to give.
std::pair<std::string, std::string> refused(const std::string& problem) { return {"m.nnc: " + problem, problem}; }

std::string cpp_error(const std::vector<uint8_t>& bytes) {
  try {
    store::decode_container(bytes, "m.nnc");
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

bool accepted_by_both(const std::vector<uint8_t>& bytes) {
  nnc_model m;
  char err[256];
  const bool c_ok = nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err) == 0;
  if (c_ok) nnc_free(&m);
  return c_ok && cpp_error(bytes) == "(accepted)";
}

// A sparse tensor "w" of 4 elements with varint gaps (varints in both formats) and raw values.
std::vector<uint8_t> sparse_gaps(int version, const std::vector<uint64_t>& gaps) {
  Craft pos;
  for (auto g : gaps) pos.varint(g);
  Craft p(version);
  p.tensor("w", {4}, 2).num(gaps.size(), 8).u8(1).num(pos.data().size(), 8).bytes(pos.data()).u8(0);
  for (std::size_t i = 0; i < gaps.size(); ++i) p.f32(1.0f);
  return Craft(version).section(3, p).file(1);
}

// A sparse tensor "w" of `numel` elements with coded gaps (position format 2, container format
// `version`): bit-packed gap classes of `alphabet`, then `extra` bytes; raw values.
std::vector<uint8_t> sparse_coded(int version, uint64_t numel, uint64_t alphabet, const std::vector<uint16_t>& classes,
                                  const std::vector<uint8_t>& extra, uint8_t coder = 0) {
  Craft blob;
  int width = 0;
  while ((uint64_t{1} << width) < alphabet) ++width;
  const auto packed = store::bitpack(classes, std::max(width, 1));
  blob.u8(coder).varint(alphabet).varint(packed.size()).bytes(packed).bytes(extra);
  Craft p(version);
  p.tensor("w", {numel}, 2).num(classes.size(), 8).u8(2).num(blob.data().size(), 8).bytes(blob.data()).u8(0);
  for (std::size_t i = 0; i < classes.size(); ++i) p.f32(1.0f);
  return Craft(version).section(3, p).file(1);
}

std::vector<uint8_t> raw_deflate(const std::string& s) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, s.size()));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A DEFLATE stream written bit by bit (RFC 1951 3.1.1: fields LSB first, Huffman codes MSB first).
class Bits {
 public:
  Bits& field(uint32_t v, int n) {
    for (int i = 0; i < n; ++i) bit(v >> i & 1);
    return *this;
  }
  Bits& code(uint32_t c, int n) {
    for (int i = n - 1; i >= 0; --i) bit(c >> i & 1);
    return *this;
  }
  std::vector<uint8_t> bytes() const { return b_; }

 private:
  void bit(uint32_t v) {
    if (n_ % 8 == 0) b_.push_back(0);
    b_.back() |= static_cast<uint8_t>(v << (n_ % 8));
    ++n_;
  }
  std::vector<uint8_t> b_;
  int n_ = 0;
};

// One dynamic block holding "a": literal/length code {'a': 0, end: 1}, and a distance code of a
// single symbol of the given length (never used).
std::vector<uint8_t> dynamic_block_with_one_distance_code(int distance_length) {
  Bits b;
  b.field(1, 1).field(2, 2).field(0, 5).field(0, 5).field(14, 4);  // final, dynamic, 257 + 1 codes, 18 lengths
  // Code length code: 18 -> "0", 1 -> "10", 2 -> "11" (lengths in the order 16 17 18 0 8 7 ... 2 14 1).
  for (int len : {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2}) b.field(static_cast<uint32_t>(len), 3);
  b.code(0, 1).field(97 - 11, 7);  // 97 zeros
  b.code(2, 2);                    // 'a': length 1
  b.code(0, 1).field(138 - 11, 7).code(0, 1).field(20 - 11, 7);  // 158 zeros
  b.code(2, 2);                                                  // end of block: length 1
  b.code(distance_length == 1 ? 2 : 3, 2);                       // the one distance code
  b.code(0, 1).code(1, 1);                                       // 'a', end of block
  return b.bytes();
}

}  // namespace

// Issue 23.1: gaps X and 2^64 - X + 2 wrap back to position 3 < numel, so a check of the last
// position alone let the first one write X floats past the tensor.
TEST(HostileInput, SparseGapsThatWrapAroundAreRefused) {
  const uint64_t x = uint64_t{1} << 40;
  for (int version : {1, 2}) {
    EXPECT_EQ(errors(sparse_gaps(version, {x, 0 - x + 2})), refused("tensor 'w' non-zero 0 lies past its 4 elements"))
        << "format " << version;
    // A valid first position, then a gap that wraps below it (positions must increase).
    EXPECT_EQ(errors(sparse_gaps(version, {1, ~uint64_t{0}})),
              refused("tensor 'w' non-zero 1 lies past its 4 elements"))
        << "format " << version;
  }
  // The last element is still reachable.
  EXPECT_TRUE(accepted_by_both(sparse_gaps(2, {0, 2})));
}

// Issue 23.2: frequencies 0xFFFFFFFF and 3 sum to 2^1 in 32 bits; the C++ decoder then filled a
// slot table of 2^32 entries into one of 2.
TEST(HostileInput, RansFrequenciesThatWrapAreRefused) {
  Craft rans;
  rans.u8(1).varint(0xFFFFFFFFu).varint(3).le(1u << 23, 4);  // scale 1, frequencies, state
  Craft t;
  t.tensor("w", {4}, 1).indices(0, 2, 2, rans.data());
  EXPECT_EQ(errors(Craft().codebook({0.5f, -0.5f}).section(3, t).file(2)),
            refused("tensor 'w' indices: rANS frequencies do not sum to 2^1"));
}

// Issue 23.3: 3 values take 2 bits, whose value 3 indexes past the codebook: unpack copied the
// heap bytes after it into the model.
TEST(HostileInput, BitPackedIndicesOutsideTheCodebookAreRefused) {
  Craft body;
  body.codebook({1.0f, 2.0f, 3.0f});
  Craft t;
  t.tensor("w", {4}, 1).indices(0, 0, 3, {0b11100100});  // indices 0, 1, 2, 3
  EXPECT_EQ(errors(body.section(3, t).file(2)),
            refused("tensor 'w' indices: bit-packed index 3 is outside an alphabet of 3"));
}

// Issue 23.4: the C decoder read a bitmask of numel bits from a shorter byte string (past the end
// of the file, or mid-file from the next record) and accepted bytes after the last section.
TEST(HostileInput, ShortBitmaskAndTrailingBytesAreRefused) {
  Craft t;
  t.tensor("w", {16}, 2).varint(1).u8(0).varint(1).u8(0xFF).u8(0).f32(1.0f);
  Craft next;
  next.tensor("next", {2}, 0).f32(7.0f).f32(7.0f);
  Craft body;
  body.section(3, t).section(3, next);
  EXPECT_EQ(errors(body.file(2)), refused("tensor 'w' bitmask has 1 bytes for 16 elements"));
  // More set bits than non-zeros: the C decoder took the first nnz of them.
  Craft extra;
  extra.tensor("w", {8}, 2).varint(1).u8(0).varint(1).u8(0b101).u8(0).f32(1.0f);
  EXPECT_EQ(errors(Craft().section(3, extra).file(1)), refused("tensor 'w' bitmask has 2 set bits for 1 non-zeros"));

  Craft ok;
  ok.tensor("w", {2}, 0).f32(1.0f).f32(2.0f);
  EXPECT_TRUE(accepted_by_both(Craft().section(3, ok).file(1)));
  EXPECT_EQ(errors(Craft().section(3, ok).file(1, {0})), refused("trailing bytes after the last section"));
  // Inside a record, a codebook or a varint gap list: bytes no field accounts for.
  ok.u8(0);
  EXPECT_EQ(errors(Craft().section(3, ok).file(1)), refused("tensor 'w' record has 1 trailing bytes"));
  Craft cb;
  cb.varint(1).f32(1.0f).u8(0);
  EXPECT_EQ(errors(Craft().section(2, cb).file(1)), refused("codebook section has 1 trailing bytes"));
  Craft gaps;
  gaps.tensor("w", {4}, 2).varint(1).u8(1).varint(2).varint(3).varint(0).u8(0).f32(1.0f);
  EXPECT_EQ(errors(Craft().section(3, gaps).file(1)), refused("tensor 'w' positions have 1 trailing bytes"));
}

// Issue 23.5: dims whose product wraps (to 4, to 0) and counts whose byte size wraps were
// accepted; a 25-byte file made the readers allocate 2 GiB for its graph.
TEST(HostileInput, ElementCountsThatOverflowAreRefused) {
  // 4 * 5*5581*8681 * 49477*384773 = 2^64 + 4, every dimension below the old 2^40 bound.
  for (int version : {1, 2}) {
    Craft wraps_to_4(version);
    wraps_to_4.tensor("w", {4, 5ull * 5581 * 8681, 49477ull * 384773}, 0);
    for (int i = 0; i < 4; ++i) wraps_to_4.f32(1.0f);
    EXPECT_EQ(errors(Craft(version).section(3, wraps_to_4).file(1)),
              refused("tensor 'w' has more than 2147483648 elements"));
  }
  Craft wraps_to_0;
  wraps_to_0.tensor("w", {uint64_t{1} << 40, uint64_t{1} << 24}, 0);
  EXPECT_EQ(errors(Craft().section(3, wraps_to_0).file(1)), refused("tensor 'w' has more than 2147483648 elements"));
  // 2^62 elements: 4 bytes each wrap to 0 bytes of data.
  Craft bytes_wrap;
  bytes_wrap.tensor("w", {uint64_t{1} << 31, uint64_t{1} << 31}, 0);
  EXPECT_EQ(errors(Craft().section(3, bytes_wrap).file(1)), refused("tensor 'w' has more than 2147483648 elements"));
  // A zero dimension makes an empty tensor (the others still within the limit).
  Craft empty;
  empty.tensor("w", {uint64_t{1} << 31, 0, 1}, 0);
  EXPECT_TRUE(accepted_by_both(Craft().section(3, empty).file(1)));
}

TEST(HostileInput, GraphSizeIsBoundedByItsDeflatedBytes) {
  Craft g;
  g.varint(uint64_t{1} << 31).bytes(std::vector<uint8_t>{0x03, 0x00, 0x00, 0x00, 0x00});
  const auto file = Craft().section(4, g).file(1);
  EXPECT_EQ(file.size(), 25u);
  EXPECT_EQ(errors(file), refused("graph section claims 2147483648 bytes from 5 deflated bytes"));
  // Bytes after the end of the deflate stream: zlib refused them, the C inflater did not.
  const std::string graph(300, 'g');
  auto stream = raw_deflate(graph);
  Craft ok;
  ok.varint(graph.size()).bytes(stream);
  nnc_model m;
  char err[256];
  auto good = Craft().section(4, ok).file(1);
  ASSERT_EQ(nnc_decode(good.data(), good.size(), &m, err, sizeof err), 0) << err;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.graph), m.graph_size), graph);
  nnc_free(&m);
  EXPECT_EQ(store::decode_container(good, "m.nnc").graph, graph);
  ok.u8(0);
  EXPECT_EQ(errors(Craft().section(4, ok).file(1)), refused("graph section does not inflate to 300 bytes (corrupt)"));
  EXPECT_EQ(errors(Craft().section(1, Craft()).section(4, ok).file(2)), refused("more than one graph section"));
}

// zlib accepts an incomplete Huffman code only when it is a single code of length 1; the C
// inflater accepted any incomplete code, so the readers disagreed on such graph sections.
TEST(HostileInput, IncompleteDeflateCodesAreReadAsZlibReadsThem) {
  for (int distance_length : {1, 2}) {
    Craft g;
    g.varint(1).bytes(dynamic_block_with_one_distance_code(distance_length));
    const auto file = Craft().section(4, g).file(1);
    if (distance_length == 1) {
      EXPECT_TRUE(accepted_by_both(file));
      EXPECT_EQ(store::decode_container(file, "m.nnc").graph, "a");
    } else {
      EXPECT_EQ(errors(file), refused("graph section does not inflate to 1 bytes (corrupt)"));
    }
  }
}

// The container's tensors hold at most 2^31 elements in all. Only the C++ reader is asked here:
// the C decoder would allocate the first tensor's 4 GiB before seeing the second (the fuzz build
// lowers the limit, and the differential fuzzer checks that both readers agree on it).
TEST(HostileInput, ElementsInAllAreBounded) {
  Craft body;
  for (const char* name : {"a", "b"}) {
    Craft t;
    t.tensor(name, {(uint64_t{1} << 30) + 1}, 2).varint(0).u8(1).varint(0).u8(0);
    body.section(3, t);
  }
  EXPECT_EQ(cpp_error(body.file(2)), "m.nnc: tensor 'b' takes the container past 2147483648 elements");
}

// The C decoder kept at most 64 codebooks and refused the 65th, which the C++ reader accepts.
TEST(HostileInput, BothReadersTakeAnyNumberOfCodebooks) {
  store::ContainerContent c;
  for (int i = 0; i < 100; ++i) c.codebooks.push_back({static_cast<float>(i), -static_cast<float>(i)});
  store::StoredTensor t;
  t.name = "w";
  t.shape = {3};
  t.kind = store::StoredTensor::Kind::kIndexed;
  t.codebook = 99;
  t.indices = {1, 0, 1};
  c.tensors.push_back(t);
  const auto bytes = store::encode_container(c);
  EXPECT_EQ(store::decode_container(bytes, "m.nnc").codebooks.size(), 100u);
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  ASSERT_EQ(m.count, 1u);
  EXPECT_EQ(std::vector<float>(m.tensors[0].data, m.tensors[0].data + 3), (std::vector<float>{-99.0f, 99.0f, -99.0f}));
  nnc_free(&m);
}

// Fields the two readers used to read differently: now both refuse them.
TEST(HostileInput, FieldsTheReadersOnceReadDifferentlyAreRefused) {
  auto one = [](const Craft& t) { return Craft().section(3, t).file(1); };
  Craft value_kind;  // C took any non-zero value kind as indexed, C++ anything but 1 as raw
  value_kind.tensor("w", {4}, 2).varint(1).u8(1).varint(1).u8(0).u8(2).f32(1.0f);
  EXPECT_EQ(errors(one(value_kind)), refused("tensor 'w' has unknown sparse value kind 2"));
  Craft position_format;
  position_format.tensor("w", {4}, 2).varint(1).u8(7).varint(1).u8(0).u8(0).f32(1.0f);
  EXPECT_EQ(errors(one(position_format)), refused("tensor 'w' has unknown position format 7"));
  // No indices coded with a table that sums to neither 0 nor 2^s: C accepted it.
  Craft empty_rans = Craft().codebook({1.0f, 2.0f});
  Craft t;
  t.tensor("w", {4}, 2).varint(0).u8(1).varint(0).u8(1).indices(0, 2, 2, {2, 1, 1, 0, 0, 0x80, 0});
  EXPECT_EQ(errors(empty_rans.section(3, t).file(2)),
            refused("tensor 'w' indices: rANS frequencies do not sum to 2^2"));
  Craft nul;
  nul.tensor(std::string("a\0b", 3), {1}, 0).f32(1.0f);
  EXPECT_EQ(errors(one(nul)), refused("tensor name contains a NUL byte"));
  Craft long_name;
  long_name.tensor(std::string(65536, 'n'), {1}, 0).f32(1.0f);
  EXPECT_EQ(errors(one(long_name)), refused("tensor name of 65536 bytes is too long"));
  Craft over;  // 5-bit lengths 1, 1, 1 (LSB first): three one-bit codes
  over.tensor("w", {4}, 1).indices(0, 1, 3, {0x21, 0x04, 0x00});
  EXPECT_EQ(errors(Craft().codebook({1, 2, 3}).section(3, over).file(2)),
            refused("tensor 'w' indices: Huffman code lengths are over-subscribed"));
}

TEST(HostileInput, VarintsBeyond64BitsAreRefused) {
  // 2^64 as a varint: nine 0x80 bytes, then 0x02.
  Craft g;
  g.u8(1);
  for (int i = 0; i < 9; ++i) g.u8(0x80);
  g.u8(0x02);
  auto bytes = g.file(1);  // section count 1, type 1, then the overlong payload length
  EXPECT_EQ(errors(bytes), refused("corrupt container (overlong number)"));
  // The largest number that fits is read (and is far more than the file holds).
  Craft fits;
  fits.u8(1);
  for (int i = 0; i < 9; ++i) fits.u8(0xFF);
  fits.u8(0x01);
  EXPECT_EQ(errors(fits.file(1)).second, "truncated section");
  EXPECT_EQ(cpp_error(fits.file(1)), "m.nnc: truncated container (record needs 18446744073709551615 bytes, 0 left)");
}

// The writer's smallest file (no graph bytes, nothing else) is 15 bytes; both readers refused
// files under 16 (found by the differential fuzzer).
TEST(HostileInput, TheWritersSmallestFilesAreRead) {
  const auto smallest = store::encode_container({});
  EXPECT_EQ(smallest.size(), 15u);
  EXPECT_TRUE(accepted_by_both(smallest));
  EXPECT_TRUE(accepted_by_both(Craft().file(0)));  // format 2, no sections: 13 bytes
  EXPECT_EQ(errors(std::vector<uint8_t>{'N', 'N', 'C', 0, 2, 0, 0, 0, 0, 0, 0}),
            refused("not an .nnc container (bad magic)"));
}

// Format 3's scaled codebook (section type 5: base codebook id, f32 scale): both readers give
// base value x scale, and refuse one that is not in format 3, refers to a missing or scaled
// codebook, has a scale that is not finite or is 0, or would make more values than the
// element limit (its values are made by the reader, so a few bytes could otherwise ask for
// gigabytes).
TEST(HostileInput, ScaledCodebooksAreCheckedLikeEveryOtherRecord) {
  auto scaled = [](uint64_t base, float scale) {
    Craft p(3);
    p.varint(base).f32(scale);
    return p;
  };
  auto with_tensor = [](Craft body, uint64_t codebook) {
    Craft t(3);
    t.tensor("w", {3}, 1).indices(codebook, 0, 2, {0x06});  // bit-packed 0, 1, 1
    return body.section(3, t);
  };
  {
    Craft body(3);
    body.codebook({1.0f, -2.0f}).section(5, scaled(0, 0.5f));
    const auto file = with_tensor(body, 1).file(3);
    nnc_model m;
    char err[256];
    ASSERT_EQ(nnc_decode(file.data(), file.size(), &m, err, sizeof err), 0) << err;
    EXPECT_EQ(std::vector<float>(m.tensors[0].data, m.tensors[0].data + 3), (std::vector<float>{0.5f, -1.0f, -1.0f}));
    nnc_free(&m);
    const auto c = store::decode_container(file, "m.nnc");
    ASSERT_EQ(c.codebooks.size(), 2u);
    EXPECT_EQ(c.codebooks[1], (std::vector<float>{0.5f, -1.0f}));
    EXPECT_EQ(c.scales[1].base, 0);
    EXPECT_EQ(c.tensors[0].decode(c.codebooks), (std::vector<float>{0.5f, -1.0f, -1.0f}));
  }
  auto one = [&](const Craft& body, uint64_t sections, int version = 3) {
    Craft f(version);
    f.bytes(body.data());
    return f.file(sections);
  };
  Craft v2(2);
  v2.codebook({1.0f}).section(5, scaled(0, 2.0f));
  EXPECT_EQ(errors(one(v2, 2, 2)), refused("unknown section type 5"));
  Craft missing(3);
  missing.codebook({1.0f}).section(5, scaled(1, 2.0f));
  EXPECT_EQ(errors(one(missing, 2)), refused("scaled codebook 1 refers to codebook 1, which is not an earlier unscaled one"));
  Craft chained(3);
  chained.codebook({1.0f}).section(5, scaled(0, 2.0f)).section(5, scaled(1, 2.0f));
  EXPECT_EQ(errors(one(chained, 3)), refused("scaled codebook 2 refers to codebook 1, which is not an earlier unscaled one"));
  Craft zero(3);
  zero.codebook({1.0f}).section(5, scaled(0, 0.0f));
  EXPECT_EQ(errors(one(zero, 2)), refused("scaled codebook 1 has scale 0"));
  Craft inf(3);
  inf.codebook({1.0f}).section(5, scaled(0, std::numeric_limits<float>::infinity()));
  EXPECT_EQ(errors(one(inf, 2)), refused("scaled codebook 1 has scale inf"));
  Craft trailing(3);
  Craft long_payload = scaled(0, 2.0f);
  long_payload.u8(0);
  trailing.codebook({1.0f}).section(5, long_payload);
  EXPECT_EQ(errors(one(trailing, 2)), refused("scaled codebook section has 1 trailing bytes"));
  // An empty sparse tensor takes all but 65,535 of the 2^31 elements: a scaled codebook of 65,536
  // values does not fit (the C++ reader only, as in ElementsInAllAreBounded: the C decoder
  // would allocate the tensor's 8 GiB first).
  Craft many(3);
  Craft big(3);
  big.tensor("a", {(uint64_t{1} << 31) - 65535}, 2).varint(0).u8(1).varint(0).u8(0);
  many.section(3, big).codebook(std::vector<float>(65536, 1.0f)).section(5, scaled(0, 2.0f));
  EXPECT_EQ(cpp_error(one(many, 3)), "m.nnc: scaled codebook 1 takes the container past 2147483648 elements");
}

// Coded gaps (format 4): classes 0 and 3 with extra bit e are gaps 0 and 3 + e.
TEST(HostileInput, CodedGapsAreCheckedLikeVarintGaps) {
  // Positions 0 and 4 (e = 0) or 5 (e = 1) of 8: accepted.
  EXPECT_TRUE(accepted_by_both(sparse_coded(4, 8, 4, {0, 3}, {0x00})));
  EXPECT_TRUE(accepted_by_both(sparse_coded(4, 8, 4, {0, 3}, {0x01})));
  // Past the tensor's elements.
  EXPECT_EQ(errors(sparse_coded(4, 4, 4, {0, 3}, {0x00})), refused("tensor 'w' non-zero 1 lies past its 4 elements"));
  // The extra bits run out, or bytes are left over.
  EXPECT_EQ(errors(sparse_coded(4, 8, 4, {0, 3}, {})), refused("tensor 'w' positions are truncated"));
  EXPECT_EQ(errors(sparse_coded(4, 8, 4, {0, 3}, {0x00, 0x00})), refused("tensor 'w' positions have 1 trailing bytes"));
  // Class alphabets out of range, an unknown coder, and the format in a file of format 2.
  EXPECT_EQ(errors(sparse_coded(4, 8, 0, {}, {})), refused("tensor 'w' has 0 gap classes (1 to 127)"));
  EXPECT_EQ(errors(sparse_coded(4, 8, 200, {0, 3}, {0x00})), refused("tensor 'w' has 200 gap classes (1 to 127)"));
  EXPECT_EQ(errors(sparse_coded(4, 8, 4, {0, 3}, {0x00}, 7)), refused("tensor 'w' has unknown position coder 7"));
  EXPECT_EQ(errors(sparse_coded(2, 8, 4, {0, 3}, {0x00})), refused("tensor 'w' has unknown position format 2"));
  // A class that needs 62 extra bits is refused before any shift can overflow.
  EXPECT_EQ(errors(sparse_coded(4, 8, 127, {125}, std::vector<uint8_t>(8, 0xff))),
            refused("tensor 'w' non-zero 0 lies past its 8 elements"));
  // Classes outside the alphabet (bit-packed 3 in a 2-bit field of alphabet 3).
  EXPECT_NE(errors(sparse_coded(4, 8, 3, {0, 3}, {0x00})).second, "(accepted)");
}

// Int8 tensors (format 5): coded zigzag symbols, checked like codebook indices.
TEST(HostileInput, Int8TensorsAreCheckedLikeIndices) {
  auto int8 = [](int version, uint8_t coder, uint64_t alphabet, const std::vector<uint8_t>& coded) {
    Craft t(version);
    t.tensor("q", {4}, 3).u8(coder).varint(alphabet).varint(coded.size()).bytes(coded);
    return Craft(version).section(3, t).file(1);
  };
  // Symbols 0, 1, 2, 3 are 0, -1, 1, -2.
  const auto good = int8(5, 0, 4, {0b11100100});
  ASSERT_TRUE(accepted_by_both(good));
  const auto back = store::decode_container(good, "m.nnc");
  EXPECT_EQ(back.tensors.at(0).decode_int8(), (std::vector<int8_t>{0, -1, 1, -2}));
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(good.data(), good.size(), &m, err, sizeof err), 0) << err;
  EXPECT_EQ(m.tensors[0].data_i8[3], -2);
  nnc_free(&m);
  // The extremes: symbol 255 is -128, 254 is 127.
  const auto extremes = int8(5, 0, 256, {254, 255, 0, 1});
  EXPECT_EQ(store::decode_container(extremes, "m.nnc").tensors.at(0).decode_int8(), (std::vector<int8_t>{127, -128, 0, -1}));
  EXPECT_EQ(errors(int8(5, 0, 3, {0b11100100})), refused("tensor 'q' int8 values: bit-packed index 3 is outside an alphabet of 3"));
  EXPECT_EQ(errors(int8(5, 0, 0, {})), refused("tensor 'q' has an int8 alphabet of 0 (1 to 256)"));
  EXPECT_EQ(errors(int8(5, 0, 257, {0, 0, 0, 0, 0})), refused("tensor 'q' has an int8 alphabet of 257 (1 to 256)"));
  EXPECT_EQ(errors(int8(5, 4, 4, {0})), refused("tensor 'q' has unknown int8 coder 4"));
  EXPECT_EQ(errors(int8(5, 0, 4, {})), refused("tensor 'q' int8 values: bit-packed stream is truncated"));
  // Kind 3 and sparse value kind 2 are format 5's.
  EXPECT_EQ(errors(int8(4, 0, 4, {0b11100100})), refused("tensor 'q' has unknown kind 3"));
  Craft s(4);
  s.tensor("w", {4}, 2).varint(1).u8(1).varint(1).u8(0).u8(2).u8(0).varint(4).varint(1).u8(2);
  EXPECT_EQ(errors(Craft(4).section(3, s).file(1)), refused("tensor 'w' has unknown sparse value kind 2"));
  Craft s5(5);
  s5.tensor("w", {4}, 2).varint(1).u8(1).varint(1).u8(2).u8(2).u8(0).varint(4).varint(1).u8(2);
  const auto sparse = Craft(5).section(3, s5).file(1);
  ASSERT_TRUE(accepted_by_both(sparse));
  EXPECT_EQ(store::decode_container(sparse, "m.nnc").tensors.at(0).decode_int8(), (std::vector<int8_t>{0, 0, 1, 0}));
}

// Format 6: the graph section (type 6) inflates to the graph and a table of tensor names and
// shapes; each type 7 record takes the table's next entry. The table and the records must match
// one to one, and both types belong to format 6.
TEST(HostileInput, TheNamesTableMustListExactlyTheNamedRecords) {
  // A graph section of `graph` and a table of `entries` (name, dims), in a stored deflate block.
  auto names_section = [](const std::string& graph, const std::vector<std::pair<std::string, std::vector<uint64_t>>>& entries,
                          int version = 6) {
    Craft table(version);
    for (const auto& [name, dims] : entries) {
      table.varint(name.size()).text(name).varint(dims.size());
      for (auto d : dims) table.varint(d);
    }
    Craft inflated(version);
    inflated.text(graph).bytes(table.data());
    const auto n = inflated.data().size();
    Craft p(version);
    p.varint(graph.size()).varint(table.data().size()).u8(1).le(n, 2).le(~n & 0xffff, 2).bytes(inflated.data());
    return p;
  };
  auto raw4 = [](int version) {
    Craft r(version);
    r.u8(0);
    for (int i = 0; i < 4; ++i) r.f32(static_cast<float>(i));
    return r;
  };
  const auto good = Craft(6).section(6, names_section("", {{"w", {4}}})).section(7, raw4(6)).file(2);
  ASSERT_TRUE(accepted_by_both(good)) << errors(good).first;
  const auto back = store::decode_container(good, "m.nnc");
  ASSERT_EQ(back.tensors.size(), 1u);
  EXPECT_EQ(back.tensors[0].name, "w");
  EXPECT_EQ(back.tensors[0].values, (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(errors(Craft(6).section(7, raw4(6)).file(1)),
            refused("a tensor record names no tensor (no names table before it)"));
  EXPECT_EQ(errors(Craft(6).section(6, names_section("", {{"w", {4}}})).section(7, raw4(6)).section(7, raw4(6)).file(3)),
            refused("more tensor records than the names table lists"));
  EXPECT_EQ(errors(Craft(6).section(6, names_section("", {{"w", {4}}, {"v", {4}}})).section(7, raw4(6)).file(2)),
            refused("the names table lists more tensors than the container has records"));
  // Both section types are format 6's.
  EXPECT_EQ(errors(Craft(5).section(6, names_section("", {{"w", {4}}}, 5)).section(7, raw4(5)).file(2)),
            refused("unknown section type 6"));
  EXPECT_EQ(errors(Craft(5).section(7, raw4(5)).file(1)), refused("unknown section type 7"));
  // An entry cut short, and a table claiming more than its deflated bytes can hold.
  Craft cut(6);
  cut.varint(0).varint(3).u8(1).le(3, 2).le(~3u & 0xffff, 2).u8(5).text("ab");
  const auto short_entry = Craft(6).section(6, cut).section(7, raw4(6)).file(2);
  EXPECT_NE(errors(short_entry).first, "(accepted)");
  EXPECT_NE(errors(short_entry).second, "(accepted)");
  Craft huge(6);
  huge.varint(0).varint(uint64_t{1} << 30).u8(1).le(0, 2).le(0xffff, 2);
  EXPECT_EQ(errors(Craft(6).section(6, huge).file(1)), refused("graph section claims 1073741824 bytes from 5 deflated bytes"));
}
