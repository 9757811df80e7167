#include <gtest/gtest.h>

#include "nncompress/core/error.hpp"

TEST(Error, CheckThrowsWithFormattedMessageAndCode) {
  try {
    NNC_CHECK_CODE(1 + 1 == 3, kShape, "tensor '{}' is {}", "w", 3);
    FAIL() << "no throw";
  } catch (const nnc::Error& e) {
    EXPECT_EQ(e.code(), nnc::ErrorCode::kShape);
    EXPECT_STREQ(e.what(), "tensor 'w' is 3");
  }
  EXPECT_NO_THROW(NNC_CHECK(true, "never"));
}
