#include "nncompress/data/dataset.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>

#include "nncompress/core/error.hpp"
#include "nncompress/data/idx.hpp"
#include "nncompress/data/npy.hpp"
#include "nncompress/data/npz.hpp"

namespace nnc::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// uint8 and float kept (double -> float); NHW -> N1HW; NHWC (C in {1,3}) -> NCHW.
at::Tensor to_images(at::Tensor x, const std::string& what) {
  if (x.scalar_type() == at::kDouble) x = x.to(at::kFloat);
  NNC_CHECK_CODE(x.scalar_type() == at::kFloat || x.scalar_type() == at::kByte, kUnsupported,
                 "{}: images must be uint8 or float32", what);
  if (x.dim() == 3) x = x.unsqueeze(1);
  else if (x.dim() == 2) x = x.unsqueeze(1).unsqueeze(1);  // flat vectors: N x 1 x 1 x D
  else if (x.dim() == 4 && (x.size(3) == 1 || x.size(3) == 3) && x.size(1) != 1 && x.size(1) != 3)
    x = x.permute({0, 3, 1, 2});
  NNC_CHECK_CODE(x.dim() == 4, kShape, "{}: images must have 2, 3 or 4 dimensions", what);
  return x.contiguous();
}

at::Tensor to_labels(at::Tensor y, const std::string& what) {
  NNC_CHECK_CODE(y.dim() == 1, kShape, "{}: labels must be a 1-D array", what);
  NNC_CHECK_CODE(!at::isFloatingType(y.scalar_type()), kUnsupported, "{}: labels must be integers", what);
  return y.to(at::kLong);
}

void check_pair(const at::Tensor& x, const at::Tensor& y, const std::string& what) {
  NNC_CHECK_CODE(x.size(0) > 0, kInvalidArgument, "{}: empty data set", what);
  NNC_CHECK_CODE(x.size(0) == y.size(0), kShape, "{}: {} images but {} labels", what, x.size(0), y.size(0));
  NNC_CHECK_CODE(y.min().item<int64_t>() >= 0, kCorrupt, "{}: negative label", what);
}

// The pairs checked, the shapes of train and test images compared, the class count set.
DataSource checked(DataSource s) {
  check_pair(s.test_x, s.test_y, s.name + " (test)");
  if (!s.train_x.defined()) {
    s.num_classes = static_cast<int>(s.test_y.max().item<int64_t>() + 1);
    return s;
  }
  check_pair(s.train_x, s.train_y, s.name + " (train)");
  NNC_CHECK_OPTION_CODE(s.train_x.sizes().slice(1) == s.test_x.sizes().slice(1), "data", kShape,
                        "{}: train and test images have different shapes", s.name);
  s.num_classes = static_cast<int>(std::max(s.train_y.max().item<int64_t>(), s.test_y.max().item<int64_t>()) + 1);
  return s;
}

// Where a format keeps the four arrays and how to read one. `name` says which array is meant
// ("train_x.npy", "train-images-idx3-ubyte[.gz]", "array 'train_x'"); `file` says where it was
// read from, for errors in its contents.
struct Format {
  std::string train_x, train_y, test_x, test_y;
  std::function<bool(const std::string&)> has;
  std::function<at::Tensor(const std::string&)> read;
  std::function<std::string(const std::string&)> name, file;
};

fs::path find_one(const fs::path& dir, const std::string& stem) {
  for (const char* ext : {"", ".gz"}) {
    fs::path p = dir / (stem + ext);
    if (fs::exists(p)) return p;
  }
  return {};
}

Format idx_format(const fs::path& dir) {
  return {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
          [dir](const std::string& stem) { return !find_one(dir, stem).empty(); },
          [dir](const std::string& stem) { return read_idx(find_one(dir, stem)); },
          [](const std::string& stem) { return stem + "[.gz]"; },
          [dir](const std::string& stem) { return find_one(dir, stem).string(); }};
}

Format npy_format(const fs::path& dir) {
  return {"train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy",
          [dir](const std::string& f) { return fs::exists(dir / f); },
          [dir](const std::string& f) { return read_npy(dir / f); },
          [](const std::string& f) { return f; },
          [dir](const std::string& f) { return (dir / f).string(); }};
}

Format npz_format(const fs::path& path, std::shared_ptr<const NpzFile> npz) {
  return {"train_x", "train_y", "test_x", "test_y",
          [npz](const std::string& a) { return npz->contains(a); },
          [npz](const std::string& a) { return npz->read(a); },
          [](const std::string& a) { return "array '" + a + "'"; },
          [path](const std::string& a) { return path.string() + ": " + a; }};
}

bool is_npz(const fs::path& p) {
  if (p.extension() == ".npz") return true;
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

}  // namespace

DataSource load_data(const std::string& name_or_dir, TrainSplit train) {
  const fs::path path = name_or_dir == "fashion-mnist" ? fs::path(kFashionMnistDir) : fs::path(name_or_dir);
  const bool npz = fs::is_regular_file(path) && is_npz(path);
  NNC_CHECK_OPTION_CODE(npz || fs::is_directory(path), "data", kIo, "{}: {}{}", name_or_dir,
                        fs::exists(path) ? "not a folder or an .npz file" : "no such directory",
                        name_or_dir == "fashion-mnist" ? " (install the dataset-fashion-mnist package)" : "");
  Format f;
  if (npz) {
    auto archive = std::make_shared<const NpzFile>(path);
    f = npz_format(path, archive);
    const auto names = archive->names();
    NNC_CHECK_OPTION_CODE(f.has(f.train_x) || f.has(f.test_x), "data", kIo,
                          "{}: no arrays train_x, train_y, test_x, test_y in the archive (it holds: {})", name_or_dir,
                          names.empty() ? "nothing" : fmt::format("{}", fmt::join(names, ", ")));
  } else if (f = idx_format(path); f.has(f.train_x) || f.has(f.test_x)) {
  } else if (f = npy_format(path); f.has(f.train_x) || f.has(f.test_x)) {
  } else {
    throw OptionError(
        "data",
        fmt::format("{}: no data found (expected train-images-idx3-ubyte[.gz] etc., train_x.npy etc. or an .npz file)",
                    name_or_dir),
        ErrorCode::kIo);
  }
  // A test-only data set serves evaluation of a model whose normalisation is known, not the
  // commands that need the held-out training images.
  NNC_CHECK_OPTION_CODE(train != TrainSplit::kRequired || f.has(f.train_x), "data", kIo,
                        "{}: has test images only ({} but no {}); this command needs training images: the held-out "
                        "validation, calibration and hold-out images are drawn from them",
                        name_or_dir, f.name(f.test_x), f.name(f.train_x));
  const bool read_train = train == TrainSplit::kRequired || (train == TrainSplit::kIfPresent && f.has(f.train_x));
  auto need = [&](const std::string& array) {
    NNC_CHECK_OPTION_CODE(f.has(array), "data", kIo, "{}: missing {}", name_or_dir, f.name(array));
    return f.read(array);
  };
  DataSource s;
  s.name = name_or_dir;
  if (read_train) {
    s.train_x = to_images(need(f.train_x), f.file(f.train_x));
    s.train_y = to_labels(need(f.train_y), f.file(f.train_y));
  }
  s.test_x = to_images(need(f.test_x), f.file(f.test_x));
  s.test_y = to_labels(need(f.test_y), f.file(f.test_y));
  return checked(std::move(s));
}

DataSource make_source(std::string name, at::Tensor train_x, at::Tensor train_y, at::Tensor test_x, at::Tensor test_y,
                       int64_t holdout) {
  NNC_CHECK_OPTION(train_x.defined() == train_y.defined(), "data", "{}: training images and labels must be given together",
                   name);
  NNC_CHECK_OPTION(test_x.defined() == test_y.defined(), "data", "{}: test images and labels must be given together",
                   name);
  NNC_CHECK_OPTION(train_x.defined() || test_x.defined(), "data", "{}: no images", name);
  DataSource s;
  s.name = std::move(name);
  if (train_x.defined()) {
    s.train_x = to_images(train_x, s.name + " (training images)");
    s.train_y = to_labels(train_y, s.name + " (training labels)");
    check_pair(s.train_x, s.train_y, s.name + " (train)");
  }
  if (test_x.defined()) {
    s.test_x = to_images(test_x, s.name + " (test images)");
    s.test_y = to_labels(test_y, s.name + " (test labels)");
  } else {
    // The hold-out stands in for the test split: the last images, as make_splits holds them out.
    const int64_t n = s.train_x.size(0), held = std::min<int64_t>(holdout, n / 2);
    NNC_CHECK_OPTION(held > 0, "data", "{}: {} training images are too few to hold any out", s.name, n);
    s.test_x = s.train_x.slice(0, n - held, n);
    s.test_y = s.train_y.slice(0, n - held, n);
    s.test_is_holdout = true;
  }
  return checked(std::move(s));
}

at::Tensor normalise(const at::Tensor& images, const Normalisation& norm) {
  const int64_t c = images.dim() == 4 ? images.size(1) : 1;  // flat (N x D) inputs: one channel
  NNC_CHECK_OPTION(!norm.mean.empty() && norm.mean.size() == norm.std.size(), "mean", "has {} values but std has {}", norm.mean.size(), norm.std.size());
  NNC_CHECK(norm.mean.size() == 1 || static_cast<int64_t>(norm.mean.size()) == c,
            "normalisation has {} values but the images have {} channels", norm.mean.size(), c);
  for (float s : norm.std) NNC_CHECK_OPTION(s > 0, "std", "{}: values must be positive", s);
  std::vector<int64_t> shape(static_cast<std::size_t>(images.dim()), 1);
  shape[1] = -1;
  auto mean = at::tensor(norm.mean).reshape(shape);
  auto std = at::tensor(norm.std).reshape(shape);
  // One new buffer, worked in place: the same arithmetic as ((x / 255) - mean) / std.
  auto out = images.scalar_type() == at::kByte ? pixels(images) : images - mean;
  if (images.scalar_type() == at::kByte) out.sub_(mean);
  return out.div_(std).contiguous();
}

at::Tensor pixels(const at::Tensor& images) {
  if (images.scalar_type() != at::kByte) return images;
  return images.to(at::kFloat, /*non_blocking=*/false, /*copy=*/false, at::MemoryFormat::Contiguous).div_(255.0);
}

Splits make_splits(const DataSource& s, const Normalisation& norm, const SplitOptions& o) {
  const int64_t n = s.train_x.size(0);
  NNC_CHECK(o.holdout > 0 && o.holdout < n, "hold-out of {} images does not fit a training split of {}", o.holdout, n);
  NNC_CHECK_OPTION(o.val > 0 && o.val <= o.holdout, "val", "{}: must be between 1 and the {} held-out images", o.val,
            o.holdout);
  NNC_CHECK_OPTION(o.calib > 0 && o.calib <= o.holdout, "calib", "{}: must be between 1 and the {} held-out images", o.calib,
            o.holdout);
  Splits sp;
  const int64_t train_n = n - o.holdout;
  auto make = [&](const at::Tensor& x, const at::Tensor& y) {
    return Dataset{normalise(x, norm), y.contiguous(), s.num_classes};
  };
  sp.train = make(s.train_x.narrow(0, 0, train_n), s.train_y.narrow(0, 0, train_n));
  sp.test = make(s.test_x, s.test_y);
  auto held_x = s.train_x.narrow(0, train_n, o.holdout);
  auto held_y = s.train_y.narrow(0, train_n, o.holdout);
  sp.holdout = make(held_x, held_y);

  // Validation: class-balanced, val / classes per class (remainder to the lowest classes).
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int64_t>> by_class(static_cast<std::size_t>(s.num_classes));
  auto yacc = held_y.accessor<int64_t, 1>();
  for (int64_t i = 0; i < o.holdout; ++i) by_class[static_cast<std::size_t>(yacc[i])].push_back(i);
  for (auto& v : by_class) std::shuffle(v.begin(), v.end(), rng);
  std::vector<int64_t> val_idx;
  const int64_t classes = s.num_classes;
  for (int64_t c = 0; c < classes; ++c) {
    int64_t want = o.val / classes + (c < o.val % classes ? 1 : 0);
    auto& v = by_class[static_cast<std::size_t>(c)];
    if (want > static_cast<int64_t>(v.size())) {
      const auto smallest = std::min_element(by_class.begin(), by_class.end(),
                                             [](const auto& a, const auto& b) { return a.size() < b.size(); });
      fail_option("val",
           "{}: the validation set is class-balanced and class {} has only {} held-out images; use {} or less",
           o.val, smallest - by_class.begin(), smallest->size(), classes * static_cast<int64_t>(smallest->size()));
    }
    val_idx.insert(val_idx.end(), v.begin(), v.begin() + want);
  }
  std::sort(val_idx.begin(), val_idx.end());
  auto vi = at::tensor(val_idx, at::kLong);
  sp.val = make(held_x.index_select(0, vi), held_y.index_select(0, vi));

  std::vector<int64_t> all(static_cast<std::size_t>(o.holdout));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(o.calib));
  std::sort(all.begin(), all.end());
  auto ci = at::tensor(all, at::kLong);
  sp.calib = make(held_x.index_select(0, ci), held_y.index_select(0, ci));
  return sp;
}

}  // namespace nnc::data
