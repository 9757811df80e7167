// LSTM, GRU and RNN (opset 7+; `layout` from 14): forward, reverse and bidirectional, initial
// states, sequence_lens (shorter sequences keep their state and output zeros past their end),
// GRU's linear_before_reset, and per-direction activations among Sigmoid/Tanh/Relu. Written with
// ATen operators so the same kernel trains (autograd reaches W, R and B). The input projection
// of every time step is one matrix product; the time loop runs the recurrent part.
#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

enum class Cell { kLstm, kGru, kRnn };

using Activation = at::Tensor (*)(const at::Tensor&);

at::Tensor sigmoid_fn(const at::Tensor& x) { return at::sigmoid(x); }
at::Tensor tanh_fn(const at::Tensor& x) { return at::tanh(x); }
at::Tensor relu_fn(const at::Tensor& x) { return at::relu(x); }

struct RecurrentAttrs {
  Cell cell;
  int64_t hidden = 0;
  int directions = 1;
  bool reverse_only = false;
  bool batch_first = false;        // layout == 1
  bool linear_before_reset = false;  // GRU
  std::vector<Activation> activations;  // per direction: gate functions (f, g[, h])
  std::string label;
};

int gates(Cell c) { return c == Cell::kLstm ? 4 : c == Cell::kGru ? 3 : 1; }
std::size_t functions_per_direction(Cell c) { return c == Cell::kLstm ? 3 : c == Cell::kGru ? 2 : 1; }

RecurrentAttrs read_attrs(const NodeInfo& n, Cell cell) {
  n.expect_attrs({"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
                  "input_forget", "layout", "linear_before_reset"});
  RecurrentAttrs a;
  a.cell = cell;
  a.label = n.label();
  if (!n.has_attr("hidden_size")) n.invalid("hidden_size is required");
  n.expect_int_in("hidden_size", 1);
  n.expect_int_in("layout", 0, 1);
  n.expect_int_in("linear_before_reset", 0, 1);
  a.hidden = n.attr_int("hidden_size", 0);
  const std::string direction = n.attr_string("direction", "forward");
  if (direction == "bidirectional") a.directions = 2;
  else if (direction == "reverse") a.reverse_only = true;
  else if (direction != "forward") n.unsupported("direction '" + direction + "'");
  if (n.has_attr("clip")) n.unsupported("clip");
  if (n.has_attr("activation_alpha") || n.has_attr("activation_beta")) n.unsupported("activation_alpha/beta");
  if (n.attr_int("input_forget", 0) != 0) n.unsupported("input_forget");
  a.batch_first = n.attr_int("layout", 0) != 0;
  a.linear_before_reset = n.attr_int("linear_before_reset", 0) != 0;
  if (cell != Cell::kGru && n.has_attr("linear_before_reset")) n.unsupported("linear_before_reset");

  std::vector<std::string> names;
  if (const auto* acts = n.attr("activations"))
    for (const auto& s : acts->strings()) names.push_back(s);
  const std::size_t per = functions_per_direction(cell);
  if (names.empty()) {
    const std::vector<std::string> defaults = cell == Cell::kRnn   ? std::vector<std::string>{"Tanh"}
                                              : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                   : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    for (int d = 0; d < a.directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  }
  if (names.size() != per * static_cast<std::size_t>(a.directions))
    n.unsupported(fmt::format("{} activations for {} direction(s)", names.size(), a.directions));
  for (const auto& name : names) {
    if (name == "Sigmoid") a.activations.push_back(sigmoid_fn);
    else if (name == "Tanh") a.activations.push_back(tanh_fn);
    else if (name == "Relu") a.activations.push_back(relu_fn);
    else n.unsupported("activation '" + name + "'");
  }
  return a;
}

// One direction over the whole sequence. xw: (T, B, G*H) input projections with both biases
// added (except GRU's recurrent bias of the candidate under linear_before_reset, in rb_h).
struct DirectionResult {
  at::Tensor y;  // (T, B, H)
  at::Tensor h, c;
};

DirectionResult run_direction(const RecurrentAttrs& a, int dir, const at::Tensor& xw, const at::Tensor& r,
                              const at::Tensor& rb_h, at::Tensor h, at::Tensor c, const at::Tensor& lens,
                              bool reverse) {
  const int64_t steps = xw.size(0), hidden = a.hidden;
  const Activation* f = a.activations.data() + functions_per_direction(a.cell) * static_cast<std::size_t>(dir);
  std::vector<at::Tensor> ys(static_cast<std::size_t>(steps));
  const at::Tensor rt = r.t();  // (H, G*H)
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t t = reverse ? steps - 1 - k : k;
    at::Tensor h_new, c_new;
    if (a.cell == Cell::kLstm) {
      auto g = xw[t] + at::mm(h, rt);
      auto parts = g.split(hidden, 1);  // i, o, f, c
      auto i = f[0](parts[0]), o = f[0](parts[1]), fg = f[0](parts[2]), cand = f[1](parts[3]);
      c_new = fg * c + i * cand;
      h_new = o * f[2](c_new);
    } else if (a.cell == Cell::kGru) {
      auto xp = xw[t].split(hidden, 1);  // z, r, h
      auto rz_rr = at::mm(h, rt.narrow(1, 0, 2 * hidden)).split(hidden, 1);
      auto z = f[0](xp[0] + rz_rr[0]);
      auto rg = f[0](xp[1] + rz_rr[1]);
      const at::Tensor rh = rt.narrow(1, 2 * hidden, hidden);
      at::Tensor cand = a.linear_before_reset ? f[1](xp[2] + rg * (at::mm(h, rh) + rb_h))
                                              : f[1](xp[2] + at::mm(rg * h, rh) + rb_h);
      h_new = (1 - z) * cand + z * h;
    } else {
      h_new = f[0](xw[t] + at::mm(h, rt));
    }
    if (lens.defined()) {
      auto live = (lens > t).unsqueeze(1);  // (B, 1): this step is inside the sequence
      h_new = at::where(live, h_new, h);
      if (c_new.defined()) c_new = at::where(live, c_new, c);
      ys[static_cast<std::size_t>(t)] = at::where(live, h_new, at::zeros_like(h_new));
    } else {
      ys[static_cast<std::size_t>(t)] = h_new;
    }
    h = h_new;
    if (c_new.defined()) c = c_new;
  }
  return {at::stack(ys), h, c};
}

OpFn build_recurrent(const NodeInfo& n, Cell cell) {
  RecurrentAttrs a = read_attrs(n, cell);
  if (cell == Cell::kLstm && n.has_input(7)) n.unsupported("peephole weights (input P)");
  return [a](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const int64_t g = gates(a.cell), hidden = a.hidden;
    at::Tensor x = a.batch_first ? in[0].transpose(0, 1) : in[0];  // (T, B, I)
    const at::Tensor &w = in[1], &r = in[2];
    NNC_CHECK_CODE(x.dim() == 3, kShape, "{}: input must be 3-D, got {}-D", a.label, x.dim());
    NNC_CHECK_CODE(w.dim() == 3 && w.size(0) == a.directions && w.size(1) == g * hidden && w.size(2) == x.size(2),
                   kShape, "{}: W has shape {}, expected [{}, {}, {}]", a.label, fmt::join(w.sizes(), "x"),
                   a.directions, g * hidden, x.size(2));
    NNC_CHECK_CODE(r.dim() == 3 && r.size(0) == a.directions && r.size(1) == g * hidden && r.size(2) == hidden,
                   kShape, "{}: R has shape {}, expected [{}, {}, {}]", a.label, fmt::join(r.sizes(), "x"),
                   a.directions, g * hidden, hidden);
    const int64_t steps = x.size(0), batch = x.size(1);
    const at::Tensor b = in.size() > 3 ? in[3] : at::Tensor();
    if (b.defined())
      NNC_CHECK_CODE(b.dim() == 2 && b.size(0) == a.directions && b.size(1) == 2 * g * hidden, kShape,
                     "{}: B has shape {}, expected [{}, {}]", a.label, fmt::join(b.sizes(), "x"), a.directions,
                     2 * g * hidden);
    at::Tensor lens;
    if (in.size() > 4 && in[4].defined()) {
      lens = in[4].to(at::kLong);
      NNC_CHECK_CODE(lens.dim() == 1 && lens.size(0) == batch, kShape,
                     "{}: sequence_lens has {} entries for a batch of {}", a.label, lens.numel(), batch);
      NNC_CHECK_CODE(lens.max().item<int64_t>() <= steps && lens.min().item<int64_t>() >= 0, kShape,
                     "{}: sequence_lens outside [0, {}]", a.label, steps);
      if (lens.min().item<int64_t>() == steps) lens = at::Tensor();  // every sequence is full length
    }
    auto state = [&](std::size_t idx, const char* what) {
      if (in.size() > idx && in[idx].defined()) {
        // layout 1 stores states batch-first: (B, D, H).
        at::Tensor s = a.batch_first && in[idx].dim() == 3 ? in[idx].transpose(0, 1) : in[idx];
        NNC_CHECK_CODE(s.dim() == 3 && s.size(0) == a.directions && s.size(1) == batch && s.size(2) == hidden,
                       kShape, "{}: {} has shape {}, expected {} directions x batch {} x {} hidden", a.label, what,
                       fmt::join(in[idx].sizes(), "x"), a.directions, batch, hidden);
        return s;
      }
      return at::zeros({a.directions, batch, hidden}, x.options());
    };
    at::Tensor h0 = state(5, "initial_h");
    at::Tensor c0 = a.cell == Cell::kLstm ? state(6, "initial_c") : at::Tensor();

    std::vector<at::Tensor> ys, hs, cs;
    for (int dir = 0; dir < a.directions; ++dir) {
      // Input projection of all steps at once: (T*B, I) x (I, G*H).
      at::Tensor bias = b.defined() ? b[dir].narrow(0, 0, g * hidden) : at::Tensor();
      at::Tensor rb_h = at::zeros({hidden}, x.options());
      if (b.defined()) {
        at::Tensor rb = b[dir].narrow(0, g * hidden, g * hidden);
        if (a.cell == Cell::kGru) {
          // z and r gates take both biases up front; the candidate's recurrent bias sits
          // inside the reset product under linear_before_reset, so it is kept apart.
          bias = bias + at::cat({rb.narrow(0, 0, 2 * hidden), at::zeros({hidden}, rb.options())});
          rb_h = rb.narrow(0, 2 * hidden, hidden);
        } else {
          bias = bias + rb;
        }
      }
      at::Tensor flat = x.reshape({steps * batch, x.size(2)});
      at::Tensor xw = bias.defined() ? at::addmm(bias, flat, w[dir].t()) : at::mm(flat, w[dir].t());
      xw = xw.reshape({steps, batch, g * hidden});
      const bool reverse = a.reverse_only || dir == 1;
      auto res = run_direction(a, dir, xw, r[dir], rb_h, h0[dir], c0.defined() ? c0[dir] : at::Tensor(), lens,
                               reverse);
      ys.push_back(res.y);
      hs.push_back(res.h);
      if (res.c.defined()) cs.push_back(res.c);
    }
    at::Tensor y = at::stack(ys, 1);  // (T, D, B, H)
    if (a.batch_first) y = y.permute({2, 0, 1, 3});  // (B, T, D, H)
    at::Tensor yh = at::stack(hs, 0), yc = cs.empty() ? at::Tensor() : at::stack(cs, 0);
    if (a.batch_first) {
      yh = yh.transpose(0, 1);  // (B, D, H)
      if (yc.defined()) yc = yc.transpose(0, 1);
    }
    if (!out.empty()) out[0] = y;
    if (out.size() > 1) out[1] = yh;
    if (out.size() > 2) out[2] = yc;
  };
}

}  // namespace

void register_recurrent_ops(OpRegistry& r) {
  r.add("LSTM", [](const NodeInfo& n) { return build_recurrent(n, Cell::kLstm); }, 7);
  r.add("GRU", [](const NodeInfo& n) { return build_recurrent(n, Cell::kGru); }, 7);
  r.add("RNN", [](const NodeInfo& n) { return build_recurrent(n, Cell::kRnn); }, 7);
}

}  // namespace nnc::exec
