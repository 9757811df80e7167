#include "nncompress/core/available_cores.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>
#include <thread>

#include "nncompress/core/cgroup.hpp"
#include "nncompress/core/error.hpp"

namespace nnc {
namespace {

TEST(AvailableCores, ReadsCgroupV2Quotas) {
  EXPECT_EQ(cores_from_cpu_max("max 100000"), 0);
  EXPECT_EQ(cores_from_cpu_max("100000 100000"), 1);
  EXPECT_EQ(cores_from_cpu_max("150000 100000"), 2);  // 1.5 cores: rounded up
  EXPECT_EQ(cores_from_cpu_max("50000 100000"), 1);
  EXPECT_EQ(cores_from_cpu_max("400000 100000\n"), 4);
  EXPECT_EQ(cores_from_cpu_max(""), 0);
  EXPECT_EQ(cores_from_cpu_max("abc 100000"), 0);
  EXPECT_EQ(cores_from_cpu_max("-1 100000"), 0);
  EXPECT_EQ(cores_from_cpu_max("100000 0"), 0);
}

TEST(Cgroup, FindsEachControllersDirectoryInV1AndV2) {
  const std::string hybrid =
      "9:name=systemd:/\n4:memory:/runner/job7\n2:cpu,cpuacct:/runner/job7\n1:cpuset:/\n0::/runner/job7\n";
  const auto memory = cgroup_dirs_in(hybrid, "memory");
  ASSERT_EQ(memory.size(), 2u);
  EXPECT_EQ(memory[0].path, "/sys/fs/cgroup/memory/runner/job7");
  EXPECT_FALSE(memory[0].v2);
  EXPECT_EQ(memory[1].path, "/sys/fs/cgroup/runner/job7");
  EXPECT_TRUE(memory[1].v2);
  const auto cpu = cgroup_dirs_in(hybrid, "cpu");  // listed with cpuacct; "cpuset" is another controller
  ASSERT_EQ(cpu.size(), 2u);
  EXPECT_EQ(cpu[0].path, "/sys/fs/cgroup/cpu/runner/job7");
  EXPECT_FALSE(cpu[0].v2);
  EXPECT_TRUE(cpu[1].v2);
  const auto v2_only = cgroup_dirs_in("0::/user.slice/session-3.scope\n", "cpu");
  ASSERT_EQ(v2_only.size(), 1u);
  EXPECT_EQ(v2_only[0].path, "/sys/fs/cgroup/user.slice/session-3.scope");
  EXPECT_TRUE(cgroup_dirs_in("", "memory").empty());
  EXPECT_TRUE(cgroup_dirs_in("garbage\n", "memory").empty());
}

TEST(AvailableCores, FollowsTheAffinityMask) {
  const int all = available_cores();
  EXPECT_GE(all, 1);
  EXPECT_LE(all, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  int first = 0;
  while (!CPU_ISSET(first, &before)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(available_cores(), 1);  // as under `taskset -c 0`
  ASSERT_EQ(sched_setaffinity(0, sizeof(before), &before), 0);
  EXPECT_EQ(available_cores(), all);
}

TEST(AvailableCores, NncThreadsFromTheEnvironment) {
  ::unsetenv("NNC_THREADS");
  EXPECT_EQ(threads_from_env(), 0);
  ::setenv("NNC_THREADS", "3", 1);
  EXPECT_EQ(threads_from_env(), 3);
  for (const char* bad : {"0", "-2", "two", "3x", "99999999999999999999"}) {
    ::setenv("NNC_THREADS", bad, 1);
    try {
      threads_from_env();
      ADD_FAILURE() << "accepted NNC_THREADS=" << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("NNC_THREADS=") + bad + ": must be a positive whole number of threads");
    }
  }
  ::unsetenv("NNC_THREADS");
}

TEST(AvailableCores, OtherThreadVariablesAreReadAsStrictly) {
  ::setenv("NNC_BLAS_THREADS", "2", 1);
  EXPECT_EQ(threads_from_env("NNC_BLAS_THREADS"), 2);
  ::setenv("NNC_BLAS_THREADS", "1.5", 1);
  try {
    threads_from_env("NNC_BLAS_THREADS");
    ADD_FAILURE() << "accepted NNC_BLAS_THREADS=1.5";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "NNC_BLAS_THREADS=1.5: must be a positive whole number of threads");
  }
  ::unsetenv("NNC_BLAS_THREADS");
}

}  // namespace
}  // namespace nnc
