#include "nncompress/core/blas_threads.hpp"

#include <dlfcn.h>

#include <mutex>

#include "nncompress/core/available_cores.hpp"

namespace nnc {

int single_threaded_blas() {
  static std::once_flag once;
  static int threads = 0;
  std::call_once(once, [] {
    using SetThreads = void (*)(int);
    auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (set == nullptr) return;
    const int asked = threads_from_env("NNC_BLAS_THREADS");
    const int n = asked > 0 ? asked : 1;
    set(n);
    threads = n;
  });
  return threads;
}

}  // namespace nnc
