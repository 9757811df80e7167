#pragma once
// One register function per operator family; default_registry() calls each explicitly.
#include "nncompress/exec/op_registry.hpp"

namespace nnc::exec {

// The values of an integer (or float) tensor as int64: shapes, axes, sizes read at run time.
std::vector<int64_t> to_ints(const at::Tensor& t);

// An axis in [-rank, rank) (or [-rank, rank] with `end_inclusive`, for split points such as
// Flatten's) as a non-negative index; else a kShape error naming the node.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& label, bool end_inclusive = false);
// Each axis normalised; a repeated axis is an error too.
std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const std::string& label);

void register_conv_ops(OpRegistry& r);         // Conv, ConvTranspose
void register_gemm_ops(OpRegistry& r);         // Gemm, MatMul
void register_elementwise_ops(OpRegistry& r);  // Add Sub Mul Div, activations (PRelu, Selu, Softplus...), Clip, Identity, Dropout
void register_pool_ops(OpRegistry& r);         // MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
void register_norm_ops(OpRegistry& r);         // BatchNormalization, LayerNormalization, InstanceNormalization, Softmax, LogSoftmax
void register_shape_ops(OpRegistry& r);        // Flatten Reshape Transpose Concat Squeeze Unsqueeze Pad
                                               // Shape Gather ConstantOfShape Cast Constant Einsum Reduce* ...
void register_recurrent_ops(OpRegistry& r);    // LSTM, GRU, RNN
void register_resize_ops(OpRegistry& r);       // Resize, Upsample
void register_control_flow_ops(OpRegistry& r); // If
void register_indexing_ops(OpRegistry& r);
void register_quantize_ops(OpRegistry& r);     // QuantizeLinear DequantizeLinear DynamicQuantizeLinear MatMulInteger
                                               // ConvInteger QLinearConv QLinearMatMul     // GatherElements/ND, ScatterElements/ND, ArgMax/Min, NonZero, OneHot, Trilu

}  // namespace nnc::exec
