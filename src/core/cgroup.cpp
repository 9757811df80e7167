#include "nncompress/core/cgroup.hpp"

#include <fstream>
#include <sstream>

namespace nnc {

std::vector<CgroupDir> cgroup_dirs(std::string_view controller) {
  std::ifstream file("/proc/self/cgroup");
  std::ostringstream text;
  text << file.rdbuf();
  return cgroup_dirs_in(text.str(), controller);
}

std::vector<CgroupDir> cgroup_dirs_in(const std::string& proc_cgroup, std::string_view controller) {
  std::vector<CgroupDir> dirs;
  std::istringstream in(proc_cgroup);
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1), path = line.substr(second + 1);
    if (controllers.empty() && line.rfind("0:", 0) == 0) {
      dirs.push_back({"/sys/fs/cgroup" + path, true});
      continue;
    }
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');)
      if (name == controller) {
        dirs.push_back({"/sys/fs/cgroup/" + std::string(controller) + path, false});
        break;
      }
  }
  return dirs;
}

}  // namespace nnc
