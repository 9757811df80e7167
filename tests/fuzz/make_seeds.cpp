// Writes the fuzzer's seed corpus with the container writer (store::encode_container): each
// tensor kind, each index coder, every sparse position format with raw and indexed values, raw
// and deflated graphs, names deflated with the graph; and the parts that nnc_fuzz.cpp wraps into a container (a deflate stream,
// index streams of each coder, sparse positions). Usage: make_seeds DIR
#include <zlib.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

#include "nncompress/store/bitpack.hpp"
#include "nncompress/store/container.hpp"
#include "nncompress/store/entropy.hpp"

using namespace nnc::store;

namespace {

StoredTensor raw(const std::string& name, std::vector<int64_t> shape) {
  StoredTensor t;
  t.name = name;
  t.shape = std::move(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.values.push_back(std::sin(static_cast<float>(i)));
  return t;
}

// Indices i -> f(i) into codebook 0 (its size is the alphabet).
StoredTensor indexed(const std::string& name, std::vector<int64_t> shape, uint16_t (*f)(int64_t)) {
  StoredTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.kind = StoredTensor::Kind::kIndexed;
  t.codebook = 0;
  for (int64_t i = 0; i < t.numel(); ++i) t.indices.push_back(f(i));
  return t;
}

// Every stride-th element non-zero: few (varint gaps) or many (a bitmask).
StoredTensor sparse(const std::string& name, int64_t n, int64_t stride, bool with_codebook) {
  StoredTensor t;
  t.name = name;
  t.shape = {n};
  t.kind = StoredTensor::Kind::kSparse;
  for (int64_t i = 0; i < n; i += stride) {
    t.positions.push_back(static_cast<uint64_t>(i));
    if (with_codebook) t.indices.push_back(static_cast<uint16_t>(i % 5));
    else t.values.push_back(0.5f + static_cast<float>(i));
  }
  if (with_codebook) t.codebook = 0;
  return t;
}

void write(const std::string& dir, const std::string& name, const ContainerContent& c) {
  const auto bytes = encode_container(c);
  std::ofstream(dir + "/" + name + ".nnc", std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A part for nnc_fuzz.cpp: mode byte, its header fields, then the stream.
void write_part(const std::string& dir, const std::string& name, std::vector<uint8_t> head,
                const std::vector<uint8_t>& stream) {
  head.insert(head.end(), stream.begin(), stream.end());
  std::ofstream(dir + "/" + name + ".part", std::ios::binary)
      .write(reinterpret_cast<const char*>(head.data()), static_cast<std::streamsize>(head.size()));
}

std::vector<uint8_t> raw_deflate(const std::string& s) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(s.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void write_parts(const std::string& dir) {
  std::string graph;
  for (int i = 0; i < 80; ++i)
    graph += "layer" + std::to_string(i % 9) + ".conv.weight" + std::string(static_cast<std::size_t>(i % 4), 'x');
  write_part(dir, "deflate", {0, static_cast<uint8_t>(graph.size()), static_cast<uint8_t>(graph.size() >> 8)},
             raw_deflate(graph));
  std::vector<uint16_t> v;
  for (int i = 0; i < 200; ++i) v.push_back(static_cast<uint16_t>(i % 11 ? 1 : i % 6));
  const uint8_t n_lo = static_cast<uint8_t>(v.size()), n_hi = static_cast<uint8_t>(v.size() >> 8);
  write_part(dir, "bitpack", {1, 0, 6, 0, n_lo, n_hi}, bitpack(v, bits_for(6)));
  write_part(dir, "huffman", {1, 1, 6, 0, n_lo, n_hi}, huffman_encode(v, 6));
  write_part(dir, "rans", {1, 2, 6, 0, n_lo, n_hi}, rans_encode(v, 6));
  write_part(dir, "mask", {2, 0, 16, 0, 3, 0}, {0b00100101, 0});
  write_part(dir, "gaps", {2, 1, 100, 0, 3, 0}, {5, 10, 60});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  ContainerContent base;
  base.graph = "graph";
  base.codebooks.push_back({-1.0f, -0.5f, 0.0f, 0.5f, 1.0f});
  write(dir, "empty", {});
  ContainerContent c = base;
  c.tensors = {raw("r", {2, 3}), raw("scalar", {}), raw("empty", {0, 4})};
  write(dir, "raw", c);
  c = base;
  c.tensors = {indexed("uniform", {40}, [](int64_t i) { return static_cast<uint16_t>(i % 5); })};  // bit-packing
  write(dir, "bitpack", c);
  c.tensors = {indexed("skewed", {300}, [](int64_t i) { return static_cast<uint16_t>(i % 17 ? 2 : i % 5); })};
  write(dir, "huffman_or_rans", c);
  c.tensors = {indexed("constant", {4, 64}, [](int64_t) { return uint16_t{3}; })};  // rANS at zero bits per index
  write(dir, "rans_constant", c);
  c.codebooks.push_back(std::vector<float>(300));
  for (std::size_t i = 0; i < 300; ++i) c.codebooks[1][i] = static_cast<float>(i) * 0.01f;
  StoredTensor wide = indexed("wide", {500}, [](int64_t i) { return static_cast<uint16_t>((i * i) % 300); });
  wide.codebook = 1;
  c.tensors = {wide};
  write(dir, "wide_alphabet", c);
  c = base;
  c.tensors = {sparse("gaps", 200, 37, false), sparse("mask", 64, 2, false), sparse("gaps_indexed", 300, 41, true),
               sparse("mask_indexed", 40, 3, true), sparse("single", 1000, 2000, false)};
  write(dir, "sparse", c);
  c = base;
  for (int i = 0; i < 60; ++i) c.graph += "node" + std::to_string(i % 7) + ".weight/";  // deflated when smaller
  c.tensors = {raw("w", {3})};
  write(dir, "deflated_graph", c);
  c = base;  // format 3: tensors indexed into scaled codebooks (per-tensor scales of weight sharing)
  c.codebooks.push_back(scaled_codebook(base.codebooks[0], 0.25f));
  c.codebooks.push_back(scaled_codebook(base.codebooks[0], -3.0f));
  c.scales = {{}, {0, 0.25f}, {0, -3.0f}};
  StoredTensor a = indexed("scaled_a", {40}, [](int64_t i) { return static_cast<uint16_t>(i % 5); });
  StoredTensor b = sparse("scaled_b", 300, 7, true);
  a.codebook = 1;
  b.codebook = 2;
  c.tensors = {a, b};
  write(dir, "scaled_codebooks", c);
  c = base;  // format 4: positions as coded gaps (random 5% of the elements, raw and indexed values)
  StoredTensor r = sparse("coded_raw", 4000, 4000, false), q = sparse("coded_indexed", 3000, 3000, true);
  r.positions.clear(), r.values.clear(), q.positions.clear(), q.indices.clear();
  uint32_t state = 7;
  for (uint64_t i = 0; i < 4000; ++i) {
    state = state * 1664525u + 1013904223u;
    if ((state >> 16) % 20 != 0) continue;
    r.positions.push_back(i), r.values.push_back(static_cast<float>(i % 9));
    if (i < 3000) q.positions.push_back(i), q.indices.push_back(static_cast<uint16_t>(i % 5));
  }
  c.tensors = {r, q};
  write(dir, "coded_gaps", c);
  c = base;  // format 5: int8 tensors, dense (every coder) and sparse (pruned, then quantised)
  StoredTensor d, p, z;
  d.name = "int8_dense", d.shape = {8, 40}, d.kind = StoredTensor::Kind::kInt8;
  for (int64_t i = 0; i < d.numel(); ++i) d.ints.push_back(static_cast<int8_t>((i * 37) % 255 - 127));
  z = d, z.name = "int8_skewed";
  for (auto& v : z.ints) v = static_cast<int8_t>(v % 3);
  p.name = "int8_sparse", p.shape = {500}, p.kind = StoredTensor::Kind::kSparse, p.int8_values = true;
  for (uint64_t i = 0; i < 500; i += 13) p.positions.push_back(i), p.ints.push_back(static_cast<int8_t>(i % 2 ? -100 : 127));
  c.tensors = {d, z, p};
  write(dir, "int8", c);
  c = base;  // format 6: names and shapes deflated with a graph that spells them
  c.graph.clear();
  c.tensors.clear();
  for (int i = 0; i < 12; ++i) {
    c.tensors.push_back(raw("encoder.layers." + std::to_string(i) + ".dense.weight", {2, 3}));
    c.graph += "MatMul(" + c.tensors.back().name + ");";
  }
  write(dir, "names_table", c);
  write_part(dir, "int8_bitpack", {3, 0, 3, 0, 4, 0}, {0b11100100});
  write_parts(dir);
  return 0;
}
