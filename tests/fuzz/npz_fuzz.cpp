// libFuzzer target: data::NpzFile (the NPZ reader of --data X.npz): the zip directory, zip64
// records, stored and deflated members, CRC-32, then each member's NPY. Any nnc::Error is a
// refusal. Built by scripts/fuzz.sh; inputs it found are kept in tests/fuzz/npz/ and replayed by
// CTest (fuzz_replay_npz).
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "memfd_path.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/data/npz.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NNC_MEMORY_LIMIT", "2684354560",
         1);  // 2.5 GiB resident: libFuzzer stops at 3 GiB
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nnc::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    nnc::data::NpzFile npz(file.path());
    for (const auto& name : npz.names()) {
      try {
        auto t = npz.read(name);
        if (t.numel() > 0 && t.numel() < 4096) (void)t.sum();  // the values are readable
      } catch (const nnc::Error&) {
      }
    }
  } catch (const nnc::Error&) {
  }
  return 0;
}
