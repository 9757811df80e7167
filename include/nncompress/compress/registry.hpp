#pragma once
// The registered compression steps: what `nncompress methods` lists, what recipes and the
// Python module create steps from by name. Adding a step touches registry.cpp once.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/compress/step.hpp"

namespace nnc::compress {

struct StepInfo {
  std::string name;      // "share"
  std::string summary;   // one line: what it does
  std::string paper;     // where the method comes from ("" for plumbing steps)
  std::function<Step(const nlohmann::json& options)> make;  // unknown or invalid options: OptionError
  // Its options' defaults (a step whose required options have none, e.g. fit's size, cannot be
  // made from them).
  std::function<nlohmann::json()> defaults;
};

const std::vector<StepInfo>& registered_steps();
// The phases of the steps that the other ranks of an MPI run serve (dist/cluster.hpp): called
// once by every process that may serve them.
void register_distributed_tasks();
// Throws a one-line error listing the registered names when `name` is not one.
const StepInfo& find_step(std::string_view name);
Step make_step(std::string_view name, const nlohmann::json& options = nlohmann::json::object());

}  // namespace nnc::compress
