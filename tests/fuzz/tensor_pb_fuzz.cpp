// libFuzzer target: the ONNX test-data tensor reader of `nncompress run --input X.pb` (a
// TensorProto parsed from the file, then exec::to_tensor), and the LibTorch-free reading of the
// same tensor (onnxio::raw_bytes). Any nnc::Error is a refusal. Built by scripts/fuzz.sh; inputs
// it found are kept in tests/fuzz/tensor_pb/ and replayed by CTest (fuzz_replay_tensor_pb).
#include <ATen/ATen.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "nncompress/core/error.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NNC_MEMORY_LIMIT", "2684354560", 1);  // 2.5 GiB resident: libFuzzer stops at 3 GiB
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= INT_MAX) return 0;
  onnx::TensorProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;  // `run`: "not a TensorProto (.pb) file"
  if (proto.name().empty()) proto.set_name("input.pb");
  try {
    (void)nnc::exec::to_tensor(proto);
  } catch (const nnc::Error&) {
  }
  try {
    (void)nnc::onnxio::raw_bytes(proto);
  } catch (const nnc::Error&) {
  }
  return 0;
}
