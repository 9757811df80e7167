// libFuzzer target: an ONNX model all the way into the engine, as `nncompress eval` and `run`
// take it (external data aside): parse, local functions inlined, the checker (refusing what it
// refuses for the opsets it knows, as load_model does), sparse initializers made dense, the
// engine built (every node's attributes validated, constant sub-graphs evaluated), then one run
// on an input of ones of each declared shape (unknown dimensions 1) when that input is small.
// Any nnc::Error is a refusal; so is a LibTorch error (one line, as the CLI prints it). Built
// with AddressSanitizer and UndefinedBehaviorSanitizer against Debian's LibTorch (not itself
// instrumented) by scripts/fuzz.sh; inputs it found are kept in tests/fuzz/onnx_engine/ and
// replayed by CTest (fuzz_replay_onnx_engine).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/inline_functions.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NNC_MEMORY_LIMIT", "2684354560", 1);  // 2.5 GiB resident: libFuzzer stops at 3 GiB
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nnc;
  try {
    auto model = onnxio::parse_model(data, size, "fuzz.onnx");
    onnxio::inline_local_functions(model);
    onnxio::check_model(model, "fuzz.onnx");
    onnxio::densify_sparse_initializers(*model.mutable_graph(), "fuzz.onnx");
    exec::Engine engine(std::move(model));
    std::vector<at::Tensor> inputs;
    for (const auto& in : engine.inputs()) {
      std::vector<int64_t> shape;
      int64_t numel = 1;
      for (auto d : in.shape) {
        shape.push_back(d < 0 ? 1 : d);
        numel *= std::min<int64_t>(shape.back(), 1 << 16);
        if (numel > 4096) return 0;
      }
      const auto type = in.onnx_type ? exec::scalar_type_from_onnx(in.onnx_type, in.name) : at::kFloat;
      inputs.push_back(at::ones(shape, at::TensorOptions().dtype(type)));
    }
    (void)engine.run(inputs);
  } catch (const std::exception&) {
  }
  return 0;
}
