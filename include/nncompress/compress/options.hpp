#pragma once
// Options of compression steps. Each options struct lists its fields once, in a visit():
//   template <typename V> void visit(V& v) { v("max_drop", max_drop); v("pop", pop); ... }
// from which they are read from JSON (recipes, Python keywords; unknown names and wrong types
// are errors naming the field) and written to JSON (reports, histories). Field names are
// snake_case; the CLI flag of a field is the same name with dashes.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/core/error.hpp"
#include "nncompress/core/json_text.hpp"

namespace nnc::compress {

// Reads the fields a visit() names from a JSON object; finish() refuses names it did not read.
class OptionReader {
 public:
  OptionReader(const nlohmann::json& j, std::string what);
  template <typename T>
  void operator()(std::string_view field, T& value) {
    known_.push_back(std::string(field));
    if (!j_.contains(field)) return;
    read_.push_back(std::string(field));
    const auto& v = j_.at(std::string(field));
    if constexpr (is_optional<T>::value) {
      if (v.is_null()) {
        value.reset();
      } else {
        typename T::value_type inner{};
        OptionReader single(nlohmann::json{{std::string(field), v}}, what_);
        single(field, inner);
        value = inner;
      }
    } else if constexpr (requires(T& t, OptionReader& r) { t.visit(r); }) {
      if (!v.is_object()) fail_option(field, "{}: expected an object of named fields", nnc::json_text(v));
      OptionReader nested(v, what_ + "." + std::string(field));
      value.visit(nested);
      nested.finish();
    } else {
      if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) fail_option(field, "{}: expected true or false", nnc::json_text(v));
      } else if constexpr (std::is_integral_v<T>) {
        if (!v.is_number_integer()) fail_option(field, "{}: expected an integer", nnc::json_text(v));
        if constexpr (std::is_unsigned_v<T>)
          if (v.is_number_integer() && !v.is_number_unsigned()) fail_option(field, "{}: must not be negative", nnc::json_text(v));
      } else if constexpr (std::is_floating_point_v<T>) {
        if (!v.is_number()) fail_option(field, "{}: expected a number", nnc::json_text(v));
      } else if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string()) fail_option(field, "{}: expected a string", nnc::json_text(v));
      }
      try {
        value = v.get<T>();
      } catch (const nlohmann::json::exception&) {
        fail_option(field, "{}: wrong type", nnc::json_text(v));
      }
    }
  }
  void finish() const;

 private:
  template <typename T>
  struct is_optional : std::false_type {};
  template <typename T>
  struct is_optional<std::optional<T>> : std::true_type {};

  nlohmann::json j_;
  std::string what_;
  std::vector<std::string> read_, known_;
};

class OptionWriter {
 public:
  template <typename T>
  void operator()(std::string_view field, const T& value) {
    if constexpr (std::is_class_v<T> && requires(T& t, OptionWriter& w) { t.visit(w); }) {
      OptionWriter nested;
      const_cast<T&>(value).visit(nested);
      j_[std::string(field)] = nested.json();
    } else if constexpr (requires { value.has_value(); *value; }) {
      if (value)
        (*this)(field, *value);
      else
        j_[std::string(field)] = nullptr;
    } else {
      j_[std::string(field)] = value;
    }
  }
  const nlohmann::json& json() const { return j_; }

 private:
  nlohmann::json j_ = nlohmann::json::object();
};

template <typename Options>
Options options_from_json(const nlohmann::json& j, const std::string& what) {
  Options o;
  if (j.is_null()) return o;
  NNC_CHECK(j.is_object(), "{} options: expected an object of named fields, got {}", what, nnc::json_text(j));
  OptionReader r(j, what);
  o.visit(r);
  r.finish();
  return o;
}

template <typename Options>
nlohmann::json options_to_json(const Options& o) {
  OptionWriter w;
  const_cast<Options&>(o).visit(w);
  return w.json();
}

// Validates a nested options struct, naming its fields under `prefix` ("finetune.lr").
template <typename O>
void validate_nested(const O& options, std::string_view prefix) {
  try {
    options.validate();
  } catch (const OptionError& e) {
    throw OptionError(std::string(prefix) + "." + e.field(), e.detail(), e.code());
  }
}

}  // namespace nnc::compress
