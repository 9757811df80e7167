// The inputs the differential fuzzer found (tests/fuzz/nnc/, scripts/fuzz.sh) replayed through
// both .nnc readers under the normal build: they agree on every one (tests/fuzz/differential.hpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/differential.hpp"

namespace fs = std::filesystem;

TEST(FuzzCorpus, BothReadersAgreeOnEveryFoundInput) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(NNC_SOURCE_DIR) / "tests/fuzz/nnc")) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EXPECT_EQ(nnc::fuzz::readers_disagree(nnc::fuzz::sealed(bytes)), "") << entry.path().filename();
    ++files;
  }
  EXPECT_GT(files, 0);
}
