#include "nncompress/core/allocator.hpp"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace nnc {

bool keep_freed_memory() {
  static std::once_flag once;
  static bool active = false;
  std::call_once(once, [] {
    const char* env = std::getenv("NNC_MALLOC_TUNING");
    if (env != nullptr && std::strcmp(env, "0") == 0) return;
#if defined(__GLIBC__)
    // No mmap-served blocks: large activations come from the heap and go back to it.
    // A trim threshold of 1 GB: freed heap tops below that stay in the process.
    active = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
#endif
  });
  return active;
}

}  // namespace nnc
