#pragma once
// Shorter names for what no one refers to from outside a model: the values between its nodes.
// The .nnc stores the graph without its weights, and in PyTorch exports the graph is mostly
// names ("/layer1/layer1.0/conv1/Conv_output_0"): renaming those values and dropping node names,
// doc strings and intermediate shape annotations takes a quarter to two fifths off the deflated
// graph (docs/nnc-format.md). The graph's inputs and outputs and every initializer keep their
// names, so the model is called and its weights are found as before; a model with subgraphs
// (If, Loop, Scan) keeps every name a subgraph uses.
#include <onnx/onnx_pb.h>

namespace nnc::onnxio {

void minify_names(onnx::ModelProto& model);

}  // namespace nnc::onnxio
