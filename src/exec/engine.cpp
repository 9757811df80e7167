#include "nncompress/exec/engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "exec/fusion.hpp"
#include "exec/memory_guard.hpp"
#include "exec/onednn.hpp"
#include "exec/plan.hpp"
#include "exec/subgraph.hpp"
#include "nncompress/core/allocator.hpp"
#include "nncompress/core/blas_threads.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/core/memory.hpp"
#include "nncompress/onnx/graph_builder.hpp"
#include "nncompress/onnx/model_io.hpp"
#include "nncompress/onnx/sparse_initializers.hpp"
#include "nncompress/exec/tensor_proto.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::exec {
namespace {

ValueInfo value_info(const onnx::ValueInfoProto& v) {
  ValueInfo info;
  info.name = v.name();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    info.onnx_type = tt.elem_type();
    if (tt.has_shape()) {
      for (const auto& d : tt.shape().dim()) info.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
  }
  return info;
}

std::string shape_str(at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ",")); }
std::string shape_str(const std::vector<int64_t>& s) {
  std::vector<std::string> parts;
  for (auto d : s) parts.push_back(d < 0 ? "?" : std::to_string(d));
  return fmt::format("[{}]", fmt::join(parts, ","));
}

// Kahn's algorithm over node inputs; ONNX requires sorted graphs but tolerating unsorted ones
// costs nothing at load.
std::vector<int> topological_order(const onnx::GraphProto& g, const std::set<std::string>& available) {
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& o : g.node(i).output())
      if (!o.empty()) producer[o] = i;
  std::vector<int> indeg(g.node_size(), 0);
  std::vector<std::vector<int>> users(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) {
    std::vector<std::string> reads(g.node(i).input().begin(), g.node(i).input().end());
    for (auto& name : implicit_inputs(g.node(i))) reads.push_back(std::move(name));  // If branches
    for (const auto& in : reads) {
      if (in.empty() || available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end()) {
        fail(ErrorCode::kCorrupt, "node '{}' ({}): input '{}' is not produced by any node, input or initializer",
             g.node(i).name(), g.node(i).op_type(), in);
      }
      ++indeg[i];
      users[it->second].push_back(i);
    }
  }
  // The lowest-numbered ready node first: a sorted graph keeps its order. A heap, not a sort
  // per node (quadratic for graphs of many independent nodes).
  std::vector<int> order;
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < g.node_size(); ++i)
    if (!indeg[i]) ready.push(i);
  while (!ready.empty()) {
    int n = ready.top();
    ready.pop();
    order.push_back(n);
    for (int u : users[n])
      if (--indeg[u] == 0) ready.push(u);
  }
  NNC_CHECK_CODE(order.size() == static_cast<std::size_t>(g.node_size()), kCorrupt,
                 "graph has a cycle; cannot order its nodes");
  return order;
}

}  // namespace

struct Engine::Impl {
  onnx::ModelProto model;
  int opset = 0;
  const OpRegistry* registry = nullptr;
  EngineOptions options;
  WeightStore store;
  std::vector<ValueInfo> inputs, outputs;
  std::vector<int> input_slots, output_slots;
  bool probabilities = false;  // the first output comes from a Softmax
  std::unordered_map<std::string, int> slot_of;
  std::vector<int> slot_weight;         // slot -> store index, or -1
  std::vector<at::Tensor> slot_const;   // slot -> folded constant (undefined if not constant)
  std::vector<Step> infer_plan, train_plan;
  std::set<std::size_t> not_trainable;  // store indices (BatchNorm running statistics, non-float)
  bool training = false;
  bool use_onednn = false;
  uint64_t generation = 0;
  double batchnorm_momentum = -1;  // see RunContext::batchnorm_momentum
  std::vector<std::vector<double>>* step_ms = nullptr;  // set by Engine::profile

  int slot(const std::string& name) {
    auto it = slot_of.find(name);
    if (it != slot_of.end()) return it->second;
    int s = static_cast<int>(slot_weight.size());
    slot_of[name] = s;
    slot_weight.push_back(-1);
    slot_const.emplace_back();
    return s;
  }

  bool is_constant_slot(int s) const {
    if (slot_const[s].defined()) return true;
    // Non-float initializers (shapes, axes, indices) are constants; float ones are weights
    // that compression swaps, so they are never folded away.
    return slot_weight[s] >= 0 && !at::isFloatingType(store.at(slot_weight[s]).scalar_type());
  }
  at::Tensor constant_value(int s) const {
    return slot_const[s].defined() ? slot_const[s] : store.at(slot_weight[s]);
  }

  void compile();
  Step build_step(const onnx::NodeProto& node);
  void finish_plan(std::vector<Step>& plan);
  std::vector<at::Tensor> execute(const std::vector<Step>& plan, const std::vector<at::Tensor>& in);
  std::vector<at::Tensor> bind(const std::vector<at::Tensor>& in);  // slots with inputs and weights
  // Runs plan[from, to) over `slots`.
  void run_steps(const std::vector<Step>& plan, std::vector<at::Tensor>& slots, std::size_t from, std::size_t to);
  // A cached prefix's slots with the store's current weights (the cached values are shared,
  // never modified in place).
  std::vector<at::Tensor> resume(const PrefixCache& cache) const;
  // The slots of each batch of the single graph input (BatchNorm recalibration feeds one).
  std::vector<std::vector<at::Tensor>> bind_batches(const std::vector<at::Tensor>& batches);
  // BatchNorm recalibration: train_plan[from, to) over each batch's slots.
  void recalibrate(std::vector<std::vector<at::Tensor>>& slots, std::size_t from, std::size_t to);
};

struct PrefixCache {
  std::size_t step = 0;
  std::vector<at::Tensor> slots;
};

Step Engine::Impl::build_step(const onnx::NodeProto& node) {
  NodeInfo info(node, opset, [this](const std::string& name) -> std::optional<at::Tensor> {
    auto it = slot_of.find(name);
    if (it == slot_of.end()) return std::nullopt;
    int s = it->second;
    if (slot_const[s].defined()) return slot_const[s];
    if (slot_weight[s] >= 0) return store.at(slot_weight[s]);
    return std::nullopt;
  });
  if (!node.domain().empty() && node.domain() != "ai.onnx") {
    info.unsupported(fmt::format("operator domain '{}'", node.domain()));
  }
  const OpBuilder* builder = registry->find(node.op_type(), opset);
  if (!builder) info.unsupported(fmt::format("operator {} (opset {})", node.op_type(), opset));
  check_node_arity(info);
  Step step;
  try {
    step.fn = (*builder)(info);
  } catch (const nnc::Error&) {
    throw;
  } catch (const std::exception& e) {  // a LibTorch error reading a constant input or attribute
    const std::string msg = e.what();
    fail(ErrorCode::kCorrupt, "{}: {}", info.label(), msg.substr(0, msg.find('\n')));
  }
  step.label = info.label();
  step.nodes = {onnxio::node_label(node)};
  step.onednn_inputs = registry->traits(node.op_type(), opset).onednn;
  for (const auto& i : node.input()) step.in.push_back(i.empty() ? -1 : slot(i));
  for (const auto& i : implicit_inputs(node)) step.in.push_back(slot(i));  // read by subgraphs, after the explicit inputs
  for (const auto& o : node.output()) step.out.push_back(o.empty() ? -1 : slot(o));
  return step;
}

void Engine::Impl::compile() {
  auto& g = *model.mutable_graph();
  opset = onnxio::opset_version(model);
  // Up to opset 22: what changed in 19-22 for registered operators is handled (AveragePool
  // dilations, Resize half_pixel_symmetric, Gelu; otherwise new element types).
  NNC_CHECK_CODE(opset >= 1 && opset <= 22, kUnsupported, "model opset {} is unsupported (nncompress runs opsets 1-22)",
                 opset);
  registry = options.registry ? options.registry : &default_registry();
  // Sparse initializers run as the dense tensors they stand for (load_model does the same).
  onnxio::densify_sparse_initializers(g, "model");

  std::set<std::string> available;
  for (const auto& init : g.initializer()) {
    int s = slot(init.name());
    store.add(init.name(), exec::to_tensor(init));
    slot_weight[s] = static_cast<int>(store.size() - 1);
    available.insert(init.name());
  }
  for (const auto& in : g.input()) {
    if (available.count(in.name())) continue;  // IR<4 models list initializers as inputs
    NNC_CHECK_CODE(!in.type().has_sequence_type() && !in.type().has_optional_type() && !in.type().has_map_type(),
                   kUnsupported, "graph input '{}': unsupported non-tensor type (sequence/optional/map)", in.name());
    inputs.push_back(value_info(in));
    // An element type we have no tensor type for (bfloat16, strings, uint64, ...) fails at load.
    if (inputs.back().onnx_type != 0) exec::scalar_type_from_onnx(inputs.back().onnx_type, "graph input '" + in.name() + "'");
    input_slots.push_back(slot(in.name()));
    available.insert(in.name());
  }
  for (const auto& out : g.output()) outputs.push_back(value_info(out));
  if (g.output_size() > 0) {
    std::map<std::string, const onnx::NodeProto*> producer;
    for (const auto& node : g.node())
      for (const auto& o : node.output()) producer[o] = &node;
    static const std::set<std::string> shape_only{"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"};
    auto it = producer.find(g.output(0).name());
    while (it != producer.end() && shape_only.count(it->second->op_type()) && it->second->input_size() > 0)
      it = producer.find(it->second->input(0));
    probabilities = it != producer.end() && it->second->op_type() == "Softmax";
  }

  // BatchNormalization running statistics are state, not trainable parameters.
  for (const auto& node : g.node()) {
    if (node.op_type() != "BatchNormalization") continue;
    for (int i = 3; i < std::min(5, node.input_size()); ++i)
      if (store.contains(node.input(i))) not_trainable.insert(store.index_of(node.input(i)));
  }
  for (std::size_t i = 0; i < store.size(); ++i)
    if (!at::isFloatingType(store.at(i).scalar_type())) not_trainable.insert(i);

  auto order = topological_order(g, available);
  std::vector<Step> plain;
  std::vector<const onnx::NodeProto*> plain_nodes;
  {
    c10::NoGradGuard no_grad;
    for (int idx : order) {
      const auto& node = g.node(idx);
      Step step = build_step(node);
      bool foldable = node.op_type() != "Dropout" && node.op_type() != "RandomNormal";
      for (int s : step.in) foldable = foldable && (s < 0 || is_constant_slot(s));
      if (foldable) {
        // Constant sub-graph (shape arithmetic, Constant nodes): evaluate once at load.
        std::vector<at::Tensor> ins, outs(step.out.size());
        for (int s : step.in) ins.push_back(s < 0 ? at::Tensor() : constant_value(s));
        RunContext ctx;
        try {
          step.fn(ctx, ins, outs);
        } catch (const nnc::Error& e) {
          if (e.code() == ErrorCode::kResource) fail(ErrorCode::kResource, "{}: {}", step.label, e.what());
          throw;
        } catch (const std::bad_alloc&) {
          fail(ErrorCode::kResource, "{}: out of memory ({} available)", step.label,
               format_bytes(available_memory_bytes()));
        } catch (const std::exception& e) {
          fail(ErrorCode::kCorrupt, "{}: cannot evaluate constant node: {}", step.label,
               std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
        }
        for (std::size_t k = 0; k < step.out.size(); ++k)
          if (step.out[k] >= 0) slot_const[step.out[k]] = outs[k];
        continue;
      }
      plain.push_back(std::move(step));
      plain_nodes.push_back(&node);
    }
  }
  for (const auto& out : g.output()) {
    auto it = slot_of.find(out.name());
    NNC_CHECK_CODE(it != slot_of.end(), kCorrupt, "graph output '{}' is not produced by any node", out.name());
    output_slots.push_back(it->second);
  }
  FusionContext fctx;
  fctx.is_weight = [this](int s) { return s >= 0 && slot_weight[s] >= 0; };
  fctx.constant = [this](int s) -> const at::Tensor* { return slot_const[s].defined() ? &slot_const[s] : nullptr; };
  fctx.graph_outputs.insert(output_slots.begin(), output_slots.end());
  fuse_gelu(plain, plain_nodes, fctx);
  train_plan = plain;
  infer_plan = options.fold_batchnorm ? fuse_conv_batchnorm(plain, plain_nodes, fctx) : plain;
  onednn::plan_layouts(infer_plan, output_slots);
  finish_plan(train_plan);
  finish_plan(infer_plan);
}

void Engine::Impl::finish_plan(std::vector<Step>& plan) {
  std::vector<int> last_use(slot_weight.size(), -1);
  for (std::size_t i = 0; i < plan.size(); ++i)
    for (int s : plan[i].in)
      if (s >= 0) last_use[s] = static_cast<int>(i);
  std::set<int> keep(output_slots.begin(), output_slots.end());
  for (std::size_t s = 0; s < last_use.size(); ++s) {
    if (last_use[s] < 0 || keep.count(static_cast<int>(s)) || slot_weight[s] >= 0 || slot_const[s].defined())
      continue;
    plan[last_use[s]].release.push_back(static_cast<int>(s));
  }
  // Which inputs are handed over, counted once per step (a node may read one value a million
  // times: per-input searches of `in` and `release` would be quadratic).
  std::unordered_map<int, int> reads;
  for (auto& step : plan) {
    reads.clear();
    for (int s : step.in)
      if (s >= 0) ++reads[s];
    std::unordered_set<int> released(step.release.begin(), step.release.end());
    step.hand_over.assign(step.in.size(), false);
    for (std::size_t k = 0; k < step.in.size(); ++k) {
      const int s = step.in[k];
      step.hand_over[k] = s >= 0 && reads[s] == 1 && released.count(s);
    }
  }
}

std::vector<at::Tensor> Engine::Impl::bind(const std::vector<at::Tensor>& in) {
  NNC_CHECK_CODE(in.size() == input_slots.size(), kShape, "model has {} inputs but {} were given",
                 input_slots.size(), in.size());
  std::vector<at::Tensor> slots(slot_weight.size());
  for (std::size_t s = 0; s < slots.size(); ++s) {
    if (slot_const[s].defined()) slots[s] = slot_const[s];
    else if (slot_weight[s] >= 0) slots[s] = store.at(slot_weight[s]);
  }
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& decl = inputs[i].shape;
    const auto& t = in[i];
    bool ok = decl.empty() || static_cast<std::size_t>(t.dim()) == decl.size();
    for (std::size_t d = 0; ok && d < decl.size(); ++d) ok = decl[d] < 0 || decl[d] == t.size(static_cast<int64_t>(d));
    NNC_CHECK_CODE(ok, kShape, "input '{}': model expects shape {} but got {}", inputs[i].name, shape_str(decl),
                   shape_str(t.sizes()));
    slots[input_slots[i]] = t;
  }
  return slots;
}

void Engine::Impl::run_steps(const std::vector<Step>& plan, std::vector<at::Tensor>& slots, std::size_t from,
                             std::size_t to) {
  RunContext ctx{training, generation, use_onednn && !training, batchnorm_momentum, use_onednn && !training};
  std::vector<at::Tensor> ins, outs;
  // NNC_PROFILE=1: per-step wall time on stderr (diagnostics for the engine's hot path).
  static const bool profile = std::getenv("NNC_PROFILE") != nullptr;
  for (std::size_t i = from; i < to; ++i) {
    const auto& step = plan[i];
    auto t0 = profile || step_ms ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    ins.clear();
    for (std::size_t k = 0; k < step.in.size(); ++k) {
      const int s = step.in[k];
      if (s < 0) {
        ins.emplace_back();
        continue;
      }
      // A value read for the last time is handed over (not copied), so kernels may reuse its
      // buffer when they hold the only reference.
      ins.push_back(step.hand_over[k] ? std::move(slots[s]) : slots[s]);
      if (ctx.onednn && !step.onednn_inputs && onednn::is_onednn(ins.back())) ins.back() = onednn::dense(ins.back());
    }
    outs.assign(step.out.size(), at::Tensor());
    try {
      step.fn(ctx, ins, outs);
    } catch (const nnc::Error& e) {
      if (e.code() == ErrorCode::kResource) fail(ErrorCode::kResource, "{}: {}", step.label, e.what());
      throw;
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::kResource, "{}: out of memory ({} available)", step.label, format_bytes(available_memory_bytes()));
    } catch (const std::exception& e) {
      std::string msg = e.what();
      fail(ErrorCode::kShape, "{}: {}", step.label, msg.substr(0, msg.find('\n')));
    }
    for (std::size_t k = 0; k < step.out.size(); ++k)
      if (step.out[k] >= 0) slots[step.out[k]] = std::move(outs[k]);
    for (int s : step.release) slots[s].reset();
    if (profile || step_ms) {
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (step_ms) (*step_ms)[i].push_back(ms);
      if (profile) std::fprintf(stderr, "profile %8.3f ms  %s\n", ms, step.label.c_str());
    }
  }
}

std::vector<at::Tensor> Engine::Impl::execute(const std::vector<Step>& plan, const std::vector<at::Tensor>& in) {
  auto slots = bind(in);
  if (training) ++generation;  // BatchNorm statistics change in place during training runs
  run_steps(plan, slots, 0, plan.size());
  std::vector<at::Tensor> result;
  for (int s : output_slots) result.push_back(onednn::dense(slots[s]));
  return result;
}

Engine::Engine(onnx::ModelProto model, EngineOptions options) : impl_(std::make_unique<Impl>()) {
  keep_freed_memory();  // every run reuses the last run's activation memory instead of faulting it in again
  install_memory_guard();  // a tensor larger than the memory available is an error, not the OOM killer
  single_threaded_blas();  // training's matrix products: OpenBLAS's pool fights the OpenMP threads
  impl_->model = std::move(model);
  impl_->options = options;
  const char* env = std::getenv("NNC_ONEDNN");
  impl_->use_onednn = options.onednn && onednn::available() && !(env && std::string(env) == "0");
  impl_->compile();
}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

const std::vector<ValueInfo>& Engine::inputs() const { return impl_->inputs; }
const std::vector<ValueInfo>& Engine::outputs() const { return impl_->outputs; }
WeightStore& Engine::weights() { return impl_->store; }
const WeightStore& Engine::weights() const { return impl_->store; }
const onnx::ModelProto& Engine::model() const { return impl_->model; }
bool Engine::training() const { return impl_->training; }
bool Engine::outputs_probabilities() const { return impl_->probabilities; }
at::Tensor Engine::as_logits(const at::Tensor& output) const {
  return impl_->probabilities ? output.clamp_min(1e-30).log() : output;
}
std::size_t Engine::num_steps(bool training) const {
  return training ? impl_->train_plan.size() : impl_->infer_plan.size();
}

std::vector<at::Tensor> Engine::run(const std::vector<at::Tensor>& inputs) {
  if (impl_->training) return impl_->execute(impl_->train_plan, inputs);
  c10::InferenceMode guard;
  return impl_->execute(impl_->infer_plan, inputs);
}

at::Tensor Engine::run_single(const at::Tensor& input) { return run({input}).at(0); }

namespace {
int batchnorm_count(const onnx::ModelProto& model) {
  int count = 0;
  for (const auto& node : model.graph().node()) count += node.op_type() == "BatchNormalization";
  return count;
}

// The first step of `plan` that reads weight `idx` (plan.size() when none does).
std::size_t first_reader(const std::vector<Step>& plan, const std::vector<int>& slot_weight, int idx) {
  for (std::size_t i = 0; i < plan.size(); ++i)
    for (int s : plan[i].in)
      if (s >= 0 && slot_weight[static_cast<std::size_t>(s)] == idx) return i;
  return plan.size();
}
}  // namespace

// Runs train_plan[from, to) over each batch's slots with BatchNorm in recalibration mode: weight
// 1/(b+1) for batch b makes the running statistics the plain average over the batches.
void Engine::Impl::recalibrate(std::vector<std::vector<at::Tensor>>& slots, std::size_t from, std::size_t to) {
  NNC_CHECK(!training, "BatchNorm recalibration needs the engine in inference mode");
  c10::NoGradGuard no_grad;
  struct Reset {
    Impl& impl;
    ~Reset() {
      impl.batchnorm_momentum = -1;
      ++impl.generation;  // running statistics changed in place: folded weights are stale
    }
  } reset{*this};
  for (std::size_t b = 0; b < slots.size(); ++b) {
    batchnorm_momentum = 1.0 / static_cast<double>(b + 1);
    run_steps(train_plan, slots[b], from, to);
  }
}

std::vector<std::vector<at::Tensor>> Engine::Impl::bind_batches(const std::vector<at::Tensor>& batches) {
  NNC_CHECK_CODE(input_slots.size() == 1, kShape, "BatchNorm recalibration feeds one input but the model has {}",
                 input_slots.size());
  std::vector<std::vector<at::Tensor>> slots;
  for (const auto& b : batches) slots.push_back(bind({b}));
  return slots;
}

std::vector<at::Tensor> Engine::Impl::resume(const PrefixCache& cache) const {
  auto slots = cache.slots;
  for (std::size_t s = 0; s < slots.size(); ++s)
    if (slot_weight[s] >= 0) slots[s] = store.at(static_cast<std::size_t>(slot_weight[s]));
  return slots;
}

int Engine::recalibrate_batchnorm(const std::vector<at::Tensor>& batches) {
  const int count = batchnorm_count(impl_->model);
  if (count == 0 || batches.empty()) return 0;
  auto slots = impl_->bind_batches(batches);
  impl_->recalibrate(slots, 0, impl_->train_plan.size());
  return count;
}

std::vector<std::shared_ptr<const PrefixCache>> Engine::recalibration_prefix(const std::vector<at::Tensor>& batches,
                                                                             const std::string& weight) {
  NNC_CHECK(!impl_->training, "BatchNorm recalibration needs the engine in inference mode");
  std::vector<std::shared_ptr<const PrefixCache>> out;
  if (batchnorm_count(impl_->model) == 0 || batches.empty()) return out;
  const auto idx = static_cast<int>(impl_->store.index_of(weight));
  const std::size_t first = first_reader(impl_->train_plan, impl_->slot_weight, idx);
  NNC_CHECK(first < impl_->train_plan.size(), "weight '{}' is not read by the graph", weight);
  auto slots = impl_->bind_batches(batches);
  impl_->recalibrate(slots, 0, first);
  for (auto& s : slots) {
    auto cache = std::make_shared<PrefixCache>();
    cache->step = first;
    cache->slots = std::move(s);
    out.push_back(std::move(cache));
  }
  return out;
}

void Engine::recalibrate_batchnorm_from(const std::vector<std::shared_ptr<const PrefixCache>>& prefixes) {
  if (prefixes.empty()) return;
  std::vector<std::vector<at::Tensor>> slots;
  for (const auto& p : prefixes) slots.push_back(impl_->resume(*p));
  impl_->recalibrate(slots, prefixes.front()->step, impl_->train_plan.size());
}

std::vector<StepTime> Engine::profile(const std::vector<at::Tensor>& inputs, int runs) {
  NNC_CHECK(!impl_->training, "profiling runs in inference mode only");
  NNC_CHECK(runs > 0, "profile: runs must be positive");
  const auto& plan = impl_->infer_plan;
  run(inputs);  // warm-up: oneDNN weight packing, allocator
  std::vector<std::vector<double>> ms(plan.size());
  impl_->step_ms = &ms;
  try {
    for (int r = 0; r < runs; ++r) run(inputs);
  } catch (...) {
    impl_->step_ms = nullptr;
    throw;
  }
  impl_->step_ms = nullptr;
  std::vector<StepTime> result;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    auto& v = ms[i];
    std::sort(v.begin(), v.end());
    result.push_back({plan[i].nodes, v.empty() ? 0.0 : v[v.size() / 2]});
  }
  return result;
}

std::shared_ptr<const PrefixCache> Engine::run_prefix(const std::vector<at::Tensor>& inputs, const std::string& weight) {
  NNC_CHECK(!impl_->training, "activation caching runs in inference mode only");
  const auto idx = static_cast<int>(impl_->store.index_of(weight));
  const auto& plan = impl_->infer_plan;
  const std::size_t first = first_reader(plan, impl_->slot_weight, idx);
  NNC_CHECK(first < plan.size(), "weight '{}' is not read by the inference graph", weight);
  c10::InferenceMode guard;
  auto cache = std::make_shared<PrefixCache>();
  cache->step = first;
  cache->slots = impl_->bind(inputs);
  impl_->run_steps(plan, cache->slots, 0, first);
  return cache;
}

at::Tensor Engine::run_from(const PrefixCache& cache) {
  NNC_CHECK(!impl_->training, "activation caching runs in inference mode only");
  c10::InferenceMode guard;
  auto slots = impl_->resume(cache);
  impl_->run_steps(impl_->infer_plan, slots, cache.step, impl_->infer_plan.size());
  return onednn::dense(slots[static_cast<std::size_t>(impl_->output_slots.at(0))]);
}

double Engine::prefix_fraction(const PrefixCache& cache) const {
  return impl_->infer_plan.empty() ? 0.0
                                   : static_cast<double>(cache.step) / static_cast<double>(impl_->infer_plan.size());
}

void Engine::set_training(bool training) {
  impl_->training = training;
  for (std::size_t i = 0; i < impl_->store.size(); ++i) {
    if (impl_->not_trainable.count(i)) continue;
    impl_->store.at(i).requires_grad_(training);
  }
}

std::vector<std::string> Engine::trainable_names() const {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < impl_->store.size(); ++i)
    if (!impl_->not_trainable.count(i)) names.push_back(impl_->store.name(i));
  return names;
}

std::vector<at::Tensor> Engine::trainable() const {
  std::vector<at::Tensor> out;
  for (std::size_t i = 0; i < impl_->store.size(); ++i)
    if (!impl_->not_trainable.count(i)) out.push_back(impl_->store.at(i));
  return out;
}

onnx::ModelProto Engine::to_model() const {
  onnx::ModelProto m = impl_->model;
  for (auto& init : *m.mutable_graph()->mutable_initializer()) {
    std::size_t idx = impl_->store.index_of(init.name());
    const auto& t = impl_->store.at(idx);
    // Integer tensors keep their original encoding (uint16/uint32 are widened in memory).
    if (!at::isFloatingType(t.scalar_type()) && impl_->store.version(idx) == 0) continue;
    auto proto = exec::from_tensor(t, init.name());
    if (init.data_type() != proto.data_type()) {
      // Keep the declared type: cast back (e.g. to uint16 storage) is not supported here.
      NNC_CHECK_CODE(false, kUnsupported, "initializer '{}': cannot re-encode type {}", init.name(),
                     init.data_type());
    }
    for (const auto& kv : init.external_data()) (void)kv;
    init = std::move(proto);
  }
  return m;
}

}  // namespace nnc::exec
