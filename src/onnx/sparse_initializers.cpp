#include "nncompress/onnx/sparse_initializers.hpp"

#include <ATen/ATen.h>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::onnxio {

int densify_sparse_initializers(onnx::GraphProto& graph, const std::string& what) {
  const int n = graph.sparse_initializer_size();
  for (const auto& sp : graph.sparse_initializer()) {
    const std::string& name = sp.values().name();
    std::vector<int64_t> dims(sp.dims().begin(), sp.dims().end());
    int64_t numel = 1;
    for (auto d : dims) {
      NNC_CHECK_CODE(d >= 0, kCorrupt, "{}: sparse initializer '{}' has a negative dimension", what, name);
      numel *= d;
    }
    auto values = to_tensor(sp.values()).reshape({-1});
    auto positions = to_tensor(sp.indices()).to(at::kLong);
    const int64_t nnz = values.numel();
    // Positions are either linear ([NNZ]) or one coordinate tuple per value ([NNZ, rank]).
    if (positions.dim() == 2) {
      NNC_CHECK_CODE(positions.size(0) == nnz && positions.size(1) == static_cast<int64_t>(dims.size()), kCorrupt,
                     "{}: sparse initializer '{}' has {} positions of rank {} for {} values of rank {}", what, name,
                     positions.size(0), positions.size(1), nnz, dims.size());
      auto coords_ok = (positions >= 0) & (positions < at::tensor(dims, at::kLong));
      NNC_CHECK_CODE(nnz == 0 || coords_ok.all().item<bool>(), kCorrupt,
                     "{}: sparse initializer '{}' has a position outside its shape", what, name);
      std::vector<int64_t> strides(dims.size(), 1);
      for (int64_t j = static_cast<int64_t>(dims.size()) - 2; j >= 0; --j) strides[j] = strides[j + 1] * dims[j + 1];
      positions = (positions * at::tensor(strides, at::kLong)).sum(1);
    }
    NNC_CHECK_CODE(positions.dim() <= 1 && positions.numel() == nnz, kCorrupt,
                   "{}: sparse initializer '{}' has {} positions for {} values", what, name, positions.numel(), nnz);
    NNC_CHECK_CODE(nnz == 0 || ((positions >= 0) & (positions < numel)).all().item<bool>(), kCorrupt,
                   "{}: sparse initializer '{}' has a position outside its {} elements", what, name, numel);
    auto dense = at::zeros({numel}, values.options());
    if (nnz) dense.index_put_({positions.reshape({-1})}, values);
    *graph.add_initializer() = from_tensor(dense.reshape(dims), name);
  }
  graph.clear_sparse_initializer();
  return n;
}

SparseWrite sparsify_initializers(onnx::ModelProto& model, const std::set<std::string>& names) {
  SparseWrite w;
  auto* g = model.mutable_graph();
  std::vector<std::string> moved;
  for (const auto& proto : g->initializer()) {
    if (!names.count(proto.name()) || proto.data_type() != onnx::TensorProto::FLOAT) continue;
    auto dense = to_tensor(proto).reshape({-1});
    auto positions = dense.nonzero().reshape({-1});
    const int64_t nnz = positions.numel(), dense_bytes = 4 * dense.numel(), sparse_bytes = 12 * nnz;
    if (sparse_bytes >= dense_bytes) continue;
    auto* sp = g->add_sparse_initializer();
    *sp->mutable_values() = from_tensor(dense.index_select(0, positions), proto.name());
    *sp->mutable_indices() = from_tensor(positions, "");
    for (auto d : proto.dims()) sp->add_dims(d);
    ++w.tensors;
    w.dense_bytes += dense_bytes;
    w.sparse_bytes += sparse_bytes;
    moved.push_back(proto.name());
  }
  // The dense initializer goes, and so does its graph-input entry (IR < 4, or
  // keep_initializers_as_inputs): the runtime would otherwise ask the caller for it.
  for (const auto& name : moved) remove_initializer(*g, name);
  if (w.tensors && model.ir_version() < 6) model.set_ir_version(6);
  return w;
}

}  // namespace nnc::onnxio
