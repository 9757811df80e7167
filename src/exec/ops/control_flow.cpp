// If (opset 1+): each branch runs as an engine of its own whose graph inputs are the values it
// reads from the enclosing graph (exec/subgraph.hpp); the enclosing engine feeds them to this
// step after the condition. PyTorch emits If for LocalResponseNorm, for squeeze of a dimension
// whose size is unknown at export, and for data-dependent branches of scripted modules.
#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "exec/ops/ops.hpp"
#include "exec/subgraph.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::exec {
namespace {

struct Branch {
  std::unique_ptr<Engine> engine;
  std::vector<std::size_t> feed;  // branch input i = the step's implicit input feed[i]
};

Branch make_branch(const NodeInfo& n, const onnx::GraphProto& g, const std::vector<std::string>& implicit) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(n.opset());
  *m.mutable_graph() = g;
  Branch b;
  std::unordered_map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < implicit.size(); ++i) position.emplace(implicit[i], i);
  for (const auto& name : outer_scope_names(g)) {
    m.mutable_graph()->add_input()->set_name(name);  // type and shape come from the enclosing graph
    b.feed.push_back(position.at(name));
  }
  try {
    b.engine = std::make_unique<Engine>(std::move(m));
  } catch (const Error& e) {
    n.unsupported(std::string("branch: ") + e.what());
  }
  return b;
}

OpFn build_if(const NodeInfo& n) {
  n.expect_attrs({"then_branch", "else_branch"});
  const auto* then_g = n.attr("then_branch");
  const auto* else_g = n.attr("else_branch");
  if (!then_g || !else_g || !then_g->has_g() || !else_g->has_g()) n.unsupported("If without both branches");
  const auto implicit = implicit_inputs(n.proto());
  auto then_b = std::make_shared<Branch>(make_branch(n, then_g->g(), implicit));
  auto else_b = std::make_shared<Branch>(make_branch(n, else_g->g(), implicit));
  const std::string label = n.label();
  return [then_b, else_b, label](const RunContext& rc, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    NNC_CHECK_CODE(in[0].defined() && in[0].numel() == 1, kShape, "{}: condition must hold one value, got {}", label,
                   in[0].defined() ? in[0].numel() : 0);
    const bool cond = in[0].to(at::kBool).item<bool>();
    Branch& b = cond ? *then_b : *else_b;
    std::vector<at::Tensor> feed;
    for (std::size_t i : b.feed) feed.push_back(in[1 + i]);
    if (b.engine->training() != rc.training) b.engine->set_training(rc.training);
    auto results = b.engine->run(feed);
    NNC_CHECK_CODE(results.size() >= out.size(), kShape, "{}: branch gives {} outputs for {}", label, results.size(),
                   out.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = results[i];
  };
}

}  // namespace

void register_control_flow_ops(OpRegistry& r) { r.add("If", build_if); }

}  // namespace nnc::exec
