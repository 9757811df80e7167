#pragma once
// Sparse initializers (GraphProto.sparse_initializer: ONNX's SparseTensorProto, the non-zero
// values and their int64 positions). Loading makes them dense initializers, as ONNX Runtime
// does, so every method reads and replaces them by name. Writing stores chosen tensors sparse
// where that takes fewer bytes than dense: 12 bytes per non-zero (fp32 value + int64 position)
// against 4 per element, i.e. for tensors more than two-thirds zeros.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <set>
#include <string>

namespace nnc::onnxio {

// Returns how many sparse initializers became dense. Throws kCorrupt for positions outside the
// tensor or a values/positions count mismatch, naming the tensor.
int densify_sparse_initializers(onnx::GraphProto& graph, const std::string& what);

struct SparseWrite {
  int tensors = 0;            // stored sparse
  int64_t dense_bytes = 0;    // their fp32 bytes
  int64_t sparse_bytes = 0;   // their values + positions
};

// Moves each initializer named in `names` into sparse_initializer when that is smaller; the
// model's IR version is raised to 6 (the first with sparse initializers) if it was lower.
SparseWrite sparsify_initializers(onnx::ModelProto& model, const std::set<std::string>& names);

}  // namespace nnc::onnxio
