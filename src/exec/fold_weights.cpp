#include "nncompress/exec/fold_weights.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/onnx/weight_inputs.hpp"

namespace nnc::exec {

int fold_computed_weights(onnx::ModelProto& model) {
  auto* g = model.mutable_graph();
  std::set<std::string> initializers;
  for (const auto& t : g->initializer()) initializers.insert(t.name());
  std::map<std::string, int> producer;
  for (int i = 0; i < g->node_size(); ++i)
    for (const auto& o : g->node(i).output()) producer[o] = i;
  std::set<std::string> graph_inputs;
  for (const auto& in : g->input()) graph_inputs.insert(in.name());

  // Whether `name` is computed from initializers and Constant nodes only; collects the nodes.
  std::map<std::string, bool> known;
  std::set<int> closure;  // the nodes computing them
  std::function<bool(const std::string&)> from_initializers = [&](const std::string& name) -> bool {
    if (name.empty() || initializers.count(name)) return true;
    if (auto k = known.find(name); k != known.end()) return k->second;
    known[name] = false;  // cycles and graph inputs are not constant
    auto p = producer.find(name);
    if (p == producer.end() || graph_inputs.count(name)) return false;
    const auto& node = g->node(p->second);
    const bool pure = (node.domain().empty() || node.domain() == "ai.onnx") && node.op_type() != "If" &&
                      node.op_type() != "Loop" && node.op_type() != "Scan" && node.op_type() != "Dropout" &&
                      node.op_type().rfind("Random", 0) != 0 &&
                      // A quantised weight stays int8: runtimes fuse its DequantizeLinear into int8 kernels.
                      node.op_type() != "DequantizeLinear";
    bool ok = pure;
    for (const auto& in : node.input()) ok = ok && from_initializers(in);
    known[name] = ok;
    if (ok) closure.insert(p->second);
    return ok;
  };
  std::vector<std::string> targets;
  for (const auto& node : g->node())
    for (int i : onnxio::weight_inputs(node).weights)
      if (i < node.input_size() && !initializers.count(node.input(i)) && producer.count(node.input(i)) &&
          from_initializers(node.input(i)) &&
          std::find(targets.begin(), targets.end(), node.input(i)) == targets.end())
        targets.push_back(node.input(i));
  if (targets.empty()) return 0;

  // Evaluate the closure once, as a model of its own with the targets as outputs.
  onnx::ModelProto sub;
  sub.set_ir_version(model.ir_version());
  *sub.mutable_opset_import() = model.opset_import();
  auto* sg = sub.mutable_graph();
  sg->set_name("computed weights");
  std::set<std::string> used;
  for (int i : closure) {
    *sg->add_node() = g->node(i);
    for (const auto& in : g->node(i).input()) used.insert(in);
  }
  for (const auto& t : g->initializer())
    if (used.count(t.name())) *sg->add_initializer() = t;
  for (const auto& name : targets) sg->add_output()->set_name(name);
  std::vector<at::Tensor> values;
  {
    c10::InferenceMode guard;
    Engine engine(sub);
    values = engine.run({});
  }

  // The weights become initializers; nodes and initializers nothing reads any more go.
  for (std::size_t k = 0; k < targets.size(); ++k)
    *g->add_initializer() = exec::from_tensor(values[k].contiguous(), targets[k]);
  std::set<std::string> folded(targets.begin(), targets.end());
  // Names some node or the graph's outputs still read.
  auto names_read = [&] {
    std::set<std::string> read;
    for (const auto& n : g->node())
      for (const auto& in : n.input()) read.insert(in);
    for (const auto& o : g->output()) read.insert(o.name());
    return read;
  };
  auto computed = [&](const onnx::NodeProto& n) {
    return std::any_of(n.output().begin(), n.output().end(), [&](const std::string& o) {
      auto k = known.find(o);
      return k != known.end() && k->second;
    });
  };
  // A computed node goes when each of its outputs is folded (an initializer now) or unread.
  for (bool removed = true; removed;) {
    removed = false;
    const auto read = names_read();
    for (int i = g->node_size() - 1; i >= 0; --i) {
      const auto& n = g->node(i);
      if (!computed(n) || !std::all_of(n.output().begin(), n.output().end(), [&](const std::string& o) {
            return folded.count(o) > 0 || !read.count(o);
          }))
        continue;
      g->mutable_node()->DeleteSubrange(i, 1);
      removed = true;
    }
  }
  // A node kept for another output (a Split whose other part is not a weight) no longer
  // writes the folded names: the initializers hold those values.
  for (auto& n : *g->mutable_node())
    for (auto& o : *n.mutable_output())
      if (folded.count(o)) o += ".unused";
  const auto read = names_read();
  std::vector<std::string> unread;
  for (const auto& t : g->initializer())
    if (!read.count(t.name())) unread.push_back(t.name());
  for (const auto& name : unread) onnxio::remove_initializer(*g, name);  // and its graph input (IR < 4)
  return static_cast<int>(targets.size());
}

}  // namespace nnc::exec
