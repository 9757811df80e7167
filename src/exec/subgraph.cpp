#include "exec/subgraph.hpp"

#include <set>

namespace nnc::exec {
namespace {

// Appends `name` once, in first-seen order (`seen` makes it linear for many names).
void add_unique(std::vector<std::string>& names, std::set<std::string>& seen, const std::string& name) {
  if (!name.empty() && seen.insert(name).second) names.push_back(name);
}

}  // namespace

std::vector<std::string> outer_scope_names(const onnx::GraphProto& g) {
  std::set<std::string> defined;
  for (const auto& i : g.input()) defined.insert(i.name());
  for (const auto& t : g.initializer()) defined.insert(t.name());
  std::vector<std::string> names;
  std::set<std::string> seen;
  auto read = [&](const std::string& name) {
    if (!name.empty() && !defined.count(name)) add_unique(names, seen, name);
  };
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) read(i);
    for (const auto& name : implicit_inputs(n)) read(name);
    for (const auto& o : n.output()) defined.insert(o);
  }
  for (const auto& o : g.output()) read(o.name());
  return names;
}

std::vector<std::string> implicit_inputs(const onnx::NodeProto& node) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& a : node.attribute()) {
    if (a.has_g())
      for (const auto& name : outer_scope_names(a.g())) add_unique(names, seen, name);
    for (const auto& g : a.graphs())
      for (const auto& name : outer_scope_names(g)) add_unique(names, seen, name);
  }
  return names;
}

}  // namespace nnc::exec
