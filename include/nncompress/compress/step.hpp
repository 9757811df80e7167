#pragma once
// One interface for every compression step (share, prune, lowrank, finetune, ...), type-erased
// in the manner of pagmo::problem / pagmo::algorithm: any type with
//   std::string name() const;                                  // "share"
//   nlohmann::json options() const;                            // its options, by field name
//   void validate() const;                                     // throws OptionError naming the field
//   nlohmann::json apply(CompressedModel&, Context&) const;    // does the work, returns its report
// is a step. A Step validates on construction, so a step that exists has valid options.
// apply() changes the model in place and returns a JSON-able report; on a stop request it
// returns at its next stopping point with what it has (the report says "stopped": true).
#include <concepts>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace nnc::compress {

class CompressedModel;
class Context;

template <typename T>
concept StepType = std::copy_constructible<T> && requires(const T& t, CompressedModel& m, Context& c) {
  { t.name() } -> std::convertible_to<std::string>;
  { t.options() } -> std::convertible_to<nlohmann::json>;
  t.validate();
  { t.apply(m, c) } -> std::convertible_to<nlohmann::json>;
};

class Step {
 public:
  // (Step itself first: checking StepType<Step> would ask whether Step is copy-constructible
  // through this very constructor, a recursion clang refuses.)
  template <typename T>
    requires(!std::is_same_v<std::decay_t<T>, Step> && StepType<std::decay_t<T>>)
  Step(T&& step) : impl_(std::make_shared<Holder<std::decay_t<T>>>(std::forward<T>(step))) {
    impl_->validate();
  }

  std::string name() const { return impl_->name(); }
  nlohmann::json options() const { return impl_->options(); }
  void validate() const { impl_->validate(); }
  // Applies the step and records its report in the model's history.
  nlohmann::json apply(CompressedModel& model, Context& context) const;

  // The step as its own type, or null (pagmo's extract()).
  template <typename T>
  const T* extract() const {
    auto* h = dynamic_cast<const Holder<T>*>(impl_.get());
    return h ? &h->step : nullptr;
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual std::string name() const = 0;
    virtual nlohmann::json options() const = 0;
    virtual void validate() const = 0;
    virtual nlohmann::json apply(CompressedModel& m, Context& c) const = 0;
  };
  template <typename T>
  struct Holder final : Base {
    explicit Holder(T s) : step(std::move(s)) {}
    std::string name() const override { return step.name(); }
    nlohmann::json options() const override { return step.options(); }
    void validate() const override { step.validate(); }
    nlohmann::json apply(CompressedModel& m, Context& c) const override { return step.apply(m, c); }
    T step;
  };
  std::shared_ptr<const Base> impl_;
};

// Applies the steps in order (each report goes into the model's history); stops early when a
// stop is requested. Returns the reports, one per step applied.
nlohmann::json apply_steps(const std::vector<Step>& steps, CompressedModel& model, Context& context);

}  // namespace nnc::compress
