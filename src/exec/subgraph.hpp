#pragma once
// Values a node's subgraphs (If's then/else branches) read from the enclosing graph: they are
// the node's implicit inputs. The engine orders and feeds them like explicit inputs, after them.
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace nnc::exec {

// Names `g` reads but neither defines (inputs, initializers, node outputs) nor gets from a
// nested subgraph's own scope, in first-use order.
std::vector<std::string> outer_scope_names(const onnx::GraphProto& g);

// The union over the node's graph attributes (attribute order, then first use).
std::vector<std::string> implicit_inputs(const onnx::NodeProto& node);

}  // namespace nnc::exec
