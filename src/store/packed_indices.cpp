#include "store/packed_indices.hpp"

#include <algorithm>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::store {
namespace {

using onnxio::int64_tensor;

onnx::TensorProto uint8_tensor(const std::string& name, const std::vector<int64_t>& dims, std::string raw) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::UINT8);
  for (auto d : dims) t.add_dims(d);
  t.set_raw_data(std::move(raw));
  return t;
}

bool has_initializer(const onnx::GraphProto& g, const std::string& name) {
  return onnxio::find_initializer(g, name) != nullptr;
}

onnx::NodeProto node(const std::string& op, const std::string& name, std::vector<std::string> in,
                     const std::string& out) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (auto& i : in) n.add_input(i);
  n.add_output(out);
  return n;
}

void int_attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

}  // namespace

int index_bits(std::size_t entries) {
  int b = 1;
  while ((std::size_t{1} << b) < entries) ++b;
  return b;
}

// Blocks of at most 48 bits: ONNX Runtime 1.30's ReduceSum over int64 is not exact above 2^53
// (7-bit indices in 56-bit blocks decoded with their low bits wrong), so 7 bits go into the
// stream form.
bool packable(int bits, std::size_t count, int opset) { return bits >= 1 && bits <= 6 && count >= 8 && opset >= 6; }

std::string add_unpacked_indices(onnx::GraphProto& g, std::vector<onnx::NodeProto>& nodes, const std::string& prefix,
                                 const std::vector<uint16_t>& indices, int bits, int opset) {
  NNC_CHECK(packable(bits, indices.size(), opset), "{}: {}-bit indices cannot be packed", prefix, bits);
  const int64_t b = bits, blocks = static_cast<int64_t>(indices.size()) / 8;
  // Constants shared by every tensor of this bit width.
  const std::string p = "nncompress.unpack" + std::to_string(b);
  if (!has_initializer(g, p + ".bytes")) {
    std::vector<int64_t> bytes, low, high;
    for (int64_t j = 0; j < b; ++j) bytes.push_back(int64_t{1} << (8 * j));
    for (int64_t k = 0; k < 8; ++k) {
      low.push_back(int64_t{1} << (k * b));
      high.push_back(int64_t{1} << ((k + 1) * b));
    }
    *g.add_initializer() = int64_tensor(p + ".bytes", {b}, bytes);
    *g.add_initializer() = int64_tensor(p + ".low", {1, 8}, low);
    *g.add_initializer() = int64_tensor(p + ".high", {1, 8}, high);
    *g.add_initializer() = int64_tensor(p + ".radix", {}, {int64_t{1} << b});
  }
  if (!has_initializer(g, "nncompress.flat")) *g.add_initializer() = int64_tensor("nncompress.flat", {1}, {-1});
  if (opset >= 13 && !has_initializer(g, "nncompress.axis1"))
    *g.add_initializer() = int64_tensor("nncompress.axis1", {1}, {1});

  // The whole blocks, b bytes each.
  std::string packed(static_cast<std::size_t>(blocks * b), '\0');
  for (int64_t j = 0; j < blocks; ++j) {
    uint64_t v = 0;
    for (int64_t k = 0; k < 8; ++k) v |= static_cast<uint64_t>(indices[static_cast<std::size_t>(j * 8 + k)]) << (k * b);
    for (int64_t i = 0; i < b; ++i) packed[static_cast<std::size_t>(j * b + i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  const std::string w = prefix + ".packed";
  *g.add_initializer() = uint8_tensor(w, {blocks, b}, std::move(packed));
  auto cast = node("Cast", w + ".cast", {w}, w + ".i64");
  int_attr(cast, "to", onnx::TensorProto::INT64);
  nodes.push_back(cast);
  nodes.push_back(node("Mul", w + ".bytes", {w + ".i64", p + ".bytes"}, w + ".weighted"));
  auto sum = opset >= 13 ? node("ReduceSum", w + ".sum", {w + ".weighted", "nncompress.axis1"}, w + ".blocks")
                         : node("ReduceSum", w + ".sum", {w + ".weighted"}, w + ".blocks");
  if (opset < 13) {
    auto* axes = sum.add_attribute();
    axes->set_name("axes");
    axes->set_type(onnx::AttributeProto::INTS);
    axes->add_ints(1);
  }
  int_attr(sum, "keepdims", 1);
  nodes.push_back(sum);
  nodes.push_back(node("Div", w + ".low", {w + ".blocks", p + ".low"}, w + ".shifted"));
  nodes.push_back(node("Div", w + ".high", {w + ".blocks", p + ".high"}, w + ".above"));
  nodes.push_back(node("Mul", w + ".radix", {w + ".above", p + ".radix"}, w + ".above_scaled"));
  nodes.push_back(node("Sub", w + ".digits", {w + ".shifted", w + ".above_scaled"}, w + ".digits"));
  std::string flat = w + ".flat";
  nodes.push_back(node("Reshape", flat, {w + ".digits", "nncompress.flat"}, flat));
  // The last n % 8 indices, one per byte.
  const std::size_t whole = static_cast<std::size_t>(blocks * 8);
  if (whole < indices.size()) {
    std::string tail;
    for (std::size_t i = whole; i < indices.size(); ++i) tail.push_back(static_cast<char>(indices[i]));
    const std::string t = prefix + ".tail";
    *g.add_initializer() = uint8_tensor(t, {static_cast<int64_t>(tail.size())}, tail);
    auto tcast = node("Cast", t + ".cast", {t}, t + ".i64");
    int_attr(tcast, "to", onnx::TensorProto::INT64);
    nodes.push_back(tcast);
    auto cat = node("Concat", w + ".all", {flat, t + ".i64"}, w + ".all");
    int_attr(cat, "axis", 0);
    nodes.push_back(cat);
    flat = w + ".all";
  }
  return flat;
}

bool streamable(int bits, std::size_t count, int opset) {
  return bits >= 7 && bits != 8 && bits <= 16 && count >= 1 && opset >= 11;
}

std::string add_stream_indices(onnx::GraphProto& g, std::vector<onnx::NodeProto>& nodes, const std::string& prefix,
                               const std::vector<uint16_t>& indices, int bits, int opset) {
  NNC_CHECK(streamable(bits, indices.size(), opset), "{}: {}-bit indices cannot be streamed", prefix, bits);
  const int64_t b = bits, n = static_cast<int64_t>(indices.size());
  // The bit stream, index i at bits [i*b, (i+1)*b), plus two bytes so every 3-byte window exists.
  std::string stream(static_cast<std::size_t>((n * b + 7) / 8 + 2), '\0');
  for (int64_t i = 0; i < n; ++i) {
    const int64_t at = i * b;
    const uint32_t v = static_cast<uint32_t>(indices[static_cast<std::size_t>(i)]) << (at % 8);
    for (int64_t k = 0; k < 3; ++k) stream[static_cast<std::size_t>(at / 8 + k)] |= static_cast<char>((v >> (8 * k)) & 0xff);
  }
  const std::string c = "nncompress.stream";
  if (!has_initializer(g, c + ".zero")) {
    *g.add_initializer() = int64_tensor(c + ".zero", {}, {0});
    *g.add_initializer() = int64_tensor(c + ".one", {}, {1});
    *g.add_initializer() = int64_tensor(c + ".two", {}, {2});
    *g.add_initializer() = int64_tensor(c + ".eight", {}, {8});
    *g.add_initializer() = int64_tensor(c + ".byte", {}, {256});
    *g.add_initializer() = int64_tensor(c + ".word", {}, {65536});
    *g.add_initializer() = int64_tensor(c + ".shift", {8}, {1, 2, 4, 8, 16, 32, 64, 128});
  }
  const std::string radix = c + ".radix" + std::to_string(b), width = c + ".bits" + std::to_string(b);
  if (!has_initializer(g, radix)) {
    *g.add_initializer() = int64_tensor(radix, {}, {int64_t{1} << b});
    *g.add_initializer() = int64_tensor(width, {}, {b});
  }
  const std::string w = prefix + ".stream";
  const auto stream_bytes = static_cast<int64_t>(stream.size());
  *g.add_initializer() = uint8_tensor(w, {stream_bytes}, std::move(stream));
  *g.add_initializer() = int64_tensor(w + ".count", {}, {n});
  auto add = [&](const std::string& op, const std::string& out, std::vector<std::string> in) {
    nodes.push_back(node(op, w + "." + out, std::move(in), w + "." + out));
    return w + "." + out;
  };
  auto bytes = w + ".i64";
  auto cast = node("Cast", bytes, {w}, bytes);
  int_attr(cast, "to", onnx::TensorProto::INT64);
  nodes.push_back(cast);
  auto i = add("Range", "i", {c + ".zero", w + ".count", c + ".one"});
  auto bit = add("Mul", "bit", {i, width});
  auto at = add("Div", "at", {bit, c + ".eight"});
  auto shift = add("Sub", "shift", {bit, add("Mul", "at8", {at, c + ".eight"})});
  auto b0 = add("Gather", "b0", {bytes, at});
  auto b1 = add("Gather", "b1", {bytes, add("Add", "at1", {at, c + ".one"})});
  auto b2 = add("Gather", "b2", {bytes, add("Add", "at2", {at, c + ".two"})});
  auto word = add("Add", "word", {add("Add", "low", {b0, add("Mul", "mid", {b1, c + ".byte"})}),
                                  add("Mul", "high", {b2, c + ".word"})});
  auto down = add("Div", "down", {word, add("Gather", "scale", {c + ".shift", shift})});
  return add("Sub", "index", {down, add("Mul", "over", {add("Div", "above", {down, radix}), radix})});
}

std::string add_index_decoder(onnx::GraphProto& g, std::vector<onnx::NodeProto>& nodes, const std::string& prefix,
                              const std::vector<uint16_t>& indices, std::size_t entries, int opset) {
  const int bits = index_bits(entries);
  if (packable(bits, indices.size(), opset)) return add_unpacked_indices(g, nodes, prefix, indices, bits, opset);
  if (streamable(bits, indices.size(), opset)) return add_stream_indices(g, nodes, prefix, indices, bits, opset);
  // One byte per index up to 256 entries, two beyond (and before opset 11), widened by Cast.
  const bool narrow = entries <= 256;
  std::string raw(indices.size() * (narrow ? 1 : 2), '\0');
  for (std::size_t k = 0; k < indices.size(); ++k) {
    raw[k * (narrow ? 1 : 2)] = static_cast<char>(indices[k] & 0xff);
    if (!narrow) raw[k * 2 + 1] = static_cast<char>(indices[k] >> 8);
  }
  onnx::TensorProto t;
  t.set_name(prefix + ".indices");
  t.set_data_type(narrow ? onnx::TensorProto::UINT8 : onnx::TensorProto::UINT16);
  t.add_dims(static_cast<int64_t>(indices.size()));
  t.set_raw_data(std::move(raw));
  *g.add_initializer() = std::move(t);
  auto cast = node("Cast", prefix + ".cast", {prefix + ".indices"}, prefix + ".i64");
  int_attr(cast, "to", onnx::TensorProto::INT64);
  nodes.push_back(cast);
  return prefix + ".i64";
}

bool maskable(std::size_t count, int opset) { return count >= 8 && opset >= 11; }

std::size_t masked_bytes(std::size_t count, std::size_t nonzeros) { return (count + 7) / 8 + 4 * (nonzeros + 1); }

std::string add_mask_positions(onnx::GraphProto& g, std::vector<onnx::NodeProto>& nodes, const std::string& weight,
                               const std::vector<uint16_t>& mask, int opset) {
  NNC_CHECK(maskable(mask.size(), opset), "{}: a bitmask needs 8 or more values and opset 11", weight);
  const std::string m = add_unpacked_indices(g, nodes, weight + ".mask", mask, 1, opset);
  if (!has_initializer(g, "nncompress.axis0")) *g.add_initializer() = int64_tensor("nncompress.axis0", {}, {0});
  // Rank of each kept value (1-based) where the mask is set, 0 elsewhere.
  nodes.push_back(node("CumSum", weight + ".rank", {m, "nncompress.axis0"}, weight + ".rank"));
  nodes.push_back(node("Mul", weight + ".where", {weight + ".rank", m}, weight + ".where"));
  return weight + ".where";
}

void add_masked_weight(onnx::GraphProto& g, std::vector<onnx::NodeProto>& nodes, const std::string& weight,
                       const std::vector<int64_t>& dims, const std::vector<float>& values, int opset) {
  std::vector<uint16_t> mask(values.size());
  std::vector<float> kept{0.0f};  // position 0: what every zero reads
  for (std::size_t i = 0; i < values.size(); ++i) {
    mask[i] = values[i] != 0.0f;
    if (mask[i]) kept.push_back(values[i]);
  }
  const std::string where = add_mask_positions(g, nodes, weight, mask, opset);
  *g.add_initializer() = onnxio::float_tensor(weight + ".nonzero", {static_cast<int64_t>(kept.size())}, kept);
  nodes.push_back(node("Gather", weight + ".gather", {weight + ".nonzero", where}, weight + ".values"));
  *g.add_initializer() = int64_tensor(weight + ".shape", {static_cast<int64_t>(dims.size())}, dims);
  nodes.push_back(node("Reshape", weight + ".reshape", {weight + ".values", weight + ".shape"}, weight));
}

std::string add_masked_values(onnx::GraphProto& g, std::vector<onnx::NodeProto>& nodes, const std::string& weight,
                              const std::vector<uint16_t>& mask, const std::string& nonzero_values, int opset) {
  const std::string where = add_mask_positions(g, nodes, weight, mask, opset);
  if (!has_initializer(g, "nncompress.zero1")) *g.add_initializer() = onnxio::float_tensor("nncompress.zero1", {1}, {0.0f});
  auto concat = node("Concat", weight + ".kept", {"nncompress.zero1", nonzero_values}, weight + ".kept");
  int_attr(concat, "axis", 0);
  nodes.push_back(concat);
  nodes.push_back(node("Gather", weight + ".gather", {weight + ".kept", where}, weight + ".values"));
  return weight + ".values";
}

}  // namespace nnc::store
