#include "nncompress/store/container.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <optional>

#include "nncompress/core/error.hpp"

namespace nnc::store {
namespace {

constexpr char kMagic[4] = {'N', 'N', 'C', '\0'};
// Format 6: kGraphAndNames holds the graph and a table of the stored tensors' names and shapes,
// deflated together (the names repeat the graph's node inputs); each kNamedTensor record takes the
// table's next entry instead of carrying its own.
enum Section : uint8_t {
  kGraph = 1,
  kCodebook = 2,
  kTensor = 3,
  kGraphDeflated = 4,
  kScaledCodebook = 5,
  kGraphAndNames = 6,
  kNamedTensor = 7
};

// Limits every reader applies (docs/nnc-format.md, "What a reader accepts"); decode.c has the same.
// A fuzzing build lowers the element limit so that a few bytes of rANS or of an empty sparse
// tensor cannot ask for gigabytes.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr uint64_t kMaxElements = uint64_t{1} << 22;
#else
constexpr uint64_t kMaxElements = uint64_t{1} << 31;
#endif
constexpr uint64_t kMaxGraphBytes = uint64_t{1} << 31;
constexpr uint64_t kMaxDeflateRatio = 1032;  // RFC 1951 at best: one 258-byte match per two bits
constexpr uint64_t kMaxAlphabet = 65536, kMaxName = 65535, kMaxRank = 16;

void put_varint64(std::vector<uint8_t>& o, uint64_t v) {
  while (v >= 0x80) {
    o.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  o.push_back(static_cast<uint8_t>(v));
}

class Writer {
 public:
  std::vector<uint8_t> out;
  template <typename T>
  void put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little endian hosts only (checked at decode by the magic/version)
    out.insert(out.end(), b, b + sizeof(T));
  }
  void varint(uint64_t v) { put_varint64(out, v); }
  void bytes(std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
  void bytes(const void* p, std::size_t n) {
    auto* c = static_cast<const uint8_t*>(p);
    out.insert(out.end(), c, c + n);
  }
};

// The one LEB128 reader (fields, sparse gaps): at most ten bytes, the value within 64 bits.
enum class Varint { kOk, kTruncated, kOverlong };
Varint read_varint(std::span<const uint8_t> b, std::size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos == b.size()) return Varint::kTruncated;
    const uint8_t byte = b[pos++];
    if (shift == 63 && byte > 1) break;
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return Varint::kOk;
  }
  return Varint::kOverlong;
}

class Reader {
 public:
  Reader(std::span<const uint8_t> b, const std::string& what, int version)
      : b_(b), what_(what), version_(version) {}
  template <typename T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // An unsigned field: fixed-width little endian in format 1, LEB128 varint from format 2 on.
  uint64_t num(int v1_bytes) {
    uint64_t v = 0;
    if (version_ < 2) {
      need(static_cast<std::size_t>(v1_bytes));
      for (int i = 0; i < v1_bytes; ++i) v |= static_cast<uint64_t>(b_[pos_ + static_cast<std::size_t>(i)]) << (8 * i);
      pos_ += static_cast<std::size_t>(v1_bytes);
      return v;
    }
    const Varint rc = read_varint(b_, pos_, v);
    NNC_CHECK_CODE(rc != Varint::kTruncated, kCorrupt, "{}: truncated container (a number runs past the end)", what_);
    NNC_CHECK_CODE(rc == Varint::kOk, kCorrupt, "{}: corrupt container (overlong number)", what_);
    return v;
  }
  std::span<const uint8_t> bytes(uint64_t n) {
    need(n);
    auto s = b_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return b_.size() - pos_; }
  void need(uint64_t n) const {
    NNC_CHECK_CODE(n <= left(), kCorrupt, "{}: truncated container (record needs {} bytes, {} left)", what_, n, left());
  }

 private:
  std::span<const uint8_t> b_;
  std::size_t pos_ = 0;
  const std::string& what_;
  int version_;
};

// Symbols under the smallest index coder, as indices, int8 values and coded gap classes store
// them: u8 coder, varint alphabet, varint byte count, the bytes (read by get_coded_symbols and
// get_indices). Returns what it wrote.
Encoded put_coded_symbols(Writer& w, std::span<const uint16_t> symbols, uint32_t alphabet) {
  auto enc = encode_smallest(symbols, alphabet);
  w.put<uint8_t>(static_cast<uint8_t>(enc.coder));
  w.varint(alphabet);
  w.varint(enc.bytes.size());
  w.bytes(enc.bytes);
  return enc;
}

void put_indices(Writer& w, int codebook, std::span<const uint16_t> idx, uint32_t alphabet, ContainerStats* st,
                 const std::string& name) {
  w.varint(static_cast<uint32_t>(codebook));
  const auto enc = put_coded_symbols(w, idx, alphabet);
  if (st) {
    st->index_bytes += enc.bytes.size();
    st->coders.push_back({name, enc.coder});
  }
}

// int8 values (tensor kind 3, sparse value kind 2) as zigzag symbols (0, -1, 1, -2, ... -> 0, 1,
// 2, 3, ...) coded with the smallest index coder over the alphabet the largest symbol needs.
uint16_t zigzag(int8_t v) { return static_cast<uint16_t>(v >= 0 ? 2 * v : -2 * v - 1); }
int8_t unzigzag(uint16_t s) { return static_cast<int8_t>(s & 1 ? -static_cast<int>((s + 1) >> 1) : static_cast<int>(s >> 1)); }
constexpr uint64_t kMaxInt8Alphabet = 256;

std::vector<uint8_t> int8_payload(std::span<const int8_t> values) {
  std::vector<uint16_t> symbols(values.size());
  uint32_t alphabet = 1;
  for (std::size_t i = 0; i < values.size(); ++i) {
    symbols[i] = zigzag(values[i]);
    alphabet = std::max<uint32_t>(alphabet, symbols[i] + 1u);
  }
  Writer w;
  put_coded_symbols(w, symbols, alphabet);
  return w.out;
}

// int8 values as put_indices puts indices: the payload, its bytes and coder in the stats.
void put_int8(Writer& w, std::span<const int8_t> values, ContainerStats* st, const std::string& name) {
  const auto payload = int8_payload(values);
  w.bytes(payload);
  if (st) {
    st->int8_bytes += payload.size();
    st->coders.push_back({name, static_cast<Coder>(payload[0])});
  }
}

// Raw DEFLATE (RFC 1951, no zlib header): the graph section's protobuf is mostly repeated names.
std::vector<uint8_t> deflate_bytes(std::span<const uint8_t> in) {
  z_stream z{};
  NNC_CHECK_CODE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK, kInternal, "deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  NNC_CHECK_CODE(rc == Z_STREAM_END, kInternal, "deflate failed");
  return out;
}

std::string inflate_bytes(std::span<const uint8_t> in, std::size_t size, const std::string& what) {
  std::string out(size, '\0');
  z_stream z{};
  NNC_CHECK_CODE(inflateInit2(&z, -15) == Z_OK, kInternal, "inflateInit2 failed");
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  const bool ok = rc == Z_STREAM_END && z.total_out == size && z.avail_in == 0;
  inflateEnd(&z);
  NNC_CHECK_CODE(ok, kCorrupt, "{}: graph section does not inflate to {} bytes (corrupt)", what, size);
  return out;
}

}  // namespace

int64_t StoredTensor::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<int8_t> StoredTensor::decode_int8() const {
  NNC_CHECK(is_int8(), "tensor '{}' is not an int8 tensor", name);
  if (kind == Kind::kInt8) return ints;
  std::vector<int8_t> out(static_cast<std::size_t>(numel()), 0);
  for (std::size_t i = 0; i < positions.size(); ++i) out[positions[i]] = ints[i];
  return out;
}

std::vector<float> StoredTensor::decode(const std::vector<std::vector<float>>& codebooks) const {
  if (is_int8()) {
    const auto q = decode_int8();
    return {q.begin(), q.end()};
  }
  const auto n = static_cast<std::size_t>(numel());
  auto value_of = [&](std::size_t i) {
    return codebook >= 0 ? codebooks[static_cast<std::size_t>(codebook)][indices[i]] : values[i];
  };
  std::vector<float> out(n, 0.0f);
  if (kind == Kind::kRaw) return values;
  if (kind == Kind::kIndexed) {
    for (std::size_t i = 0; i < n; ++i) out[i] = value_of(i);
    return out;
  }
  for (std::size_t i = 0; i < positions.size(); ++i) out[positions[i]] = value_of(i);
  return out;
}

std::vector<float> scaled_codebook(const std::vector<float>& base, float scale) {
  std::vector<float> out(base.size());
  for (std::size_t i = 0; i < base.size(); ++i) out[i] = base[i] * scale;
  return out;
}

namespace {

// Coded gaps (position format 2, container format 4): each v = gap + 1 >= 1 falls in a class,
// 0 for v = 1, else 2b - 1 + m with b = floor(log2 v) >= 1 and m the bit below the top one; the
// b - 1 bits below m follow, LSB first, in one bit stream after the entropy-coded classes (the
// distance codes of DEFLATE, with the classes under the smallest of the index coders).
constexpr uint32_t kMaxGapClasses = 127;

std::vector<uint8_t> coded_gaps(std::span<const uint64_t> positions) {
  std::vector<uint16_t> classes;
  classes.reserve(positions.size());
  std::vector<uint8_t> extra;
  uint64_t acc = 0;
  int bits = 0;
  uint32_t alphabet = 1;
  uint64_t next = 0;
  for (uint64_t p : positions) {
    const uint64_t v = p - next + 1;
    next = p + 1;
    const int b = 63 - std::countl_zero(v);
    if (b == 0) {
      classes.push_back(0);
      continue;
    }
    const uint64_t m = (v >> (b - 1)) & 1;
    classes.push_back(static_cast<uint16_t>(2 * b - 1 + static_cast<int>(m)));
    alphabet = std::max<uint32_t>(alphabet, classes.back() + 1u);
    for (int i = 0; i < b - 1; ++i) {  // the low b - 1 bits, LSB first
      acc |= ((v >> i) & 1) << bits;
      if (++bits == 8) {
        extra.push_back(static_cast<uint8_t>(acc));
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits) extra.push_back(static_cast<uint8_t>(acc));
  Writer w;
  put_coded_symbols(w, classes, alphabet);
  w.bytes(extra);
  return w.out;
}

}  // namespace

std::size_t coded_gaps_bytes(std::span<const uint64_t> positions) {
  return positions.empty() ? 0 : coded_gaps(positions).size();
}

std::size_t int8_payload_bytes(std::span<const int8_t> values) { return int8_payload(values).size(); }

std::vector<uint8_t> encode_container(const ContainerContent& c, ContainerStats* st) {
  NNC_CHECK(c.scales.empty() || c.scales.size() == c.codebooks.size(), "{} codebook scales for {} codebooks",
            c.scales.size(), c.codebooks.size());
  const bool scaled = std::any_of(c.scales.begin(), c.scales.end(), [](const CodebookScale& s) { return s.base >= 0; });
  bool coded_positions = false;  // a tensor's positions as coded gaps (format 4)
  bool int8 = false;             // an int8 tensor (format 5)
  Writer w;
  w.bytes(kMagic, 4);
  w.put<uint16_t>(0);  // the version, once the sections say which they need (below)
  w.put<uint16_t>(0);
  w.varint(1 + c.codebooks.size() + c.tensors.size());
  if (st) *st = {};
  auto section_to = [](Writer& to, uint8_t type, const std::vector<uint8_t>& payload) {
    to.put<uint8_t>(type);
    to.varint(payload.size());
    to.bytes(payload);
  };
  auto section = [&](uint8_t type, const std::vector<uint8_t>& payload) { section_to(w, type, payload); };
  Writer codebooks;  // their sections, written after the graph's
  for (std::size_t id = 0; id < c.codebooks.size(); ++id) {
    const auto& cb = c.codebooks[id];
    Writer p;
    const CodebookScale s = c.scales.empty() ? CodebookScale{} : c.scales[id];
    if (s.base >= 0) {
      NNC_CHECK(static_cast<std::size_t>(s.base) < id && c.scales[static_cast<std::size_t>(s.base)].base < 0 &&
                    std::isfinite(s.scale) && s.scale != 0.0f,
                "codebook {}: scaled from codebook {} by {}", id, s.base, s.scale);
      // Bit for bit (a NaN value, which readers accept in codebooks, is not equal to itself).
      const auto want = scaled_codebook(c.codebooks[static_cast<std::size_t>(s.base)], s.scale);
      NNC_CHECK(cb.size() == want.size() && (cb.empty() || std::memcmp(cb.data(), want.data(), 4 * cb.size()) == 0),
                "codebook {}: values are not codebook {} x {}", id, s.base, s.scale);
      p.varint(static_cast<uint64_t>(s.base));
      p.bytes(&s.scale, sizeof(float));
      section_to(codebooks, kScaledCodebook, p.out);
    } else {
      p.varint(cb.size());
      p.bytes(cb.data(), cb.size() * sizeof(float));
      section_to(codebooks, kCodebook, p.out);
    }
    if (st) st->codebook_bytes += p.out.size();
  }
  // Each tensor's name and shape (its head) and the rest of its record (its body).
  std::vector<std::vector<uint8_t>> heads, bodies;
  for (const auto& t : c.tensors) {
    Writer head;
    NNC_CHECK(t.name.size() < 65536 && t.shape.size() <= 16, "tensor '{}': name or rank too large", t.name);
    head.varint(t.name.size());
    head.bytes(t.name.data(), t.name.size());
    head.varint(t.shape.size());
    for (auto d : t.shape) {
      NNC_CHECK(d >= 0, "tensor '{}': negative dimension", t.name);
      head.varint(static_cast<uint64_t>(d));
    }
    heads.push_back(std::move(head.out));
    Writer p;
    p.put<uint8_t>(static_cast<uint8_t>(t.kind));
    const auto n = static_cast<std::size_t>(t.numel());
    std::size_t before = p.out.size();
    if (t.kind == StoredTensor::Kind::kRaw) {
      NNC_CHECK(t.values.size() == n, "tensor '{}': {} values for {} elements", t.name, t.values.size(), n);
      p.bytes(t.values.data(), n * sizeof(float));
      if (st) st->raw_bytes += p.out.size() - before;
    } else if (t.kind == StoredTensor::Kind::kInt8) {
      NNC_CHECK(t.ints.size() == n, "tensor '{}': {} int8 values for {} elements", t.name, t.ints.size(), n);
      put_int8(p, t.ints, st, t.name);
      int8 = true;
    } else if (t.kind == StoredTensor::Kind::kIndexed) {
      NNC_CHECK(t.indices.size() == n && t.codebook >= 0 && static_cast<std::size_t>(t.codebook) < c.codebooks.size(),
                "tensor '{}': bad indexed record", t.name);
      put_indices(p, t.codebook, t.indices, static_cast<uint32_t>(c.codebooks[static_cast<std::size_t>(t.codebook)].size()),
                  st, t.name);
      if (st) st->indexed_elements += n;
    } else {
      const std::size_t nnz = t.positions.size();
      // Indexed values count as indices, int8 values as int8.
      const std::size_t index_before = st ? st->index_bytes : 0, int8_before = st ? st->int8_bytes : 0;
      p.varint(nnz);
      std::vector<uint8_t> mask((n + 7) / 8, 0), gaps;
      uint64_t prev = 0;
      for (std::size_t i = 0; i < nnz; ++i) {
        NNC_CHECK(t.positions[i] < n && (i == 0 || t.positions[i] > t.positions[i - 1]),
                  "tensor '{}': sparse positions must be sorted and in range", t.name);
        mask[t.positions[i] >> 3] |= static_cast<uint8_t>(1u << (t.positions[i] & 7));
        put_varint64(gaps, t.positions[i] - (i ? prev + 1 : 0));
        prev = t.positions[i];
      }
      // Positions: the smallest of a bitmask, varint gaps and coded gaps.
      const auto coded = nnz ? coded_gaps(t.positions) : std::vector<uint8_t>();
      const uint8_t format = !coded.empty() && coded.size() < std::min(mask.size(), gaps.size()) ? 2
                             : mask.size() <= gaps.size()                                     ? 0
                                                                                              : 1;
      coded_positions = coded_positions || format == 2;
      if (st) st->positions.emplace_back(t.name, format == 0 ? "bitmask" : format == 1 ? "varint gaps" : "coded gaps");
      p.put<uint8_t>(format);
      const auto& pos = format == 0 ? mask : format == 1 ? gaps : coded;
      p.varint(pos.size());
      p.bytes(pos);
      if (t.int8_values) {
        p.put<uint8_t>(2);
        NNC_CHECK(t.ints.size() == nnz, "tensor '{}': {} int8 values for {} non-zeros", t.name, t.ints.size(), nnz);
        put_int8(p, t.ints, st, t.name);
        int8 = true;
      } else if (t.codebook >= 0) {
        p.put<uint8_t>(1);
        NNC_CHECK(t.indices.size() == nnz, "tensor '{}': {} indices for {} non-zeros", t.name, t.indices.size(), nnz);
        put_indices(p, t.codebook, t.indices,
                    static_cast<uint32_t>(c.codebooks[static_cast<std::size_t>(t.codebook)].size()), st, t.name);
      } else {
        p.put<uint8_t>(0);
        NNC_CHECK(t.values.size() == nnz, "tensor '{}': {} values for {} non-zeros", t.name, t.values.size(), nnz);
        p.bytes(t.values.data(), nnz * sizeof(float));
      }
      if (st)
        st->sparse_bytes += p.out.size() - before - (st->index_bytes - index_before) - (st->int8_bytes - int8_before);
    }
    bodies.push_back(std::move(p.out));
  }
  // The graph alone (deflated when that is smaller) with every tensor's head in its record, or
  // (format 6) the graph and the heads deflated together, whichever file is smaller.
  const auto* g = reinterpret_cast<const uint8_t*>(c.graph.data());
  Writer deflated;  // a type 4 payload: the graph's size, then the graph deflated
  deflated.varint(c.graph.size());
  deflated.bytes(deflate_bytes({g, c.graph.size()}));
  const bool alone_deflated = deflated.out.size() < c.graph.size();
  std::vector<uint8_t> together;
  std::size_t heads_bytes = 0;
  if (!c.tensors.empty()) {
    std::vector<uint8_t> both(g, g + c.graph.size());
    for (const auto& h : heads) {
      both.insert(both.end(), h.begin(), h.end());
      heads_bytes += h.size();
    }
    Writer framed;
    framed.varint(c.graph.size());
    framed.varint(both.size() - c.graph.size());
    framed.bytes(deflate_bytes(both));
    together = std::move(framed.out);
  }
  const std::size_t alone_bytes = alone_deflated ? deflated.out.size() : c.graph.size();
  const bool named = !together.empty() && together.size() < alone_bytes + heads_bytes;
  if (named) {
    section(kGraphAndNames, together);
  } else if (alone_deflated) {
    section(kGraphDeflated, deflated.out);
  } else {
    section(kGraph, std::vector<uint8_t>(g, g + c.graph.size()));
  }
  if (st) st->graph_bytes = named ? together.size() : alone_bytes;
  w.bytes(codebooks.out);
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    if (named) {
      section(kNamedTensor, bodies[i]);
      continue;
    }
    std::vector<uint8_t> record = heads[i];
    record.insert(record.end(), bodies[i].begin(), bodies[i].end());
    section(kTensor, record);
  }
  // Readers of an older format still read what needs nothing newer.
  const uint16_t version = named ? 6 : int8 ? 5 : coded_positions ? 4 : scaled ? 3 : 2;
  std::memcpy(w.out.data() + 4, &version, 2);
  uint32_t crc = static_cast<uint32_t>(crc32(0L, w.out.data(), static_cast<uInt>(w.out.size())));
  w.put<uint32_t>(crc);
  if (st) {
    st->total_bytes = w.out.size();
    st->header_bytes = st->total_bytes - st->graph_bytes - st->codebook_bytes - st->raw_bytes - st->index_bytes -
                       st->sparse_bytes - st->int8_bytes;
  }
  return w.out;
}

namespace {

// What one decode_container call has read so far.
struct Decoding {
  const std::string& what;
  int version = 0;
  ContainerContent c;
  bool have_graph = false;
  uint64_t elements = 0;  // in the tensors read so far, at most kMaxElements
  std::string names;                 // format 6: the table of tensor names and shapes
  std::optional<Reader> next_name;   // over `names`, at the next kNamedTensor record's entry
};

// The graph section: stored, deflated, or (format 6) deflated together with the names table.
void read_graph(Decoding& d, Reader& p, Section type) {
  NNC_CHECK_CODE(!d.have_graph, kCorrupt, "{}: more than one graph section", d.what);
  d.have_graph = true;
  if (type == kGraph) {
    auto graph = p.bytes(p.left());
    d.c.graph.assign(graph.begin(), graph.end());
    return;
  }
  const uint64_t size = p.num(8);
  const uint64_t table = type == kGraphAndNames ? p.num(8) : 0;
  const uint64_t deflated_bytes = p.left();
  NNC_CHECK_CODE(size <= kMaxGraphBytes && table <= kMaxGraphBytes - size &&
                     size + table <= deflated_bytes * kMaxDeflateRatio,
                 kCorrupt, "{}: graph section claims {} bytes from {} deflated bytes", d.what, size + table,
                 deflated_bytes);
  d.c.graph = inflate_bytes(p.bytes(deflated_bytes), static_cast<std::size_t>(size + table), d.what);
  if (type != kGraphAndNames) return;
  d.names = d.c.graph.substr(static_cast<std::size_t>(size));
  d.c.graph.resize(static_cast<std::size_t>(size));
  d.next_name.emplace(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(d.names.data()), d.names.size()),
                      d.what, d.version);
}

void read_codebook(Decoding& d, Reader& p) {
  const uint64_t n = p.num(4);
  NNC_CHECK_CODE(n <= kMaxAlphabet, kCorrupt, "{}: codebook of {} values", d.what, n);
  auto vals = p.bytes(n * 4);
  NNC_CHECK_CODE(p.left() == 0, kCorrupt, "{}: codebook section has {} trailing bytes", d.what, p.left());
  std::vector<float> cb(n);
  if (n) std::memcpy(cb.data(), vals.data(), n * 4);
  d.c.codebooks.push_back(std::move(cb));
  d.c.scales.push_back({});
}

// Format 3: a codebook that is an earlier plain codebook times a finite, non-zero scale.
void read_scaled_codebook(Decoding& d, Reader& p) {
  const uint64_t base = p.num(4);
  auto bytes = p.bytes(4);
  NNC_CHECK_CODE(p.left() == 0, kCorrupt, "{}: scaled codebook section has {} trailing bytes", d.what, p.left());
  float scale;
  std::memcpy(&scale, bytes.data(), 4);
  NNC_CHECK_CODE(base < d.c.codebooks.size() && d.c.scales[base].base < 0, kCorrupt,
                 "{}: scaled codebook {} refers to codebook {}, which is not an earlier unscaled one", d.what,
                 d.c.codebooks.size(), base);
  NNC_CHECK_CODE(std::isfinite(scale) && scale != 0.0f, kCorrupt, "{}: scaled codebook {} has scale {}", d.what,
                 d.c.codebooks.size(), scale);
  // Its values are made here: they count as elements, so that a few bytes cannot ask for gigabytes.
  const uint64_t n = d.c.codebooks[base].size();
  NNC_CHECK_CODE(n <= kMaxElements - d.elements, kCorrupt, "{}: scaled codebook {} takes the container past {} elements",
                 d.what, d.c.codebooks.size(), kMaxElements);
  d.elements += n;
  d.c.codebooks.push_back(scaled_codebook(d.c.codebooks[base], scale));
  d.c.scales.push_back({static_cast<int>(base), scale});
}

// The one element count: the product of the non-zero dimensions stays within kMaxElements (so
// no partial product overflows, in any order), a zero dimension makes the count 0, and the
// container's tensors together stay within kMaxElements.
std::size_t element_count(Decoding& d, const std::string& name, std::span<const uint64_t> dims) {
  uint64_t product = 1;
  bool zero = false;
  for (auto dim : dims) {
    if (dim == 0) {
      zero = true;
      continue;
    }
    NNC_CHECK_CODE(dim <= kMaxElements / product, kCorrupt, "{}: tensor '{}' has more than {} elements", d.what, name,
                   kMaxElements);
    product *= dim;
  }
  const uint64_t n = zero ? 0 : product;
  NNC_CHECK_CODE(n <= kMaxElements - d.elements, kCorrupt, "{}: tensor '{}' takes the container past {} elements",
                 d.what, name, kMaxElements);
  d.elements += n;
  return static_cast<std::size_t>(n);
}

// Coded indices (tensor kind 1, sparse value kind 1): count indices into one codebook.
std::vector<uint16_t> get_indices(Decoding& d, Reader& r, std::size_t count, StoredTensor& t) {
  const uint64_t id = r.num(4);
  const auto coder = r.get<uint8_t>();
  const uint64_t alphabet = r.num(4);
  const uint64_t n = r.num(8);
  NNC_CHECK_CODE(id < d.c.codebooks.size(), kCorrupt, "{}: tensor '{}' refers to a missing codebook {}", d.what,
                 t.name, id);
  NNC_CHECK_CODE(coder <= 2, kCorrupt, "{}: tensor '{}' has unknown index coder {}", d.what, t.name, coder);
  const std::size_t size = d.c.codebooks[id].size();
  NNC_CHECK_CODE(alphabet == size, kCorrupt, "{}: tensor '{}' index alphabet {} does not match codebook size {}",
                 d.what, t.name, alphabet, size);
  auto bytes = r.bytes(n);
  t.codebook = static_cast<int>(id);
  try {
    return decode(static_cast<Coder>(coder), bytes, count, static_cast<uint32_t>(alphabet));
  } catch (const Error& e) {
    fail(e.code(), "{}: tensor '{}' indices: {}", d.what, t.name, e.what());
  }
}

// A stream of symbols under one of the index coders, as int8 values and coded gap classes store
// it: u8 coder, varint alphabet, varint byte count, the bytes. Messages name the coder
// ("unknown int8 coder 4") and the stream ("int8 values: ..."); `alphabet_text` says what a bad
// alphabet is ("an int8 alphabet of 300 (1 to 256)").
struct CodedSymbols {
  const char* coder;
  const char* stream;
  uint64_t max_alphabet;
  std::string (*alphabet_text)(uint64_t alphabet, uint64_t max);
};

std::vector<uint16_t> get_coded_symbols(Decoding& d, Reader& r, std::size_t count, const StoredTensor& t,
                                        const CodedSymbols& kind) {
  const auto coder = r.get<uint8_t>();
  const uint64_t alphabet = r.num(4);
  const auto bytes = r.bytes(r.num(8));
  NNC_CHECK_CODE(coder <= 2, kCorrupt, "{}: tensor '{}' has unknown {} coder {}", d.what, t.name, kind.coder, coder);
  NNC_CHECK_CODE(alphabet >= 1 && alphabet <= kind.max_alphabet, kCorrupt, "{}: tensor '{}' has {}", d.what, t.name,
                 kind.alphabet_text(alphabet, kind.max_alphabet));
  try {
    return decode(static_cast<Coder>(coder), bytes, count, static_cast<uint32_t>(alphabet));
  } catch (const Error& e) {
    fail(e.code(), "{}: tensor '{}' {}: {}", d.what, t.name, kind.stream, e.what());
  }
}

// int8 values (tensor kind 3, sparse value kind 2, format 5): count zigzag symbols, alphabet 1..256.
std::vector<int8_t> get_int8(Decoding& d, Reader& r, std::size_t count, const StoredTensor& t) {
  static const CodedSymbols kInt8{"int8", "int8 values", kMaxInt8Alphabet, [](uint64_t a, uint64_t max) {
                                    return fmt::format("an int8 alphabet of {} (1 to {})", a, max);
                                  }};
  const auto symbols = get_coded_symbols(d, r, count, t, kInt8);
  std::vector<int8_t> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = unzigzag(symbols[i]);
  return out;
}

// Sparse positions: a bitmask of exactly numel bits (whole bytes), or varint gaps that use up
// their bytes; either way nnz positions, strictly increasing and < numel.
void read_coded_gaps(Decoding& d, std::span<const uint8_t> pos, StoredTensor& t, std::size_t n, uint64_t nnz) {
  Reader r(pos, d.what, 2);
  static const CodedSymbols kGapClasses{"position", "positions", kMaxGapClasses, [](uint64_t a, uint64_t max) {
                                          return fmt::format("{} gap classes (1 to {})", a, max);
                                        }};
  const auto classes = get_coded_symbols(d, r, static_cast<std::size_t>(nnz), t, kGapClasses);
  const auto extra = r.bytes(r.left());
  uint64_t bit = 0, next = 0;  // next: the smallest position the next gap can give
  t.positions.reserve(static_cast<std::size_t>(nnz));
  for (uint64_t i = 0; i < nnz; ++i) {
    const uint32_t c = classes[static_cast<std::size_t>(i)];
    uint64_t v = 1;
    if (c > 0) {
      const int b = static_cast<int>((c + 1) / 2);
      v = (uint64_t{1} << b) | (uint64_t{c + 1 - 2u * static_cast<uint32_t>(b)} << (b - 1));
      NNC_CHECK_CODE(bit + static_cast<uint64_t>(b - 1) <= 8 * uint64_t{extra.size()}, kCorrupt,
                     "{}: tensor '{}' positions are truncated", d.what, t.name);
      for (int k = 0; k < b - 1; ++k, ++bit) v |= static_cast<uint64_t>(extra[bit >> 3] >> (bit & 7) & 1) << k;
    }
    NNC_CHECK_CODE(v - 1 < n - next, kCorrupt, "{}: tensor '{}' non-zero {} lies past its {} elements", d.what, t.name,
                   i, n);
    t.positions.push_back(next + v - 1);
    next = t.positions.back() + 1;
  }
  NNC_CHECK_CODE(extra.size() == (bit + 7) / 8, kCorrupt, "{}: tensor '{}' positions have {} trailing bytes", d.what,
                 t.name, extra.size() - (bit + 7) / 8);
}

void read_positions(Decoding& d, Reader& p, StoredTensor& t, std::size_t n, uint64_t nnz) {
  const auto format = p.get<uint8_t>();
  auto pos = p.bytes(p.num(8));
  NNC_CHECK_CODE(format <= 1 || (format == 2 && d.version >= 4), kCorrupt,
                 "{}: tensor '{}' has unknown position format {}", d.what, t.name, format);
  if (format == 2) return read_coded_gaps(d, pos, t, n, nnz);
  if (format == 0) {
    NNC_CHECK_CODE(pos.size() == (uint64_t{n} + 7) / 8, kCorrupt,
                   "{}: tensor '{}' bitmask has {} bytes for {} elements", d.what, t.name, pos.size(), n);
    t.positions.reserve(nnz);
    uint64_t set = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (!(pos[i >> 3] >> (i & 7) & 1)) continue;
      if (set++ < nnz) t.positions.push_back(i);
    }
    NNC_CHECK_CODE(set == nnz, kCorrupt, "{}: tensor '{}' bitmask has {} set bits for {} non-zeros", d.what,
                   t.name, set, nnz);
    return;
  }
  NNC_CHECK_CODE(nnz <= pos.size(), kCorrupt, "{}: tensor '{}' positions are truncated", d.what, t.name);
  t.positions.reserve(nnz);
  std::size_t at = 0;
  uint64_t next = 0;  // the smallest position the next gap can give
  for (uint64_t i = 0; i < nnz; ++i) {
    uint64_t gap = 0;
    const Varint rc = read_varint(pos, at, gap);
    NNC_CHECK_CODE(rc == Varint::kOk, kCorrupt, "{}: tensor '{}' positions: {}", d.what, t.name,
                   rc == Varint::kTruncated ? "truncated" : "overlong number");
    NNC_CHECK_CODE(gap < n - next, kCorrupt, "{}: tensor '{}' non-zero {} lies past its {} elements", d.what, t.name, i,
                   n);
    t.positions.push_back(next + gap);
    next = t.positions.back() + 1;
  }
  NNC_CHECK_CODE(at == pos.size(), kCorrupt, "{}: tensor '{}' positions have {} trailing bytes", d.what, t.name,
                 pos.size() - at);
}

void read_sparse(Decoding& d, Reader& p, StoredTensor& t, std::size_t n) {
  const uint64_t nnz = p.num(8);
  NNC_CHECK_CODE(nnz <= n, kCorrupt, "{}: tensor '{}' has more non-zeros than elements", d.what, t.name);
  read_positions(d, p, t, n, nnz);
  const auto value_kind = p.get<uint8_t>();
  NNC_CHECK_CODE(value_kind <= 1 || (value_kind == 2 && d.version >= 5), kCorrupt,
                 "{}: tensor '{}' has unknown sparse value kind {}", d.what, t.name, value_kind);
  if (value_kind == 2) {
    t.int8_values = true;
    t.ints = get_int8(d, p, static_cast<std::size_t>(nnz), t);
    return;
  }
  if (value_kind == 1) {
    t.indices = get_indices(d, p, static_cast<std::size_t>(nnz), t);
    return;
  }
  auto v = p.bytes(nnz * 4);
  t.values.resize(static_cast<std::size_t>(nnz));
  if (nnz) std::memcpy(t.values.data(), v.data(), v.size());
}

// A tensor's name and shape: at the start of its record, or (a kNamedTensor record, format 6) the
// next entry of the names table.
StoredTensor read_tensor(Decoding& d, Reader& p, Section type) {
  StoredTensor t;
  if (type == kNamedTensor) {
    NNC_CHECK_CODE(d.next_name, kCorrupt, "{}: a tensor record names no tensor (no names table before it)", d.what);
    NNC_CHECK_CODE(d.next_name->left() > 0, kCorrupt, "{}: more tensor records than the names table lists", d.what);
  }
  Reader& head = type == kNamedTensor ? *d.next_name : p;
  const uint64_t name_len = head.num(2);
  NNC_CHECK_CODE(name_len <= kMaxName, kCorrupt, "{}: tensor name of {} bytes is too long", d.what, name_len);
  auto name = head.bytes(name_len);
  t.name.assign(name.begin(), name.end());
  NNC_CHECK_CODE(t.name.find('\0') == std::string::npos, kCorrupt, "{}: tensor name contains a NUL byte", d.what);
  const uint64_t rank = head.num(1);
  NNC_CHECK_CODE(rank <= kMaxRank, kCorrupt, "{}: tensor '{}' has rank {}", d.what, t.name, rank);
  std::vector<uint64_t> dims;
  for (uint64_t i = 0; i < rank; ++i) dims.push_back(head.num(8));
  const auto kind = p.get<uint8_t>();
  const std::size_t n = element_count(d, t.name, dims);
  t.shape.assign(dims.begin(), dims.end());  // each within kMaxElements, or 0
  NNC_CHECK_CODE(kind <= 2 || (kind == 3 && d.version >= 5), kCorrupt, "{}: tensor '{}' has unknown kind {}", d.what,
                 t.name, kind);
  t.kind = static_cast<StoredTensor::Kind>(kind);
  if (t.kind == StoredTensor::Kind::kRaw) {
    auto v = p.bytes(uint64_t{n} * 4);
    t.values.resize(n);
    if (n) std::memcpy(t.values.data(), v.data(), v.size());
  } else if (t.kind == StoredTensor::Kind::kIndexed) {
    t.indices = get_indices(d, p, n, t);
  } else if (t.kind == StoredTensor::Kind::kInt8) {
    t.ints = get_int8(d, p, n, t);
  } else {
    read_sparse(d, p, t, n);
  }
  NNC_CHECK_CODE(p.left() == 0, kCorrupt, "{}: tensor '{}' record has {} trailing bytes", d.what, t.name, p.left());
  return t;
}

}  // namespace

// Every declared size is checked against the bytes present, or against the limits above, before
// anything is allocated; src/store/decode.c accepts exactly the same files (tests/fuzz/).
ContainerContent decode_container(std::span<const uint8_t> bytes, const std::string& what) {
  // Header and trailer (12 bytes) at least: format 2 with no sections is 13 bytes.
  NNC_CHECK_CODE(bytes.size() >= 12 && std::memcmp(bytes.data(), kMagic, 4) == 0, kCorrupt,
                 "{}: not an .nnc container (bad magic)", what);
  uint16_t version;
  std::memcpy(&version, bytes.data() + 4, 2);
  NNC_CHECK_CODE(version <= kContainerVersion, kUnsupported,
                 "{}: container format version {} is newer than this nncompress supports ({})", what, version,
                 kContainerVersion);
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  uint32_t crc = static_cast<uint32_t>(crc32(0L, bytes.data(), static_cast<uInt>(bytes.size() - 4)));
  NNC_CHECK_CODE(crc == stored_crc, kCorrupt, "{}: checksum mismatch (file is truncated or corrupt)", what);
  Reader r(bytes.first(bytes.size() - 4), what, version);
  r.bytes(8);
  const uint64_t sections = r.num(4);
  Decoding d{what, version, {}, false, 0, {}, std::nullopt};
  for (uint64_t s = 0; s < sections; ++s) {
    const uint8_t type = r.get<uint8_t>();
    auto payload = r.bytes(r.num(8));
    Reader p(payload, what, version);
    if (type == kGraph || (type == kGraphDeflated && version >= 2) || (type == kGraphAndNames && version >= 6)) {
      read_graph(d, p, static_cast<Section>(type));
    } else if (type == kCodebook) {
      read_codebook(d, p);
    } else if (type == kScaledCodebook && version >= 3) {
      read_scaled_codebook(d, p);
    } else if (type == kTensor || (type == kNamedTensor && version >= 6)) {
      d.c.tensors.push_back(read_tensor(d, p, static_cast<Section>(type)));
    } else {
      fail(ErrorCode::kCorrupt, "{}: unknown section type {}", what, type);
    }
  }
  NNC_CHECK_CODE(r.left() == 0, kCorrupt, "{}: trailing bytes after the last section", what);
  NNC_CHECK_CODE(!d.next_name || d.next_name->left() == 0, kCorrupt,
                 "{}: the names table lists more tensors than the container has records", what);
  if (std::none_of(d.c.scales.begin(), d.c.scales.end(), [](const CodebookScale& s) { return s.base >= 0; }))
    d.c.scales.clear();
  return std::move(d.c);
}

}  // namespace nnc::store
