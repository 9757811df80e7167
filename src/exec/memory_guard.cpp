#include "exec/memory_guard.hpp"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <mutex>

#include "nncompress/core/error.hpp"
#include "nncompress/core/memory.hpp"

namespace nnc::exec {
namespace {

class GuardedAllocator final : public c10::Allocator {
 public:
  explicit GuardedAllocator(c10::Allocator* inner) : inner_(inner) {}

  // Checks a large allocation, and any allocation once 64 MiB have been allocated since the last
  // check (frees are not seen here: the figure read at each check accounts for them).
  c10::DataPtr allocate(size_t n) const override {
    if (n >= kCheckEvery || unchecked_.fetch_add(n, std::memory_order_relaxed) + n >= kCheckEvery) {
      unchecked_.store(0, std::memory_order_relaxed);
      check_fits_in_memory(n, "a tensor");
    }
    return inner_->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner_->raw_deleter(); }

 private:
  static constexpr size_t kCheckEvery = size_t{64} << 20;
  c10::Allocator* inner_;
  mutable std::atomic<size_t> unchecked_{0};
};

}  // namespace

void install_memory_guard() {
  static std::once_flag once;
  std::call_once(once, [] {
    static GuardedAllocator guard(c10::GetCPUAllocator());
    c10::SetCPUAllocator(&guard, /*priority=*/1);
  });
}

}  // namespace nnc::exec
