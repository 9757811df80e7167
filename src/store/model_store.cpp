#include "nncompress/store/model_store.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"
#include "store/packed_indices.hpp"

namespace nnc::store {
namespace {


onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : shape) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  return t;
}

}  // namespace

std::size_t fp32_initializer_bytes(const onnx::ModelProto& model) {
  std::size_t total = 0;
  for (const auto& t : model.graph().initializer()) {
    if (t.data_type() != onnx::TensorProto::FLOAT) continue;
    std::size_t n = 1;
    for (auto d : t.dims()) n *= static_cast<std::size_t>(d);
    total += n * 4;
  }
  return total;
}

std::vector<uint8_t> pack_model(const onnx::ModelProto& model, const Compression& comp, ContainerStats* stats) {
  ContainerContent c;
  c.codebooks = comp.codebooks;
  onnx::ModelProto graph_only = model;
  auto* inits = graph_only.mutable_graph()->mutable_initializer();
  std::size_t seen_indexed = 0;
  for (int i = inits->size() - 1; i >= 0; --i) {
    const auto& t = inits->Get(i);
    if (t.data_type() != onnx::TensorProto::FLOAT) continue;
    StoredTensor s;
    s.name = t.name();
    s.shape.assign(t.dims().begin(), t.dims().end());
    auto it = comp.indexed.find(t.name());
    const bool sparse = comp.sparse.count(t.name()) && comp.sparse.at(t.name());
    if (it != comp.indexed.end()) {
      ++seen_indexed;
      NNC_CHECK(it->second.indices.size() == static_cast<std::size_t>(s.numel()),
                "weight '{}': {} indices for {} elements", t.name(), it->second.indices.size(), s.numel());
      s.codebook = it->second.codebook;
      if (sparse) {
        s.kind = StoredTensor::Kind::kSparse;
        const auto& cb = comp.codebooks.at(static_cast<std::size_t>(s.codebook));
        for (std::size_t k = 0; k < it->second.indices.size(); ++k) {
          if (cb[it->second.indices[k]] == 0.0f) continue;
          s.positions.push_back(k);
          s.indices.push_back(it->second.indices[k]);
        }
      } else {
        s.kind = StoredTensor::Kind::kIndexed;
        s.indices = it->second.indices;
      }
    } else {
      auto v = onnxio::float_values(t);
      if (sparse) {
        s.kind = StoredTensor::Kind::kSparse;
        for (std::size_t k = 0; k < v.size(); ++k)
          if (v[k] != 0.0f) {
            s.positions.push_back(k);
            s.values.push_back(v[k]);
          }
      } else {
        s.kind = StoredTensor::Kind::kRaw;
        s.values = std::move(v);
      }
    }
    c.tensors.insert(c.tensors.begin(), std::move(s));
    inits->DeleteSubrange(i, 1);
  }
  NNC_CHECK(seen_indexed == comp.indexed.size(), "some indexed weights are not float initializers of the model");
  graph_only.SerializeToString(&c.graph);
  return encode_container(c, stats);
}

onnx::ModelProto unpack_model(std::span<const uint8_t> bytes, const std::string& what) {
  auto c = decode_container(bytes, what);
  auto model = onnxio::parse_model(c.graph.data(), c.graph.size(), what + " (graph section)");
  for (const auto& t : c.tensors)
    *model.mutable_graph()->add_initializer() = float_tensor(t.name, t.shape, t.decode(c.codebooks));
  return model;
}

std::size_t write_nnc(const std::filesystem::path& path, const onnx::ModelProto& model, const Compression& comp,
                      const std::filesystem::path& protect, ContainerStats* stats) {
  auto bytes = pack_model(model, comp, stats);
  write_file_atomic(path, bytes, protect);
  return bytes.size();
}

onnx::ModelProto read_nnc(const std::filesystem::path& path) {
  auto bytes = read_file_bytes(path);
  return unpack_model(bytes, path.string());
}

onnx::ModelProto codebook_onnx(const onnx::ModelProto& model, const Compression& comp) {
  onnx::ModelProto out = model;
  auto* g = out.mutable_graph();
  // Codebook initializers.
  std::vector<std::string> cb_names;
  for (std::size_t i = 0; i < comp.codebooks.size(); ++i) {
    std::string name = i == 0 ? "nncompress.codebook" : "nncompress.codebook" + std::to_string(i);
    const auto& cb = comp.codebooks[i];
    *g->add_initializer() = float_tensor(name, {static_cast<int64_t>(cb.size())}, cb);
    cb_names.push_back(name);
  }
  std::vector<onnx::NodeProto> decoders;
  const int opset = onnxio::opset_version(out);
  auto* inits = g->mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i) {
    auto it = comp.indexed.find(inits->Get(i).name());
    if (it == comp.indexed.end()) continue;
    const auto& t = inits->Get(i);
    const std::string name = t.name();
    const auto& cb = comp.codebooks.at(static_cast<std::size_t>(it->second.codebook));
    const std::string& cb_name = cb_names.at(static_cast<std::size_t>(it->second.codebook));
    const int bits = index_bits(cb.size());
    if (packable(bits, it->second.indices.size(), opset)) {
      std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
      onnxio::remove_initializer(*g, name);  // and its graph input, in IR < 4 exports
      add_packed_weight(*g, decoders, name, dims, it->second.indices, bits, cb_name, opset);
      continue;
    }
    onnx::TensorProto idx;
    idx.set_name(name + ".indices");
    for (auto d : t.dims()) idx.add_dims(d);
    if (cb.size() <= 256) {
      idx.set_data_type(onnx::TensorProto::UINT8);
      std::string raw(it->second.indices.size(), '\0');
      for (std::size_t k = 0; k < raw.size(); ++k) raw[k] = static_cast<char>(it->second.indices[k]);
      idx.set_raw_data(raw);
    } else {
      idx.set_data_type(onnx::TensorProto::UINT16);
      idx.set_raw_data(std::string(reinterpret_cast<const char*>(it->second.indices.data()), it->second.indices.size() * 2));
    }
    onnxio::remove_initializer(*g, name);  // and its graph input, in IR < 4 exports
    *g->add_initializer() = idx;
    onnx::NodeProto cast, gather;
    cast.set_op_type("Cast");
    cast.set_name(name + ".cast");
    cast.add_input(name + ".indices");
    cast.add_output(name + ".indices_i64");
    auto* to = cast.add_attribute();
    to->set_name("to");
    to->set_type(onnx::AttributeProto::INT);
    to->set_i(onnx::TensorProto::INT64);
    gather.set_op_type("Gather");
    gather.set_name(name + ".gather");
    gather.add_input(cb_names.at(static_cast<std::size_t>(it->second.codebook)));
    gather.add_input(name + ".indices_i64");
    gather.add_output(name);
    decoders.push_back(cast);
    decoders.push_back(gather);
  }
  // Decoder nodes go first so every consumer comes after its weight's producer.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& d : decoders) *nodes.Add() = std::move(d);
  for (const auto& n : g->node()) *nodes.Add() = n;
  g->mutable_node()->Swap(&nodes);
  return out;
}

PrunedOnnx pruned_onnx(const onnx::ModelProto& model, const std::set<std::string>& names) {
  PrunedOnnx r;
  r.model = model;
  auto* g = r.model.mutable_graph();
  const int opset = onnxio::opset_version(r.model);
  std::vector<onnx::NodeProto> decoders;
  std::set<std::string> as_sparse;
  auto* inits = g->mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i) {
    const auto& t = inits->Get(i);
    if (!names.count(t.name()) || t.data_type() != onnx::TensorProto::FLOAT) continue;
    const std::string name = t.name();
    const std::vector<float> values = onnxio::float_values(t);
    const std::size_t n = values.size(), nnz = static_cast<std::size_t>(
                                             std::count_if(values.begin(), values.end(), [](float v) { return v != 0.0f; }));
    const std::size_t dense = 4 * n, sparse = 12 * nnz, masked = maskable(n, opset) ? masked_bytes(n, nnz) : SIZE_MAX;
    r.dense_bytes += dense;
    if (masked < dense && masked <= sparse) {
      std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
      onnxio::remove_initializer(*g, name);
      add_masked_weight(*g, decoders, name, dims, values, opset);
      ++r.masked;
      r.stored_bytes += masked;
    } else if (sparse < dense) {
      as_sparse.insert(name);
      ++r.sparse;
      r.stored_bytes += sparse;
    } else {
      r.stored_bytes += dense;
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& d : decoders) *nodes.Add() = std::move(d);
  for (const auto& n : g->node()) *nodes.Add() = n;
  g->mutable_node()->Swap(&nodes);
  onnxio::sparsify_initializers(r.model, as_sparse);
  return r;
}

}  // namespace nnc::store
