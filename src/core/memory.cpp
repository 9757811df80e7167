#include "nncompress/core/memory.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "nncompress/core/cgroup.hpp"
#include "nncompress/core/error.hpp"

namespace nnc {
namespace {

constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

// The value after `key` in a "key value [kB]" file such as /proc/meminfo or memory.stat.
std::uint64_t field(const std::string& path, std::string_view key, std::uint64_t unit) {
  std::ifstream in(path);
  std::string k;
  std::uint64_t v;
  while (in >> k >> v) {
    if (k == key) return v * unit;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return kUnlimited;
}

// One number (or "max") in a cgroup file; kUnlimited when absent or "max".
std::uint64_t number(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t v;
  return in >> v ? v : kUnlimited;
}

std::uint64_t system_available() {
  const std::uint64_t available = field("/proc/meminfo", "MemAvailable:", 1024);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const std::uint64_t held_free = mallinfo2().fordblks;
#else
  const std::uint64_t held_free = 0;
#endif
  return available == kUnlimited ? kUnlimited : available + held_free;
}

std::uint64_t address_space_left() {
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kUnlimited;
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  statm >> pages;
  const std::uint64_t mapped = pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return limit.rlim_cur > mapped ? limit.rlim_cur - mapped : 0;
}

// The memory cgroup of this process (v1 or v2): its limit minus its usage.
std::uint64_t cgroup_left() {
  for (const auto& dir : cgroup_dirs("memory")) {
    std::uint64_t limit, usage, reclaimable;
    if (!dir.v2) {
      limit = number(dir.path + "/memory.limit_in_bytes");
      usage = number(dir.path + "/memory.usage_in_bytes");
      reclaimable = field(dir.path + "/memory.stat", "total_inactive_file", 1);
    } else {
      limit = number(dir.path + "/memory.max");
      usage = number(dir.path + "/memory.current");
      reclaimable = field(dir.path + "/memory.stat", "inactive_file", 1);
    }
    if (limit >= (std::uint64_t{1} << 62) || usage == kUnlimited) continue;  // no limit set
    if (reclaimable == kUnlimited) reclaimable = 0;
    const std::uint64_t used = usage > reclaimable ? usage - reclaimable : 0;
    return limit > used ? limit - used : 0;
  }
  return kUnlimited;
}

// NNC_MEMORY_LIMIT=<bytes>: the process's resident memory may grow to this (fuzzing under
// sanitizers, tests, a share of a machine); what is left of it.
std::uint64_t configured_left() {
  const char* env = std::getenv("NNC_MEMORY_LIMIT");
  if (!env || !*env) return kUnlimited;
  char* end = nullptr;
  const unsigned long long limit = std::strtoull(env, &end, 10);
  if (!end || *end != '\0') return kUnlimited;
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  const std::uint64_t used = resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return limit > used ? limit - used : 0;
}

}  // namespace

std::uint64_t available_memory_bytes() {
  return std::min({system_available(), address_space_left(), cgroup_left(), configured_left()});
}

std::string format_bytes(std::uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < 1000) return fmt::format("{} B", bytes);
  if (b < 1e6) return fmt::format("{:.1f} kB", b / 1e3);
  if (b < 1e9) return fmt::format("{:.1f} MB", b / 1e6);
  if (b < 1e12) return fmt::format("{:.2f} GB", b / 1e9);
  return fmt::format("{:.2f} TB", b / 1e12);
}

void check_fits_in_memory(std::uint64_t bytes, std::string_view what) {
  const std::uint64_t available = available_memory_bytes();
  NNC_CHECK_CODE(bytes <= available, kResource, "{} needs {} but {} of memory is available", what, format_bytes(bytes),
                 format_bytes(available));
}

std::uint64_t checked_bytes(std::uint64_t elements, std::uint64_t element_size, std::string_view what) {
  NNC_CHECK_CODE(element_size == 0 || elements <= (std::uint64_t{1} << 63) / element_size, kResource,
                 "{} has {} elements of {} bytes: more than any machine holds", what, elements, element_size);
  return elements * element_size;
}

}  // namespace nnc
