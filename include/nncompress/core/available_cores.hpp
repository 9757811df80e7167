#pragma once
// How many cores this process may use, and how many intra-op threads to run by default.
//
// std::thread::hardware_concurrency() counts the machine's cores, not the ones a process may run
// on: `taskset`, a container's cpuset or a CPU quota (`docker --cpus 1`, a CI runner's cgroup)
// give fewer. More threads than cores costs more than it gains here: LibTorch's parallel regions
// wait for every thread, so a thread that is not scheduled stalls the others. Measured on 2 cores
// with two other busy processes: a pruning run of a small GRU model took 12 s with one thread and
// 27-114 s with two (it takes 8-11 s on an idle machine either way).
#include <string>

namespace nnc {

// Cores in this process's CPU affinity mask, lowered to the CPU quota of the cgroup it is in when
// one is set (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us; rounded up). At least 1.
int available_cores();

// Threads asked for by an environment variable (a positive integer; anything else throws Error
// naming the variable), or 0 when it is not set. NNC_THREADS gives the intra-op threads per
// process: test runners that start several processes at once set it (scripts/test.sh).
int threads_from_env(const char* variable = "NNC_THREADS");

// Parses a cgroup v2 cpu.max line ("max 100000", "150000 100000"): cores the quota allows,
// rounded up, or 0 when there is no quota or the line is not of that form.
int cores_from_cpu_max(const std::string& line);

}  // namespace nnc
