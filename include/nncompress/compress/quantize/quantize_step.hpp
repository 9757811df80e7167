#pragma once
// 8-bit integer quantisation as a step (compress/quantize/qdq.hpp): the model becomes the QDQ
// model ONNX Runtime runs on its int8 kernels, with int8 weights per output channel that the
// .nnc container stores as coded integers (sparse where that is smaller). It composes after the
// other steps and is the last one:
//  - after pruning, pruned elements are exact zeros and quantise to int8 0 (the grid is
//    symmetric, so 0 is on it); the container keeps their positions instead of their bytes;
//  - after weight sharing, each shared value is snapped to its output channel's int8 grid
//    (scale = the channel's largest |value| / 127, so that value is exact), so a runtime keeps the
//    shared model in 8 bits in memory; the report says how far the values moved and what the
//    snapping cost in accuracy (validation and test top-1 before and after).
// Weights, codebooks and masks after it are int8 initializers behind DequantizeLinear, which no
// later step trains or re-compresses (recipes refuse a step after quantize).
#include <string>

#include <nlohmann/json.hpp>

#include "nncompress/compress/quantize/qdq.hpp"

namespace nnc::compress {

class CompressedModel;
class Context;

struct QuantizeStep {
  QdqOptions options_;

  QuantizeStep() = default;
  explicit QuantizeStep(QdqOptions o) : options_(std::move(o)) {}
  std::string name() const { return "quantize"; }
  nlohmann::json options() const;
  void validate() const { options_.validate(); }
  nlohmann::json apply(CompressedModel& model, Context& context) const;
};

}  // namespace nnc::compress
