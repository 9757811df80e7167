#pragma once
// Loading and saving ONNX models: protobuf parse with clear errors, onnx::checker, external
// data resolved into raw_data at load (so the in-memory model is self-contained), atomic save.
#include <filesystem>
#include <memory>

#include <onnx/onnx_pb.h>

#include "nncompress/core/control.hpp"

namespace nnc::onnxio {

struct LoadOptions {
  bool run_checker = true;
};

// Parses `path`, inlines external-data tensors, runs onnx::checker. Errors name the file.
// Notes (a checker that does not know the opset, functions expanded, sparse initializers read
// as dense) go to `control`.
onnx::ModelProto load_model(const std::filesystem::path& path, const LoadOptions& options = {},
                            const Control& control = {});

// Parses a model from memory (e.g. the graph section of an .nnc container).
onnx::ModelProto parse_model(const void* data, std::size_t size, const std::string& what);

// Runs onnx::checker (full, with shape inference off); throws nnc::Error with its message.
void check_model(const onnx::ModelProto& model, const std::string& what, const Control& control = {});

// Serialises, checks and writes atomically. Never overwrites `protect` (the input path).
void save_model(const onnx::ModelProto& model, const std::filesystem::path& path,
                const std::filesystem::path& protect = {});

// The model's default-domain opset version (ai.onnx / "").
int opset_version(const onnx::ModelProto& model);

// The newest default-domain opset the linked ONNX library (and so its checker) knows.
int checker_max_opset();

}  // namespace nnc::onnxio
