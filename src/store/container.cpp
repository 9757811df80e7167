#include "nncompress/store/container.hpp"

#include <zlib.h>

#include <cstring>

#include "nncompress/core/error.hpp"

namespace nnc::store {
namespace {

constexpr char kMagic[4] = {'N', 'N', 'C', '\0'};
enum Section : uint8_t { kGraph = 1, kCodebook = 2, kTensor = 3, kGraphDeflated = 4 };

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
    if (version_ < 2) {
      uint64_t v = 0;
      need(static_cast<std::size_t>(v1_bytes));
      for (int i = 0; i < v1_bytes; ++i) v |= static_cast<uint64_t>(b_[pos_ + static_cast<std::size_t>(i)]) << (8 * i);
      pos_ += static_cast<std::size_t>(v1_bytes);
      return v;
    }
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      need(1);
      NNC_CHECK_CODE(shift < 64, kCorrupt, "{}: corrupt container (overlong number)", what_);
      const uint8_t b = b_[pos_++];
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  int version() const { return version_; }
  std::span<const uint8_t> bytes(std::size_t n) {
    need(n);
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::size_t pos() const { return pos_; }
  bool done() const { return pos_ == b_.size(); }
  void need(std::size_t n) const {
    NNC_CHECK_CODE(n <= b_.size() - pos_, kCorrupt, "{}: truncated container (record needs {} bytes, {} left)", what_,
                   n, b_.size() - pos_);
  }

 private:
  std::span<const uint8_t> b_;
  std::size_t pos_ = 0;
  const std::string& what_;
  int version_;
};

void put_indices(Writer& w, int codebook, std::span<const uint16_t> idx, uint32_t alphabet, ContainerStats* st,
                 const std::string& name) {
  auto enc = encode_smallest(idx, alphabet);
  w.varint(static_cast<uint32_t>(codebook));
  w.put<uint8_t>(static_cast<uint8_t>(enc.coder));
  w.varint(alphabet);
  w.varint(enc.bytes.size());
  w.bytes(enc.bytes);
  if (st) {
    st->index_bytes += enc.bytes.size();
    st->coders.push_back({name, enc.coder});
  }
}

std::vector<uint16_t> get_indices(Reader& r, std::size_t count, const ContainerContent& c, int& codebook,
                                  const std::string& what) {
  const uint64_t id = r.num(4);
  auto coder = r.get<uint8_t>();
  const uint64_t alphabet = r.num(4);
  auto n = r.num(8);
  NNC_CHECK_CODE(id < c.codebooks.size(), kCorrupt, "{}: tensor refers to a missing codebook {}", what, id);
  codebook = static_cast<int>(id);
  NNC_CHECK_CODE(codebook >= 0 && static_cast<std::size_t>(codebook) < c.codebooks.size(), kCorrupt,
                 "{}: tensor refers to a missing codebook {}", what, codebook);
  NNC_CHECK_CODE(coder <= 2, kCorrupt, "{}: unknown index coder {}", what, coder);
  NNC_CHECK_CODE(alphabet == c.codebooks[static_cast<std::size_t>(codebook)].size() && alphabet <= 65536, kCorrupt,
                 "{}: index alphabet {} does not match codebook size", what, alphabet);
  auto idx = decode(static_cast<Coder>(coder), r.bytes(n), count, static_cast<uint32_t>(alphabet));
  return idx;
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

std::vector<float> StoredTensor::decode(const std::vector<std::vector<float>>& codebooks) const {
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

std::vector<uint8_t> encode_container(const ContainerContent& c, ContainerStats* st) {
  Writer w;
  w.bytes(kMagic, 4);
  w.put<uint16_t>(kContainerVersion);
  w.put<uint16_t>(0);
  w.varint(1 + c.codebooks.size() + c.tensors.size());
  if (st) *st = {};
  auto section = [&](uint8_t type, const std::vector<uint8_t>& payload) {
    w.put<uint8_t>(type);
    w.varint(payload.size());
    w.bytes(payload);
  };
  {
    const auto* g = reinterpret_cast<const uint8_t*>(c.graph.data());
    Writer deflated;
    deflated.varint(c.graph.size());
    deflated.bytes(deflate_bytes({g, c.graph.size()}));
    const bool smaller = deflated.out.size() < c.graph.size();
    section(smaller ? kGraphDeflated : kGraph, smaller ? deflated.out : std::vector<uint8_t>(g, g + c.graph.size()));
    if (st) st->graph_bytes = smaller ? deflated.out.size() : c.graph.size();
  }
  for (const auto& cb : c.codebooks) {
    Writer p;
    p.varint(cb.size());
    p.bytes(cb.data(), cb.size() * sizeof(float));
    section(kCodebook, p.out);
    if (st) st->codebook_bytes += p.out.size();
  }
  for (const auto& t : c.tensors) {
    Writer p;
    NNC_CHECK(t.name.size() < 65536 && t.shape.size() <= 16, "tensor '{}': name or rank too large", t.name);
    p.varint(t.name.size());
    p.bytes(t.name.data(), t.name.size());
    p.varint(t.shape.size());
    for (auto d : t.shape) {
      NNC_CHECK(d >= 0, "tensor '{}': negative dimension", t.name);
      p.varint(static_cast<uint64_t>(d));
    }
    p.put<uint8_t>(static_cast<uint8_t>(t.kind));
    const auto n = static_cast<std::size_t>(t.numel());
    std::size_t before = p.out.size();
    if (t.kind == StoredTensor::Kind::kRaw) {
      NNC_CHECK(t.values.size() == n, "tensor '{}': {} values for {} elements", t.name, t.values.size(), n);
      p.bytes(t.values.data(), n * sizeof(float));
      if (st) st->raw_bytes += p.out.size() - before;
    } else if (t.kind == StoredTensor::Kind::kIndexed) {
      NNC_CHECK(t.indices.size() == n && t.codebook >= 0 && static_cast<std::size_t>(t.codebook) < c.codebooks.size(),
                "tensor '{}': bad indexed record", t.name);
      put_indices(p, t.codebook, t.indices, static_cast<uint32_t>(c.codebooks[static_cast<std::size_t>(t.codebook)].size()),
                  st, t.name);
      if (st) st->indexed_elements += n;
    } else {
      const std::size_t nnz = t.positions.size();
      const std::size_t index_before = st ? st->index_bytes : 0;  // indexed values count as indices
      p.varint(nnz);
      // Positions: the smaller of a bitmask and varint-coded gaps.
      std::vector<uint8_t> mask((n + 7) / 8, 0), gaps;
      uint64_t prev = 0;
      for (std::size_t i = 0; i < nnz; ++i) {
        NNC_CHECK(t.positions[i] < n && (i == 0 || t.positions[i] > t.positions[i - 1]),
                  "tensor '{}': sparse positions must be sorted and in range", t.name);
        mask[t.positions[i] >> 3] |= static_cast<uint8_t>(1u << (t.positions[i] & 7));
        put_varint64(gaps, t.positions[i] - (i ? prev + 1 : 0));
        prev = t.positions[i];
      }
      const bool use_mask = mask.size() <= gaps.size();
      p.put<uint8_t>(use_mask ? 0 : 1);
      const auto& pos = use_mask ? mask : gaps;
      p.varint(pos.size());
      p.bytes(pos);
      if (t.codebook >= 0) {
        p.put<uint8_t>(1);
        NNC_CHECK(t.indices.size() == nnz, "tensor '{}': {} indices for {} non-zeros", t.name, t.indices.size(), nnz);
        put_indices(p, t.codebook, t.indices,
                    static_cast<uint32_t>(c.codebooks[static_cast<std::size_t>(t.codebook)].size()), st, t.name);
      } else {
        p.put<uint8_t>(0);
        NNC_CHECK(t.values.size() == nnz, "tensor '{}': {} values for {} non-zeros", t.name, t.values.size(), nnz);
        p.bytes(t.values.data(), nnz * sizeof(float));
      }
      if (st) st->sparse_bytes += p.out.size() - before - (st->index_bytes - index_before);
    }
    section(kTensor, p.out);
  }
  uint32_t crc = static_cast<uint32_t>(crc32(0L, w.out.data(), static_cast<uInt>(w.out.size())));
  w.put<uint32_t>(crc);
  if (st) {
    st->total_bytes = w.out.size();
    st->header_bytes = st->total_bytes - st->graph_bytes - st->codebook_bytes - st->raw_bytes - st->index_bytes -
                       st->sparse_bytes;
  }
  return w.out;
}

ContainerContent decode_container(std::span<const uint8_t> bytes, const std::string& what) {
  NNC_CHECK_CODE(bytes.size() >= 16 && std::memcmp(bytes.data(), kMagic, 4) == 0, kCorrupt,
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
  ContainerContent c;
  for (uint64_t s = 0; s < sections; ++s) {
    const uint8_t type = r.get<uint8_t>();
    const uint64_t len = r.num(8);
    auto payload = r.bytes(len);
    Reader p(payload, what, version);
    if (type == kGraph) {
      c.graph.assign(payload.begin(), payload.end());
    } else if (type == kGraphDeflated && version >= 2) {
      const uint64_t size = p.num(8);
      NNC_CHECK_CODE(size <= (uint64_t{1} << 31), kCorrupt, "{}: graph section claims {} bytes", what, size);
      c.graph = inflate_bytes(payload.subspan(p.pos()), static_cast<std::size_t>(size), what);
    } else if (type == kCodebook) {
      const uint64_t n = p.num(4);
      NNC_CHECK_CODE(n <= 65536, kCorrupt, "{}: codebook of {} values", what, n);
      auto vals = p.bytes(std::size_t{n} * 4);
      std::vector<float> cb(n);
      if (n) std::memcpy(cb.data(), vals.data(), std::size_t{n} * 4);
      c.codebooks.push_back(std::move(cb));
    } else if (type == kTensor) {
      StoredTensor t;
      auto name = p.bytes(p.num(2));
      t.name.assign(name.begin(), name.end());
      const uint64_t rank = p.num(1);
      NNC_CHECK_CODE(rank <= 16, kCorrupt, "{}: tensor '{}' has rank {}", what, t.name, rank);
      for (uint64_t i = 0; i < rank; ++i) {
        t.shape.push_back(static_cast<int64_t>(p.num(8)));
        NNC_CHECK_CODE(t.shape.back() >= 0 && t.shape.back() <= (int64_t{1} << 40), kCorrupt,
                       "{}: tensor '{}' has a corrupt dimension", what, t.name);
      }
      const auto kind = p.get<uint8_t>();
      NNC_CHECK_CODE(kind <= 2, kCorrupt, "{}: tensor '{}' has unknown kind {}", what, t.name, kind);
      t.kind = static_cast<StoredTensor::Kind>(kind);
      const auto n = static_cast<std::size_t>(t.numel());
      if (t.kind == StoredTensor::Kind::kRaw) {
        auto v = p.bytes(n * 4);
        t.values.resize(n);
        if (n) std::memcpy(t.values.data(), v.data(), n * 4);
      } else if (t.kind == StoredTensor::Kind::kIndexed) {
        t.indices = get_indices(p, n, c, t.codebook, what);
      } else {
        const auto nnz = p.num(8);
        NNC_CHECK_CODE(nnz <= n, kCorrupt, "{}: tensor '{}' has more non-zeros than elements", what, t.name);
        const auto fmt_kind = p.get<uint8_t>();
        auto pos = p.bytes(p.num(8));
        if (fmt_kind == 0) {
          NNC_CHECK_CODE(pos.size() * 8 >= n, kCorrupt, "{}: tensor '{}' bitmask is short", what, t.name);
          for (uint64_t i = 0; i < n; ++i)
            if (pos[i >> 3] >> (i & 7) & 1) t.positions.push_back(i);
        } else {
          // Varint gaps, read like the container's own numbers (format 2 rules).
          const std::string gaps_what = fmt::format("{}: tensor '{}' positions", what, t.name);
          Reader gaps(pos, gaps_what, 2);
          uint64_t at = 0;
          for (uint64_t i = 0; i < nnz; ++i) {
            at += gaps.num(8) + (i ? 1 : 0);
            t.positions.push_back(at);
          }
        }
        NNC_CHECK_CODE(t.positions.size() == nnz && (nnz == 0 || t.positions.back() < n), kCorrupt,
                       "{}: tensor '{}' positions are corrupt", what, t.name);
        if (p.get<uint8_t>() == 1) {
          t.indices = get_indices(p, nnz, c, t.codebook, what);
        } else {
          auto v = p.bytes(nnz * 4);
          t.values.resize(nnz);
          if (nnz) std::memcpy(t.values.data(), v.data(), nnz * 4);
        }
      }
      c.tensors.push_back(std::move(t));
    } else {
      fail(ErrorCode::kCorrupt, "{}: unknown section type {}", what, type);
    }
  }
  NNC_CHECK_CODE(r.done(), kCorrupt, "{}: trailing bytes after the last section", what);
  return c;
}

}  // namespace nnc::store
