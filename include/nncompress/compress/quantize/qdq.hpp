#pragma once
// 8-bit integer quantisation in the QDQ format runtimes execute natively: every Conv, Gemm and
// MatMul with an initializer weight gets int8 weights (symmetric, per output channel from opset
// 13, else per tensor) behind a DequantizeLinear; unless weights_only, the activations those
// operators read and write get a QuantizeLinear/DequantizeLinear pair (uint8, asymmetric, ranges
// calibrated on images) and their biases become int32 at scale input_scale x weight_scale, as
// the ONNX and ONNX Runtime conventions require. ONNX Runtime fuses such a graph into its int8
// kernels (QLinearConv, ...); the engine runs it as written.
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>


namespace nnc::compress {

struct QdqOptions {
  bool weights_only = false;          // int8 weights only; activations stay float
  std::string calibration = "minmax"; // activation ranges: minmax | percentile
  double percentile = 99.99;          // percentile calibration: the range keeps this share of |values|
  std::string keep_fp32;              // regex of node or weight names left in float ("" = none)
  bool bias_correction = true;        // Conv/Gemm biases corrected for the mean output change (calibration images)
  // Weights in [-63, 63] (7 bits): ONNX Runtime's int8 kernels on x86 CPUs without VNNI sum pairs
  // of u8 x s8 products in 16 bits, which full-range weights can saturate; 7-bit weights cannot.
  bool reduce_range = false;

  template <typename V>
  void visit(V& v) {
    v("weights_only", weights_only);
    v("calibration", calibration);
    v("percentile", percentile);
    v("keep_fp32", keep_fp32);
    v("bias_correction", bias_correction);
    v("reduce_range", reduce_range);
  }
  void validate() const;              // OptionError naming the field
};

// The QDQ model and what was done ("layers": per quantised node its weight, axis, scales;
// "activations": per quantised tensor its range, scale and zero point). `calib` are batches of
// the graph's single input (needed unless weights_only; with bias_correction they also give the
// layers' input means). BatchNorm after a convolution is folded first. Weights named in `per_tensor` get one scale for the whole tensor (a shared
// weight: each codebook value then maps to one integer, so the int8 values are as few as the
// shared ones and code as compactly).
struct QdqModel {
  onnx::ModelProto model;
  nlohmann::json report;
};
QdqModel quantize_qdq(const onnx::ModelProto& model, const QdqOptions& options, const std::vector<at::Tensor>& calib,
                      const std::set<std::string>& per_tensor = {});

}  // namespace nnc::compress
