#include "nncompress/core/available_cores.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>
#include <thread>

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

}  // namespace
}  // namespace nnc
