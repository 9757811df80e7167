#pragma once
// `fit`: the most accurate model whose .nnc file fits a given size, by joint pruning and
// quantisation learned under the size constraint (Yang, Gui, Zhu, Liu, "Automatic Neural Network
// Compression by Sparsity-Quantization Joint Learning: A Constrained Optimization-based
// Approach", CVPR 2020). ADMM on the engine's autograd:
//   W: trained on loss + rho/2 ||W - V + U||^2 (an epoch of SGD),
//   V = projection of W + U onto the constraint set (fit/projection.hpp: which weights stay and
//       each layer's bit width, a knapsack over the container's bytes),
//   U += W - V, rho grows each epoch;
// then a hard projection of W, and fine-tuning with masks and assignments fixed that trains
// each layer's codebook values (the finetune step). The size that counts is the real file's:
// the graph, headers and fp32 leftovers (biases) are measured by encoding, and the final file is
// checked against the cap (a projection over the cap is redone with the overshoot taken off).
// BatchNorm after a convolution is folded into it first, as exporters do.
#include <string>

#include <nlohmann/json.hpp>

#include "nncompress/compress/finetune/finetune_step.hpp"

namespace nnc::compress {

class CompressedModel;
class Context;

struct FitOptions {
  std::string size;             // cap on the .nnc file: "12KB", "12288" (KB = 1,024 bytes); required
  int epochs = 12;              // ADMM epochs on sparsity and quantisation together
  int masked_epochs = 8;        // then ADMM epochs on quantisation alone, the projection's sparsity held
  double lr = 0.01;             // SGD with Nesterov momentum, cosine schedule
  double rho = 0.05;            // ADMM penalty of each phase's first epoch (at most 0.5 / lr)
  double rho_growth = 1.5;      // rho's factor per epoch
  // Random crops/flips (auto, on, off as in finetune): off, because short distilled training
  // from a trained model lost with them (LeNet-5 into 12 KB: 89.66% with, 90.56% without).
  std::string augment = "off";
  double distill = 0.5;         // distillation from the original model during ADMM
  // Per-layer codebooks of 2^bits levels. At least 4 bits: the option table, measured one-shot,
  // favours many weights at few levels, where retraining favours fewer weights at more levels
  // (LeNet-5 into 12 KB: 89.64% / 90.27% / 90.56% with at least 2 / 3 / 4 bits; LeNet-300 at 60x:
  // 87.40% / 88.08% / 88.19%).
  int min_bits = 4, max_bits = 8;
  int densities = 20;           // kept fractions per layer, geometric from 1 to min_density
  double min_density = 1e-3;
  bool biases = true;           // biases are quantised too (else stored as fp32)
  bool prune_biases = false;    // ... and pruned (output allocation; the Euclidean one always may)
  // The other learned parameters (LayerNorm scales and shifts, position embeddings, class tokens:
  // onnxio::other_parameters) are quantised like biases too (else stored as fp32).
  bool other = true;
  // A pruned model's exact zeros stay zeros: ADMM trains with them held and the projection keeps
  // only nonzero weights, so fit prunes further and quantises what pruning left (false: fit
  // starts from the weights as dense, and pruned weights may grow back).
  bool keep_zeros = true;
  // How bytes are allocated across tensors: output (each tensor's (kept, bits) options measured
  // once by the network's output distortion, fit/output_distortion.hpp; the projection keeps the
  // largest weights on k-means levels within the chosen option) | euclidean (every projection
  // re-allocates by squared weight error, as published).
  std::string distortion = "output";
  // knapsack: each tensor its own option | uniform (the baseline): one kept fraction and bit
  // width for all, the pair of least distortion that fits.
  std::string allocation = "knapsack";
  // output distortion: measured again after each joint epoch until the budget reaches the cap
  // (false: once, on the starting weights).
  bool remeasure = true;
  // The budget shrinks geometrically from anneal_from x the cap's payload to the cap over the
  // first `anneal` of the ADMM epochs (0: the cap from the start, as published).
  double anneal = 0.5;
  double anneal_from = 4.0;
  FinetuneOptions finetune{6, 3e-4, 0.0, "off", 0.5, 4.0, true};  // after the hard projection
  // Report folder ("" = none): layers.csv, admm.csv, admm.svg, fit.json (fit/report.hpp).
  std::string report_dir;

  template <typename V>
  void visit(V& v) {
    v("size", size);
    v("epochs", epochs);
    v("masked_epochs", masked_epochs);
    v("lr", lr);
    v("rho", rho);
    v("rho_growth", rho_growth);
    v("augment", augment);
    v("distill", distill);
    v("min_bits", min_bits);
    v("max_bits", max_bits);
    v("densities", densities);
    v("min_density", min_density);
    v("biases", biases);
    v("prune_biases", prune_biases);
    v("other", other);
    v("keep_zeros", keep_zeros);
    v("distortion", distortion);
    v("allocation", allocation);
    v("remeasure", remeasure);
    v("anneal", anneal);
    v("anneal_from", anneal_from);
    v("finetune", finetune);
    v("report_dir", report_dir);
  }
  void validate() const;  // OptionError naming the field
};

struct FitStep {
  FitOptions options_;

  FitStep() = default;
  explicit FitStep(FitOptions o) : options_(std::move(o)) {}
  std::string name() const { return "fit"; }
  nlohmann::json options() const;
  void validate() const { options_.validate(); }
  nlohmann::json apply(CompressedModel& model, Context& context) const;
};

}  // namespace nnc::compress
