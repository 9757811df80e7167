#pragma once
// Layer weights computed inside the graph from initializers only (a shared model's codebook
// lookup, a pruned model's bitmask unpacking, a Transpose of an initializer exported without
// constant folding) become initializers again, so that compression finds them. The sub-graph
// is evaluated once by the engine; nodes and initializers nothing reads any more are removed.
// Weights behind a DequantizeLinear (an int8 QDQ model) are not folded: they stay int8.
#include <onnx/onnx_pb.h>

namespace nnc::exec {

// Returns the number of weights folded.
int fold_computed_weights(onnx::ModelProto& model);

}  // namespace nnc::exec
