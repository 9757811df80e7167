#include "exec/memory_guard.hpp"

#include <c10/core/CPUAllocator.h>

#include <mutex>

#include "nncompress/core/error.hpp"
#include "nncompress/core/memory.hpp"

namespace nnc::exec {
namespace {

class GuardedAllocator final : public c10::Allocator {
 public:
  explicit GuardedAllocator(c10::Allocator* inner) : inner_(inner) {}

  c10::DataPtr allocate(size_t n) const override {
    if (n >= kCheckFrom) check_fits_in_memory(n, "a tensor");
    return inner_->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner_->raw_deleter(); }

 private:
  static constexpr size_t kCheckFrom = size_t{64} << 20;
  c10::Allocator* inner_;
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
