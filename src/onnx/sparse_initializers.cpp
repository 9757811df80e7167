#include "nncompress/onnx/sparse_initializers.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "nncompress/core/error.hpp"
#include "nncompress/core/memory.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::onnxio {
namespace {

// Positions as int64 (ONNX requires int64 indices; int32 is read too).
std::vector<int64_t> int64_values(const onnx::TensorProto& t, const std::string& what) {
  const std::string raw = raw_bytes(t);
  std::vector<int64_t> v(raw.size() / std::max<std::size_t>(1, element_size(t.data_type())));
  if (t.data_type() == onnx::TensorProto::INT64) {
    if (!v.empty()) std::memcpy(v.data(), raw.data(), raw.size());
  } else if (t.data_type() == onnx::TensorProto::INT32) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      int32_t x;
      std::memcpy(&x, raw.data() + 4 * i, 4);
      v[i] = x;
    }
  } else {
    fail(ErrorCode::kCorrupt, "{}: sparse initializer positions must be int64", what);
  }
  return v;
}

}  // namespace

int densify_sparse_initializers(onnx::GraphProto& graph, const std::string& what) {
  const int n = graph.sparse_initializer_size();
  for (const auto& sp : graph.sparse_initializer()) {
    const std::string& name = sp.values().name();
    onnx::TensorProto shape_only;  // the dense tensor's shape, for its checked element count
    shape_only.set_name(name);
    for (auto d : sp.dims()) shape_only.add_dims(d);
    const int64_t numel = element_count(shape_only);
    const std::size_t width = element_size(sp.values().data_type());
    NNC_CHECK_CODE(width > 0, kUnsupported, "{}: sparse initializer '{}' has an unsupported element type", what, name);
    const std::string values = raw_bytes(sp.values());
    const auto nnz = static_cast<int64_t>(values.size() / width);
    NNC_CHECK_CODE(nnz <= numel, kCorrupt, "{}: sparse initializer '{}' has {} values for {} elements", what, name, nnz,
                   numel);
    auto positions = int64_values(sp.indices(), what);
    const auto rank = static_cast<int64_t>(sp.dims_size());
    // Positions are either linear ([NNZ]) or one coordinate tuple per value ([NNZ, rank]).
    if (sp.indices().dims_size() == 2) {
      NNC_CHECK_CODE(sp.indices().dims(0) == nnz && sp.indices().dims(1) == rank, kCorrupt,
                     "{}: sparse initializer '{}' has {} positions of rank {} for {} values of rank {}", what, name,
                     sp.indices().dims(0), sp.indices().dims(1), nnz, rank);
      std::vector<int64_t> linear(static_cast<std::size_t>(nnz));
      for (int64_t i = 0; i < nnz; ++i) {
        int64_t at = 0;
        for (int64_t j = 0; j < rank; ++j) {
          const int64_t c = positions[static_cast<std::size_t>(i * rank + j)];
          NNC_CHECK_CODE(c >= 0 && c < sp.dims(static_cast<int>(j)), kCorrupt,
                         "{}: sparse initializer '{}' has a position outside its shape", what, name);
          at = at * sp.dims(static_cast<int>(j)) + c;
        }
        linear[static_cast<std::size_t>(i)] = at;
      }
      positions = std::move(linear);
    }
    NNC_CHECK_CODE(sp.indices().dims_size() <= 2 && static_cast<int64_t>(positions.size()) == nnz, kCorrupt,
                   "{}: sparse initializer '{}' has {} positions for {} values", what, name, positions.size(), nnz);
    // The one size here not bounded by bytes present: the dense tensor the few values stand for.
    const std::uint64_t dense_bytes = checked_bytes(static_cast<std::uint64_t>(numel), width,
                                                    fmt::format("{}: sparse initializer '{}'", what, name));
    check_fits_in_memory(dense_bytes, fmt::format("{}: sparse initializer '{}' ({} elements)", what, name, numel));
    // Pruned weights keep one value in a few hundred at most; a file whose handful of bytes asks
    // for a gigabyte of zeros is refused (up to 2^24 elements any density is accepted).
    NNC_CHECK_CODE(numel <= std::max<int64_t>(int64_t{1} << 24, int64_t{65536} * std::max<int64_t>(nnz, 1)), kCorrupt,
                   "{}: sparse initializer '{}' declares {} elements for {} values (more than 65,536 per value)", what,
                   name, numel, nnz);
    std::string dense(static_cast<std::size_t>(dense_bytes), '\0');
    for (int64_t i = 0; i < nnz; ++i) {
      const int64_t at = positions[static_cast<std::size_t>(i)];
      NNC_CHECK_CODE(at >= 0 && at < numel, kCorrupt, "{}: sparse initializer '{}' has a position outside its {} elements",
                     what, name, numel);
      std::memcpy(dense.data() + static_cast<std::size_t>(at) * width, values.data() + static_cast<std::size_t>(i) * width,
                  width);
    }
    auto* t = graph.add_initializer();
    t->set_name(name);
    t->set_data_type(sp.values().data_type());
    for (auto d : sp.dims()) t->add_dims(d);
    t->set_raw_data(std::move(dense));
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
    const auto dense = float_values(proto);
    std::vector<float> values;
    std::vector<int64_t> positions;
    for (std::size_t i = 0; i < dense.size(); ++i)
      if (dense[i] != 0.0f) {
        values.push_back(dense[i]);
        positions.push_back(static_cast<int64_t>(i));
      }
    const auto nnz = static_cast<int64_t>(values.size()), dense_bytes = 4 * static_cast<int64_t>(dense.size()),
               sparse_bytes = 12 * nnz;
    if (sparse_bytes >= dense_bytes) continue;
    auto* sp = g->add_sparse_initializer();
    *sp->mutable_values() = float_tensor(proto.name(), {nnz}, values);
    *sp->mutable_indices() = int64_tensor("", {nnz}, positions);
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
