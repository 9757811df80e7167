#include "nncompress/core/available_cores.hpp"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "nncompress/core/cgroup.hpp"
#include "nncompress/core/error.hpp"

namespace nnc {
namespace {

int affinity_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

int cores_from_quota(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::min<long long>((quota + period - 1) / period, 1 << 20));
}

// The CPU quota of the cgroup this process is in (v2 cpu.max, or v1's cpu controller).
int quota_cores() {
  for (const auto& dir : cgroup_dirs("cpu")) {
    if (dir.v2) {
      if (const int cores = cores_from_cpu_max(first_line(dir.path + "/cpu.max")); cores > 0) return cores;
      continue;
    }
    const std::string quota = first_line(dir.path + "/cpu.cfs_quota_us");
    const std::string period = first_line(dir.path + "/cpu.cfs_period_us");
    if (quota.empty() || period.empty()) continue;
    if (const int cores = cores_from_quota(std::atoll(quota.c_str()), std::atoll(period.c_str())); cores > 0)
      return cores;
  }
  return 0;
}

}  // namespace

int cores_from_cpu_max(const std::string& line) {
  std::istringstream in(line);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max") return 0;
  char* end = nullptr;
  errno = 0;
  const long long q = std::strtoll(quota.c_str(), &end, 10);
  if (errno != 0 || end == quota.c_str() || *end != '\0') return 0;
  return cores_from_quota(q, period);
}

int available_cores() {
  const int cores = affinity_cores();
  const int quota = quota_cores();
  return quota > 0 ? std::min(cores, quota) : cores;
}

int threads_from_env(const char* variable) {
  if (const char* env = std::getenv(variable); env != nullptr && *env != '\0') {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(env, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > 4096)
      fail(ErrorCode::kInvalidArgument, "{}={}: must be a positive whole number of threads", variable, env);
    return static_cast<int>(n);
  }
  return 0;
}

}  // namespace nnc
