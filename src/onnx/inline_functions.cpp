#include "nncompress/onnx/inline_functions.hpp"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/core/error.hpp"

namespace nnc::onnxio {
namespace {

using FunctionKey = std::pair<std::string, std::string>;  // domain, name

// The body of `f` as called by `call`: formal inputs and outputs become the call's values,
// every value made inside gets `prefix`, attribute references take the call's attributes.
std::vector<onnx::NodeProto> instantiate(const onnx::NodeProto& call, const onnx::FunctionProto& f,
                                         const std::string& prefix) {
  std::map<std::string, std::string> rename;
  for (int i = 0; i < f.input_size(); ++i) rename[f.input(i)] = i < call.input_size() ? call.input(i) : "";
  for (int i = 0; i < f.output_size(); ++i) rename[f.output(i)] = i < call.output_size() ? call.output(i) : "";
  for (const auto& n : f.node())
    for (const auto& o : n.output())
      if (!o.empty() && !rename.count(o)) rename[o] = prefix + o;
  auto mapped = [&](const std::string& name) {
    auto it = rename.find(name);
    return it == rename.end() ? name : it->second;
  };
  std::vector<onnx::NodeProto> body;
  for (const auto& n : f.node()) {
    onnx::NodeProto b = n;
    b.set_name(prefix + n.name());
    for (auto& i : *b.mutable_input()) i = mapped(i);
    for (auto& o : *b.mutable_output()) o = mapped(o);
    b.clear_attribute();
    for (const auto& a : n.attribute()) {
      NNC_CHECK_CODE(!a.has_g() && a.graphs_size() == 0, kUnsupported,
                     "model-local function '{}': unsupported subgraph attribute in its body", f.name());
      if (a.ref_attr_name().empty()) {
        *b.add_attribute() = a;
        continue;
      }
      for (const auto& given : call.attribute())
        if (given.name() == a.ref_attr_name()) {
          auto* copy = b.add_attribute();
          *copy = given;
          copy->set_name(a.name());
        }
    }
    body.push_back(std::move(b));
  }
  return body;
}

// Expands every call in `nodes` into `out`, recursively (a function body may call others).
int expand(const std::vector<onnx::NodeProto>& nodes, const std::map<FunctionKey, const onnx::FunctionProto*>& functions,
           onnx::GraphProto& out, int depth, int& counter) {
  NNC_CHECK_CODE(depth <= 64, kUnsupported, "model-local functions nest deeper than 64 (recursive?)");
  int expanded = 0;
  for (const auto& node : nodes) {
    auto it = functions.find({node.domain(), node.op_type()});
    if (it == functions.end()) {
      *out.add_node() = node;
      continue;
    }
    const std::string prefix = (node.name().empty() ? node.op_type() : node.name()) + "/" +
                               std::to_string(counter++) + "/";
    expanded += 1 + expand(instantiate(node, *it->second, prefix), functions, out, depth + 1, counter);
  }
  return expanded;
}

}  // namespace

int inline_local_functions(onnx::ModelProto& model) {
  if (model.functions_size() == 0) return 0;
  std::map<FunctionKey, const onnx::FunctionProto*> functions;
  for (const auto& f : model.functions()) functions[{f.domain(), f.name()}] = &f;
  onnx::GraphProto inlined;
  int counter = 0;
  const std::vector<onnx::NodeProto> top(model.graph().node().begin(), model.graph().node().end());
  const int expanded = expand(top, functions, inlined, 0, counter);
  model.mutable_graph()->mutable_node()->Swap(inlined.mutable_node());
  model.clear_functions();
  // The functions' domains are no longer used by any node.
  std::set<std::string> domains;
  for (const auto& n : model.graph().node()) domains.insert(n.domain());
  auto* imports = model.mutable_opset_import();
  for (int i = imports->size() - 1; i >= 0; --i) {
    const auto& d = imports->Get(i).domain();
    if (!d.empty() && d != "ai.onnx" && !domains.count(d)) imports->DeleteSubrange(i, 1);
  }
  return expanded;
}

}  // namespace nnc::onnxio
