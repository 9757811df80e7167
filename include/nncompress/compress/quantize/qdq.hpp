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

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/core/control.hpp"
#include "nncompress/data/model_data.hpp"

namespace nnc::compress {

struct QdqOptions {
  bool weights_only = false;          // int8 weights only; activations stay float
  std::string calibration = "minmax"; // activation ranges: minmax | percentile
  double percentile = 99.99;          // percentile calibration: the range keeps this share of |values|
  std::string keep_fp32;              // regex of node or weight names left in float ("" = none)
  void validate() const;              // OptionError naming the field
};

// The QDQ model and what was done ("layers": per quantised node its weight, axis, scales;
// "activations": per quantised tensor its range, scale and zero point). `calib` are batches of
// the graph's single input (needed unless weights_only). BatchNorm after a convolution is
// folded first.
struct QdqModel {
  onnx::ModelProto model;
  nlohmann::json report;
};
QdqModel quantize_qdq(const onnx::ModelProto& model, const QdqOptions& options, const std::vector<at::Tensor>& calib);

// The quantize command's work (the CLI and the Python module): the model at `input` (ONNX or
// .nnc) and its data splits, calibration batches from the calibration split, the QDQ model
// written to `output` (checked, atomic, never over the input), then measured on the file as
// written against the original: test and validation top-1, the paired standard error of the
// test difference, file bytes and onnx_ratio (original fp32 parameter bytes / file bytes).
nlohmann::json quantize_job(const std::filesystem::path& input, const std::filesystem::path& output,
                            const QdqOptions& options, data::DataOptions& data, const Control& control = {});

}  // namespace nnc::compress
