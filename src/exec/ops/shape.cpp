// Shape manipulation and the shape sub-graph operators exporters emit: Flatten, Reshape,
// Transpose, Concat, Split, Squeeze, Unsqueeze, Pad, Shape, Gather, ConstantOfShape, Constant,
// Slice, Expand, Range, Tile, Einsum, DepthToSpace, SpaceToDepth, CumSum, TopK, the Reduce* family.
#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"
#include "nncompress/onnx/tensor_proto.hpp"

namespace nnc::exec {

std::vector<int64_t> to_ints(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& label, bool end_inclusive) {
  const int64_t hi = end_inclusive ? rank : rank - 1;
  NNC_CHECK_CODE(axis >= -rank && axis <= hi, kShape, "{}: axis {} out of range for rank {}", label, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const std::string& label) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<std::size_t>(std::max<int64_t>(rank, 0)), false);
  for (auto a : axes) {
    const int64_t d = normalize_axis(a, rank, label);
    NNC_CHECK_CODE(!seen[static_cast<std::size_t>(d)], kShape, "{}: axis {} given twice", label, a);
    seen[static_cast<std::size_t>(d)] = true;
    out.push_back(d);
  }
  return out;
}

namespace {

// Axes from an attribute (old opsets) or an optional input (new opsets).
std::optional<std::vector<int64_t>> axes_of(std::span<const at::Tensor> in, std::size_t index,
                                            const std::optional<std::vector<int64_t>>& attr) {
  if (attr) return attr;
  if (in.size() > index && in[index].defined()) return to_ints(in[index]);
  return std::nullopt;
}

std::optional<std::vector<int64_t>> attr_axes(const NodeInfo& n) {
  if (!n.has_attr("axes")) return std::nullopt;
  return n.attr_ints("axes");
}

OpFn build_flatten(const NodeInfo& n) {
  n.expect_attrs({"axis"});
  const int64_t axis = n.attr_int("axis", 1);
  return [axis, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    const int64_t a = normalize_axis(axis, x.dim(), label, /*end_inclusive=*/true);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < x.dim(); ++d) (d < a ? outer : inner) *= x.size(d);
    out[0] = x.reshape({outer, inner});
  };
}

OpFn build_reshape(const NodeInfo& n) {
  n.expect_attrs({"shape", "allowzero", "consumed_inputs"});
  n.expect_int_in("allowzero", 0, 1);
  const bool allowzero = n.attr_int("allowzero", 0) != 0;
  std::optional<std::vector<int64_t>> attr_shape;
  if (n.opset() < 5) attr_shape = n.attr_ints("shape");
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto shape = attr_shape ? *attr_shape : to_ints(in[1]);
    if (!allowzero)
      for (std::size_t i = 0; i < shape.size(); ++i)
        if (shape[i] == 0) shape[i] = in[0].size(static_cast<int64_t>(i));
    out[0] = in[0].reshape(shape);
  };
}

OpFn build_transpose(const NodeInfo& n) {
  n.expect_attrs({"perm"});
  auto perm = n.attr_ints("perm");
  std::vector<bool> seen(perm.size(), false);
  for (auto p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(perm.size()) || seen[static_cast<std::size_t>(p)])
      n.invalid(fmt::format("perm [{}] is not a permutation of 0..{}", fmt::join(perm, ","), perm.size() - 1));
    seen[static_cast<std::size_t>(p)] = true;
  }
  return [perm, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    std::vector<int64_t> p = perm;
    if (p.empty())
      for (int64_t d = in[0].dim() - 1; d >= 0; --d) p.push_back(d);
    NNC_CHECK_CODE(static_cast<int64_t>(p.size()) == in[0].dim(), kShape, "{}: perm of {} axes for an input of rank {}",
                   label, p.size(), in[0].dim());
    out[0] = in[0].permute(p);
  };
}

OpFn build_concat(const NodeInfo& n) {
  n.expect_attrs({"axis"});
  const int64_t axis = n.attr_int("axis", 1);
  return [axis, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    std::vector<at::Tensor> parts;
    for (const auto& t : in)
      if (t.defined()) parts.push_back(t);
    NNC_CHECK_CODE(!parts.empty(), kShape, "{}: nothing to concatenate", label);
    out[0] = at::cat(parts, normalize_axis(axis, parts[0].dim(), label));
  };
}

OpFn build_split(const NodeInfo& n) {
  n.expect_attrs({"axis", "split", "num_outputs"});
  const int64_t axis = n.attr_int("axis", 0);
  std::optional<std::vector<int64_t>> attr_split;
  n.expect_ints_in("split", 0, INT64_MAX);
  if (n.has_attr("split")) attr_split = n.attr_ints("split");
  const std::size_t outputs = n.num_outputs();
  return [=, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const int64_t a = normalize_axis(axis, in[0].dim(), label);
    auto sizes = axes_of(in, 1, attr_split);
    std::vector<at::Tensor> parts;
    if (sizes) {
      parts = at::split_with_sizes(in[0], *sizes, a);
    } else {
      int64_t n_out = static_cast<int64_t>(outputs);
      int64_t chunk = (in[0].size(a) + n_out - 1) / n_out;
      parts = at::split(in[0], chunk, a);
    }
    NNC_CHECK_CODE(parts.size() == out.size(), kShape, "Split produced {} parts for {} outputs", parts.size(),
                   out.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = parts[i];
  };
}

OpFn build_squeeze(const NodeInfo& n) {
  n.expect_attrs({"axes"});
  auto attr = attr_axes(n);
  return [attr, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto axes = axes_of(in, 1, attr);
    at::Tensor x = in[0];
    if (!axes) {
      out[0] = x.squeeze();
      return;
    }
    std::vector<int64_t> a = normalize_axes(*axes, x.dim(), label);
    std::sort(a.rbegin(), a.rend());
    for (auto d : a) {
      NNC_CHECK_CODE(x.size(d) == 1, kShape, "Squeeze of axis {} with size {}", d, x.size(d));
      x = x.squeeze(d);
    }
    out[0] = x;
  };
}

OpFn build_unsqueeze(const NodeInfo& n) {
  n.expect_attrs({"axes"});
  auto attr = attr_axes(n);
  return [attr, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto axes = axes_of(in, 1, attr);
    NNC_CHECK_CODE(axes.has_value(), kShape, "{}: Unsqueeze without axes", label);
    const int64_t rank = in[0].dim() + static_cast<int64_t>(axes->size());
    std::vector<int64_t> a = normalize_axes(*axes, rank, label);
    std::sort(a.begin(), a.end());
    at::Tensor x = in[0];
    for (auto d : a) x = x.unsqueeze(d);
    out[0] = x;
  };
}

OpFn build_pad(const NodeInfo& n) {
  n.expect_attrs({"mode", "pads", "value", "paddings"});
  const std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") n.unsupported("Pad mode '" + mode + "'");
  const bool legacy = n.opset() < 11;
  auto attr_pads = n.attr_ints(n.has_attr("paddings") ? "paddings" : "pads");
  const double attr_value = n.attr_float("value", 0.0f);
  if (!legacy && n.num_inputs() > 3 && n.has_input(3)) n.unsupported("Pad axes input");
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    auto pads = legacy ? attr_pads : to_ints(in[1]);
    double value = legacy ? attr_value : (in.size() > 2 && in[2].defined() ? in[2].item<double>() : 0.0);
    const int64_t r = x.dim();
    NNC_CHECK_CODE(static_cast<int64_t>(pads.size()) == 2 * r, kShape, "Pad has {} pads for rank {}", pads.size(), r);
    // ONNX [b0..b_{r-1}, e0..e_{r-1}] -> ATen [b_last, e_last, ..., b0, e0], dropping leading zeros.
    int64_t first = 0;
    while (first < r && pads[first] == 0 && pads[first + r] == 0) ++first;
    std::vector<int64_t> spec;
    for (int64_t d = r - 1; d >= first; --d) {
      spec.push_back(pads[d]);
      spec.push_back(pads[d + r]);
    }
    if (spec.empty()) {
      out[0] = x;
    } else if (mode == "constant") {
      out[0] = at::constant_pad_nd(x, spec, value);
    } else {
      NNC_CHECK_CODE(first >= r - 3 && first >= 1, kShape, "Pad mode '{}' on leading dimensions is unsupported",
                     mode);
      // reflect/replicate pads need a batch/channel dimension in front of the padded ones.
      int64_t keep = r - first;
      auto shape = x.sizes().vec();
      std::vector<int64_t> lead(shape.begin(), shape.begin() + first);
      int64_t lead_n = 1;
      for (auto v : lead) lead_n *= v;
      std::vector<int64_t> view{1, lead_n};
      view.insert(view.end(), shape.begin() + first, shape.end());
      // ATen's reflect/replicate kernels are floating-point only: integers go through double.
      auto xv = x.reshape(view);
      auto y = at::isFloatingType(x.scalar_type())
                   ? at::pad(xv, spec, mode == "edge" ? "replicate" : "reflect")
                   : at::pad(xv.to(at::kDouble), spec, mode == "edge" ? "replicate" : "reflect").to(x.scalar_type());
      std::vector<int64_t> back = lead;
      for (int64_t i = 0; i < keep; ++i) back.push_back(y.size(2 + i));
      out[0] = y.reshape(back);
    }
  };
}

OpFn build_shape(const NodeInfo& n) {
  n.expect_attrs({"start", "end"});
  const std::optional<int64_t> start = n.has_attr("start") ? std::optional<int64_t>(n.attr_int("start", 0)) : std::nullopt;
  const std::optional<int64_t> end = n.has_attr("end") ? std::optional<int64_t>(n.attr_int("end", 0)) : std::nullopt;
  return [start, end](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto s = in[0].sizes().vec();
    const int64_t r = static_cast<int64_t>(s.size());
    auto clamp_axis = [r](int64_t v) { return std::clamp(v < 0 ? v + r : v, int64_t{0}, r); };  // as ONNX: clamped
    int64_t b = start ? clamp_axis(*start) : 0;
    int64_t e = end ? clamp_axis(*end) : r;
    std::vector<int64_t> v(s.begin() + b, s.begin() + std::max(b, e));
    out[0] = at::tensor(v, at::kLong);
  };
}

OpFn build_gather(const NodeInfo& n) {
  n.expect_attrs({"axis"});
  const int64_t axis = n.attr_int("axis", 0);
  return [axis, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    const int64_t a = normalize_axis(axis, x.dim(), label);
    auto idx = in[1].to(at::kLong);
    idx = at::where(idx < 0, idx + x.size(a), idx);
    auto flat = x.index_select(a, idx.reshape({-1}));
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + a);
    for (auto d : idx.sizes()) shape.push_back(d);
    for (int64_t d = a + 1; d < x.dim(); ++d) shape.push_back(x.size(d));
    out[0] = flat.reshape(shape);
  };
}

OpFn build_constant_of_shape(const NodeInfo& n) {
  n.expect_attrs({"value"});
  at::Tensor value = n.attr_tensor("value").value_or(at::zeros({1}, at::kFloat));
  if (value.numel() != 1) n.invalid(fmt::format("value has {} elements, expected one", value.numel()));
  return [value](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::full(to_ints(in[0]), value.reshape({-1})[0].item(), value.options());
  };
}

OpFn build_constant(const NodeInfo& n) {
  n.expect_attrs({"value", "value_float", "value_floats", "value_int", "value_ints", "sparse_value",
                  "value_string", "value_strings"});
  at::Tensor value;
  if (auto t = n.attr_tensor("value")) value = *t;
  else if (n.has_attr("value_float")) value = at::scalar_tensor(n.attr_float("value_float", 0), at::kFloat);
  else if (n.has_attr("value_floats")) value = at::tensor(n.attr_floats("value_floats"), at::kFloat);
  else if (n.has_attr("value_int")) value = at::scalar_tensor(n.attr_int("value_int", 0), at::kLong);
  else if (n.has_attr("value_ints")) value = at::tensor(n.attr_ints("value_ints"), at::kLong);
  else n.unsupported("Constant value kind (sparse or string)");
  return [value](const RunContext&, std::span<const at::Tensor>, std::span<at::Tensor> out) { out[0] = value; };
}

OpFn build_slice(const NodeInfo& n) {
  n.expect_attrs({"starts", "ends", "axes"});
  const bool legacy = n.opset() < 10;
  auto a_starts = n.attr_ints("starts"), a_ends = n.attr_ints("ends"), a_axes = n.attr_ints("axes");
  return [=, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    at::Tensor x = in[0];
    auto starts = legacy ? a_starts : to_ints(in[1]);
    auto ends = legacy ? a_ends : to_ints(in[2]);
    std::vector<int64_t> axes = legacy ? a_axes : (in.size() > 3 && in[3].defined() ? to_ints(in[3]) : std::vector<int64_t>{});
    std::vector<int64_t> steps = !legacy && in.size() > 4 && in[4].defined() ? to_ints(in[4]) : std::vector<int64_t>{};
    if (axes.empty())
      for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    NNC_CHECK_CODE(starts.size() == axes.size() && ends.size() == axes.size() &&
                       (steps.empty() || steps.size() == axes.size()),
                   kShape, "{}: {} starts, {} ends, {} axes and {} steps do not pair up", label, starts.size(),
                   ends.size(), axes.size(), steps.size());
    axes = normalize_axes(axes, x.dim(), label);
    for (std::size_t i = 0; i < axes.size(); ++i) {
      const int64_t d = axes[i];
      const int64_t dim = x.size(d);
      const int64_t step = steps.empty() ? 1 : steps[i];
      NNC_CHECK_CODE(step != 0, kShape, "Slice step 0");
      auto clampi = [&](int64_t v, int64_t lo, int64_t hi) {
        if (v < 0) v += dim;
        return std::clamp(v, lo, hi);
      };
      if (step > 0) {
        int64_t s = clampi(starts[i], 0, dim), e = clampi(ends[i], 0, dim);
        x = x.slice(d, s, std::max(s, e), step);
      } else {
        int64_t s = clampi(starts[i], -1, dim - 1), e = clampi(ends[i], -1, dim - 1);
        // Walk backwards from s to e (exclusive): flip, then slice forwards.
        auto idx = at::arange(s, e, step, at::kLong);
        x = x.index_select(d, idx);
      }
    }
    out[0] = x;
  };
}

OpFn build_expand(const NodeInfo& n) {
  n.expect_attrs({});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto shape = to_ints(in[1]);
    auto xs = in[0].sizes().vec();
    // Bidirectional (numpy) broadcast of the input shape and the requested shape.
    const std::size_t r = std::max(shape.size(), xs.size());
    std::vector<int64_t> res(r);
    for (std::size_t i = 0; i < r; ++i) {
      int64_t a = i < r - xs.size() ? 1 : xs[i - (r - xs.size())];
      int64_t b = i < r - shape.size() ? 1 : shape[i - (r - shape.size())];
      NNC_CHECK_CODE(a == b || a == 1 || b == 1, kShape, "Expand: shapes do not broadcast");
      res[i] = std::max(a, b);
    }
    out[0] = in[0].expand(res);
  };
}

OpFn build_range(const NodeInfo& n) {
  n.expect_attrs({});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::arange(in[0].item(), in[1].item(), in[2].item(), in[0].options());
  };
}

OpFn build_tile(const NodeInfo& n) {
  n.expect_attrs({});
  return [label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto repeats = to_ints(in[1]);
    NNC_CHECK_CODE(static_cast<int64_t>(repeats.size()) == in[0].dim(), kShape,
                   "{}: {} repeats for an input of rank {}", label, repeats.size(), in[0].dim());
    for (auto r : repeats) NNC_CHECK_CODE(r >= 0, kShape, "{}: repeat count {} is negative", label, r);
    out[0] = in[0].repeat(repeats);
  };
}

enum class Reduce { kMean, kSum, kMax, kMin, kL1, kL2, kSumSquare, kLogSum, kLogSumExp, kProd };

OpFn build_reduce(const NodeInfo& n, Reduce kind, int axes_input_since) {
  n.expect_attrs({"axes", "keepdims", "noop_with_empty_axes"});
  n.expect_int_in("keepdims", 0, 1);
  n.expect_int_in("noop_with_empty_axes", 0, 1);
  const bool keep = n.attr_int("keepdims", 1) != 0;
  const bool noop = n.attr_int("noop_with_empty_axes", 0) != 0;
  std::optional<std::vector<int64_t>> attr;
  if (n.opset() < axes_input_since) attr = attr_axes(n);
  return [=, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    auto axes = axes_of(in, 1, attr);
    if ((!axes || axes->empty()) && noop) {
      out[0] = in[0];
      return;
    }
    std::vector<int64_t> dims;
    if (axes && !axes->empty())
      dims = normalize_axes(*axes, in[0].dim(), label);
    else
      for (int64_t d = 0; d < in[0].dim(); ++d) dims.push_back(d);
    switch (kind) {
      case Reduce::kMean: out[0] = at::mean(in[0], dims, keep); break;
      case Reduce::kSum: out[0] = at::sum(in[0], dims, keep); break;
      case Reduce::kMax: out[0] = at::amax(in[0], dims, keep); break;
      case Reduce::kMin: out[0] = at::amin(in[0], dims, keep); break;
      case Reduce::kL1: out[0] = at::sum(at::abs(in[0]), dims, keep); break;
      case Reduce::kL2: out[0] = at::sqrt(at::sum(in[0] * in[0], dims, keep)); break;
      case Reduce::kSumSquare: out[0] = at::sum(in[0] * in[0], dims, keep); break;
      case Reduce::kLogSum: out[0] = at::log(at::sum(in[0], dims, keep)); break;
      case Reduce::kLogSumExp: out[0] = at::logsumexp(in[0], dims, keep); break;
      case Reduce::kProd: {
        std::sort(dims.rbegin(), dims.rend());  // highest first: removing it keeps the others valid
        at::Tensor y = in[0];
        for (auto d : dims) y = at::prod(y, d, keep);
        out[0] = y;
        break;
      }
    }
  };
}

// DepthToSpace (DCR or CRD order) and SpaceToDepth, as PixelShuffle/PixelUnshuffle export.
OpFn build_depth_to_space(const NodeInfo& n) {
  n.expect_attrs({"blocksize", "mode"});
  if (!n.has_attr("blocksize")) n.invalid("blocksize is required");
  n.expect_int_in("blocksize", 1, 1 << 16);  // bs * bs stays far inside int64
  const int64_t bs = n.attr_int("blocksize", 0);
  const std::string mode = n.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") n.unsupported("mode '" + mode + "'");
  const bool dcr = mode == "DCR";
  const std::string label = n.label();
  return [bs, dcr, label](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];
    NNC_CHECK_CODE(x.dim() == 4 && x.size(1) % (bs * bs) == 0, kShape,
                   "{}: input of shape {} is not N x C x H x W with C divisible by {}", label, fmt::join(x.sizes(), "x"), bs * bs);
    const int64_t N = x.size(0), C = x.size(1) / (bs * bs), H = x.size(2), W = x.size(3);
    at::Tensor y = dcr ? x.reshape({N, bs, bs, C, H, W}).permute({0, 3, 4, 1, 5, 2})
                       : x.reshape({N, C, bs, bs, H, W}).permute({0, 1, 4, 2, 5, 3});
    out[0] = y.reshape({N, C, H * bs, W * bs});
  };
}

OpFn build_space_to_depth(const NodeInfo& n) {
  n.expect_attrs({"blocksize"});
  if (!n.has_attr("blocksize")) n.invalid("blocksize is required");
  n.expect_int_in("blocksize", 1, 1 << 16);
  const int64_t bs = n.attr_int("blocksize", 0);
  const std::string label = n.label();
  return [bs, label](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];
    NNC_CHECK_CODE(x.dim() == 4 && x.size(2) % bs == 0 && x.size(3) % bs == 0, kShape,
                   "{}: input of shape {} is not N x C x H x W with H and W divisible by {}", label, fmt::join(x.sizes(), "x"), bs);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2) / bs, W = x.size(3) / bs;
    out[0] = x.reshape({N, C, H, bs, W, bs}).permute({0, 3, 5, 1, 2, 4}).reshape({N, C * bs * bs, H, W});
  };
}

// CumSum (exclusive, reverse) and TopK (values and int64 indices; equal values keep the lower
// index first, as ONNX specifies).
OpFn build_cumsum(const NodeInfo& n) {
  n.expect_attrs({"exclusive", "reverse"});
  const bool exclusive = n.attr_int("exclusive", 0) != 0, reverse = n.attr_int("reverse", 0) != 0;
  return [exclusive, reverse, label = n.label()](const RunContext&, std::span<const at::Tensor> in,
                                                 std::span<at::Tensor> out) {
    const auto axes = to_ints(in[1]);
    NNC_CHECK_CODE(axes.size() == 1, kShape, "{}: axis input has {} values, expected one", label, axes.size());
    const int64_t axis = normalize_axis(axes[0], in[0].dim(), label);
    at::Tensor x = reverse ? in[0].flip(axis) : in[0];
    at::Tensor y = at::cumsum(x, axis);
    if (exclusive) y = y - x;
    out[0] = reverse ? y.flip(axis) : y;
  };
}

OpFn build_topk(const NodeInfo& n) {
  n.expect_attrs({"axis", "largest", "sorted", "k"});
  const int64_t axis_attr = n.attr_int("axis", -1);
  const bool largest = n.attr_int("largest", 1) != 0;
  const int64_t k_attr = n.attr_int("k", -1);
  const std::string label = n.label();
  return [=](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const at::Tensor& x = in[0];
    const int64_t axis = normalize_axis(axis_attr, x.dim(), label);
    const auto ks = in.size() > 1 && in[1].defined() ? to_ints(in[1]) : std::vector<int64_t>{k_attr};
    NNC_CHECK_CODE(ks.size() == 1, kShape, "{}: K has {} values, expected one", label, ks.size());
    const int64_t k = ks[0];
    NNC_CHECK_CODE(k >= 0 && k <= x.size(axis), kShape, "{}: k = {} for an axis of {}", label, k, x.size(axis));
    // A stable sort keeps equal values in index order; topk alone does not promise that.
    auto [values, indices] = at::sort(x, /*stable=*/true, axis, /*descending=*/largest);
    out[0] = values.narrow(axis, 0, k);
    if (out.size() > 1) out[1] = indices.narrow(axis, 0, k);
  };
}

OpFn build_einsum(const NodeInfo& n) {
  n.expect_attrs({"equation"});
  std::string equation = n.attr_string("equation", "");
  if (equation.empty()) n.unsupported("empty equation");
  return [equation](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    out[0] = at::einsum(equation, std::vector<at::Tensor>(in.begin(), in.end()));
  };
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.add("Flatten", build_flatten);
  r.add("Reshape", build_reshape);
  r.add("Transpose", build_transpose);
  r.add("Concat", build_concat);
  r.add("Split", build_split);
  r.add("Squeeze", build_squeeze);
  r.add("Unsqueeze", build_unsqueeze);
  r.add("Pad", build_pad);
  r.add("Shape", build_shape, 1, INT_MAX, {.onednn = true});  // reads sizes only: no reorder
  r.add("Gather", build_gather);
  r.add("ConstantOfShape", build_constant_of_shape);
  r.add("Constant", build_constant);
  r.add("Slice", build_slice);
  r.add("Expand", build_expand, 8);
  r.add("Range", build_range, 11);
  r.add("Tile", build_tile, 6);
  r.add("ReduceMean", [](const NodeInfo& n) { return build_reduce(n, Reduce::kMean, 18); });
  r.add("ReduceSum", [](const NodeInfo& n) { return build_reduce(n, Reduce::kSum, 13); });
  r.add("ReduceMax", [](const NodeInfo& n) { return build_reduce(n, Reduce::kMax, 18); });
  r.add("ReduceMin", [](const NodeInfo& n) { return build_reduce(n, Reduce::kMin, 18); });
  r.add("ReduceL1", [](const NodeInfo& n) { return build_reduce(n, Reduce::kL1, 18); });
  r.add("ReduceL2", [](const NodeInfo& n) { return build_reduce(n, Reduce::kL2, 18); });
  r.add("ReduceSumSquare", [](const NodeInfo& n) { return build_reduce(n, Reduce::kSumSquare, 18); });
  r.add("ReduceLogSum", [](const NodeInfo& n) { return build_reduce(n, Reduce::kLogSum, 18); });
  r.add("ReduceLogSumExp", [](const NodeInfo& n) { return build_reduce(n, Reduce::kLogSumExp, 18); });
  r.add("ReduceProd", [](const NodeInfo& n) { return build_reduce(n, Reduce::kProd, 18); });
  r.add("Einsum", build_einsum, 12);
  r.add("DepthToSpace", build_depth_to_space);
  r.add("SpaceToDepth", build_space_to_depth);
  r.add("CumSum", build_cumsum, 11);
  r.add("TopK", build_topk);
}

}  // namespace nnc::exec
