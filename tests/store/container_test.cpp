#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>

#include "decode.h"
#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/minify.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"
#include "nncompress/store/model_store.hpp"

namespace fs = std::filesystem;
using namespace nnc;

namespace {

// A conv net whose conv/gemm weights are shared through a 40-entry codebook; "fc.w" is sparse.
struct Shared {
  onnx::ModelProto model;  // with the shared values materialised
  store::Compression comp;
};

int store_bits(int entries) {
  int b = 1;
  while ((1 << b) < entries) ++b;
  return b;
}

// `conv_scale` != 1: conv.w is the codebook's values times that per-tensor scale.
Shared shared_model(float conv_scale = 1.0f) {
  torch::manual_seed(5);
  std::vector<float> codebook;
  for (int i = 0; i < 40; ++i) codebook.push_back(-1.0f + 0.05f * static_cast<float>(i));
  codebook[20] = 0.0f;
  auto cb = torch::tensor(codebook);
  store::Compression comp;
  comp.codebooks.push_back(codebook);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 1, 8, 8});
  auto add_shared = [&](const std::string& name, std::vector<int64_t> shape, bool sparse, float scale = 1.0f) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    auto idx = torch::randint(0, 40, {n}, torch::kLong);
    if (sparse) idx = torch::where(torch::rand({n}) < 0.8, torch::full({n}, 20, torch::kLong), idx);
    auto values = cb.index_select(0, idx);
    if (scale != 1.0f) values = values * scale;
    nnc::exec::add_initializer(b, name, values.reshape(shape));
    store::IndexedWeight w;
    w.scale = scale;
    for (int64_t i = 0; i < n; ++i) w.indices.push_back(static_cast<uint16_t>(idx[i].item<int64_t>()));
    comp.indexed[name] = w;
    if (sparse) comp.sparse[name] = true;
  };
  add_shared("conv.w", {6, 1, 3, 3}, false, conv_scale);
  nnc::exec::add_initializer(b, "conv.b", torch::randn({6}));
  add_shared("fc.w", {10, 6 * 6 * 6}, true);
  nnc::exec::add_initializer(b, "fc.b", torch::randn({10}));
  nnc::exec::add_initializer(b, "shape", torch::tensor({-1, 216}, torch::kLong));
  b.add_node("Conv", {"x", "conv.w", "conv.b"}, {"c"});
  b.add_node("Relu", {"c"}, {"r"});
  b.add_node("Reshape", {"r", "shape"}, {"f"});
  b.add_node("Gemm", {"f", "fc.w", "fc.b"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 10});
  return {b.build(), comp};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::map<std::string, torch::Tensor> float_inits(const onnx::ModelProto& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& t : m.graph().initializer())
    if (t.data_type() == onnx::TensorProto::FLOAT) out[t.name()] = exec::to_tensor(t);
  return out;
}

}  // namespace

TEST(Container, RoundTripIsBitExactAndSmaller) {
  auto s = shared_model();
  store::ContainerStats stats;
  auto bytes = store::pack_model(s.model, s.comp, &stats);
  EXPECT_EQ(stats.total_bytes, bytes.size());
  // The parts account for every byte once (sparse tensors with indexed values: the indices
  // count as indices, positions as sparse); headers are a small remainder, not an underflow.
  EXPECT_EQ(stats.graph_bytes + stats.codebook_bytes + stats.index_bytes + stats.raw_bytes + stats.sparse_bytes +
                stats.header_bytes,
            stats.total_bytes);
  EXPECT_LT(stats.header_bytes, 200u);
  // A tensor that may be sparse is stored in the smaller of its forms: never larger than dense.
  auto dense_comp = s.comp;
  dense_comp.sparse.clear();
  EXPECT_LE(bytes.size(), store::pack_model(s.model, dense_comp).size());
  EXPECT_LT(bytes.size(), store::fp32_initializer_bytes(s.model) / 3);
  auto back = store::unpack_model(bytes, "mem");
  auto a = float_inits(s.model), b = float_inits(back);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  EXPECT_NO_THROW(onnxio::check_model(back, "unpacked"));
}

TEST(Container, CDecoderMatchesTheCppReader) {
  auto s = shared_model();
  auto bytes = store::pack_model(s.model, s.comp);
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  auto ref = float_inits(s.model);
  EXPECT_EQ(m.count, ref.size());
  for (std::size_t i = 0; i < m.count; ++i) {
    const auto& want = ref.at(m.tensors[i].name);
    ASSERT_EQ(static_cast<int64_t>(m.tensors[i].numel), want.numel());
    EXPECT_EQ(std::memcmp(m.tensors[i].data, want.data_ptr<float>(), m.tensors[i].numel * 4), 0) << m.tensors[i].name;
  }
  onnx::ModelProto graph;
  EXPECT_TRUE(graph.ParseFromArray(m.graph, static_cast<int>(m.graph_size)));
  nnc_free(&m);
  bytes[bytes.size() / 2] ^= 0x55;
  EXPECT_NE(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0);
  EXPECT_STREQ(err, "checksum mismatch");
}

TEST(Container, SparseTensorsWithIndexedValuesReadTheSameInBothReaders) {
  store::ContainerContent c;
  c.graph = "";
  c.codebooks = {{-0.5f, 0.0f, 0.25f, 0.75f}};
  store::StoredTensor t;
  t.name = "w";
  t.shape = {4, 50};
  t.kind = store::StoredTensor::Kind::kSparse;
  t.codebook = 0;
  for (uint64_t p = 3; p < 200; p += 7) {
    t.positions.push_back(p);
    t.indices.push_back(static_cast<uint16_t>(p % 3 == 0 ? 0 : p % 3 == 1 ? 2 : 3));
  }
  c.tensors.push_back(t);
  const auto bytes = store::encode_container(c);
  const auto back = store::decode_container(bytes, "mem");
  ASSERT_EQ(back.tensors.size(), 1u);
  const auto dense = back.tensors[0].decode(back.codebooks);
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  ASSERT_EQ(m.count, 1u);
  ASSERT_EQ(m.tensors[0].numel, 200u);
  EXPECT_EQ(std::memcmp(m.tensors[0].data, dense.data(), 200 * 4), 0);
  for (std::size_t k = 0; k < t.positions.size(); ++k)
    EXPECT_EQ(dense[t.positions[k]], c.codebooks[0][t.indices[k]]);
  EXPECT_EQ(std::count(dense.begin(), dense.end(), 0.0f), 200 - static_cast<long>(t.positions.size()));
  nnc_free(&m);
}

// Format 6: the tensors' names and shapes are deflated together with the graph, whose node
// inputs already spell them, instead of standing in every record: the file is smaller than the
// format-5 layout of the same content (the graph deflated alone, each record with its name and
// shape), both readers give the same names, shapes and values, and the names table must list
// exactly the records that follow it.
TEST(Container, NamesDeflatedWithTheGraphAreSmallerAndReadTheSameInBothReaders) {
  store::ContainerContent c;
  std::string graph;
  auto varint_bytes = [](uint64_t v) {
    std::size_t n = 1;
    for (; v >= 0x80; v >>= 7) ++n;
    return n;
  };
  std::size_t records_with_heads = 0;
  for (int i = 0; i < 24; ++i) {
    store::StoredTensor t;
    t.name = fmt::format("encoder.layers.{}.self_attention.output.dense.{}", i / 2, i % 2 ? "bias" : "weight");
    t.shape = i % 2 ? std::vector<int64_t>{3} : std::vector<int64_t>{3, 2};
    t.kind = store::StoredTensor::Kind::kRaw;
    for (int k = 0; k < t.numel(); ++k) t.values.push_back(0.5f * static_cast<float>(i * 7 + k));
    graph += fmt::format("Gemm(x{}, {}) -> x{};", i, t.name, i + 1);
    std::size_t record = varint_bytes(t.name.size()) + t.name.size() + 1 + 4 * static_cast<std::size_t>(t.numel()) + 1;
    for (auto d : t.shape) record += varint_bytes(static_cast<uint64_t>(d));
    records_with_heads += 1 + varint_bytes(record) + record;
    c.tensors.push_back(std::move(t));
  }
  c.graph = graph;
  store::ContainerContent graph_only;
  graph_only.graph = graph;
  const std::size_t format5 = store::encode_container(graph_only).size() + records_with_heads;
  store::ContainerStats stats;
  const auto bytes = store::encode_container(c, &stats);
  EXPECT_EQ(bytes[4], 6);
  EXPECT_LT(bytes.size() + 500, format5) << "format 6 " << bytes.size() << " B, format 5 " << format5 << " B";
  EXPECT_LT(stats.header_bytes, 10u * c.tensors.size()) << "the records keep no names";
  const auto back = store::decode_container(bytes, "mem");
  EXPECT_EQ(back.graph, graph);
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  ASSERT_EQ(back.tensors.size(), c.tensors.size());
  ASSERT_EQ(m.count, c.tensors.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.graph), m.graph_size), graph);
  for (std::size_t i = 0; i < m.count; ++i) {
    EXPECT_EQ(back.tensors[i].name, c.tensors[i].name);
    EXPECT_EQ(back.tensors[i].shape, c.tensors[i].shape);
    EXPECT_EQ(back.tensors[i].values, c.tensors[i].values);
    EXPECT_EQ(m.tensors[i].name, c.tensors[i].name);
    EXPECT_EQ(std::vector<int64_t>(m.tensors[i].dims, m.tensors[i].dims + m.tensors[i].rank), c.tensors[i].shape);
    EXPECT_EQ(std::vector<float>(m.tensors[i].data, m.tensors[i].data + m.tensors[i].numel), c.tensors[i].values);
  }
  nnc_free(&m);
  // A lone short name gains nothing from the table: the file stays in an older format.
  store::ContainerContent small;
  small.tensors.push_back(c.tensors[1]);
  small.tensors[0].name = "b";
  EXPECT_LT(store::encode_container(small)[4], 6);
}

TEST(Container, TruncatedCorruptAndFutureFilesAreOneLineErrors) {
  auto s = shared_model();
  auto bytes = store::pack_model(s.model, s.comp);
  auto truncated = bytes;
  truncated.resize(bytes.size() - 10);
  EXPECT_EQ(error_of([&] { store::unpack_model(truncated, "m.nnc"); }),
            "m.nnc: checksum mismatch (file is truncated or corrupt)");
  auto corrupt = bytes;
  corrupt[40] ^= 1;
  EXPECT_EQ(error_of([&] { store::unpack_model(corrupt, "m.nnc"); }),
            "m.nnc: checksum mismatch (file is truncated or corrupt)");
  auto future = bytes;
  future[4] = 9;
  EXPECT_EQ(error_of([&] { store::unpack_model(future, "m.nnc"); }),
            "m.nnc: container format version 9 is newer than this nncompress supports (6)");
  std::vector<uint8_t> junk(100, 7);
  EXPECT_EQ(error_of([&] { store::unpack_model(junk, "m.nnc"); }), "m.nnc: not an .nnc container (bad magic)");
}

TEST(CodebookOnnx, RunsInTheEngineWithIdenticalOutputs) {
  auto s = shared_model();
  auto compressed = store::codebook_onnx(s.model, s.comp);
  EXPECT_NO_THROW(onnxio::check_model(compressed, "compressed"));
  // 40 entries: 6-bit indices, 8 per 6 bytes, both weights as one sequence: 54 + 2160 = 276
  // blocks + 6 left over, one per byte. (fc.w may be stored sparse, but its mask and unpacking
  // nodes would weigh more than the indices of its zeros.)
  std::map<std::string, std::vector<int64_t>> uint8_inits;
  for (const auto& t : compressed.graph().initializer())
    if (t.data_type() == onnx::TensorProto::UINT8) uint8_inits[t.name()] = {t.dims().begin(), t.dims().end()};
  EXPECT_EQ(uint8_inits, (std::map<std::string, std::vector<int64_t>>{{"nncompress.c0.packed", {276, 6}},
                                                                      {"nncompress.c0.tail", {6}}}));
  exec::Engine a(s.model), b(compressed);
  auto x = torch::randn({3, 1, 8, 8});
  EXPECT_TRUE(torch::equal(a.run_single(x), b.run_single(x)));
}

TEST(CodebookOnnx, APrunedSharedWeightIsItsMaskAndTheIndicesOfItsNonZeros) {
  // x [N, 64] -> Gemm(w [512, 64], 90% on the codebook's zero entry) -> Gemm(v [10, 512]).
  torch::manual_seed(5);
  const std::vector<float> codebook{-0.5f, -0.25f, 0.0f, 0.25f, 0.5f};
  auto cb = torch::tensor(codebook);
  auto idx_w = torch::where(torch::rand({512 * 64}) < 0.9, torch::full({512 * 64}, 2, torch::kLong),
                            torch::randint(0, 5, {512 * 64}, torch::kLong));
  auto idx_v = torch::randint(0, 5, {10 * 512}, torch::kLong);
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 64});
  nnc::exec::add_initializer(b, "w", cb.index_select(0, idx_w).reshape({512, 64}));
  nnc::exec::add_initializer(b, "v", cb.index_select(0, idx_v).reshape({10, 512}));
  b.add_node("Gemm", {"x", "w"}, {"h"}, {{"transB", int64_t{1}}});
  b.add_node("Gemm", {"h", "v"}, {"y"}, {{"transB", int64_t{1}}});
  b.add_output("y", {-1, 10});
  auto model = b.build();
  store::Compression comp;
  comp.codebooks.push_back(codebook);
  auto as_indices = [](const torch::Tensor& t) {
    std::vector<uint16_t> v;
    for (int64_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<uint16_t>(t[i].item<int64_t>()));
    return v;
  };
  comp.indexed["w"] = {0, as_indices(idx_w)};
  comp.indexed["v"] = {0, as_indices(idx_v)};
  auto dense = store::codebook_onnx(model, comp);
  comp.sparse["w"] = true;
  auto masked = store::codebook_onnx(model, comp);
  EXPECT_NO_THROW(onnxio::check_model(masked, "masked"));
  // w: a 1-bit mask of its 32768 elements (4096 bytes) and only its non-zeros in the 3-bit
  // index sequence with v's.
  const int64_t nonzero = (idx_w != 2).sum().item<int64_t>(), sequence = nonzero + 5120;
  std::map<std::string, std::vector<int64_t>> uint8_inits;
  for (const auto& t : masked.graph().initializer())
    if (t.data_type() == onnx::TensorProto::UINT8) uint8_inits[t.name()] = {t.dims().begin(), t.dims().end()};
  std::map<std::string, std::vector<int64_t>> want{{"w.mask.packed", {4096, 1}},
                                                   {"nncompress.c0.packed", {sequence / 8, 3}}};
  if (sequence % 8) want["nncompress.c0.tail"] = {sequence % 8};
  EXPECT_EQ(uint8_inits, want);
  EXPECT_LT(masked.ByteSizeLong() * 3, dense.ByteSizeLong() * 2);
  exec::Engine a(model), m(masked), d(dense);
  auto x = torch::randn({4, 64});
  EXPECT_TRUE(torch::equal(a.run_single(x), m.run_single(x)));
  EXPECT_TRUE(torch::equal(a.run_single(x), d.run_single(x)));
}

// Every bit width: 1-6 bits packed in blocks (opset 12's ReduceSum takes its axes as an
// attribute), 8 as uint8, 7 and 9-16 as a bit stream from opset 11 (uint8/uint16 before): the
// unpacked weights are the codebook values exactly. (7-bit blocks of 56 bits were exact here but
// not in ONNX Runtime, whose int64 ReduceSum rounds above 2^53.)
TEST(CodebookOnnx, PackedIndicesOfEveryWidthUnpackExactly) {
  for (int opset : {10, 12, 13}) {
    for (int entries : {2, 3, 5, 16, 17, 100, 128, 200, 300, 5000, 65536}) {
      auto s = shared_model();
      s.model.mutable_opset_import(0)->set_version(opset);
      std::vector<float> cb(static_cast<std::size_t>(entries));
      for (int i = 0; i < entries; ++i) cb[static_cast<std::size_t>(i)] = 0.01f * static_cast<float>(i) - 0.3f;
      s.comp.codebooks[0] = cb;
      auto cbt = torch::tensor(cb);
      for (auto& [name, w] : s.comp.indexed) {
        for (std::size_t i = 0; i < w.indices.size(); ++i) w.indices[i] = static_cast<uint16_t>((i * 40503 + i / 3) % static_cast<std::size_t>(entries));
        for (auto& t : *s.model.mutable_graph()->mutable_initializer()) {
          if (t.name() != name) continue;
          std::vector<int64_t> idx(w.indices.begin(), w.indices.end());
          std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
          t = exec::from_tensor(cbt.index_select(0, torch::tensor(idx)).reshape(dims), name);
        }
      }
      auto compressed = store::codebook_onnx(s.model, s.comp);
      EXPECT_NO_THROW(onnxio::check_model(compressed, "compressed"));
      int packed = 0, streams = 0;
      const int bits = store_bits(entries);
      for (const auto& t : compressed.graph().initializer()) {
        if (t.name().ends_with(".packed")) {
          ++packed;
          EXPECT_EQ(t.dims(1), bits) << entries;
        }
        if (t.name().ends_with(".stream")) {
          ++streams;
          EXPECT_EQ(t.dims(0), (2214 * bits + 7) / 8 + 2) << entries;
        }
      }
      EXPECT_EQ(packed, bits <= 6 ? 1 : 0);
      EXPECT_EQ(streams, (bits == 7 || bits >= 9) && opset >= 11 ? 1 : 0) << entries << " entries, opset " << opset;
      exec::Engine a(s.model), b(compressed);
      auto x = torch::randn({2, 1, 8, 8});
      EXPECT_TRUE(torch::equal(a.run_single(x), b.run_single(x))) << entries << " entries, opset " << opset;
    }
  }
}

// 9-16-bit indices go into a bit stream from opset 11; before it they are uint16.
TEST(CodebookOnnx, LargeCodebooksBeforeOpset11UseUint16Indices) {
  auto s = shared_model();
  s.model.mutable_opset_import(0)->set_version(10);
  std::vector<float> big(300);
  for (int i = 0; i < 300; ++i) big[i] = static_cast<float>(i) * 0.01f;
  s.comp.codebooks[0] = big;
  for (auto& [name, w] : s.comp.indexed)
    for (auto& v : w.indices) v = static_cast<uint16_t>(v * 7);
  auto compressed = store::codebook_onnx(s.model, s.comp);
  int u16 = 0;
  for (const auto& t : compressed.graph().initializer()) u16 += t.data_type() == onnx::TensorProto::UINT16;
  EXPECT_EQ(u16, 1);
  exec::Engine e(compressed);
  auto w = e.run_single(torch::zeros({1, 1, 8, 8}));
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{1, 10}));
}

// tests/fixtures/store/shared_v1.nnc was written by the format-1 writer from shared_model():
// both readers still decode it to the same weights.
TEST(Container, FormatVersion1FilesStillDecode) {
  auto s = shared_model();
  auto bytes = read_file_bytes(fs::path(NNC_SOURCE_DIR) / "tests/fixtures/store/shared_v1.nnc");
  ASSERT_EQ(bytes[4], 1);
  auto a = float_inits(s.model), b = float_inits(store::unpack_model(bytes, "v1"));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  ASSERT_EQ(m.count, a.size());
  for (std::size_t i = 0; i < m.count; ++i)
    EXPECT_EQ(std::memcmp(m.tensors[i].data, a.at(m.tensors[i].name).data_ptr<float>(), m.tensors[i].numel * 4), 0);
  nnc_free(&m);
}

// A graph of many similarly named nodes is stored deflated; both decoders inflate it to the
// serialised graph, and a damaged deflate stream (checksum recomputed) is an error, not a crash.
TEST(Container, LargeGraphsAreDeflatedAndInflateInBothDecoders) {
  onnxio::GraphBuilder b;
  b.add_input("x", {-1, 16});
  std::string prev = "x";
  for (int i = 0; i < 300; ++i) {
    const std::string out = "block" + std::to_string(i / 3) + ".activation" + std::to_string(i % 3) + ".output";
    b.add_node(i % 2 ? "Relu" : "Sigmoid", {prev}, {out});
    prev = out;
  }
  nnc::exec::add_initializer(b, "unused.weight", torch::randn({4, 4}));
  b.add_node("Identity", {prev}, {"y"});
  b.add_output("y", {-1, 16});
  auto model = b.build();
  store::ContainerStats stats;
  auto bytes = store::pack_model(model, {}, &stats);
  onnx::ModelProto graph_only = model;
  onnxio::minify_names(graph_only);  // the writer stores short value names (docs/nnc-format.md)
  graph_only.mutable_graph()->clear_initializer();
  const std::string raw = graph_only.SerializeAsString();
  EXPECT_LT(stats.graph_bytes * 3, raw.size()) << "graph stored in " << stats.graph_bytes << " of " << raw.size() << " bytes";
  auto back = store::unpack_model(bytes, "mem");
  EXPECT_EQ(back.graph().node_size(), model.graph().node_size());
  EXPECT_TRUE(torch::equal(float_inits(back).at("unused.weight"), float_inits(model).at("unused.weight")));
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  ASSERT_EQ(m.graph_size, raw.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.graph), m.graph_size), raw);
  nnc_free(&m);
  // Damage the deflate stream (every third byte of the graph section in turn) and re-seal the
  // checksum so that only the inflaters can notice: both must agree, byte for byte.
  const std::size_t graph_end = 16 + stats.graph_bytes;  // header + section type and length, roughly
  for (std::size_t at = 16; at < graph_end; at += 3) {
    auto bad = bytes;
    bad[at] ^= 0xA5;
    const uint32_t crc = nnc_crc32(bad.data(), bad.size() - 4);
    std::memcpy(bad.data() + bad.size() - 4, &crc, 4);
    const int rc = nnc_decode(bad.data(), bad.size(), &m, err, sizeof err);
    std::string c_graph = rc == 0 ? std::string(reinterpret_cast<const char*>(m.graph), m.graph_size) : "";
    if (rc == 0) nnc_free(&m);
    std::string msg, cpp_graph;
    try {
      cpp_graph = store::decode_container(bad, "bad.nnc").graph;
    } catch (const Error& e) {
      msg = e.what();
    }
    EXPECT_EQ(rc != 0, !msg.empty()) << "byte " << at << ": the decoders disagree (" << err << " / " << msg << ")";
    EXPECT_EQ(c_graph, cpp_graph) << "byte " << at;
  }
}

// Pruned weights: a 99%-zero tensor becomes an ONNX sparse initializer (12 bytes per non-zero
// beats a bitmask), a half-zero one a bitmask + values unpacked in the graph, and at opset 10
// (no CumSum) the bitmask is not used; the engine gives the dense model's outputs every time.
TEST(PrunedOnnx, SmallestFormPerTensorAndIdenticalOutputs) {
  for (int opset : {10, 13}) {
    torch::manual_seed(3);
    onnxio::GraphBuilder b;
    b.add_input("x", {-1, 300});
    auto nearly_empty = torch::zeros({300, 200});
    nearly_empty.view({-1}).index_put_({torch::randperm(60000).narrow(0, 0, 300)}, torch::randn({300}));
    auto half = torch::randn({200, 10}) * (torch::rand({200, 10}) < 0.5);
    nnc::exec::add_initializer(b, "a", nearly_empty);
    nnc::exec::add_initializer(b, "b", half);
    b.add_node("MatMul", {"x", "a"}, {"h"});
    b.add_node("MatMul", {"h", "b"}, {"y"});
    b.add_output("y", {-1, 10});
    auto m = b.build();
    m.mutable_opset_import(0)->set_version(opset);
    auto r = store::pruned_onnx(m, {"a", "b"});
    EXPECT_NO_THROW(onnxio::check_model(r.model, "pruned"));
    EXPECT_EQ(r.sparse, 1) << opset;
    EXPECT_EQ(r.masked, opset >= 11 ? 1 : 0) << opset;
    EXPECT_EQ(r.model.graph().sparse_initializer_size(), 1);
    EXPECT_EQ(r.dense_bytes, 4u * (60000 + 2000));
    exec::Engine dense(m), compact(r.model);
    auto x = torch::randn({4, 300});
    EXPECT_TRUE(torch::equal(dense.run_single(x), compact.run_single(x))) << opset;
  }
}

// A weight with a per-tensor scale: the .nnc refers it to a scaled codebook (format 3, both
// readers give the same bits), the ONNX multiplies its unit values by the scale; a container
// without scales is not format 3 (2, 4 when a tensor's positions are coded gaps, 6 when its
// names are deflated with the graph).
TEST(Container, PerTensorScalesRoundTripInBothReadersAndInOnnx) {
  const uint8_t plain = store::pack_model(shared_model().model, shared_model().comp)[4];
  EXPECT_TRUE(plain == 2 || plain == 4 || plain == 6) << int{plain};
  auto s = shared_model(0.0173f);
  auto bytes = store::pack_model(s.model, s.comp);
  EXPECT_EQ(bytes[4], std::max<uint8_t>(3, plain));
  auto ref = float_inits(s.model);
  auto back = float_inits(store::unpack_model(bytes, "mem"));
  for (const auto& [name, t] : ref) EXPECT_TRUE(torch::equal(t, back.at(name))) << name;
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  for (std::size_t i = 0; i < m.count; ++i) {
    const auto& want = ref.at(m.tensors[i].name);
    EXPECT_EQ(std::memcmp(m.tensors[i].data, want.data_ptr<float>(), m.tensors[i].numel * 4), 0) << m.tensors[i].name;
  }
  nnc_free(&m);
  // Seven bytes more than the unscaled file: one scaled codebook section (type, length, id, f32).
  EXPECT_EQ(bytes.size(), store::pack_model(shared_model().model, shared_model().comp).size() + 7);
  auto compressed = store::codebook_onnx(s.model, s.comp);
  EXPECT_NO_THROW(onnxio::check_model(compressed, "compressed"));
  exec::Engine a(s.model), b(compressed);
  auto x = torch::randn({3, 1, 8, 8});
  EXPECT_TRUE(torch::equal(a.run_single(x), b.run_single(x)));
}

// Sparse positions of a pruned layer (2% kept, random): entropy-coded gaps (format 4) are
// smaller than varint gaps and a bitmask, and both readers give the same positions; files
// without them keep format 2.
TEST(Container, CodedGapsAreSmallerAndReadTheSameInBothReaders) {
  store::ContainerContent c;
  store::StoredTensor t;
  t.name = "fc";
  t.shape = {500, 800};
  t.kind = store::StoredTensor::Kind::kSparse;
  uint64_t state = 12345;
  for (uint64_t p = 0; p < 400000; ++p) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((state >> 33) % 50 == 0) {
      t.positions.push_back(p);
      t.values.push_back(static_cast<float>(p % 7) - 3.0f);
    }
  }
  // And gaps far apart: the largest classes.
  store::StoredTensor far = t;
  far.name = "far";
  far.shape = {int64_t{1} << 22};
  far.positions = {0, 1, 2, (uint64_t{1} << 21) + 3, (uint64_t{1} << 22) - 1};
  far.values = {1, 2, 3, 4, 5};
  c.tensors = {t, far};
  store::ContainerStats st;
  const auto bytes = store::encode_container(c, &st);
  EXPECT_EQ(bytes[4], 4) << "format 4 for coded positions";
  const std::size_t nnz = t.positions.size();
  // Varint gaps take a byte per non-zero and more (gaps of 128 and up take two), the bitmask
  // 50 KB; the entropy of the positions is H(0.02) / 0.02 = 7.07 bits per non-zero.
  const double bits = 8.0 * static_cast<double>(st.sparse_bytes - 4 * (nnz + 5)) / static_cast<double>(nnz);
  EXPECT_LT(bits, 7.07 * 1.03) << "coded gaps: " << st.sparse_bytes << " bytes";
  const auto back = store::decode_container(bytes, "mem");
  ASSERT_EQ(back.tensors.size(), 2u);
  EXPECT_EQ(back.tensors[0].positions, t.positions);
  EXPECT_EQ(back.tensors[1].positions, far.positions);
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  const auto dense = back.tensors[0].decode(back.codebooks);
  ASSERT_EQ(m.tensors[0].numel, 400000u);
  EXPECT_EQ(std::memcmp(m.tensors[0].data, dense.data(), 400000 * 4), 0);
  EXPECT_EQ(m.tensors[1].data[(uint64_t{1} << 22) - 1], 5.0f);
  nnc_free(&m);
  // Dense enough for a bitmask, or sparse enough for few varints: no coded gaps, format 2.
  c.tensors = {t};
  c.tensors[0].positions.resize(3);
  c.tensors[0].values.resize(3);
  EXPECT_EQ(store::encode_container(c)[4], 2);
}

// Quantised weights (int8 initializers) are stored as coded integers: dense, or the positions and
// values of their non-zeros when that is smaller; both readers give back the same bytes.
TEST(Container, Int8InitializersRoundTripDenseAndSparseInBothReaders) {
  torch::manual_seed(3);
  auto dense = torch::randint(-127, 128, {16, 8, 3, 3}).to(torch::kChar);
  // Pruned, then quantised: 90% zeros, the rest small integers.
  auto pruned = torch::randint(-20, 21, {64, 100}).to(torch::kChar) * (torch::rand({64, 100}) < 0.1).to(torch::kChar);
  auto zeros = torch::zeros({16}, torch::kChar);
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  auto* g = model.mutable_graph();
  g->set_name("g");
  for (auto [name, t] : {std::pair{"q.dense", dense}, std::pair{"q.pruned", pruned}, std::pair{"q.zp", zeros}})
    *g->add_initializer() = exec::from_tensor(t, name);
  *g->add_initializer() = exec::from_tensor(torch::randn({10}), "f");
  store::ContainerStats st;
  const auto bytes = store::pack_model(model, {}, &st);
  EXPECT_EQ(bytes[4], 5) << "format 5 for int8 tensors";
  // 1,152 uniform integers need ~8 bits each, the pruned one ~1 bit per element (below), plus
  // two coder tables.
  EXPECT_LT(st.int8_bytes + st.sparse_bytes, 1152 + 6400 * 1.1 / 8 + 2 * 128);
  EXPECT_EQ(st.total_bytes, bytes.size());
  const auto back = store::unpack_model(bytes, "mem");
  std::map<std::string, std::string> raw;
  for (const auto& t : back.graph().initializer()) raw[t.name()] = onnxio::raw_bytes(t);
  for (const auto& t : model.graph().initializer()) {
    EXPECT_EQ(raw.at(t.name()), onnxio::raw_bytes(t)) << t.name();
  }
  for (const auto& t : back.graph().initializer()) {
    EXPECT_EQ(t.data_type(), t.name() == "f" ? onnx::TensorProto::FLOAT : onnx::TensorProto::INT8) << t.name();
  }
  const auto content = store::decode_container(bytes, "mem");
  std::map<std::string, store::StoredTensor::Kind> kind;
  for (const auto& t : content.tensors) kind[t.name] = t.kind;
  EXPECT_EQ(kind.at("q.dense"), store::StoredTensor::Kind::kInt8);
  // The pruned one: dense coded integers (the zero symbol costs ~0.15 bit) or positions + values,
  // whichever is smaller; both near the entropy, H(0.1) + 0.1 log2(41) = 1.0 bit per element.
  EXPECT_TRUE(kind.at("q.pruned") == store::StoredTensor::Kind::kInt8 ||
              kind.at("q.pruned") == store::StoredTensor::Kind::kSparse);
  EXPECT_EQ(kind.at("q.zp"), store::StoredTensor::Kind::kSparse);
  nnc_model m;
  char err[256];
  ASSERT_EQ(nnc_decode(bytes.data(), bytes.size(), &m, err, sizeof err), 0) << err;
  ASSERT_EQ(m.count, 4u);
  for (std::size_t i = 0; i < m.count; ++i) {
    const auto& u = m.tensors[i];
    const std::string want = raw.at(u.name);
    if (std::string(u.name) == "f") {
      EXPECT_EQ(u.elem_type, 1);
      EXPECT_EQ(std::memcmp(u.data, want.data(), want.size()), 0);
      continue;
    }
    EXPECT_EQ(u.elem_type, 3) << u.name;
    EXPECT_EQ(u.data, nullptr);
    ASSERT_EQ(u.numel, want.size());
    EXPECT_EQ(std::memcmp(u.data_i8, want.data(), want.size()), 0) << u.name;
  }
  nnc_free(&m);
}
