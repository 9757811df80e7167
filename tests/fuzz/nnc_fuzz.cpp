// libFuzzer target: the two .nnc readers must agree on every input (tests/fuzz/differential.hpp).
// Built and run by scripts/fuzz.sh; crash inputs are kept in tests/fuzz/nnc/ and replayed by
// test_store (FuzzCorpus.BothReadersAgreeOnEveryFoundInput).
//
// An input that starts with the magic is a whole container. Any other input is one part that
// random bytes rarely reach through a container, wrapped into a format-2 container so that both
// readers decode it (its first byte picks which):
//   0: u16 graph size, then a raw DEFLATE stream    -> a deflated graph section
//   1: u8 coder, u16 alphabet (mod 4097), u16 count, stream -> a codebook and an indexed tensor
//   2: u8 position format, u16 numel, u16 nnz, positions -> a sparse tensor with raw values
//   3: u8 coder, u8 alphabet - 1, u16 count, stream -> an int8 tensor (in a format-5 container)
// NNC_FUZZ_DUMP=FILE writes the container (sealed) that an input becomes, to keep it in
// tests/fuzz/nnc/.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "differential.hpp"

namespace {

void varint(std::vector<uint8_t>& o, uint64_t v) {
  for (; v >= 0x80; v >>= 7) o.push_back(static_cast<uint8_t>(v | 0x80));
  o.push_back(static_cast<uint8_t>(v));
}

void section(std::vector<uint8_t>& o, uint8_t type, const std::vector<uint8_t>& payload) {
  o.push_back(type);
  varint(o, payload.size());
  o.insert(o.end(), payload.begin(), payload.end());
}

unsigned u16(const uint8_t* p) { return p[0] | (p[1] << 8); }

// The container an input stands for (before sealing), see the top of the file.
std::vector<uint8_t> container_of(const uint8_t* data, size_t size) {
  if (size >= 4 && std::memcmp(data, "NNC\0", 4) == 0) return {data, data + size};
  std::vector<uint8_t> out{'N', 'N', 'C', 0, 2, 0, 0, 0};
  if (size < 6) return out;
  const int mode = data[0] % 4;
  const std::vector<uint8_t> rest(data + (mode == 0 ? 3 : 6), data + size);
  std::vector<uint8_t> p;
  if (mode == 0) {
    varint(p, u16(data + 1));
    p.insert(p.end(), rest.begin(), rest.end());
    out.push_back(1);
    section(out, 4, p);
  } else if (mode == 1) {
    const unsigned alphabet = u16(data + 2) % 4097, count = u16(data + 4);  // a small codebook keeps it fast
    varint(p, alphabet);
    for (unsigned i = 0; i < alphabet; ++i) p.insert(p.end(), {0, 0, static_cast<uint8_t>(i), 0x3f});
    out.push_back(2);
    section(out, 2, p);
    p = {1, 'w', 1};
    varint(p, count);
    p.insert(p.end(), {1, 0, static_cast<uint8_t>(data[1] % 3)});
    varint(p, alphabet);
    varint(p, rest.size());
    p.insert(p.end(), rest.begin(), rest.end());
    section(out, 3, p);
  } else if (mode == 3) {
    out[4] = 5;
    p = {1, 'q', 1};
    varint(p, u16(data + 4));
    p.insert(p.end(), {3, static_cast<uint8_t>(data[1] % 3)});
    varint(p, data[2] + 1u);
    varint(p, rest.size());
    p.insert(p.end(), rest.begin(), rest.end());
    out.push_back(1);
    section(out, 3, p);
  } else {
    const unsigned numel = u16(data + 2), nnz = u16(data + 4) % (numel + 1);
    p = {1, 'w', 1};
    varint(p, numel);
    p.push_back(2);
    varint(p, nnz);
    p.push_back(data[1] & 1);
    varint(p, rest.size());
    p.insert(p.end(), rest.begin(), rest.end());
    p.push_back(0);
    p.resize(p.size() + std::size_t{nnz} * 4, 0x3f);
    out.push_back(1);
    section(out, 3, p);
  }
  out.resize(out.size() + 4);  // the trailer, sealed below
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Re-sealed: a mutation rarely keeps the CRC, and the checks behind it are what is fuzzed.
  const auto bytes = nnc::fuzz::sealed(container_of(data, size));
  if (const char* dump = std::getenv("NNC_FUZZ_DUMP"))
    std::ofstream(dump, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  const std::string diff = nnc::fuzz::readers_disagree(bytes);
  if (!diff.empty()) {
    std::fprintf(stderr, "the .nnc readers disagree: %s\n", diff.c_str());
    std::abort();
  }
  return 0;
}
