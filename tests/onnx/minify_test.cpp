#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>
#include <string>

#include "nncompress/exec/engine.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/minify.hpp"
#include "nncompress/onnx/model_io.hpp"

using namespace nnc;
namespace fs = std::filesystem;

namespace {
const fs::path kFixtures = fs::path(NNC_SOURCE_DIR) / "tests" / "fixtures";

std::set<std::string> kept_names(const onnx::ModelProto& m) {
  std::set<std::string> s;
  for (const auto& v : m.graph().input()) s.insert(v.name());
  for (const auto& v : m.graph().output()) s.insert(v.name());
  for (const auto& t : m.graph().initializer()) s.insert(t.name());
  return s;
}

// Names the nodes of subgraphs mention (left as they are).
void subgraph_names(const onnx::GraphProto& g, std::set<std::string>& out, bool inside) {
  for (const auto& n : g.node()) {
    if (inside) out.insert(n.output().begin(), n.output().end()), out.insert(n.input().begin(), n.input().end());
    for (const auto& a : n.attribute())
      if (a.has_g()) subgraph_names(a.g(), out, true);
  }
}
}  // namespace

// PyTorch exports (long value and node names; an If with subgraphs; a local function): the minified graph computes the same outputs,
// keeps its inputs, outputs and weight names, and serialises smaller.
TEST(MinifyNames, PyTorchExportRunsTheSameWithShortValueNames) {
  for (const char* name : {"pytorch/lenet5_pt.onnx", "pytorch/cnn_bn.onnx", "zoo/lstm_rows.onnx", "zoo/lrn_if.onnx",
                           "zoo/module_functions.onnx"}) {
    SCOPED_TRACE(name);
    const auto original = onnxio::load_model(kFixtures / name);
    auto minified = original;
    onnxio::minify_names(minified);
    EXPECT_EQ(kept_names(minified), kept_names(original));
    EXPECT_LT(minified.ByteSizeLong(), original.ByteSizeLong());
    auto kept = kept_names(original);
    subgraph_names(original.graph(), kept, false);
    std::set<std::string> outputs;
    for (const auto& n : minified.graph().node()) {
      EXPECT_TRUE(n.name().empty());
      for (const auto& o : n.output()) {
        EXPECT_TRUE(outputs.insert(o).second) << "value " << o << " produced twice";
        if (!kept.count(o)) {
          EXPECT_LE(o.size(), 2u) << o;
        }
      }
    }
    EXPECT_EQ(minified.graph().value_info_size(), 0);

    exec::Engine a(original), b(minified);
    const auto shape = a.inputs().at(0).shape;
    std::vector<int64_t> dims;
    for (auto d : shape) dims.push_back(d > 0 ? d : dims.empty() ? 3 : 28);
    torch::manual_seed(1);
    const auto x = torch::randn(dims);
    const auto ya = a.run_single(x), yb = b.run_single(x);
    EXPECT_TRUE(torch::equal(ya, yb));
  }
}

// A subgraph may read an outer value by name alone: such names are left as they are.
TEST(MinifyNames, NamesASubgraphReadsAreKept) {
  onnxio::GraphBuilder b("outer", 13);
  b.add_input("x", {1, 4});
  b.add_input("c", {}, onnx::TensorProto::BOOL);
  b.add_output("y", {1, 4});
  b.add_node("Relu", {"x"}, {"/outer/relu_output_0"});
  b.add_node("Neg", {"x"}, {"/outer/neg_output_0"});
  onnxio::GraphBuilder then_b("then", 13);
  then_b.add_output("t", {1, 4});
  then_b.add_node("Identity", {"/outer/relu_output_0"}, {"t"});
  onnxio::GraphBuilder else_b("else", 13);
  else_b.add_output("e", {1, 4});
  else_b.add_node("Identity", {"/outer/neg_output_0"}, {"e"});
  b.add_node("If", {"c"}, {"/outer/if_output_0"});
  auto& ifn = *b.graph().mutable_node(2);
  auto* a1 = ifn.add_attribute();
  a1->set_name("then_branch");
  a1->set_type(onnx::AttributeProto::GRAPH);
  *a1->mutable_g() = then_b.build().graph();
  auto* a2 = ifn.add_attribute();
  a2->set_name("else_branch");
  a2->set_type(onnx::AttributeProto::GRAPH);
  *a2->mutable_g() = else_b.build().graph();
  b.add_node("Abs", {"/outer/if_output_0"}, {"y"});
  auto m = b.build();
  onnxio::minify_names(m);
  const auto& g = m.graph();
  EXPECT_EQ(g.node(0).output(0), "/outer/relu_output_0");
  EXPECT_EQ(g.node(1).output(0), "/outer/neg_output_0");
  EXPECT_EQ(g.node(2).output(0), "0");
  EXPECT_EQ(g.node(3).input(0), "0");
  EXPECT_EQ(g.node(3).output(0), "y");
  EXPECT_EQ(g.node(2).attribute(0).g().node(0).input(0), "/outer/relu_output_0");
}
