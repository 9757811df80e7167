#pragma once
// Model-local functions (ModelProto.functions): exporters write a module as a function called
// by nodes of a custom domain (torch.onnx.export's export_modules_as_functions, the first
// torch.onnx.dynamo_export). Every such call is replaced by the function's body, renamed
// uniquely, recursively; the model then holds standard operators only.
#include <onnx/onnx_pb.h>

namespace nnc::onnxio {

// Returns the number of calls expanded. Throws kUnsupported for recursion deeper than 64.
int inline_local_functions(onnx::ModelProto& model);

}  // namespace nnc::onnxio
