#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <filesystem>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/data/idx.hpp"
#include "nncompress/data/npy.hpp"

namespace fs = std::filesystem;
using namespace nnc;

namespace {
fs::path tmp(const std::string& n) { return fs::temp_directory_path() / ("nnc_data_test_" + n); }
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (auto d : dims)
    for (int sh : {24, 16, 8, 0}) s += static_cast<char>((d >> sh) & 0xff);
  s.append(data.begin(), data.end());
  return s;
}
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Idx, ReadsRawAndGzip) {
  std::vector<uint8_t> px(2 * 3 * 2);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 10);
  auto raw = idx_bytes({2, 3, 2}, px);
  write_file_atomic(tmp("a.idx"), std::string_view(raw));
  auto t = data::read_idx(tmp("a.idx"));
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(t[1][2][1].item<int>(), 110);
  gzFile g = gzopen(tmp("a.idx.gz").c_str(), "wb");
  gzwrite(g, raw.data(), static_cast<unsigned>(raw.size()));
  gzclose(g);
  EXPECT_TRUE(torch::equal(data::read_idx(tmp("a.idx.gz")), t));
}

TEST(Idx, TruncatedAndBadMagicAreClearErrors) {
  auto raw = idx_bytes({4, 2}, {1, 2, 3});
  write_file_atomic(tmp("t.idx"), std::string_view(raw));
  EXPECT_EQ(error_of([] { data::read_idx(tmp("t.idx")); }),
            tmp("t.idx").string() + ": IDX data has 3 bytes but its header declares 8");
  // A header declaring far more than the file holds is refused without allocating it.
  write_file_atomic(tmp("h.idx"), std::string_view(idx_bytes({100000, 100000}, {1, 2, 3})));
  EXPECT_EQ(error_of([] { data::read_idx(tmp("h.idx")); }),
            tmp("h.idx").string() + ": IDX data has 3 bytes but its header declares 10000000000");
  gzFile g = gzopen(tmp("h.idx.gz").c_str(), "wb");
  auto big = idx_bytes({100000, 100000}, {1, 2, 3});
  gzwrite(g, big.data(), static_cast<unsigned>(big.size()));
  gzclose(g);
  EXPECT_EQ(error_of([] { data::read_idx(tmp("h.idx.gz")); }),
            tmp("h.idx.gz").string() + ": IDX data has 3 bytes but its header declares 10000000000");
  // Trailing bytes after the declared data are an error too.
  write_file_atomic(tmp("x.idx"), std::string_view(idx_bytes({2}, {1, 2, 3})));
  EXPECT_EQ(error_of([] { data::read_idx(tmp("x.idx")); }),
            tmp("x.idx").string() + ": IDX data has 3 bytes but its header declares 2");
  write_file_atomic(tmp("m.idx"), std::string_view("hello world"));
  EXPECT_EQ(error_of([] { data::read_idx(tmp("m.idx")); }), tmp("m.idx").string() + ": not an IDX file (bad magic)");
}

TEST(Npy, RoundTripsTypesAndShapes) {
  for (auto type : {torch::kFloat, torch::kLong, torch::kInt, torch::kByte}) {
    auto t = (torch::arange(24) % 11).to(type).reshape({2, 3, 4});
    data::write_npy(tmp("r.npy"), t);
    auto back = data::read_npy(tmp("r.npy"));
    EXPECT_EQ(back.scalar_type(), type);
    EXPECT_TRUE(torch::equal(back, t));
  }
  data::write_npy(tmp("v.npy"), torch::arange(5, torch::kFloat));
  EXPECT_EQ(data::read_npy(tmp("v.npy")).sizes(), (std::vector<int64_t>{5}));
}

TEST(Npy, TruncatedDataIsAClearError) {
  data::write_npy(tmp("x.npy"), torch::ones({4, 4}));
  auto bytes = read_file_bytes(tmp("x.npy"));
  bytes.resize(bytes.size() - 8);
  write_file_atomic(tmp("x.npy"), bytes);
  EXPECT_EQ(error_of([] { data::read_npy(tmp("x.npy")); }),
            tmp("x.npy").string() + ": NPY data has 56 bytes but shape and dtype need 64");
}

namespace {
// An NPY v1 file with the given header text (padded as numpy pads it) and data bytes.
std::string npy_bytes(std::string header, const std::string& data) {
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += '\x01';
  s += '\x00';
  s += static_cast<char>(header.size() & 0xff);
  s += static_cast<char>(header.size() >> 8);
  return s + header + data;
}
}  // namespace

// Every declared size is checked against the bytes present before allocating; the header is
// scanned without std::regex (whose recursion overflowed the stack on a long header).
TEST(Npy, HostileHeadersAreClearErrors) {
  auto err = [](const std::string& name, const std::string& bytes) {
    write_file_atomic(tmp(name), std::string_view(bytes));
    return error_of([&] { data::read_npy(tmp(name)); });
  };
  EXPECT_EQ(err("big.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }", "abcd")),
            tmp("big.npy").string() + ": NPY shape and dtype need more than 2^64 bytes");
  EXPECT_EQ(err("few.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }", "abcd")),
            tmp("few.npy").string() + ": NPY data has 4 bytes but shape and dtype need 4000000000");
  EXPECT_EQ(err("digits.npy", npy_bytes("{'descr': '<f4', 'shape': (1234567890123456789012,), }", "")),
            tmp("digits.npy").string() + ": NPY shape has a dimension of more than 18 digits");
  EXPECT_EQ(err("neg.npy", npy_bytes("{'descr': '<f4', 'shape': (-1,), }", "")),
            tmp("neg.npy").string() + ": NPY shape is not a tuple of sizes");
  EXPECT_EQ(err("open.npy", npy_bytes("{'descr': '<f4', 'shape': (2, 3", "")),
            tmp("open.npy").string() + ": NPY header has no shape");
  EXPECT_EQ(err("long.npy", npy_bytes("{'descr': '" + std::string(60000, 'f'), "")),
            tmp("long.npy").string() + ": NPY header has no dtype");
  EXPECT_EQ(err("be.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "abcd")),
            tmp("be.npy").string() + ": NPY dtype '>f4' is unsupported");
  // An empty array of huge other dimensions is empty, not an overflow.
  auto t = [&] {
    write_file_atomic(tmp("empty.npy"), std::string_view(npy_bytes(
                                            "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 100000000000000000), }", "")));
    return data::read_npy(tmp("empty.npy"));
  }();
  EXPECT_EQ(t.numel(), 0);
}

TEST(Idx, HeaderBeyond2To63BytesIsAClearError) {
  write_file_atomic(tmp("huge.idx"), std::string_view(idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, {1, 2, 3})));
  EXPECT_EQ(error_of([] { data::read_idx(tmp("huge.idx")); }),
            tmp("huge.idx").string() + ": IDX header declares 4294967295 x 4294967295 x 4294967295 bytes: more than 2^63");
}

TEST(Idx, NotARegularFileIsAClearError) {
  fs::create_directories(tmp("dir.idx"));
  EXPECT_EQ(error_of([] { data::read_idx(tmp("dir.idx")); }), tmp("dir.idx").string() + ": not a regular file");
}
