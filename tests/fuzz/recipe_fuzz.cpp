// libFuzzer target: compress::parse_recipe (the YAML/JSON recipes of `compress --recipe`, and the
// Python module's recipe dicts): every step is looked up in the registry and built with its
// options, so option parsing of every step is reached too. Any nnc::Error is a refusal; anything
// else (another exception, a crash, a stack overflow) is a finding. The inputs found so far are
// kept in tests/fuzz/recipe/ and replayed by CTest (fuzz_replay_recipe). The sanitizer build
// (tests/sanitize/) has no compression steps, so this target runs in the normal build's replay
// and under libFuzzer only in a build that links nnc_compress with -fsanitize=fuzzer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nncompress/compress/recipe.hpp"
#include "nncompress/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto recipe = nnc::compress::parse_recipe(text, "fuzz.yaml");
    (void)recipe.to_json();
  } catch (const nnc::Error&) {
  }
  return 0;
}
