// ONNX's own backend tests (Debian libonnx-testdata): every case whose operators all fall in
// the foundation's operator list runs in our engine and is compared with ONNX's expected
// outputs (rtol 1e-3, atol 1e-5). A case we cannot run must fail at load with "unsupported";
// a wrong answer or any other failure fails the suite.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <fmt/ranges.h>

#include <map>
#include <set>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/op_registry.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace fs = std::filesystem;
using namespace nnc;

namespace {

const char* kRoot = "/usr/include/onnx/backend/test/data";

const std::set<std::string> kOps = {
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh",
    "HardSigmoid", "HardSwish", "Softmax", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization",
    "Flatten", "Reshape", "Transpose", "Concat", "Squeeze", "Unsqueeze", "Pad", "Identity", "Dropout", "Constant",
    "Shape", "Gather", "ConstantOfShape"};

at::Tensor read_pb(const fs::path& p) {
  auto bytes = read_file_bytes(p);
  onnx::TensorProto t;
  NNC_CHECK_CODE(t.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())), kCorrupt, "{}: bad TensorProto",
                 p.string());
  return exec::to_tensor(t);
}

// Empty string when equal within tolerance, else a description of the mismatch.
std::string compare(const at::Tensor& got_in, const at::Tensor& want_in) {
  if (got_in.sizes() != want_in.sizes())
    return fmt::format("shape [{}] vs expected [{}]", fmt::join(got_in.sizes(), ","), fmt::join(want_in.sizes(), ","));
  if (want_in.scalar_type() == at::kBool || !at::isFloatingType(want_in.scalar_type())) {
    return torch::equal(got_in.to(want_in.scalar_type()), want_in) ? "" : "integer values differ";
  }
  auto got = got_in.to(at::kDouble), want = want_in.to(at::kDouble);
  auto bad = ((got - want).abs() > (1e-5 + 1e-3 * want.abs())) & ~(got.isnan() & want.isnan());
  if (bad.any().item<bool>())
    return fmt::format("max abs diff {:.3g}", (got - want).abs().nan_to_num(0).max().item<double>());
  return "";
}

struct Outcome {
  enum Kind { kPass, kUnsupported, kWrong } kind;
  std::string detail;
};

Outcome run_case(const fs::path& dir) {
  onnx::ModelProto model;
  try {
    model = onnxio::load_model(dir / "model.onnx");
  } catch (const Error& e) {
    return {Outcome::kWrong, std::string("load: ") + e.what()};
  }
  std::unique_ptr<exec::Engine> engine;
  try {
    engine = std::make_unique<exec::Engine>(model);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find("unsupported") != std::string::npos) return {Outcome::kUnsupported, msg};
    return {Outcome::kWrong, "compile: " + msg};
  }
  int sets = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
    ++sets;
    std::vector<at::Tensor> inputs, expected;
    try {
    for (std::size_t i = 0;; ++i) {
      fs::path p = entry.path() / fmt::format("input_{}.pb", i);
      if (!fs::exists(p)) break;
      inputs.push_back(read_pb(p));
    }
    for (std::size_t i = 0;; ++i) {
      fs::path p = entry.path() / fmt::format("output_{}.pb", i);
      if (!fs::exists(p)) break;
      expected.push_back(read_pb(p));
    }
    } catch (const std::exception& e) {
      // Test data of a type we have no tensor for (uint64, strings): unsupported, like the model.
      std::string msg = e.what();
      const bool unsupported = msg.find("unsupported") != std::string::npos;
      return {unsupported ? Outcome::kUnsupported : Outcome::kWrong, "reading test data: " + msg};
    }
    std::vector<at::Tensor> got;
    try {
      got = engine->run(inputs);
    } catch (const std::exception& e) {
      return {Outcome::kWrong, std::string("run: ") + e.what()};
    }
    if (got.size() != expected.size()) return {Outcome::kWrong, "output count differs"};
    for (std::size_t i = 0; i < got.size(); ++i) {
      auto diff = compare(got[i], expected[i]);
      if (!diff.empty()) return {Outcome::kWrong, fmt::format("output {}: {}", i, diff)};
    }
  }
  if (!sets) return {Outcome::kWrong, "no test data sets"};
  return {Outcome::kPass, ""};
}

// Cases whose every operator is in `ops` (the list, or everything the engine registers).
std::vector<fs::path> selected_cases(const std::set<std::string>& ops = kOps) {
  std::vector<fs::path> cases;
  for (const char* group : {"node", "pytorch-converted"}) {
    fs::path base = fs::path(kRoot) / group;
    if (!fs::exists(base)) continue;
    for (const auto& entry : fs::directory_iterator(base)) {
      fs::path model = entry.path() / "model.onnx";
      if (!fs::exists(model)) continue;
      onnx::ModelProto m;
      try {
        m = onnxio::load_model(model, {false});
      } catch (const Error&) {
        continue;
      }
      bool all = m.graph().node_size() > 0;
      for (const auto& n : m.graph().node()) all = all && ops.count(n.op_type()) && n.domain().empty();
      if (all) cases.push_back(entry.path());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

// Runs `cases`, writes `file` (title, summary line, per-case table) into the build directory and
// fails the test for every wrong case.
struct Tally {
  int pass = 0, unsupported = 0, wrong = 0;
};
Tally run_cases(const std::vector<fs::path>& cases, const std::string& file, const std::string& title,
                const std::string& what) {
  Tally t;
  std::string table = "| case | result | detail |\n|---|---|---|\n";
  for (const auto& c : cases) {
    auto o = run_case(c);
    const char* kinds[] = {"pass", "unsupported", "WRONG"};
    std::string name = c.parent_path().filename().string() + "/" + c.filename().string();
    table += fmt::format("| {} | {} | {} |\n", name, kinds[o.kind], o.detail.substr(0, 160));
    (o.kind == Outcome::kPass ? t.pass : o.kind == Outcome::kUnsupported ? t.unsupported : t.wrong)++;
    if (o.kind == Outcome::kWrong) ADD_FAILURE() << name << ": " << o.detail;
  }
  std::string summary =
      fmt::format("{} {}: {} pass, {} unsupported, {} wrong", cases.size(), what, t.pass, t.unsupported, t.wrong);
  std::printf("%s\n", summary.c_str());
  write_file_atomic(fs::path(NNC_BINARY_DIR) / file, "# " + title + "\n\n" + summary + "\n\n" + table);
  return t;
}

}  // namespace

TEST(Conformance, OnnxBackendCasesPassOrAreUnsupportedNeverWrong) {
  if (!fs::exists(kRoot)) GTEST_SKIP() << "libonnx-testdata is not installed";
  torch::set_num_threads(1);
  auto cases = selected_cases();
  auto t = run_cases(cases, "conformance.md", "ONNX backend conformance", "selected");
  EXPECT_GE(cases.size(), 200u);
  EXPECT_GE(t.pass, 150);
  EXPECT_EQ(t.wrong, 0);
}

// Operators the engine registers beyond the list (Erf, PRelu, LayerNormalization, ...):
// every ONNX case made only of registered operators, and not already run above, passes or
// is unsupported, never wrong.
TEST(Conformance, EveryOtherRegisteredOperatorIsNeverWrong) {
  if (!fs::exists(kRoot)) GTEST_SKIP() << "libonnx-testdata is not installed";
  torch::set_num_threads(1);
  auto registered = exec::default_registry().op_types();
  auto base = selected_cases();
  std::set<fs::path> seen(base.begin(), base.end());
  std::vector<fs::path> more;
  for (const auto& c : selected_cases(std::set<std::string>(registered.begin(), registered.end())))
    if (!seen.count(c)) more.push_back(c);
  auto t = run_cases(more, "conformance_extra.md", "ONNX backend conformance, other registered operators",
                     "more cases");
  EXPECT_GT(t.pass, 0);
  EXPECT_EQ(t.wrong, 0);
}
