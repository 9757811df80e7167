// nncompress._core: the library for Python (the package nncompress wraps it; python/nncompress).
// Every call takes a model file, data as NumPy arrays (used in place when their buffer allows),
// options as JSON (the step's fields, validated by the library as recipes are), and returns
// JSON text; outputs go to the paths given. The GIL is released while the library works; progress
// and notes call back into Python; Ctrl-C asks the work to stop at its next stopping point and
// then raises KeyboardInterrupt.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "nncompress/compress/compressed_model.hpp"
#include "nncompress/compress/context.hpp"
#include "nncompress/compress/job.hpp"
#include "nncompress/compress/recipe.hpp"
#include "nncompress/compress/registry.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/json_text.hpp"
#include "nncompress/data/evaluate.hpp"
#include "nncompress/data/model_data.hpp"
#include "nncompress/exec/engine.hpp"
#include "nncompress/store/model_store.hpp"

namespace py = pybind11;
using nlohmann::json;

namespace nnc::python {
namespace {

// ---- Ctrl-C -------------------------------------------------------------------------------
// While the library works (GIL released), SIGINT sets the stop flag instead of Python's handler
// (which would only run when the work returns); Python's handler is restored afterwards.
std::atomic<bool>* g_interrupt = nullptr;
extern "C" void on_sigint(int) {
  if (g_interrupt) g_interrupt->store(true, std::memory_order_relaxed);
}

class SigintToStop {
 public:
  explicit SigintToStop(StopSource& source) : source_(source) {
    // Only the main thread receives Python's signals; elsewhere Ctrl-C stays Python's.
    auto threading = py::module_::import("threading");
    if (!threading.attr("current_thread")().is(threading.attr("main_thread")())) return;
    struct sigaction act = {};
    act.sa_handler = on_sigint;
    sigemptyset(&act.sa_mask);
    g_interrupt = source_.flag();
    active_ = sigaction(SIGINT, &act, &old_) == 0;
  }
  ~SigintToStop() {
    if (active_) sigaction(SIGINT, &old_, nullptr);
    g_interrupt = nullptr;
  }
  bool interrupted() const { return active_ && source_.stop_requested(); }

 private:
  StopSource& source_;
  struct sigaction old_ = {};
  bool active_ = false;
};

// ---- progress and notes -------------------------------------------------------------------
// Calls the Python callables (GIL taken); an exception there stops the work and is raised after.
class CallbackReporter final : public Reporter {
 public:
  CallbackReporter(py::object progress, py::object note, StopSource& stop)
      : progress_(std::move(progress)), note_(std::move(note)), stop_(stop) {}
  void note(std::string_view line) override {
    if (note_.is_none()) return;
    py::gil_scoped_acquire gil;
    call_locked(note_, py::str(std::string(line)));
  }
  void progress(const ProgressEvent& e) override {
    if (progress_.is_none()) return;
    py::gil_scoped_acquire gil;
    py::dict d;
    d["what"] = std::string(e.what);
    d["done"] = e.done;
    d["total"] = e.total;
    d["seconds"] = e.seconds;
    d["message"] = std::string(e.message);
    d["finished"] = e.finished;
    call_locked(progress_, d);
  }
  void rethrow() {
    if (error_) {
      auto e = std::move(error_);
      throw *e;
    }
  }

 private:
  template <typename A>
  void call_locked(const py::object& f, A arg) {
    if (error_) return;
    try {
      f(std::move(arg));
    } catch (py::error_already_set& e) {
      error_ = std::make_unique<py::error_already_set>(std::move(e));
      stop_.request_stop();
    }
  }
  py::object progress_, note_;
  StopSource& stop_;
  std::unique_ptr<py::error_already_set> error_;
};

// What every call shares: its stop source, reporter and Ctrl-C hand-over.
struct Call {
  StopSource stop;
  CallbackReporter reporter;
  Call(py::object progress, py::object note) : reporter(std::move(progress), std::move(note), stop) {}
  Control control() { return Control{stop.token(), &reporter}; }

  // Runs `work` without the GIL; afterwards raises what a callback raised, or KeyboardInterrupt
  // when Ctrl-C stopped it.
  template <typename F>
  auto run(F&& work) {
    SigintToStop sigint(stop);
    std::optional<decltype(work())> result;
    {
      py::gil_scoped_release release;
      result.emplace(work());
    }
    reporter.rethrow();
    if (sigint.interrupted()) {
      PyErr_SetString(PyExc_KeyboardInterrupt,
                      "nncompress: stopped at the next stopping point (calling again with the same arguments "
                      "resumes from the run state and caches)");
      throw py::error_already_set();
    }
    return std::move(*result);
  }
};

// ---- data ---------------------------------------------------------------------------------
// A NumPy array as a tensor over its buffer (no copy) when it is C-contiguous uint8, float32 or
// int64; otherwise a converted copy (float64 -> float32, other integers -> int64).
at::Tensor tensor_of(const py::array& a, bool labels, const std::string& what) {
  const char kind = a.dtype().kind();
  if (labels)
    NNC_CHECK_OPTION(kind == 'i' || kind == 'u', what, "dtype {}: labels must be integers",
                     py::str(a.dtype()).cast<std::string>());
  else
    NNC_CHECK_OPTION(kind == 'f' || kind == 'u' || kind == 'i', what, "dtype {}: images must be uint8 or float32",
                     py::str(a.dtype()).cast<std::string>());
  py::array use = a;
  at::ScalarType type;
  if (labels) {
    use = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    type = at::kLong;
  } else if (a.dtype().is(py::dtype::of<uint8_t>())) {
    use = py::array_t<uint8_t, py::array::c_style>::ensure(a);
    type = at::kByte;
  } else {
    NNC_CHECK_OPTION(kind == 'f', what, "dtype {}: images must be uint8 or float32",
                     py::str(a.dtype()).cast<std::string>());
    use = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
    type = at::kFloat;
  }
  NNC_CHECK_OPTION(use, what, "cannot be read as a contiguous array");
  std::vector<int64_t> sizes(use.shape(), use.shape() + use.ndim());
  // The tensor keeps the array (and so its buffer) alive.
  auto owner = std::make_shared<py::object>(use);
  auto deleter = [owner](void*) mutable {
    py::gil_scoped_acquire gil;
    owner.reset();
  };
  return at::from_blob(const_cast<void*>(use.data()), sizes, deleter, at::TensorOptions().dtype(type));
}

std::shared_ptr<const data::DataSource> source_of(const py::object& images, const py::object& labels,
                                                  const py::object& test_images, const py::object& test_labels,
                                                  bool images_are_test, int64_t holdout) {
  auto t = [](const py::object& o, bool is_labels, const char* what) {
    return o.is_none() ? at::Tensor() : tensor_of(o.cast<py::array>(), is_labels, what);
  };
  at::Tensor x = t(images, false, "images"), y = t(labels, true, "labels");
  at::Tensor tx = t(test_images, false, "test_images"), ty = t(test_labels, true, "test_labels");
  if (images_are_test) return std::make_shared<const data::DataSource>(data::make_source("arrays", {}, {}, x, y));
  return std::make_shared<const data::DataSource>(data::make_source("arrays", x, y, tx, ty, holdout));
}

data::DataOptions data_options(const json& o) {
  data::DataOptions d;
  d.data = "arrays";
  if (o.contains("mean") && !o["mean"].is_null()) d.mean = o["mean"].get<std::vector<float>>();
  if (o.contains("std") && !o["std"].is_null()) d.std = o["std"].get<std::vector<float>>();
  d.holdout = o.value("holdout", d.holdout);
  d.holdout_given = o.contains("holdout") && !o["holdout"].is_null();
  d.val = o.value("val", d.val);
  d.calib = o.value("calib", d.calib);
  d.val_given = o.contains("val") && !o["val"].is_null();
  d.calib_given = o.contains("calib") && !o["calib"].is_null();
  d.seed = o.value("seed", d.seed);
  d.batch = o.value("batch", d.batch);
  d.validate();
  return d;
}

// Float images are used as given (already normalised) unless mean and std are: normalisation is
// inferred, or read from the model's metadata, only for uint8 pixels.
void as_given_if_float(data::DataOptions& d) {
  const auto& s = *d.source;
  const auto& x = s.train_x.defined() ? s.train_x : s.test_x;
  if (x.scalar_type() == at::kByte || !d.mean.empty() || !d.std.empty()) return;
  d.mean = {0.0f};
  d.std = {1.0f};
  d.record_given = false;
}

// The summary's normalisation says so when float arrays were used as given.
void label_as_given(json& j, const data::DataOptions& d) {
  if (!d.record_given && j.contains("normalisation")) j["normalisation"]["source"] = "float arrays used as given";
}

void set_threads(const json& o) {
  const int threads = o.value("threads", 0);
  NNC_CHECK_OPTION(threads >= 0, "threads", "{}: must not be negative (0: as it is)", threads);
  if (threads > 0) at::set_num_threads(threads);
}

// ---- calls --------------------------------------------------------------------------------

// evaluate(model_path, images, labels, options_json, progress, note) -> JSON text
std::string evaluate(const std::string& model_path, const py::object& images, const py::object& labels,
                     const std::string& options, py::object progress, py::object note) {
  const auto o = json::parse(options);
  auto data = data_options(o);
  data.source = source_of(images, labels, py::none(), py::none(), true, data.holdout);
  as_given_if_float(data);
  set_threads(o);
  Call call(std::move(progress), std::move(note));
  return call.run([&] {
    const auto control = call.control();
    auto model = store::load_any_model(model_path, control);
    data::NormalisationChoice norm;
    auto test = data::load_test_split(data, model, control, &norm);
    exec::Engine engine(model);
    data::Evaluator eval(std::move(test), data.batch);
    const auto m = eval.evaluate(engine);
    json j{{"top1", m.top1},         {"top5", m.top5}, {"loss", m.loss},
           {"macro_f1", m.macro_f1}, {"n", m.n},       {"seconds", m.seconds},
           {"normalisation", data::normalisation_json(norm)}};
    label_as_given(j, data);
    return nnc::json_text(j);
  });
}

struct JobArgs {
  std::string model, onnx, nnc, report;
  bool compact_pruned = false;
};

JobArgs job_args(const json& o) {
  JobArgs a;
  a.model = o.at("model").get<std::string>();
  a.onnx = o.at("onnx").get<std::string>();
  a.nnc = o.value("nnc", "");
  a.report = o.value("report", "");
  a.compact_pruned = o.value("compact_pruned", false);
  return a;
}

// The data of a call: options from the job, the arrays as their source, the threads set.
data::DataOptions call_data(const json& o, const py::object& images, const py::object& labels,
                            const py::object& test_images, const py::object& test_labels) {
  auto data = data_options(o);
  data.source = source_of(images, labels, test_images, test_labels, false, data.holdout);
  as_given_if_float(data);
  set_threads(o);
  return data;
}

// The summary says which split stood for the test split and how float arrays were read.
json labelled(json j, const data::DataOptions& data) {
  j["test_split"] = data.source->test_is_holdout ? "holdout" : "test";
  label_as_given(j, data);
  return j;
}

// The frame of run_step and run_compress: outputs checked before any work, then without the GIL
// the model and its context loaded and `work(model, context)` done.
template <typename Work>
std::string run_on_model(const json& o, const compress::JobOutputs& outputs, data::DataOptions& data,
                         py::object progress, py::object note, Work work) {
  compress::check_outputs(outputs);
  Call call(std::move(progress), std::move(note));
  return call.run([&] {
    const auto control = call.control();
    auto model = compress::CompressedModel::load(outputs.input, control);
    auto context = compress::load_context(model, data, control);
    if (o.contains("cache_dir")) context.cache_dir = o["cache_dir"].get<std::string>();
    return nnc::json_text(labelled(work(model, context), data));
  });
}

// run_step(step_name, step_options_json, job_json, images, labels, test_images, test_labels,
//          progress, note) -> JSON text
std::string run_step(const std::string& name, const std::string& step_options, const std::string& job,
                     const py::object& images, const py::object& labels, const py::object& test_images,
                     const py::object& test_labels, py::object progress, py::object note) {
  const auto o = json::parse(job);
  const auto step = compress::make_step(name, json::parse(step_options));  // OptionError naming the field
  auto data = call_data(o, images, labels, test_images, test_labels);
  const auto a = job_args(o);
  const compress::JobOutputs outputs{a.model, a.onnx, a.nnc, {}, a.compact_pruned};
  return run_on_model(o, outputs, data, std::move(progress), std::move(note),
                      [&](compress::CompressedModel& model, compress::Context& context) {
                        return compress::run_step_job(step, model, context, outputs);
                      });
}

// run_compress(recipe_text_or_empty, recipe_path_or_empty, job_json, ...) -> JSON text
std::string run_compress(const std::string& recipe_text, const std::string& recipe_path, const std::string& job,
                         const py::object& images, const py::object& labels, const py::object& test_images,
                         const py::object& test_labels, py::object progress, py::object note) {
  const auto o = json::parse(job);
  compress::ComposeOptions co;
  if (o.contains("max_drop") && !o["max_drop"].is_null()) co.max_drop = o["max_drop"].get<double>();
  co.size = o.value("size", "");
  const auto recipe = !recipe_path.empty()   ? compress::read_recipe(recipe_path)
                      : !recipe_text.empty() ? compress::parse_recipe(recipe_text, "recipe")
                      : co.size.empty()      ? compress::default_recipe()
                                             : compress::size_recipe();
  auto data = call_data(o, images, labels, test_images, test_labels);
  const auto a = job_args(o);
  const compress::JobOutputs outputs{a.model, a.onnx, a.nnc, a.report, a.compact_pruned};
  return run_on_model(o, outputs, data, std::move(progress), std::move(note),
                      [&](compress::CompressedModel& model, compress::Context& context) {
                        return compress::run_compose_job(recipe, co, model, context, outputs,
                                                         o.value("command", "nncompress.compress"));
                      });
}

std::string methods() {
  json out = json::array();
  for (const auto& s : compress::registered_steps())
    out.push_back({{"name", s.name}, {"summary", s.summary}, {"paper", s.paper}, {"defaults", s.defaults()}});
  return nnc::json_text(out);
}

std::string recipe_text(bool by_size) {
  return by_size ? compress::size_recipe_text() : compress::default_recipe_text();
}

}  // namespace
}  // namespace nnc::python

PYBIND11_MODULE(_core, m) {
  using namespace nnc::python;
  m.doc() = "nncompress's C++ library (use the package nncompress)";
  // nncompress.Error: every failure the library names; OptionError (also a ValueError): a bad
  // option, with the option's field in .field.
  static py::exception<nnc::Error> error(m, "Error");
  py::object value_error = py::reinterpret_borrow<py::object>(PyExc_ValueError);
  static py::object option_error = py::reinterpret_steal<py::object>(
      PyErr_NewException("nncompress._core.OptionError", py::make_tuple(error, value_error).release().ptr(), nullptr));
  m.attr("OptionError") = option_error;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const nnc::OptionError& e) {
      py::object exc = option_error(e.what());
      exc.attr("field") = e.field();
      exc.attr("code") = nnc::error_code_name(e.code());
      PyErr_SetObject(option_error.ptr(), exc.ptr());
    } catch (const nnc::Error& e) {
      py::object exc = py::handle(error.ptr())(e.what());
      exc.attr("code") = nnc::error_code_name(e.code());
      PyErr_SetObject(error.ptr(), exc.ptr());
    } catch (const nlohmann::json::exception& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("evaluate", &evaluate, py::arg("model"), py::arg("images"), py::arg("labels"), py::arg("options"),
        py::arg("progress"), py::arg("note"));
  m.def("run_step", &run_step, py::arg("name"), py::arg("step_options"), py::arg("job"), py::arg("images"),
        py::arg("labels"), py::arg("test_images"), py::arg("test_labels"), py::arg("progress"), py::arg("note"));
  m.def("run_compress", &run_compress, py::arg("recipe_text"), py::arg("recipe_path"), py::arg("job"),
        py::arg("images"), py::arg("labels"), py::arg("test_images"), py::arg("test_labels"), py::arg("progress"),
        py::arg("note"));
  m.def("methods", &methods);
  m.def("recipe_text", &recipe_text, py::arg("by_size") = false);
  m.attr("version") = NNC_VERSION;
}
