// Sizes as users write them (fit --size, compress --size).
#include <gtest/gtest.h>

#include "nncompress/core/byte_size.hpp"
#include "nncompress/core/error.hpp"

using nnc::parse_byte_size;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_byte_size(text);
  } catch (const nnc::Error& e) {
    EXPECT_EQ(e.code(), nnc::ErrorCode::kInvalidArgument);
    return e.what();
  }
  return {};
}
}  // namespace

TEST(ByteSize, UnitsAreBinaryAndCaseInsensitive) {
  EXPECT_EQ(parse_byte_size("12288"), 12288);
  EXPECT_EQ(parse_byte_size("12288B"), 12288);
  EXPECT_EQ(parse_byte_size("12KB"), 12288);
  EXPECT_EQ(parse_byte_size("12 kb"), 12288);
  EXPECT_EQ(parse_byte_size("12k"), 12288);
  EXPECT_EQ(parse_byte_size("12KiB"), 12288);
  EXPECT_EQ(parse_byte_size("1.5MB"), 1572864);
  EXPECT_EQ(parse_byte_size(" 8KB "), 8192);
  EXPECT_EQ(parse_byte_size("0.5KB"), 512);
}

TEST(ByteSize, MalformedSizesNameTheText) {
  EXPECT_EQ(error_of("12XB"), "'12XB': unknown unit 'XB' (B, KB, MB or GB; KB = 1,024 bytes)");
  EXPECT_EQ(error_of("-3KB"), "'-3KB': expected a positive number of bytes, e.g. 12KB or 12288");
  EXPECT_EQ(error_of(""), "'': empty (expected e.g. 12KB or 12288)");
  EXPECT_EQ(error_of("KB"), "'KB': expected a positive number of bytes, e.g. 12KB or 12288");
  EXPECT_EQ(error_of("1.2.3KB"), "'1.2.3KB': '1.2.3' is not a number");
  EXPECT_EQ(error_of("0"), "'0': must be at least 1 byte");
  EXPECT_EQ(error_of("0.1B"), "'0.1B': must be at least 1 byte");
}
