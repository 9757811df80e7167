// NPZ archives: numpy's own files (tests/fixtures/npz/, scripts/make_npz_fixtures.py) read back
// value for value, zip variants numpy does not write (zip64 end records, data descriptors) built
// here, and one crafted archive per refusal, each with its message.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <filesystem>
#include <functional>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/data/dataset.hpp"
#include "nncompress/data/npy.hpp"
#include "nncompress/data/npz.hpp"

namespace fs = std::filesystem;
using namespace nnc;

namespace {

const fs::path kFixtures = fs::path(NNC_SOURCE_DIR) / "tests" / "fixtures" / "npz";

fs::path tmp(const std::string& n) { return fs::temp_directory_path() / ("nnc_npz_test_" + n); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string npy_bytes(const torch::Tensor& t) {
  data::write_npy(tmp("member.npy"), t);
  const auto b = read_file_bytes(tmp("member.npy"));
  return {b.begin(), b.end()};
}

std::string deflate_raw(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A zip archive as a small writer makes it; each field can be spoiled by a test.
struct Member {
  std::string name, data;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint16_t flags = 0;   // bit 0 encrypted, bit 3 sizes in a data descriptor
  int64_t size = -1;    // declared uncompressed size (default: the real one)
  int64_t crc = -1;     // declared CRC-32 (default: the real one)
  bool raw = false;     // `data` is the member's body as stored (not deflated here)
};

std::string zip(const std::vector<Member>& members, bool zip64_end = false) {
  std::string out, dir;
  for (const auto& m : members) {
    const std::string body = m.method == 8 && !m.raw ? deflate_raw(m.data) : m.data;
    const uint64_t crc =
        m.crc >= 0 ? static_cast<uint64_t>(m.crc)
                   : crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size()));
    const uint64_t size = m.size >= 0 ? static_cast<uint64_t>(m.size) : m.data.size();
    const bool descriptor = m.flags & 8;
    const uint64_t offset = out.size();
    put(out, 0x04034b50, 4);
    put(out, 20, 2);
    put(out, m.flags, 2);
    put(out, m.method, 2);
    put(out, 0, 4);  // time, date
    put(out, descriptor ? 0 : crc, 4);
    put(out, descriptor ? 0 : body.size(), 4);
    put(out, descriptor ? 0 : size, 4);
    put(out, m.name.size(), 2);
    put(out, 0, 2);
    out += m.name + body;
    if (descriptor) {
      put(out, 0x08074b50, 4);
      put(out, crc, 4);
      put(out, body.size(), 4);
      put(out, size, 4);
    }
    put(dir, 0x02014b50, 4);
    put(dir, 20, 2);
    put(dir, 20, 2);
    put(dir, m.flags, 2);
    put(dir, m.method, 2);
    put(dir, 0, 4);
    put(dir, crc, 4);
    put(dir, body.size(), 4);
    put(dir, size, 4);
    put(dir, m.name.size(), 2);
    put(dir, 0, 2);  // extra
    put(dir, 0, 2);  // comment
    put(dir, 0, 2);  // disk
    put(dir, 0, 2);  // internal attributes
    put(dir, 0, 4);  // external attributes
    put(dir, offset, 4);
    dir += m.name;
  }
  const uint64_t dir_offset = out.size();
  out += dir;
  if (zip64_end) {
    const uint64_t end64 = out.size();
    put(out, 0x06064b50, 4);
    put(out, 44, 8);
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4);
    put(out, 0, 4);
    put(out, members.size(), 8);
    put(out, members.size(), 8);
    put(out, dir.size(), 8);
    put(out, dir_offset, 8);
    put(out, 0x07064b50, 4);
    put(out, 0, 4);
    put(out, end64, 8);
    put(out, 1, 4);
  }
  put(out, 0x06054b50, 4);
  put(out, 0, 4);
  put(out, zip64_end ? 0xFFFF : members.size(), 2);
  put(out, zip64_end ? 0xFFFF : members.size(), 2);
  put(out, zip64_end ? 0xFFFFFFFF : dir.size(), 4);
  put(out, zip64_end ? 0xFFFFFFFF : dir_offset, 4);
  put(out, 0, 2);
  return out;
}

fs::path write(const std::string& name, const std::string& bytes) {
  write_file_atomic(tmp(name), std::string_view(bytes));
  return tmp(name);
}

// The arrays scripts/make_npz_fixtures.py writes.
void expect_fixture_arrays(const data::NpzFile& npz) {
  EXPECT_EQ(npz.names(),
            (std::vector<std::string>{"images_u8", "images_f4", "labels_i8", "labels_i4", "scalar_f8", "empty_f4"}));
  auto u8 = npz.read("images_u8");
  EXPECT_EQ(u8.scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(u8, (torch::arange(60) * 7 % 256).to(torch::kByte).reshape({3, 4, 5})));
  auto f4 = npz.read("images_f4");
  EXPECT_EQ(f4.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(f4, (torch::arange(24, torch::kFloat) / 8).reshape({2, 3, 4})));
  EXPECT_TRUE(torch::equal(npz.read("labels_i8"), torch::tensor({3, 1, 4, 1, 5}, torch::kLong)));
  EXPECT_TRUE(torch::equal(npz.read("labels_i4"), torch::tensor({2, 7, 1, 8}, torch::kInt)));
  auto scalar = npz.read("scalar_f8");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<double>(), 0.25);
  EXPECT_EQ(npz.read("empty_f4").sizes(), (std::vector<int64_t>{0, 3}));
}

}  // namespace

TEST(Npz, ReadsNumpySavezStoredMembers) { expect_fixture_arrays(data::NpzFile(kFixtures / "savez.npz")); }

TEST(Npz, ReadsNumpySavezCompressedDeflatedMembers) {
  expect_fixture_arrays(data::NpzFile(kFixtures / "savez_compressed.npz"));
}

TEST(Npz, ReadsZip64EndRecordsAndDataDescriptors) {
  const auto a = torch::arange(1000, torch::kFloat).reshape({10, 100});
  const auto b = torch::arange(7, torch::kLong);
  auto p = write("zip64.npz", zip({{"a.npy", npy_bytes(a), 8, 8}, {"b.npy", npy_bytes(b), 0}},
                                  /*zip64_end=*/true));
  data::NpzFile npz(p);
  EXPECT_EQ(npz.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(torch::equal(npz.read("a"), a));
  EXPECT_TRUE(torch::equal(npz.read("b"), b));
}

TEST(Npz, BadArchivesAreClearErrors) {
  const std::string x = npy_bytes(torch::arange(64, torch::kFloat));
  auto p = write("ok.npz", zip({{"x.npy", x, 8}}));
  EXPECT_EQ(error_of([&] { data::NpzFile(p).read("y"); }), p.string() + ": no array 'y' (the archive holds: x)");

  auto bytes = zip({{"x.npy", x, 0}});
  p = write("half.npz", bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(error_of([&] { data::NpzFile{p}; }), p.string() + ": not an NPZ file (no zip end-of-directory record)");
  p = write("short.npz", "PK\x03\x04");
  EXPECT_EQ(error_of([&] { data::NpzFile{p}; }), p.string() + ": not an NPZ file (too short for a zip archive)");

  p = write("crc.npz", zip({{"x.npy", x, 8, 0, -1, 0x12345678}}));
  EXPECT_EQ(error_of([&] { data::NpzFile(p).read("x"); }),
            p.string() + ": x.npy: CRC-32 " +
                fmt::format("{:08x}", crc32(0, reinterpret_cast<const Bytef*>(x.data()), static_cast<uInt>(x.size()))) +
                " does not match the directory's 12345678");

  p = write("bzip2.npz", zip({{"x.npy", x, 12}}));
  EXPECT_EQ(error_of([&] { data::NpzFile{p}; }),
            p.string() + ": member 'x.npy' uses zip compression method 12 (NPZ members are stored or deflated)");
  p = write("encrypted.npz", zip({{"x.npy", x, 0, 1}}));
  EXPECT_EQ(error_of([&] { data::NpzFile{p}; }), p.string() + ": member 'x.npy' is encrypted");
  p = write("twice.npz", zip({{"x.npy", x, 0}, {"x.npy", x, 0}}));
  EXPECT_EQ(error_of([&] { data::NpzFile{p}; }), p.string() + ": two members named 'x.npy'");

  // Sizes that do not fit what is there are refused before anything is allocated.
  p = write("huge.npz", zip({{"x.npy", x, 8, 0, 0xFFFFFFF0}}));
  EXPECT_EQ(error_of([&] { data::NpzFile(p).read("x"); }), p.string() + ": x.npy: declares 4294967280 bytes from " +
                                                               std::to_string(deflate_raw(x).size()) +
                                                               " deflated bytes, more than deflate can produce");
  p = write("stored_size.npz", zip({{"x.npy", x, 0, 0, 10}}));
  EXPECT_EQ(error_of([&] { data::NpzFile(p).read("x"); }),
            p.string() + ": x.npy: stored member declares 10 bytes but holds " + std::to_string(x.size()));
  p = write("inflate_short.npz", zip({{"x.npy", x, 8, 0, 100}}));
  EXPECT_TRUE(error_of([&] {
                data::NpzFile(p).read("x");
              }).starts_with(p.string() + ": x.npy: deflate data gives 100 bytes from "))
      << error_of([&] { data::NpzFile(p).read("x"); });
  p = write("inflate_corrupt.npz", zip({{"x.npy", "\xff\xff\xff\xff", 8, 0, 64, -1, true}}));
  EXPECT_EQ(error_of([&] { data::NpzFile(p).read("x"); }), p.string() + ": x.npy: corrupt deflate data");
  // The directory's offsets must stay inside the file.
  bytes = zip({{"x.npy", x, 0}});
  bytes[bytes.size() - 3] = '\x7f';  // the directory's offset (its high byte): past the end
  p = write("offset.npz", bytes);
  EXPECT_TRUE(
      error_of([&] { data::NpzFile{p}; }).starts_with(p.string() + ": truncated zip file (central directory at byte "))
      << error_of([&] { data::NpzFile{p}; });
  // A member that is not NPY.
  p = write("text.npz", zip({{"x.npy", "hello world", 0}}));
  EXPECT_EQ(error_of([&] { data::NpzFile(p).read("x"); }), p.string() + ": x.npy: not an NPY file (bad magic)");
}

TEST(Npz, DataSetsLoadFromNpz) {
  const auto p = kFixtures / "data.npz";
  auto s = data::load_data(p.string());
  EXPECT_EQ(s.num_classes, 3);
  // NHWC with one channel arrives NCHW, pixels kept as uint8.
  EXPECT_EQ(s.train_x.scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(s.train_x, (torch::arange(30 * 16) % 256).to(torch::kByte).reshape({30, 1, 4, 4})));
  EXPECT_TRUE(torch::equal(s.test_x, (torch::arange(6 * 16) * 3 % 256).to(torch::kByte).reshape({6, 1, 4, 4})));
  EXPECT_TRUE(torch::equal(s.train_y, torch::arange(30) % 3));
  EXPECT_TRUE(torch::equal(s.test_y, torch::arange(6) % 3));
  auto test_only = data::load_data(p.string(), data::TrainSplit::kSkipped);
  EXPECT_FALSE(test_only.train_x.defined());
  EXPECT_TRUE(torch::equal(test_only.test_x, s.test_x));
}

TEST(Npz, TestOnlyDataAndOtherFilesSayWhatIsMissing) {
  const std::string x = npy_bytes(torch::zeros({4, 1, 2, 2}, torch::kByte)), y = npy_bytes(torch::arange(4));
  auto p = write("test_only.npz", zip({{"test_x.npy", x, 8}, {"test_y.npy", y, 8}}));
  EXPECT_EQ(error_of([&] { data::load_data(p.string()); }),
            "data " + p.string() +
                ": has test images only (array 'test_x' but no array 'train_x'); this command needs training images: "
                "the held-out validation, calibration and hold-out images are drawn from them");
  auto s = data::load_data(p.string(), data::TrainSplit::kIfPresent);
  EXPECT_FALSE(s.train_x.defined());
  EXPECT_EQ(s.test_x.size(0), 4);
  EXPECT_EQ(data::load_data((kFixtures / "data.npz").string(), data::TrainSplit::kIfPresent).train_x.size(0), 30);

  const fs::path dir = tmp("npy_test_only");
  fs::create_directories(dir);
  data::write_npy(dir / "test_x.npy", torch::zeros({4, 2, 2}, torch::kByte));
  data::write_npy(dir / "test_y.npy", torch::arange(4));
  EXPECT_EQ(error_of([&] { data::load_data(dir.string()); }),
            "data " + dir.string() +
                ": has test images only (test_x.npy but no train_x.npy); this command needs training images: the "
                "held-out validation, calibration and hold-out images are drawn from them");
  fs::remove(dir / "test_y.npy");
  EXPECT_EQ(error_of([&] { data::load_data(dir.string(), data::TrainSplit::kSkipped); }),
            "data " + dir.string() + ": missing test_y.npy");

  p = write("other.npz", zip({{"images.npy", x, 0}}));
  EXPECT_EQ(error_of([&] { data::load_data(p.string()); }),
            "data " + p.string() + ": no arrays train_x, train_y, test_x, test_y in the archive (it holds: images)");
  p = write("notes.txt", "hello");
  EXPECT_EQ(error_of([&] { data::load_data(p.string()); }), "data " + p.string() + ": not a folder or an .npz file");
}
