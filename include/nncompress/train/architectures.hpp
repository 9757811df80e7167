#pragma once
// Reference architectures, built directly as ONNX graphs (opset 13) with PyTorch-style
// initialisation, input "input" [N,1,28,28] and output "logits" [N,classes]:
//   lenet300    784-300-100-10 MLP (266,610 parameters)
//   lenet5      Caffe LeNet-5 as in Deep Compression: conv5x5 20, pool, conv5x5 50, pool,
//               fc 500, ReLU, fc 10 (431,080 parameters)
//   resnet20    He et al.'s CIFAR ResNet-20 (16/32/64 channels, 3x3 basic blocks, 1x1
//               projection shortcuts) on 1-channel 28x28 input
//   mobilenetv2 MobileNetV2 x0.5 (inverted residuals, depthwise 3x3, ReLU6 as Clip)
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::train {

std::vector<std::string> architecture_names();

onnx::ModelProto build_architecture(const std::string& name, uint64_t seed = 0, int classes = 10,
                                    int channels = 1, int height = 28, int width = 28);

// Trainable parameter count (initializers except BatchNorm running statistics).
int64_t trainable_parameters(const onnx::ModelProto& model);

}  // namespace nnc::train
