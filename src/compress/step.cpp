#include "nncompress/compress/step.hpp"

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"

namespace nnc::compress {

nlohmann::json Step::apply(CompressedModel& model, Context& context) const {
  auto report = impl_->apply(model, context);
  model.record(name(), options(), report);
  return report;
}

nlohmann::json apply_steps(const std::vector<Step>& steps, CompressedModel& model, Context& context) {
  nlohmann::json reports = nlohmann::json::array();
  for (const auto& s : steps) {
    if (context.stop_requested()) break;
    reports.push_back(s.apply(model, context));
  }
  return reports;
}

}  // namespace nnc::compress
