"""nncompress from Python: compress a trained network (ONNX) and prove on real data what it kept.

    import nncompress
    r = nncompress.compress("model.onnx", train_images, train_labels, max_drop=0.5)
    r.save("small.onnx", "small.nnc")

``model`` is an ONNX path or ONNX bytes (what ``torch.onnx.export`` writes into a ``BytesIO``),
or a ``.nnc`` container. ``images``/``labels`` are the TRAINING data (NumPy arrays, PyTorch
tensors, or an iterable of ``(x, y)`` batches such as a ``DataLoader``): the hold-out,
validation and calibration splits are drawn from them exactly as the command line draws them
from a data folder. ``test_images=``/``test_labels=`` give the test figures; without them the
hold-out images stand in and ``summary["test_split"]`` says ``"holdout"``.

Options are the step's option fields (``nncompress.methods()`` lists them with their defaults,
the same names recipes use; ``finetune_epochs=2`` is short for ``finetune={"epochs": 2}``).
Bad options raise ``ValueError`` (``nncompress.OptionError``, naming the field); every other
failure raises ``nncompress.Error``. Ctrl-C stops the work at its next stopping point and raises
``KeyboardInterrupt``; calling again with the same arguments resumes where the work left off.
The GIL is released while the library works. See docs/python.md.
"""

import json
import logging
import os
import sys
import tempfile

from . import _core
from .progress import ProgressBar

Error = _core.Error
OptionError = _core.OptionError
__version__ = _core.version

__all__ = ["evaluate", "compress", "share", "prune", "lowrank", "fit", "finetune", "quantize", "methods", "default_recipe",
           "Result", "Error", "OptionError", "ProgressBar"]

_log = logging.getLogger("nncompress")


def _option_error(field, detail):
    e = OptionError("{} {}".format(field, detail))
    e.field = field
    return e

# Keyword arguments that are not step options.
_DATA_KEYS = ("mean", "std", "holdout", "val", "calib", "seed", "batch")
_JOB_KEYS = ("threads", "cache_dir")


def methods():
    """The registered steps: a list of {name, summary, paper, defaults}."""
    return json.loads(_core.methods())


def default_recipe(size=False):
    """The built-in recipe of compress (YAML text); with size=True the built-in size recipe."""
    return _core.recipe_text(bool(size))


class Result:
    """What a compression call made: the compressed ONNX (bytes, runs in any ONNX runtime), the
    .nnc container (bytes), the summary (the same dict as the command line's --json) and, for
    compress with report=, the report folder."""

    def __init__(self, onnx, nnc, summary, report=None):
        self.onnx = onnx
        self.nnc = nnc
        self.summary = summary
        self.report = report

    def save(self, onnx_path, nnc_path=None):
        """Writes the ONNX file (and the .nnc container) atomically: a complete file or none."""
        _write_atomic(onnx_path, self.onnx)
        if nnc_path is not None:
            _write_atomic(nnc_path, self.nnc)
        return self

    def __repr__(self):
        s = self.summary
        ratio = s.get("ratio", s.get("final", {}).get("ratio"))
        return "<nncompress.Result onnx {} bytes, nnc {} bytes, ratio {}>".format(
            len(self.onnx), len(self.nnc), "{:.2f}x".format(ratio) if ratio else "?")


def evaluate(model, images, labels, *, mean=None, std=None, batch=256, threads=0, progress=None, note=None):
    """Top-1, top-5, loss and macro-F1 of `model` on these images (all of them): a dict with top1,
    top5 (fractions), loss, macro_f1, n, seconds and the normalisation used."""
    x, y = _arrays(images, labels, "images")
    with tempfile.TemporaryDirectory(prefix="nncompress-") as tmp:
        path = _model_file(model, tmp)
        options = {"mean": _floats(mean), "std": _floats(std), "batch": batch, "threads": threads}
        return json.loads(_core.evaluate(path, x, y, json.dumps(options), _progress(progress), _note(note)))


def share(model, images, labels, **options):
    """Weight sharing: one codebook of uniform bins for all layers, searched by NSGA-II (the
    smallest within max_drop, or with size="12KB" or bytes the most accurate whose file fits)."""
    return _run_step("share", model, images, labels, options)


def prune(model, images, labels, **options):
    """Layer-adaptive pruning by rate-distortion curves and dynamic programming (sparsity=..., or
    size="12KB" or bytes: the sparsity a later fit into that size asks for)."""
    return _run_step("prune", model, images, labels, options)


def lowrank(model, images, labels, **options):
    """ALDS low-rank decomposition of the layers (keep=...)."""
    return _run_step("lowrank", model, images, labels, options)


def fit(model, images, labels, **options):
    """Joint pruning and quantisation into a file size (size="12KB" or bytes), by ADMM."""
    return _run_step("fit", model, images, labels, options)


def finetune(model, images, labels, **options):
    """Fine-tuning that keeps what the earlier steps did (masks, codebooks)."""
    return _run_step("finetune", model, images, labels, options)


def quantize(model, images, labels, **options):
    """8-bit integer quantisation in the QDQ format (`nncompress quantize`): int8 weights per output
    channel, uint8 activations calibrated on the calibration images (unless weights_only=True),
    int32 biases. The Result's .onnx runs on ONNX Runtime's int8 kernels; .nnc holds the int8
    weights as coded integers. A pruned or shared model keeps its zeros and has its shared values
    snapped to the int8 grid (options: weights_only, calibration, percentile, keep_fp32, reduce_range:
    weights in [-63, 63], exact in ONNX Runtime on x86 CPUs without VNNI)."""
    return _run_step("quantize", model, images, labels, options)


def compress(model, images, labels, *, max_drop=None, size=None, recipe=None, report=None, test_images=None,
             test_labels=None, onnx_dense=False, progress=None, note=None, command=None, **options):
    """The methods composed by a recipe under one accuracy budget (max_drop, percentage points of
    hold-out top-1; default 0.5) or into a file size (size="12KB"): `nncompress compress`.

    recipe: a path, YAML/JSON text, or a dict with the recipe's fields (docs/recipes.md);
    default: the built-in recipe (with size=, the built-in size recipe).
    report: a folder for report.html, summary.json and each step's report files."""
    data, job, rest = _split(options)
    if rest:
        raise _option_error(sorted(rest)[0], "is not an option of compress (options: max_drop, size, recipe, report, "
                            "test_images, test_labels, onnx_dense, progress, note, {})".format(
                                ", ".join(_DATA_KEYS + _JOB_KEYS)))
    if isinstance(size, int):
        size = str(size)
    if max_drop is None and size is None:
        max_drop = 0.5
    recipe_text, recipe_path = "", ""
    if isinstance(recipe, dict):
        recipe_text = json.dumps(recipe)
    elif isinstance(recipe, (str, os.PathLike)):
        if os.path.exists(os.fspath(recipe)):
            recipe_path = os.fspath(recipe)
        elif "\n" in str(recipe) or "steps" in str(recipe):
            recipe_text = str(recipe)
        else:
            raise _option_error("recipe", "{}: no such file".format(recipe))
    elif recipe is not None:
        raise _option_error("recipe", "expected a path, YAML/JSON text or a dict, got {}".format(type(recipe).__name__))
    job.update(data)
    job.update({"compact_pruned": not onnx_dense, "max_drop": max_drop, "size": size or "",
                "command": command or _command("compress", model, max_drop=max_drop, size=size, recipe=recipe)})
    if report is not None:
        job["report"] = os.fspath(report)
    run = lambda *args: _core.run_compress(recipe_text, recipe_path, *args)  # noqa: E731
    return _call(run, model, images, labels, test_images, test_labels, job, progress, note, report)


# ---- helpers ------------------------------------------------------------------------------

def _run_step(name, model, images, labels, options):
    test_images = options.pop("test_images", None)
    test_labels = options.pop("test_labels", None)
    progress = options.pop("progress", None)
    note = options.pop("note", None)
    onnx_sparse = options.pop("onnx_sparse", name == "prune")
    if isinstance(options.get("size"), int):  # a size in bytes (fit, prune, share)
        options["size"] = str(options["size"])
    data, job, step_options = _split(options)
    step_options = _step_options(name, step_options)
    job.update(data)
    job["compact_pruned"] = bool(onnx_sparse)
    run = lambda *args: _core.run_step(name, json.dumps(step_options), *args)  # noqa: E731
    return _call(run, model, images, labels, test_images, test_labels, job, progress, note,
                 step_options.get("report_dir"))


def _call(run, model, images, labels, test_images, test_labels, job, progress, note, report=None):
    """The frame of every compressing call: the arrays, the model as a file, the outputs in a
    temporary folder read back into the Result."""
    x, y = _arrays(images, labels, "images")
    tx, ty = _arrays(test_images, test_labels, "test_images") if test_images is not None else (None, None)
    with tempfile.TemporaryDirectory(prefix="nncompress-") as tmp:
        job.update({"model": _model_file(model, tmp), "onnx": os.path.join(tmp, "out.onnx"),
                    "nnc": os.path.join(tmp, "out.nnc")})
        summary = json.loads(run(json.dumps(job), x, y, tx, ty, _progress(progress), _note(note)))
        return _result(summary, model, tmp, report)


def _result(summary, model, tmp, report):
    onnx_path, nnc_path = os.path.join(tmp, "out.onnx"), os.path.join(tmp, "out.nnc")
    if not os.path.exists(onnx_path):
        raise Error("the work stopped before it changed the model: nothing was made")
    with open(onnx_path, "rb") as f:
        onnx = f.read()
    nnc = None
    if os.path.exists(nnc_path):
        with open(nnc_path, "rb") as f:
            nnc = f.read()
    # The temporary files are gone when this returns: the summary names what the caller gave.
    summary["model"] = _model_name(model)
    summary["output"] = None
    if "nnc" in summary:
        summary["nnc"] = None
    return Result(onnx, nnc, summary, os.fspath(report) if report else None)


def _split(options):
    data = {k: options.pop(k) for k in _DATA_KEYS if k in options}
    for k in ("mean", "std"):
        if k in data:
            data[k] = _floats(data[k])
    job = {k: options.pop(k) for k in _JOB_KEYS if k in options}
    if "cache_dir" in job:
        job["cache_dir"] = os.fspath(job["cache_dir"])
    return data, job, options


_DEFAULTS = None


def _step_options(name, options):
    """Keyword arguments as the step's option fields: finetune_epochs=2 -> {"finetune": {"epochs": 2}},
    report= -> report_dir (where the step has one). Unknown names go through, for the library to name."""
    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = {m["name"]: m["defaults"] for m in methods()}
    defaults = _DEFAULTS.get(name, {})
    out = {}
    for key, value in options.items():
        if key == "report" and "report_dir" in defaults:
            key = "report_dir"
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if key not in defaults:
            nested = [p for p, sub in defaults.items()
                      if isinstance(sub, dict) and key.startswith(p + "_") and key[len(p) + 1:] in sub]
            if nested:
                out.setdefault(nested[0], {})[key[len(nested[0]) + 1:]] = value
                continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def _floats(v):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return [float(v)]
    return [float(a) for a in v]


def _numpy(a):
    import numpy as np
    if hasattr(a, "detach") and hasattr(a, "numpy"):  # a PyTorch tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _arrays(images, labels, what):
    """(images, labels) as NumPy arrays; an iterable of (x, y) batches (a DataLoader) when labels
    is None. Arrays are passed on as they are (the library reads their buffer in place)."""
    import numpy as np
    if labels is None:
        if images is None:
            raise _option_error(what, "missing")
        xs, ys = [], []
        try:
            for batch in images:
                x, y = batch[0], batch[1]
                xs.append(_numpy(x))
                ys.append(_numpy(y).reshape(-1))
        except TypeError:
            raise _option_error(what, "without labels, expected an iterable of (images, labels) batches")
        if not xs:
            raise _option_error(what, "the iterable gave no batches")
        return np.concatenate(xs), np.concatenate(ys)
    return _numpy(images), _numpy(labels)


def _model_file(model, tmp):
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise Error("{}: no such file".format(path))
        return path
    if hasattr(model, "getvalue"):  # io.BytesIO
        model = model.getvalue()
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        path = os.path.join(tmp, "model.nnc" if data[:4] == b"NNC\0" else "model.onnx")
        with open(path, "wb") as f:
            f.write(data)
        return path
    raise _option_error("model", "expected a path or ONNX bytes, got {}".format(type(model).__name__))


def _model_name(model):
    return os.fspath(model) if isinstance(model, (str, os.PathLike)) else "<bytes>"


def _command(what, model, **kwargs):
    args = [repr(_model_name(model))] + ["{}={!r}".format(k, v) for k, v in kwargs.items() if v is not None]
    return "nncompress.{}({}, ...)".format(what, ", ".join(args))


def _progress(progress):
    if progress is False:
        return None
    if progress is None or progress is True:
        return ProgressBar() if (progress is True or sys.stderr.isatty()) else None
    return progress


def _note(note):
    if note is None:
        return _log.info
    if note is False:
        return None
    return note


def _write_atomic(path, data):
    if data is None:
        raise Error("{}: nothing to write (no .nnc container was made)".format(path))
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".nncompress-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
