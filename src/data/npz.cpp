#include "nncompress/data/npz.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <limits>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/core/memory.hpp"
#include "nncompress/data/npy.hpp"

namespace nnc::data {
namespace {

// Zip record signatures and fixed sizes (PKWARE APPNOTE.TXT 6.3, sections 4.3.7-4.3.16).
constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEnd = 0x06054b50, kZip64End = 0x06064b50,
                   kZip64Locator = 0x07064b50;
constexpr std::size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;
// Deflate emits at least one bit per 258 bytes of output (a maximal match), and zlib's worst case
// is about 1032:1; a member claiming more than this from its compressed bytes is corrupt.
constexpr uint64_t kMaxDeflateRatio = 1032;

// Little-endian fields read from a bounds-checked position.
class Reader {
 public:
  Reader(const std::vector<uint8_t>& bytes, const std::string& what) : bytes_(bytes), what_(what) {}
  // True when [at, at + n) lies inside the file.
  bool has(uint64_t at, uint64_t n) const { return at <= bytes_.size() && n <= bytes_.size() - at; }
  void need(uint64_t at, uint64_t n, std::string_view record) const {
    NNC_CHECK_CODE(has(at, n), kCorrupt, "{}: truncated zip file ({} at byte {} runs past its end, {} bytes)", what_,
                   record, at, bytes_.size());
  }
  uint64_t le(uint64_t at, int width) const {
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | bytes_[at + static_cast<uint64_t>(i)];
    return v;
  }
  const uint8_t* data(uint64_t at) const { return bytes_.data() + at; }

 private:
  const std::vector<uint8_t>& bytes_;
  const std::string& what_;
};

struct Directory {
  uint64_t entries = 0, size = 0, offset = 0;
};

// The end of central directory record (searched backwards over a trailing comment of up to 65,535
// bytes) and, when its fields are saturated, the zip64 record it points to.
Directory find_directory(const Reader& r, std::size_t file_size, const std::string& what) {
  NNC_CHECK_CODE(file_size >= kEndSize, kCorrupt, "{}: not an NPZ file (too short for a zip archive)", what);
  const std::size_t lowest = file_size - kEndSize - std::min<std::size_t>(file_size - kEndSize, 65535);
  std::size_t at = file_size - kEndSize;
  while (r.le(at, 4) != kEnd || at + kEndSize + r.le(at + 20, 2) != file_size) {
    NNC_CHECK_CODE(at > lowest, kCorrupt, "{}: not an NPZ file (no zip end-of-directory record)", what);
    --at;
  }
  NNC_CHECK_CODE(r.le(at + 4, 2) == 0 && r.le(at + 6, 2) == 0, kUnsupported,
                 "{}: multi-disk zip archives are unsupported", what);
  Directory d{r.le(at + 10, 2), r.le(at + 12, 4), r.le(at + 16, 4)};
  if (d.entries == 0xFFFF || d.size == 0xFFFFFFFF || d.offset == 0xFFFFFFFF) {
    NNC_CHECK_CODE(at >= kZip64LocatorSize && r.le(at - kZip64LocatorSize, 4) == kZip64Locator, kCorrupt,
                   "{}: zip end-of-directory record has saturated fields but no zip64 locator", what);
    const uint64_t end64 = r.le(at - kZip64LocatorSize + 8, 8);
    r.need(end64, kZip64EndSize, "zip64 end-of-directory record");
    NNC_CHECK_CODE(r.le(end64, 4) == kZip64End, kCorrupt, "{}: zip64 locator points to byte {}, not to a zip64 record",
                   what, end64);
    d = {r.le(end64 + 32, 8), r.le(end64 + 40, 8), r.le(end64 + 48, 8)};
  }
  r.need(d.offset, d.size, "central directory");
  // A central entry takes at least 46 bytes: a count the directory cannot hold is corrupt.
  NNC_CHECK_CODE(d.entries <= d.size / kCentralSize, kCorrupt, "{}: zip directory declares {} members in {} bytes",
                 what, d.entries, d.size);
  return d;
}

// Zip64 extended information (header ID 1): 8-byte values for the fields saturated in the central
// entry, in the order size, compressed size, local header offset.
void read_zip64_extra(const Reader& r, uint64_t at, uint64_t length, uint64_t& size, uint64_t& compressed,
                      uint64_t& offset, const std::string& what) {
  for (uint64_t end = at + length; at + 4 <= end;) {
    const uint64_t id = r.le(at, 2), n = r.le(at + 2, 2);
    NNC_CHECK_CODE(at + 4 + n <= end, kCorrupt, "{}: zip extra field runs past its entry", what);
    if (id == 1) {
      uint64_t p = at + 4;
      for (uint64_t* field : {&size, &compressed, &offset}) {
        if (*field != 0xFFFFFFFF) continue;
        NNC_CHECK_CODE(p + 8 <= at + 4 + n, kCorrupt, "{}: zip64 extra field too short", what);
        *field = r.le(p, 8);
        p += 8;
      }
    }
    at += 4 + n;
  }
}

std::string array_name(std::string member) {
  if (member.size() > 4 && member.ends_with(".npy")) member.resize(member.size() - 4);
  return member;
}

}  // namespace

NpzFile::NpzFile(const std::filesystem::path& path) : path_(path.string()), bytes_(read_file_bytes(path)) {
  const Reader r(bytes_, path_);
  const auto dir = find_directory(r, bytes_.size(), path_);
  uint64_t at = dir.offset;
  for (uint64_t i = 0; i < dir.entries; ++i) {
    r.need(at, kCentralSize, "central directory entry");
    NNC_CHECK_CODE(r.le(at, 4) == kCentralHeader, kCorrupt, "{}: zip directory entry {} has a bad signature", path_, i);
    const uint64_t flags = r.le(at + 8, 2), name_len = r.le(at + 28, 2), extra_len = r.le(at + 30, 2),
                   comment_len = r.le(at + 32, 2);
    r.need(at + kCentralSize, name_len + extra_len + comment_len, "central directory entry");
    Member m;
    const std::string member(reinterpret_cast<const char*>(r.data(at + kCentralSize)), name_len);
    m.name = array_name(member);
    m.method = static_cast<uint16_t>(r.le(at + 10, 2));
    m.crc = static_cast<uint32_t>(r.le(at + 16, 4));
    m.compressed = r.le(at + 20, 4);
    m.size = r.le(at + 24, 4);
    uint64_t local = r.le(at + 42, 4);
    read_zip64_extra(r, at + kCentralSize + name_len, extra_len, m.size, m.compressed, local, path_);
    NNC_CHECK_CODE(!(flags & 1), kUnsupported, "{}: member '{}' is encrypted", path_, member);
    NNC_CHECK_CODE(m.method == Z_NO_COMPRESSION || m.method == Z_DEFLATED, kUnsupported,
                   "{}: member '{}' uses zip compression method {} (NPZ members are stored or deflated)", path_, member,
                   m.method);
    NNC_CHECK_CODE(!contains(m.name), kCorrupt, "{}: two members named '{}'", path_, member);
    // The data follow the member's local header, whose name and extra lengths may differ from the
    // central directory's.
    r.need(local, kLocalSize, "local header");
    NNC_CHECK_CODE(r.le(local, 4) == kLocalHeader, kCorrupt, "{}: member '{}' has no local header at byte {}", path_,
                   member, local);
    m.data_offset = local + kLocalSize + r.le(local + 26, 2) + r.le(local + 28, 2);
    r.need(m.data_offset, m.compressed, "member data");
    members_.push_back(std::move(m));
    at += kCentralSize + name_len + extra_len + comment_len;
  }
}

std::vector<std::string> NpzFile::names() const {
  std::vector<std::string> out;
  for (const auto& m : members_) out.push_back(m.name);
  return out;
}

bool NpzFile::contains(const std::string& name) const {
  return std::any_of(members_.begin(), members_.end(), [&](const Member& m) { return m.name == name; });
}

at::Tensor NpzFile::read(const std::string& name) const {
  const auto it = std::find_if(members_.begin(), members_.end(), [&](const Member& m) { return m.name == name; });
  NNC_CHECK_CODE(it != members_.end(), kIo, "{}: no array '{}' (the archive holds: {})", path_, name,
                 members_.empty() ? "nothing" : fmt::format("{}", fmt::join(names(), ", ")));
  const Member& m = *it;
  const std::string what = fmt::format("{}: {}.npy", path_, name);
  const uint8_t* in = bytes_.data() + m.data_offset;
  std::vector<uint8_t> out;
  if (m.method == Z_NO_COMPRESSION) {
    NNC_CHECK_CODE(m.size == m.compressed, kCorrupt, "{}: stored member declares {} bytes but holds {}", what, m.size,
                   m.compressed);
    check_fits_in_memory(m.size, what);
    out.assign(in, in + m.size);
  } else {
    NNC_CHECK_CODE(m.size / kMaxDeflateRatio <= m.compressed, kCorrupt,
                   "{}: declares {} bytes from {} deflated bytes, more than deflate can produce", what, m.size,
                   m.compressed);
    check_fits_in_memory(m.size, what);
    out.resize(m.size);
    z_stream z{};
    NNC_CHECK_CODE(inflateInit2(&z, -MAX_WBITS) == Z_OK, kResource, "{}: cannot start zlib", what);
    // zlib counts in 32-bit units: feed and drain in chunks.
    uint64_t read = 0, written = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
      const auto in_chunk = static_cast<uInt>(std::min<uint64_t>(m.compressed - read, 1u << 30));
      const auto out_chunk = static_cast<uInt>(std::min<uint64_t>(m.size - written, 1u << 30));
      z.next_in = const_cast<Bytef*>(in + read);
      z.avail_in = in_chunk;
      z.next_out = out.data() + written;
      z.avail_out = out_chunk;
      rc = inflate(&z, Z_NO_FLUSH);
      read += in_chunk - z.avail_in;
      written += out_chunk - z.avail_out;
      if (rc == Z_BUF_ERROR && (read == m.compressed || written == m.size)) break;  // no progress possible
    }
    inflateEnd(&z);
    NNC_CHECK_CODE(rc == Z_STREAM_END || rc == Z_OK || rc == Z_BUF_ERROR, kCorrupt, "{}: corrupt deflate data", what);
    NNC_CHECK_CODE(rc == Z_STREAM_END && written == m.size && read == m.compressed, kCorrupt,
                   "{}: deflate data gives {} bytes from {} of {} compressed bytes{}, the directory declares {}", what,
                   written, read, m.compressed, rc == Z_STREAM_END ? "" : " (stream unfinished)", m.size);
  }
  const auto crc = crc32_z(0L, out.data(), out.size());
  NNC_CHECK_CODE(crc == m.crc, kCorrupt, "{}: CRC-32 {:08x} does not match the directory's {:08x}", what, crc, m.crc);
  return parse_npy(out, what);
}

}  // namespace nnc::data
