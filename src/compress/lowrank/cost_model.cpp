#include "nncompress/compress/lowrank/cost_model.hpp"

namespace nnc::lowrank {

int64_t simd_channel_block() {
#if defined(__x86_64__) || defined(__i386__)
  static const int64_t block = __builtin_cpu_supports("avx512f") ? 16 : 8;
  return block;
#else
  return 8;
#endif
}

int64_t blocked_channels(int64_t channels, int64_t block) {
  return block <= 1 ? channels : (channels + block - 1) / block * block;
}

int64_t blocked_input_channels(int64_t channels, int64_t block) {
  return channels < 4 ? channels : blocked_channels(channels, block);
}

int64_t dense_blocked_macs(const Layer& layer, int64_t block) {
  return blocked_channels(layer.f, block) * blocked_input_channels(layer.c, block) * layer.kappa * layer.out_spatial;
}

int64_t factored_blocked_macs(const Layer& layer, int64_t k, int64_t j, int64_t block) {
  const int64_t rank = k * j;
  // Mirrors onednn::conv2d: grouped encoders with fewer than 16 outputs per group (and more than
  // one input per group) run as one dense Conv over all input channels.
  const bool block_diagonal = k > 1 && layer.c / k > 1 && j < 16;
  const int64_t encoder = k == 1 || block_diagonal
                              ? blocked_channels(rank, block) * blocked_input_channels(layer.c, block)
                              : k * blocked_channels(j, block) * blocked_input_channels(layer.c / k, block);
  const int64_t decoder = blocked_channels(layer.f, block) * blocked_channels(rank, block);
  return (encoder * layer.kappa + decoder) * layer.out_spatial;
}

}  // namespace nnc::lowrank
