#include "nncompress/compress/context.hpp"

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/exec/engine.hpp"

namespace nnc::compress {

Context::Context(data::Splits splits, int64_t batch, uint64_t seed, Control control)
    : splits_(std::move(splits)), batch_(batch), seed_(seed), control_(std::move(control)) {}
Context::~Context() = default;
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;

std::unique_ptr<exec::Engine> Context::make_engine(const onnx::ModelProto& model) const {
  return std::make_unique<exec::Engine>(model);
}

const data::Evaluator& Context::test() const {
  if (!test_) test_ = std::make_unique<data::Evaluator>(splits_.test, batch_);
  return *test_;
}

nlohmann::json Context::normalisation_json() const { return data::normalisation_json(normalisation); }

Context load_context(CompressedModel& model, data::DataOptions options, Control control) {
  auto proto = model.model();
  data::NormalisationChoice choice;
  auto splits = data::load_splits(options, proto, control, &choice);
  model.set_prepared(std::move(proto));
  Context context(std::move(splits), options.batch, options.seed, std::move(control));
  context.normalisation = std::move(choice);
  return context;
}

}  // namespace nnc::compress
