// libFuzzer target: data::read_idx (IDX files, raw or gzip, of --data folders). Any nnc::Error
// is a refusal. Built by scripts/fuzz.sh; inputs it found are kept in tests/fuzz/idx/ and
// replayed by CTest (fuzz_replay_idx).
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "memfd_path.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/idx.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NNC_MEMORY_LIMIT", "2684354560", 1);  // 2.5 GiB resident: libFuzzer stops at 3 GiB
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nnc::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    auto t = nnc::data::read_idx(file.path());
    if (t.numel() > 0 && t.numel() < 4096) (void)t.sum();
  } catch (const nnc::Error&) {
  }
  return 0;
}
