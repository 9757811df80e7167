#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "nncompress/core/allocator.hpp"

#if defined(__SANITIZE_ADDRESS__)  // GCC
#define NNC_ASAN 1
#elif defined(__has_feature)  // clang
#if __has_feature(address_sanitizer)
#define NNC_ASAN 1
#endif
#endif

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Allocates, writes and frees `bytes`, the way one inference run treats a large activation.
void touch_block(std::size_t bytes) {
  void* p = std::malloc(bytes);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, bytes);
  asm volatile("" : : "r"(p) : "memory");  // the block is really written
  std::free(p);
}

}  // namespace

TEST(Allocator, FreedLargeBlocksAreReusedWithoutPageFaults) {
#if NNC_ASAN
  GTEST_SKIP() << "AddressSanitizer replaces malloc: glibc's settings do not apply";
#endif
  ASSERT_TRUE(nnc::keep_freed_memory());
  EXPECT_TRUE(nnc::keep_freed_memory());  // once per process; later calls report the same
  const std::size_t bytes = 64 << 20;     // 16,384 pages: above glibc's largest mmap threshold
  touch_block(bytes);                     // first use faults the pages in
  const long before = minor_faults();
  touch_block(bytes);
  touch_block(bytes);
  // With glibc's defaults each call maps fresh pages: ~32,768 faults. Reused, next to none.
  EXPECT_LT(minor_faults() - before, 1000);
}
