// libFuzzer target: ONNX loading without LibTorch, as load_model does it (external data aside:
// the fuzzer must not read files): protobuf parse, model-local functions inlined, the ONNX
// checker, sparse initializers made dense, then what every command reads next: each
// initializer's bytes and the metadata (normalisation, class count). Built with AddressSanitizer
// and UndefinedBehaviorSanitizer by scripts/fuzz.sh and the sanitizer pass of scripts/test.sh;
// inputs it found are kept in tests/fuzz/onnx_load/ and replayed by CTest (fuzz_replay_onnx_load).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "nncompress/core/error.hpp"
#include "nncompress/onnx/inline_functions.hpp"
#include "nncompress/onnx/metadata.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NNC_MEMORY_LIMIT", "2684354560", 1);  // 2.5 GiB resident: libFuzzer stops at 3 GiB
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nnc::onnxio;
  try {
    auto model = parse_model(data, size, "fuzz.onnx");
    inline_local_functions(model);
    check_model(model, "fuzz.onnx");
    densify_sparse_initializers(*model.mutable_graph(), "fuzz.onnx");
    for (const auto& t : model.graph().initializer()) {
      try {
        (void)raw_bytes(t);
        if (t.data_type() == onnx::TensorProto::FLOAT) (void)float_values(t);
      } catch (const nnc::Error&) {
      }
    }
    (void)get_normalisation(model);
    (void)get_num_classes(model);
  } catch (const nnc::Error&) {
  }
  return 0;
}
