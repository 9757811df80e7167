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

// Decoder nodes go first, so every consumer comes after its weight's producer.
void prepend_nodes(onnx::GraphProto& g, std::vector<onnx::NodeProto> first) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& d : first) *nodes.Add() = std::move(d);
  for (const auto& n : g.node()) *nodes.Add() = n;
  g.mutable_node()->Swap(&nodes);
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
  const int opset = onnxio::opset_version(out);
  std::vector<onnx::NodeProto> decoders;
  for (std::size_t c = 0; c < comp.codebooks.size(); ++c) {
    // Every weight indexed into this codebook, in initializer order, as ONE index sequence: one
    // unpacking and one lookup for all of them, then Split into the weights (few nodes, small file).
    struct Part {
      std::string name;
      std::vector<int64_t> dims;
      int64_t count = 0;
    };
    std::vector<Part> parts;
    std::vector<uint16_t> all;
    for (const auto& t : g->initializer()) {
      auto it = comp.indexed.find(t.name());
      if (it == comp.indexed.end() || it->second.codebook != static_cast<int>(c)) continue;
      parts.push_back({t.name(), {t.dims().begin(), t.dims().end()}, static_cast<int64_t>(it->second.indices.size())});
      all.insert(all.end(), it->second.indices.begin(), it->second.indices.end());
    }
    const std::string cb = c == 0 ? "nncompress.codebook" : "nncompress.codebook" + std::to_string(c);
    const auto& values = comp.codebooks[c];
    *g->add_initializer() = float_tensor(cb, {static_cast<int64_t>(values.size())}, values);
    if (parts.empty()) continue;
    for (const auto& part : parts) onnxio::remove_initializer(*g, part.name);  // and graph inputs (IR < 4)
    const std::string prefix = "nncompress.c" + std::to_string(c);
    const std::string idx = add_index_decoder(*g, decoders, prefix, all, values.size(), opset);
    onnx::NodeProto gather;
    gather.set_op_type("Gather");
    gather.add_input(cb);
    gather.add_input(idx);
    gather.add_output(prefix + ".values");
    decoders.push_back(gather);
    std::vector<std::string> flats;
    if (parts.size() == 1) {
      flats.push_back(prefix + ".values");
    } else {
      onnx::NodeProto split;
      split.set_op_type("Split");
      split.add_input(prefix + ".values");
      std::vector<int64_t> sizes;
      for (std::size_t k = 0; k < parts.size(); ++k) {
        flats.push_back(prefix + ".w" + std::to_string(k));
        split.add_output(flats.back());
        sizes.push_back(parts[k].count);
      }
      auto* axis = split.add_attribute();
      axis->set_name("axis");
      axis->set_type(onnx::AttributeProto::INT);
      axis->set_i(0);
      if (opset >= 13) {
        *g->add_initializer() = int64_tensor(prefix + ".split", {static_cast<int64_t>(sizes.size())}, sizes);
        split.add_input(prefix + ".split");
      } else {
        auto* attr = split.add_attribute();
        attr->set_name("split");
        attr->set_type(onnx::AttributeProto::INTS);
        for (auto n : sizes) attr->add_ints(n);
      }
      decoders.push_back(split);
    }
    for (std::size_t k = 0; k < parts.size(); ++k) {
      *g->add_initializer() =
          int64_tensor(parts[k].name + ".shape", {static_cast<int64_t>(parts[k].dims.size())}, parts[k].dims);
      onnx::NodeProto reshape;
      reshape.set_op_type("Reshape");
      reshape.add_input(flats[k]);
      reshape.add_input(parts[k].name + ".shape");
      reshape.add_output(parts[k].name);
      decoders.push_back(reshape);
    }
  }
  prepend_nodes(*g, std::move(decoders));
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
  prepend_nodes(*g, std::move(decoders));
  onnxio::sparsify_initializers(r.model, as_sparse);
  return r;
}

}  // namespace nnc::store
