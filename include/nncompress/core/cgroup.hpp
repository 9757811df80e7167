#pragma once
// Where this process's cgroup keeps a controller's files (the limits a container, a systemd slice
// or a CI runner sets): read by core/memory (memory limit) and core/available_cores (CPU quota).
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

struct CgroupDir {
  std::string path;  // e.g. /sys/fs/cgroup/memory/user.slice (v1) or /sys/fs/cgroup/user.slice (v2)
  bool v2 = false;   // the unified hierarchy (file names differ: memory.max, cpu.max, ...)
};

// The directories of this process's cgroup that may hold `controller`'s files ("memory", "cpu"),
// in the order /proc/self/cgroup lists them ("N:a,b:/path" lines of v1 hierarchies naming the
// controller, "0::/path" of v2). Empty when /proc/self/cgroup cannot be read.
std::vector<CgroupDir> cgroup_dirs(std::string_view controller);

// The same from the text of a /proc/<pid>/cgroup file.
std::vector<CgroupDir> cgroup_dirs_in(const std::string& proc_cgroup, std::string_view controller);

}  // namespace nnc
