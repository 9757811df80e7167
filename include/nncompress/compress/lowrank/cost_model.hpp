#pragma once
// Latency model for `--budget latency`: multiply-accumulates as the engine's oneDNN kernels
// execute them. Those kernels keep activations in channel-blocked layouts (16 floats per block
// with AVX-512, 8 with AVX2) and compute whole blocks, so a Conv with 4 output channels takes as
// long as one with 16: measured on ResNet-20's 32-channel layers, a factored layer (3x3 encoder
// to j channels + 1x1 decoder) takes the same time for every j from 2 to 16, 0.58 of the dense
// layer, and twice that from j = 17 (bench/RESULTS.md). FLOPs with every channel count rounded
// up to the block track measured latency; plain FLOPs do not.
#include <cstdint>

#include "nncompress/compress/lowrank/layers.hpp"

namespace nnc::lowrank {

// Channels per SIMD block on this CPU: 16 with AVX-512, else 8.
int64_t simd_channel_block();

// `channels` rounded up to a multiple of `block`.
int64_t blocked_channels(int64_t channels, int64_t block);
// The same for a layer's input channels, except that 1-3 input channels stay as they are:
// oneDNN reads such first-layer inputs in plain layout.
int64_t blocked_input_channels(int64_t channels, int64_t block);

// Blocked multiply-accumulates per sample of the layer as it is.
int64_t dense_blocked_macs(const Layer& layer, int64_t block);

// Blocked multiply-accumulates per sample of the layer factored into k groups of rank j, as
// the engine runs it: the encoder Conv (k*j outputs; with fewer than 16 outputs per group it
// runs as one dense Conv with a block-diagonal weight, src/exec/onednn.cpp) and the 1x1 decoder.
int64_t factored_blocked_macs(const Layer& layer, int64_t k, int64_t j, int64_t block);

}  // namespace nnc::lowrank
