// ONNX loading against hostile input, without LibTorch (also built with AddressSanitizer and
// UndefinedBehaviorSanitizer by scripts/sanitize.sh): external data that leaves the model's
// folder or is not a byte count, declared sizes checked against the bytes present, metadata.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/metadata.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace fs = std::filesystem;
using namespace nnc::onnxio;

namespace {
onnx::ModelProto tiny_model() {
  GraphBuilder b;
  b.add_input("x", {-1, 4});
  std::vector<float> w(12);
  for (int i = 0; i < 12; ++i) w[static_cast<std::size_t>(i)] = static_cast<float>(i);
  b.add_initializer(float_tensor("w", {4, 3}, w));
  b.add_node("MatMul", {"x", "w"}, {"y"});
  b.add_output("y", {-1, 3});
  return b.build();
}
fs::path tmp(const std::string& name) { return fs::temp_directory_path() / ("nnc_hostile_onnx_" + name); }
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const nnc::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

namespace {
// tiny_model() with its weight in `dir`/weights.bin (4 bytes of padding first) and `edit`
// applied to the external_data entries; returns the model's path.
fs::path external_model(const std::string& dir, const std::function<void(onnx::TensorProto&)>& edit) {
  auto m = tiny_model();
  auto& init = *m.mutable_graph()->mutable_initializer(0);
  const std::string raw = init.raw_data();
  fs::remove_all(tmp(dir));
  fs::create_directories(tmp(dir));
  nnc::write_file_atomic(tmp(dir) / "weights.bin", std::string("PAD!") + raw);
  init.clear_raw_data();
  init.set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [k, v] : {std::pair{"location", "weights.bin"}, {"offset", "4"}, {"length", "48"}}) {
    auto* kv = init.add_external_data();
    kv->set_key(k);
    kv->set_value(v);
  }
  edit(init);
  nnc::write_file_atomic(tmp(dir) / "m.onnx", m.SerializeAsString());
  return tmp(dir) / "m.onnx";
}
void set_external(onnx::TensorProto& t, const std::string& key, const std::string& value) {
  for (auto& kv : *t.mutable_external_data())
    if (kv.key() == key) kv.set_value(value);
}
}  // namespace

// Issue 23, item 8: a symlink inside the model's folder that points outside it is refused, as
// absolute and ".." locations already were; offsets and lengths that are not byte counts give a
// message naming the tensor (was: the bare "stoll").
TEST(ModelIo, ExternalDataThroughASymlinkOutOfTheFolderIsRefused) {
  const auto outside = tmp("outside.bin");
  nnc::write_file_atomic(outside, std::string(52, 'x'));
  const auto path = external_model("ext_link", [](onnx::TensorProto& t) { set_external(t, "location", "link.bin"); });
  fs::create_symlink(outside, tmp("ext_link") / "link.bin");
  EXPECT_EQ(error_of([&] { load_model(path); }),
            path.string() + ": tensor 'w' external data location 'link.bin' resolves to " + outside.string() +
                ", outside the model directory");
  // A symlink that stays inside the folder is followed.
  const auto inside = external_model("ext_in", [](onnx::TensorProto& t) { set_external(t, "location", "alias.bin"); });
  fs::create_symlink("weights.bin", tmp("ext_in") / "alias.bin");
  EXPECT_EQ(load_model(inside).graph().initializer(0).raw_data().size(), 48u);
}

TEST(ModelIo, ExternalDataOffsetsAndLengthsAreCheckedByteCounts) {
  auto p = external_model("ext_abc", [](onnx::TensorProto& t) { set_external(t, "offset", "abc"); });
  EXPECT_EQ(error_of([&] { load_model(p); }), p.string() + ": tensor 'w' external data offset 'abc' is not a byte count");
  p = external_model("ext_neg", [](onnx::TensorProto& t) { set_external(t, "length", "-1"); });
  EXPECT_EQ(error_of([&] { load_model(p); }), p.string() + ": tensor 'w' external data length '-1' is not a byte count");
  p = external_model("ext_huge", [](onnx::TensorProto& t) { set_external(t, "length", "99999999999999999999"); });
  EXPECT_EQ(error_of([&] { load_model(p); }),
            p.string() + ": tensor 'w' external data length '99999999999999999999' is not a byte count");
  p = external_model("ext_long", [](onnx::TensorProto& t) { set_external(t, "length", "1000000000000"); });
  EXPECT_EQ(error_of([&] { load_model(p); }),
            p.string() + ": tensor 'w' external data (1000000000000 bytes at 4) is truncated in " +
                (tmp("ext_long") / "weights.bin").string());
  p = external_model("ext_past", [](onnx::TensorProto& t) { set_external(t, "offset", "53"); });
  EXPECT_EQ(error_of([&] { load_model(p); }),
            p.string() + ": tensor 'w' external data offset 53 is past the end of " +
                (tmp("ext_past") / "weights.bin").string());
  // A FIFO would block the loader for ever.
  p = external_model("ext_fifo", [](onnx::TensorProto& t) { set_external(t, "location", "pipe"); });
  ASSERT_EQ(mkfifo((tmp("ext_fifo") / "pipe").c_str(), 0600), 0);
  EXPECT_EQ(error_of([&] { load_model(p); }),
            p.string() + ": tensor 'w' external data " + (tmp("ext_fifo") / "pipe").string() + " is not a regular file");
}


// Declared sizes are checked against the values present before anything is allocated.
TEST(TensorProto, RawBytesChecksDeclaredSizesBeforeAllocating) {
  onnx::TensorProto t;
  t.set_name("t");
  t.set_data_type(onnx::TensorProto::INT64);
  t.add_dims(int64_t{1} << 61);  // 2^61 * 8 bytes wraps to 0 in 64 bits
  t.set_raw_data("");
  EXPECT_EQ(error_of([&] { raw_bytes(t); }),
            "tensor 't': raw data has 0 bytes but its shape needs 2305843009213693952 elements of 8 bytes");
  t.clear_raw_data();
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_float_data(1.0f);
  EXPECT_EQ(error_of([&] { raw_bytes(t); }), "tensor 't': has 1 values but its shape needs 2305843009213693952");
}

TEST(SparseInitializers, DenseSizeBeyondMemoryIsRefusedWithTheFigure) {
  onnx::GraphProto g;
  auto* sp = g.add_sparse_initializer();
  *sp->mutable_values() = float_tensor("w", {1}, {1.0f});
  *sp->mutable_indices() = int64_tensor("", {1}, {0});
  sp->add_dims(int64_t{1} << 40);
  sp->add_dims(1024);
  const auto msg = error_of([&] { densify_sparse_initializers(g, "m.onnx"); });
  EXPECT_EQ(msg.rfind("m.onnx: sparse initializer 'w' (1125899906842624 elements) needs 4503.60 TB but ", 0), 0u) << msg;
}

TEST(SparseInitializers, AHandfulOfValuesForAGigabyteOfZerosIsRefused) {
  // Found by fuzzing (tests/fuzz/onnx_load/issue23-sparse-initializer-230m-elements-1-value.onnx):
  // 106 bytes made the loader allocate and clear 0.9 GB (seconds; a timeout under load).
  onnx::GraphProto g;
  auto* sp = g.add_sparse_initializer();
  *sp->mutable_values() = float_tensor("w", {1}, {1.0f});
  *sp->mutable_indices() = int64_tensor("", {1}, {0});
  sp->add_dims(230686719);
  EXPECT_EQ(error_of([&] { densify_sparse_initializers(g, "m.onnx"); }),
            "m.onnx: sparse initializer 'w' declares 230686719 elements for 1 values (more than 65,536 per value)");
  // Up to 2^24 elements any density is accepted.
  sp->set_dims(0, int64_t{1} << 24);
  EXPECT_EQ(densify_sparse_initializers(g, "m.onnx"), 1);
  EXPECT_EQ(g.initializer(0).dims(0), int64_t{1} << 24);
}

TEST(Metadata, BadNormalisationAndClassCountsAreClearErrors) {
  auto m = tiny_model();
  set_metadata(m, "nncompress.num_classes", "abc");
  EXPECT_EQ(error_of([&] { get_num_classes(m); }),
            "model metadata 'nncompress.num_classes' is not a class count from 1 to 9999999: 'abc'");
  set_metadata(m, "nncompress.num_classes", "0");
  EXPECT_EQ(error_of([&] { get_num_classes(m); }),
            "model metadata 'nncompress.num_classes' is not a class count from 1 to 9999999: '0'");
  set_metadata(m, "nncompress.num_classes", "10");
  EXPECT_EQ(get_num_classes(m), 10);
  set_metadata(m, "nncompress.input_mean", "0.5,nan");
  set_metadata(m, "nncompress.input_std", "1,1");
  EXPECT_EQ(error_of([&] { get_normalisation(m); }),
            "model metadata 'nncompress.input_mean' is not a list of finite numbers: '0.5,nan'");
  set_metadata(m, "nncompress.input_mean", "0.5,0.5");
  set_metadata(m, "nncompress.input_std", "1,0");
  EXPECT_EQ(error_of([&] { get_normalisation(m); }),
            "model metadata 'nncompress.input_std': std 0 must be positive (inputs are divided by it)");
}
