#include "nncompress/core/blas_threads.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace nnc {

int single_threaded_blas() {
  static std::once_flag once;
  static int threads = 0;
  std::call_once(once, [] {
    using SetThreads = void (*)(int);
    auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (set == nullptr) return;
    int n = 1;
    if (const char* env = std::getenv("NNC_BLAS_THREADS"); env != nullptr && std::atoi(env) > 0) n = std::atoi(env);
    set(n);
    threads = n;
  });
  return threads;
}

}  // namespace nnc
