#include "exec/ops/padding.hpp"

#include <fmt/ranges.h>

#include "nncompress/core/error.hpp"

namespace nnc::exec {

SpatialAttrs read_spatial_attrs(const NodeInfo& n, bool pool) {
  SpatialAttrs a;
  a.auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (a.auto_pad != "NOTSET" && a.auto_pad != "VALID" && a.auto_pad != "SAME_UPPER" && a.auto_pad != "SAME_LOWER")
    n.unsupported("auto_pad '" + a.auto_pad + "'");
  a.kernel_shape = n.attr_ints("kernel_shape");
  a.strides = n.attr_ints("strides");
  a.dilations = n.attr_ints("dilations");
  a.pads = n.attr_ints("pads");
  n.expect_ints_in("kernel_shape", 1);
  n.expect_ints_in("strides", 1);
  n.expect_ints_in("dilations", 1);
  n.expect_ints_in("pads", 0);
  if (pool && a.kernel_shape.empty()) n.invalid("kernel_shape is required");
  if (a.pads.size() % 2) n.invalid(fmt::format("pads has {} values, two per spatial axis", a.pads.size()));
  // Every attribute given describes the same spatial axes.
  const char* first = nullptr;
  auto agree = [&](const char* name, std::size_t axes) {
    if (axes == 0) return;
    if (!first) {
      first = name;
      a.rank = axes;
    } else if (axes != a.rank) {
      n.invalid(fmt::format("{} is for {} spatial axes but {} for {}", first, a.rank, name, axes));
    }
  };
  agree("kernel_shape", a.kernel_shape.size());
  agree("strides", a.strides.size());
  agree("dilations", a.dilations.size());
  agree("pads", a.pads.size() / 2);
  if (a.rank > 3) n.unsupported(fmt::format("{} spatial axes (1 to 3 are supported)", a.rank));
  if (pool && !a.pads.empty())
    for (std::size_t i = 0; i < a.rank; ++i)
      if (a.pads[i] >= a.kernel_shape[i] || a.pads[i + a.rank] >= a.kernel_shape[i])
        n.invalid(fmt::format("pads [{}] must be smaller than kernel_shape [{}] along every axis",
                              fmt::join(a.pads, ","), fmt::join(a.kernel_shape, ",")));
  return a;
}

std::vector<int64_t> SpatialGeometry::torch_pad_spec() const {
  std::vector<int64_t> spec;
  for (std::size_t i = pad_begin.size(); i-- > 0;) {
    spec.push_back(pad_begin[i]);
    spec.push_back(pad_end[i]);
  }
  return spec;
}

SpatialGeometry resolve_spatial(const SpatialAttrs& a, c10::IntArrayRef in, const std::vector<int64_t>& kernel,
                                const std::string& label) {
  const std::size_t n = in.size();
  NNC_CHECK_CODE(kernel.size() == n, kShape, "{}: kernel has {} spatial dims but input has {}", label,
                 kernel.size(), n);
  SpatialGeometry g;
  g.strides = a.strides.empty() ? std::vector<int64_t>(n, 1) : a.strides;
  g.dilations = a.dilations.empty() ? std::vector<int64_t>(n, 1) : a.dilations;
  NNC_CHECK_CODE(g.strides.size() == n && g.dilations.size() == n, kShape,
                 "{}: strides/dilations do not match {} spatial dims", label, n);
  g.pad_begin.assign(n, 0);
  g.pad_end.assign(n, 0);
  if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
    for (std::size_t i = 0; i < n; ++i) {
      int64_t out = (in[i] + g.strides[i] - 1) / g.strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[i] + (kernel[i] - 1) * g.dilations[i] + 1 - in[i]);
      int64_t small = total / 2;
      g.pad_begin[i] = a.auto_pad == "SAME_UPPER" ? small : total - small;
      g.pad_end[i] = total - g.pad_begin[i];
    }
  } else if (a.auto_pad == "NOTSET" && !a.pads.empty()) {
    NNC_CHECK_CODE(a.pads.size() == 2 * n, kShape, "{}: pads has {} values, expected {}", label, a.pads.size(), 2 * n);
    for (std::size_t i = 0; i < n; ++i) {
      g.pad_begin[i] = a.pads[i];
      g.pad_end[i] = a.pads[i + n];
    }
  }
  g.symmetric = g.pad_begin == g.pad_end;
  return g;
}

}  // namespace nnc::exec
