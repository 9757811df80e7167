#pragma once
// ONNX models in distributed messages (the model of a phase's state, with its current weights).
#include <onnx/onnx_pb.h>

#include "nncompress/dist/archive.hpp"

namespace nnc::dist {

void put_model(ArchiveWriter& w, const onnx::ModelProto& model);
onnx::ModelProto get_model(ArchiveReader& r);  // an Error when the bytes do not parse

}  // namespace nnc::dist
