// libFuzzer target: data::read_npy (the NPY reader of --data folders and `run --input X.npy`).
// Any nnc::Error is a refusal. Built by scripts/fuzz.sh; inputs it found are kept in
// tests/fuzz/npy/ and replayed by CTest (fuzz_replay_npy).
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "memfd_path.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/npy.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NNC_MEMORY_LIMIT", "2684354560", 1);  // 2.5 GiB resident: libFuzzer stops at 3 GiB
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nnc::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    auto t = nnc::data::read_npy(file.path());
    if (t.numel() > 0 && t.numel() < 4096) (void)t.sum();  // the values are readable
  } catch (const nnc::Error&) {
  }
  return 0;
}
