#include "nncompress/store/model_store.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/minify.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"
#include "nncompress/store/tensor_bytes.hpp"
#include "store/packed_indices.hpp"

namespace nnc::store {
namespace {


// Decoder nodes go first, so every consumer comes after its weight's producer.
void prepend_nodes(onnx::GraphProto& g, std::vector<onnx::NodeProto> first) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& d : first) *nodes.Add() = std::move(d);
  for (const auto& n : g.node()) *nodes.Add() = n;
  g.mutable_node()->Swap(&nodes);
}

// Bytes a masked weight adds to an ONNX file: its packed mask and the nodes unpacking it.
std::size_t masked_cost(const std::string& weight, const std::vector<uint16_t>& mask, int opset) {
  onnx::GraphProto scratch;
  std::vector<onnx::NodeProto> nodes;
  add_masked_values(scratch, nodes, weight, mask, weight + ".values", opset);
  std::size_t bytes = scratch.ByteSizeLong();
  for (const auto& n : nodes) bytes += n.ByteSizeLong();
  return bytes;
}

// An int8 initializer (quantised weights, zero points) as coded integers: dense, or its
// non-zeros' positions and values when that is smaller (pruned, then quantised).
StoredTensor int8_record(const onnx::TensorProto& t) {
  StoredTensor s;
  s.name = t.name();
  s.shape.assign(t.dims().begin(), t.dims().end());
  const std::string raw = onnxio::raw_bytes(t);
  NNC_CHECK(raw.size() == static_cast<std::size_t>(s.numel()), "int8 initializer '{}': {} bytes for {} elements",
            t.name(), raw.size(), s.numel());
  s.kind = StoredTensor::Kind::kInt8;
  s.ints.assign(reinterpret_cast<const int8_t*>(raw.data()), reinterpret_cast<const int8_t*>(raw.data()) + raw.size());
  std::vector<uint64_t> positions;
  std::vector<int8_t> nonzero;
  for (std::size_t k = 0; k < s.ints.size(); ++k)
    if (s.ints[k] != 0) {
      positions.push_back(k);
      nonzero.push_back(s.ints[k]);
    }
  if (positions_payload_bytes(s.ints.size(), positions) + int8_payload_bytes(nonzero) < int8_payload_bytes(s.ints)) {
    s.kind = StoredTensor::Kind::kSparse;
    s.int8_values = true;
    s.positions = std::move(positions);
    s.ints = std::move(nonzero);
  }
  return s;
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
  // A scaled weight refers to a scaled codebook, one per (codebook, scale) in use, after the plain ones.
  std::map<std::pair<int, float>, int> scaled_ids;
  for (const auto& [name, w] : comp.indexed) {
    if (w.scale == 1.0f) continue;
    NNC_CHECK(w.codebook >= 0 && static_cast<std::size_t>(w.codebook) < comp.codebooks.size(),
              "weight '{}': codebook {} of {}", name, w.codebook, comp.codebooks.size());
    scaled_ids.emplace(std::pair{w.codebook, w.scale}, 0);
  }
  if (!scaled_ids.empty()) {
    c.scales.assign(c.codebooks.size(), {});
    for (auto& [key, id] : scaled_ids) {
      id = static_cast<int>(c.codebooks.size());
      c.codebooks.push_back(scaled_codebook(comp.codebooks[static_cast<std::size_t>(key.first)], key.second));
      c.scales.push_back({key.first, key.second});
    }
  }
  onnx::ModelProto graph_only = model;
  onnxio::minify_names(graph_only);  // while the stored weights' names are still initializers
  auto* inits = graph_only.mutable_graph()->mutable_initializer();
  std::size_t seen_indexed = 0;
  for (int i = inits->size() - 1; i >= 0; --i) {
    const auto& t = inits->Get(i);
    if (t.data_type() == onnx::TensorProto::INT8) {
      c.tensors.insert(c.tensors.begin(), int8_record(t));
      inits->DeleteSubrange(i, 1);
      continue;
    }
    if (t.data_type() != onnx::TensorProto::FLOAT) continue;
    StoredTensor s;
    s.name = t.name();
    s.shape.assign(t.dims().begin(), t.dims().end());
    auto it = comp.indexed.find(t.name());
    const bool sparse = comp.sparse.count(t.name()) && comp.sparse.at(t.name());
    // A tensor that may be sparse is stored sparse when that is smaller (positions + the
    // non-zeros' values or indices against every element's).
    if (it != comp.indexed.end()) {
      ++seen_indexed;
      NNC_CHECK(it->second.indices.size() == static_cast<std::size_t>(s.numel()),
                "weight '{}': {} indices for {} elements", t.name(), it->second.indices.size(), s.numel());
      NNC_CHECK(it->second.codebook >= 0 && static_cast<std::size_t>(it->second.codebook) < comp.codebooks.size(),
                "weight '{}': codebook {} of {}", t.name(), it->second.codebook, comp.codebooks.size());
      s.codebook = it->second.scale == 1.0f ? it->second.codebook : scaled_ids.at({it->second.codebook, it->second.scale});
      const auto& cb = c.codebooks[static_cast<std::size_t>(s.codebook)];
      const auto alphabet = static_cast<uint32_t>(cb.size());
      s.kind = StoredTensor::Kind::kIndexed;
      s.indices = it->second.indices;
      if (sparse) {
        std::vector<uint64_t> positions;
        std::vector<uint16_t> nonzero;
        for (std::size_t k = 0; k < it->second.indices.size(); ++k) {
          if (cb.at(it->second.indices[k]) == 0.0f) continue;
          positions.push_back(k);
          nonzero.push_back(it->second.indices[k]);
        }
        if (positions_payload_bytes(s.indices.size(), positions) + indexed_payload_bytes(nonzero, alphabet) <
            indexed_payload_bytes(s.indices, alphabet)) {
          s.kind = StoredTensor::Kind::kSparse;
          s.positions = std::move(positions);
          s.indices = std::move(nonzero);
        }
      }
    } else {
      auto v = onnxio::float_values(t);
      s.kind = StoredTensor::Kind::kRaw;
      if (sparse) {
        std::vector<uint64_t> positions;
        std::vector<float> nonzero;
        for (std::size_t k = 0; k < v.size(); ++k)
          if (v[k] != 0.0f) {
            positions.push_back(k);
            nonzero.push_back(v[k]);
          }
        if (positions_payload_bytes(v.size(), positions) + 4 * nonzero.size() <= 4 * v.size()) {
          s.kind = StoredTensor::Kind::kSparse;
          s.positions = std::move(positions);
          v = std::move(nonzero);
        }
      }
      s.values = std::move(v);
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
    *model.mutable_graph()->add_initializer() = t.is_int8() ? onnxio::int8_tensor(t.name, t.shape, t.decode_int8())
                                                           : onnxio::float_tensor(t.name, t.shape, t.decode(c.codebooks));
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

bool is_nnc_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "NNC\0", 4) == 0;
}

onnx::ModelProto load_any_model(const std::filesystem::path& path, const Control& control) {
  if (is_nnc_file(path)) {
    auto model = read_nnc(path);
    onnxio::check_model(model, path.string(), control);
    return model;
  }
  return onnxio::load_model(path, {}, control);
}

onnx::ModelProto codebook_onnx(const onnx::ModelProto& model, const Compression& comp) {
  onnx::ModelProto out = model;
  auto* g = out.mutable_graph();
  const int opset = onnxio::opset_version(out);
  std::vector<onnx::NodeProto> decoders;
  for (std::size_t c = 0; c < comp.codebooks.size(); ++c) {
    // Every weight indexed into this codebook, in initializer order, as ONE index sequence: one
    // unpacking and one lookup for all of them, then Split into the weights (few nodes, small file).
    // A weight that may be sparse (pruned, then shared) contributes only the indices of its
    // non-zeros, with a bitmask of where they go, when that is smaller.
    struct Part {
      std::string name;
      std::vector<int64_t> dims;
      int64_t count = 0;                // indices in the sequence
      std::vector<uint16_t> mask;       // empty: every element is in the sequence
      float scale = 1.0f;
    };
    std::vector<Part> parts;
    std::vector<uint16_t> all;
    const auto& values = comp.codebooks[c];
    const auto bits = static_cast<std::size_t>(index_bits(values.size()));
    for (const auto& t : g->initializer()) {
      auto it = comp.indexed.find(t.name());
      if (it == comp.indexed.end() || it->second.codebook != static_cast<int>(c)) continue;
      const auto& idx = it->second.indices;
      Part part{t.name(), {t.dims().begin(), t.dims().end()}, static_cast<int64_t>(idx.size()), {}, it->second.scale};
      const bool sparse = comp.sparse.count(t.name()) && comp.sparse.at(t.name());
      const auto zeros = static_cast<std::size_t>(
          std::count_if(idx.begin(), idx.end(), [&](uint16_t e) { return values.at(e) == 0.0f; }));
      if (sparse && zeros < idx.size() && maskable(idx.size(), opset)) {
        part.mask.resize(idx.size());
        for (std::size_t k = 0; k < idx.size(); ++k) part.mask[k] = values[idx[k]] != 0.0f;
        // Masked when the mask and its unpacking nodes (measured) weigh less than the zeros' indices.
        if (masked_cost(t.name(), part.mask, opset) >= zeros * bits / 8) part.mask.clear();
      }
      if (!part.mask.empty()) {
        for (std::size_t k = 0; k < idx.size(); ++k)
          if (part.mask[k]) all.push_back(idx[k]);
        part.count = static_cast<int64_t>(idx.size() - zeros);
      } else {
        all.insert(all.end(), idx.begin(), idx.end());
      }
      parts.push_back(std::move(part));
    }
    const std::string cb = c == 0 ? "nncompress.codebook" : "nncompress.codebook" + std::to_string(c);
    *g->add_initializer() = onnxio::float_tensor(cb, {static_cast<int64_t>(values.size())}, values);
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
        *g->add_initializer() = onnxio::int64_tensor(prefix + ".split", {static_cast<int64_t>(sizes.size())}, sizes);
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
      if (!parts[k].mask.empty())
        flats[k] = add_masked_values(*g, decoders, parts[k].name, parts[k].mask, flats[k], opset);
      *g->add_initializer() =
          onnxio::int64_tensor(parts[k].name + ".shape", {static_cast<int64_t>(parts[k].dims.size())}, parts[k].dims);
      onnx::NodeProto reshape;
      reshape.set_op_type("Reshape");
      reshape.add_input(flats[k]);
      reshape.add_input(parts[k].name + ".shape");
      reshape.add_output(parts[k].scale == 1.0f ? parts[k].name : parts[k].name + ".unit");
      decoders.push_back(reshape);
      if (parts[k].scale != 1.0f) {  // the weight's own scale times its shared unit values
        *g->add_initializer() = onnxio::float_tensor(parts[k].name + ".scale", {}, std::vector<float>{parts[k].scale});
        onnx::NodeProto mul;
        mul.set_op_type("Mul");
        mul.add_input(parts[k].name + ".unit");
        mul.add_input(parts[k].name + ".scale");
        mul.add_output(parts[k].name);
        decoders.push_back(mul);
      }
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
