#include "nncompress/onnx/minify.hpp"

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace nnc::onnxio {
namespace {

// Every name a subgraph mentions: it may refer to an outer value by name alone.
void names_in_subgraphs(const onnx::GraphProto& g, std::unordered_set<std::string>& out, bool inside) {
  for (const auto& n : g.node()) {
    if (inside) {
      out.insert(n.input().begin(), n.input().end());
      out.insert(n.output().begin(), n.output().end());
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) names_in_subgraphs(a.g(), out, true);
      for (const auto& sub : a.graphs()) names_in_subgraphs(sub, out, true);
    }
  }
  if (inside) {
    for (const auto& v : g.input()) out.insert(v.name());
    for (const auto& v : g.output()) out.insert(v.name());
  }
}

std::string base36(std::size_t i) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[i % 36]);
    i /= 36;
  } while (i != 0);
  return s;
}

}  // namespace

void minify_names(onnx::ModelProto& model) {
  auto& g = *model.mutable_graph();
  std::unordered_set<std::string> kept;
  for (const auto& v : g.input()) kept.insert(v.name());
  for (const auto& v : g.output()) kept.insert(v.name());
  for (const auto& t : g.initializer()) kept.insert(t.name());
  for (const auto& t : g.sparse_initializer()) kept.insert(t.values().name());
  names_in_subgraphs(g, kept, false);

  std::unordered_map<std::string, std::string> renamed;
  std::size_t next = 0;
  auto rename = [&](std::string* name) {
    if (name->empty() || kept.count(*name)) return;
    auto it = renamed.find(*name);
    if (it == renamed.end()) {
      std::string s;
      do s = base36(next++);
      while (kept.count(s));
      it = renamed.emplace(*name, std::move(s)).first;
    }
    *name = it->second;
  };
  for (auto& n : *g.mutable_node()) {
    n.clear_name();
    n.clear_doc_string();
    for (auto& out : *n.mutable_output()) rename(&out);
  }
  // Inputs after all outputs: a value read before its producer (an unsorted graph) is renamed alike.
  for (auto& n : *g.mutable_node())
    for (auto& in : *n.mutable_input()) rename(&in);
  g.clear_value_info();
  g.clear_doc_string();
}

}  // namespace nnc::onnxio
