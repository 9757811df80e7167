// Index-driven operators: GatherElements, GatherND, ScatterElements (and its opset-9 name
// Scatter), ScatterND, ArgMax/ArgMin, NonZero, OneHot, Trilu. Exporters emit them for slice
// assignment (Swin's shifted-window masks: ScatterND), torch.gather/scatter, argmax heads and
// triangular masks. Indices may be negative (counted from the end), as ONNX allows.
#include <ATen/ATen.h>

#include <fmt/ranges.h>

#include <string>

#include "exec/ops/ops.hpp"
#include "nncompress/core/error.hpp"

namespace nnc::exec {
namespace {

int64_t axis_of(int64_t axis, int64_t rank, const std::string& label) {
  NNC_CHECK_CODE(axis >= -rank && axis < std::max<int64_t>(rank, 1), kShape, "{}: axis {} out of range for rank {}",
                 label, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

// Negative indices count from the end of `size`; anything outside [-size, size) is an error.
at::Tensor wrap_indices(const at::Tensor& idx, const at::Tensor& size, const std::string& label) {
  auto i = idx.to(at::kLong);
  auto wrapped = at::where(i < 0, i + size, i);
  NNC_CHECK_CODE(wrapped.numel() == 0 || ((wrapped >= 0) & (wrapped < size)).all().item<bool>(), kShape,
                 "{}: index out of range", label);
  return wrapped;
}

at::Tensor wrap_indices(const at::Tensor& idx, int64_t size, const std::string& label) {
  return wrap_indices(idx, at::scalar_tensor(size, at::kLong), label);
}

// Reduction name of ScatterElements/ScatterND (opset 16+: add, mul; 18+: max, min).
std::string reduction_of(const NodeInfo& n) {
  auto r = n.attr_string("reduction", "none");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min") n.unsupported("reduction '" + r + "'");
  return r;
}

OpFn build_gather_elements(const NodeInfo& n) {
  n.expect_attrs({"axis"});
  const int64_t axis = n.attr_int("axis", 0);
  return [axis, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const int64_t a = axis_of(axis, in[0].dim(), label);
    NNC_CHECK_CODE(in[1].dim() == in[0].dim(), kShape, "{}: indices must have the data's rank", label);
    out[0] = at::gather(in[0], a, wrap_indices(in[1], in[0].size(a), label));
  };
}

OpFn build_scatter_elements(const NodeInfo& n) {
  n.expect_attrs({"axis", "reduction"});
  const int64_t axis = n.attr_int("axis", 0);
  const std::string reduction = reduction_of(n);
  return [=, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const int64_t a = axis_of(axis, in[0].dim(), label);
    auto idx = wrap_indices(in[1], in[0].size(a), label);
    auto updates = in[2].to(in[0].scalar_type());
    NNC_CHECK_CODE(idx.sizes() == updates.sizes() && idx.dim() == in[0].dim(), kShape,
                   "{}: indices and updates must have the same shape and the data's rank", label);
    auto y = in[0].clone();
    if (reduction == "none") y.scatter_(a, idx, updates);
    else if (reduction == "add") y.scatter_add_(a, idx, updates);
    else y.scatter_reduce_(a, idx, updates, reduction == "mul" ? "prod" : reduction == "max" ? "amax" : "amin");
    out[0] = y;
  };
}

// Row-major linear offsets of the first k dimensions of `dims`, from index tuples [..., k].
at::Tensor linear_offsets(const at::Tensor& tuples, at::IntArrayRef dims, const std::string& label) {
  const int64_t k = tuples.size(-1);
  auto sizes = at::tensor(std::vector<int64_t>(dims.begin(), dims.begin() + k), at::kLong);
  auto idx = wrap_indices(tuples, sizes, label);
  std::vector<int64_t> strides(static_cast<std::size_t>(k), 1);
  for (int64_t j = k - 2; j >= 0; --j) strides[j] = strides[j + 1] * dims[j + 1];
  return (idx * at::tensor(strides, at::kLong)).sum(-1);
}

OpFn build_gather_nd(const NodeInfo& n) {
  n.expect_attrs({"batch_dims"});
  n.expect_int_in("batch_dims", 0);
  const int64_t batch_dims = n.attr_int("batch_dims", 0);
  return [batch_dims, label = n.label()](const RunContext&, std::span<const at::Tensor> in,
                                         std::span<at::Tensor> out) {
    const auto& data = in[0];
    const auto& indices = in[1];
    const int64_t b = batch_dims, q = indices.dim();
    NNC_CHECK_CODE(q >= 1 && b < q && b < data.dim(), kShape, "{}: batch_dims {} too large", label, b);
    const int64_t k = indices.size(-1);
    NNC_CHECK_CODE(k >= 1 && b + k <= data.dim(), kShape, "{}: index tuples of length {} for data of rank {}", label,
                   k, data.dim());
    int64_t batch = 1;
    for (int64_t d = 0; d < b; ++d) {
      NNC_CHECK_CODE(data.size(d) == indices.size(d), kShape, "{}: batch dimension {} differs", label, d);
      batch *= data.size(d);
    }
    std::vector<int64_t> rest(data.sizes().begin() + b + k, data.sizes().end());
    auto tuples = indices.reshape({batch, -1, k});
    auto offsets = linear_offsets(tuples, data.sizes().slice(static_cast<std::size_t>(b)), label);  // [batch, m]
    std::vector<int64_t> flat{batch, -1};
    flat.insert(flat.end(), rest.begin(), rest.end());
    auto gathered = data.reshape(flat).index({at::arange(batch, at::kLong).unsqueeze(1), offsets});
    std::vector<int64_t> shape(indices.sizes().begin(), indices.sizes().end() - 1);
    shape.insert(shape.end(), rest.begin(), rest.end());
    out[0] = gathered.reshape(shape);
  };
}

OpFn build_scatter_nd(const NodeInfo& n) {
  n.expect_attrs({"reduction"});
  const std::string reduction = reduction_of(n);
  return [reduction, label = n.label()](const RunContext&, std::span<const at::Tensor> in,
                                        std::span<at::Tensor> out) {
    const auto& data = in[0];
    const auto& indices = in[1];
    const int64_t k = indices.dim() ? indices.size(-1) : 0;
    NNC_CHECK_CODE(k >= 1 && k <= data.dim(), kShape, "{}: index tuples of length {} for data of rank {}", label, k,
                   data.dim());
    std::vector<int64_t> rest(data.sizes().begin() + k, data.sizes().end());
    std::vector<int64_t> want(indices.sizes().begin(), indices.sizes().end() - 1);
    want.insert(want.end(), rest.begin(), rest.end());
    NNC_CHECK_CODE(in[2].sizes().vec() == want, kShape, "{}: updates have shape [{}], expected [{}]", label,
                   fmt::join(in[2].sizes(), ","), fmt::join(want, ","));
    auto offsets = linear_offsets(indices.reshape({-1, k}), data.sizes(), label);
    std::vector<int64_t> flat{-1};
    flat.insert(flat.end(), rest.begin(), rest.end());
    auto y = data.clone(at::MemoryFormat::Contiguous);
    auto view = y.view(flat);
    auto updates = in[2].to(data.scalar_type()).reshape(flat);
    if (reduction == "none") view.index_put_({offsets}, updates);
    else if (reduction == "add") view.index_put_({offsets}, updates, /*accumulate=*/true);
    else view.index_reduce_(0, offsets, updates, reduction == "mul" ? "prod" : reduction == "max" ? "amax" : "amin");
    out[0] = y;
  };
}

OpFn build_arg(const NodeInfo& n, bool max) {
  n.expect_attrs({"axis", "keepdims", "select_last_index"});
  n.expect_int_in("keepdims", 0, 1);
  n.expect_int_in("select_last_index", 0, 1);
  const int64_t axis = n.attr_int("axis", 0);
  const bool keep = n.attr_int("keepdims", 1) != 0;
  const bool last = n.attr_int("select_last_index", 0) != 0;
  return [=, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const int64_t a = axis_of(axis, in[0].dim(), label);
    NNC_CHECK_CODE(in[0].dim() == 0 || in[0].size(a) > 0, kShape, "{}: empty axis", label);
    // ATen returns the first extreme value; the last one is the first of the reversed axis.
    const at::Tensor x = last ? in[0].flip(a) : in[0];
    auto i = max ? at::argmax(x, a, keep) : at::argmin(x, a, keep);
    out[0] = last ? in[0].size(a) - 1 - i : i;
  };
}

OpFn build_nonzero(const NodeInfo& n) {
  n.expect_attrs({});
  return [](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const auto& x = in[0];
    out[0] = x.dim() == 0 ? at::zeros({0, x.item<bool>() ? 1 : 0}, at::kLong) : at::nonzero(x).t().contiguous();
  };
}

OpFn build_one_hot(const NodeInfo& n) {
  n.expect_attrs({"axis"});
  const int64_t axis = n.attr_int("axis", -1);
  return [axis, label = n.label()](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    NNC_CHECK_CODE(in[1].numel() == 1, kShape, "{}: depth must be one value", label);
    NNC_CHECK_CODE(in[2].numel() == 2, kShape, "{}: values must be [off, on]", label);
    const double depth_value = in[1].to(at::kDouble).item<double>();
    NNC_CHECK_CODE(depth_value >= 1 && depth_value < 9e18, kShape, "{}: depth {} must be a positive count", label,
                   depth_value);
    const auto depth = static_cast<int64_t>(depth_value);
    const int64_t a = axis_of(axis, in[0].dim() + 1, label);
    auto idx = in[0].to(at::kLong);
    idx = at::where(idx < 0, idx + depth, idx);
    // Out-of-range indices give an all-off row, as ONNX specifies.
    auto classes = at::arange(depth, at::kLong);
    auto hot = idx.unsqueeze(-1) == classes;  // [..., depth]
    auto values = in[2];
    auto y = at::where(hot, values[1], values[0]);
    out[0] = y.movedim(-1, a).contiguous();
  };
}

OpFn build_trilu(const NodeInfo& n) {
  n.expect_attrs({"upper"});
  n.expect_int_in("upper", 0, 1);
  const bool upper = n.attr_int("upper", 1) != 0;
  return [upper](const RunContext&, std::span<const at::Tensor> in, std::span<at::Tensor> out) {
    const int64_t k = in.size() > 1 && in[1].defined() ? in[1].item<int64_t>() : 0;
    out[0] = upper ? at::triu(in[0], k) : at::tril(in[0], k);
  };
}

}  // namespace

void register_indexing_ops(OpRegistry& r) {
  r.add("GatherElements", build_gather_elements, 11);
  r.add("GatherND", build_gather_nd, 11);
  r.add("ScatterElements", build_scatter_elements, 11);
  r.add("Scatter", build_scatter_elements, 9, 10);
  r.add("ScatterND", build_scatter_nd, 11);
  r.add("ArgMax", [](const NodeInfo& n) { return build_arg(n, true); });
  r.add("ArgMin", [](const NodeInfo& n) { return build_arg(n, false); });
  r.add("NonZero", build_nonzero, 9);
  r.add("OneHot", build_one_hot, 9);
  r.add("Trilu", build_trilu, 14);
}

}  // namespace nnc::exec
