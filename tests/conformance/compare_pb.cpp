// compare_pb GOT.pb WANT.pb: exit 0 when the tensors are equal within rtol 1e-3, atol 1e-5.
#include <ATen/ATen.h>

#include <cstdio>

#include "nncompress/core/files.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace {
at::Tensor read_pb(const char* p) {
  auto bytes = nnc::read_file_bytes(p);
  onnx::TensorProto t;
  t.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  return nnc::exec::to_tensor(t);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  auto got = read_pb(argv[1]).to(at::kDouble), want = read_pb(argv[2]).to(at::kDouble);
  if (got.sizes() != want.sizes()) {
    std::printf("shape differs\n");
    return 1;
  }
  bool ok = !((got - want).abs() > (1e-5 + 1e-3 * want.abs())).any().item<bool>();
  std::printf("%s\n", ok ? "equal" : "values differ");
  return ok ? 0 : 1;
}
