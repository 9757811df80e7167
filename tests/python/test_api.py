"""nncompress from Python: every call checked against what it claims (accuracy of the bytes it
returns, sizes read from the bytes, the CLI on the same data), errors as Python exceptions, the GIL
released, Ctrl-C."""
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import nncompress

CLI = os.environ.get("NNC_CLI", "nncompress")


def test_evaluate_equals_the_cli(data, lenet5, tmp_path):
    r = nncompress.evaluate(lenet5, data["tx"], data["ty"])
    assert r["n"] == 500
    assert 0.80 < r["top1"] <= 1.0 and r["top5"] >= r["top1"]
    assert r["normalisation"]["source"] == "metadata"
    # The CLI on the same images written as NPY files.
    np.save(tmp_path / "test_x.npy", data["tx"])
    np.save(tmp_path / "test_y.npy", data["ty"])
    out = subprocess.run([CLI, "eval", lenet5, "--data", str(tmp_path), "--json", "-q"], check=True,
                         capture_output=True, text=True).stdout
    cli = json.loads(out)
    assert r["top1"] == cli["top1"] and abs(r["loss"] - cli["loss"]) < 1e-6


def test_inputs_in_every_form_give_the_same_figures(data, lenet5):
    base = nncompress.evaluate(lenet5, data["tx"], data["ty"])
    with open(lenet5, "rb") as f:
        raw = f.read()
    as_bytes = nncompress.evaluate(raw, data["tx"], data["ty"])
    as_bytesio = nncompress.evaluate(io.BytesIO(raw), data["tx"], data["ty"])
    # float32 pixels in [0, 1] with the model's own normalisation given, and non-contiguous arrays.
    mean, std = base["normalisation"]["mean"], base["normalisation"]["std"]
    floats = nncompress.evaluate(lenet5, (data["tx"] / 255.0).astype(np.float32), data["ty"].astype(np.int32),
                                 mean=mean, std=std)
    strided = nncompress.evaluate(lenet5, np.asfortranarray(data["tx"]), data["ty"][::1])
    # A DataLoader-like iterable of (x, y) batches.
    batches = [(data["tx"][i:i + 64], data["ty"][i:i + 64]) for i in range(0, 500, 64)]
    iterable = nncompress.evaluate(lenet5, batches, None)
    for r in (as_bytes, as_bytesio, floats, strided, iterable):
        assert r["n"] == 500
        assert abs(r["top1"] - base["top1"]) < 1e-9, r
        assert abs(r["loss"] - base["loss"]) < 1e-4, r


def test_float_arrays_are_used_as_given(data, lenet5):
    pixels = nncompress.evaluate(lenet5, data["tx"], data["ty"])
    mean, std = pixels["normalisation"]["mean"][0], pixels["normalisation"]["std"][0]
    normalised = ((data["tx"] / 255.0 - mean) / std).astype(np.float32)
    r = nncompress.evaluate(lenet5, normalised, data["ty"])
    assert r["normalisation"]["source"] == "float arrays used as given"
    assert abs(r["top1"] - pixels["top1"]) < 1e-9 and abs(r["loss"] - pixels["loss"]) < 1e-4


def test_a_model_exported_by_pytorch_into_bytesio(data):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 26 * 26, 10)).eval()
    buf = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), buf, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=17)
    x = (data["tx"][:, None].astype(np.float32) / 255.0 - 0.5) / 0.25
    r = nncompress.evaluate(buf, x, data["ty"], mean=0.0, std=1.0)
    with torch.no_grad():
        expect = (net(torch.from_numpy(x)).argmax(1).numpy() == data["ty"]).mean()
    assert abs(r["top1"] - expect) <= 1.0 / 500


def test_prune_returns_what_its_summary_says(data, lenet5, small, tmp_path):
    r = nncompress.prune(lenet5, data["x"], data["y"], test_images=data["tx"], test_labels=data["ty"],
                         sparsity=0.5, comparison=False, progress=False, **small)
    s = r.summary
    assert abs(s["sparsity"] - 0.5) < 0.01
    assert s["test_split"] == "test" and s["model"] == lenet5 and s["output"] is None
    # Sizes are the bytes returned; the honest ratio is fp32 bytes / .nnc bytes.
    assert s["nnc_bytes"] == len(r.nnc) and s["onnx_bytes"] == len(r.onnx)
    assert abs(s["ratio"] - s["fp32_bytes"] / len(r.nnc)) < 1e-6
    # Both outputs measure what the summary says, on the same test images.
    for blob in (r.onnx, r.nnc):
        m = nncompress.evaluate(blob, data["tx"], data["ty"])
        assert abs(m["top1"] - s["top1_after"]) < 1e-9
    r.save(tmp_path / "p.onnx", tmp_path / "p.nnc")
    assert (tmp_path / "p.onnx").read_bytes() == r.onnx and (tmp_path / "p.nnc").read_bytes() == r.nnc
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".nncompress-")] == []


def test_prune_to_the_sparsity_a_size_in_bytes_asks_for(data, lenet5, small):
    r = nncompress.prune(lenet5, data["x"], data["y"], size=12288, comparison=False, progress=False, **small)
    s = r.summary
    assert s["size_sparsity"]["size"] == 12288 and s["size_sparsity"]["predicted_bytes"] <= 12288
    assert 0.95 < s["size_sparsity"]["sparsity"] < 0.99
    assert abs(s["sparsity"] - s["size_sparsity"]["sparsity"]) < 0.01


def test_prune_writes_what_the_cli_writes_for_the_same_data_and_seed(data, lenet5, small, tmp_path):
    r = nncompress.prune(lenet5, data["x"], data["y"], test_images=data["tx"], test_labels=data["ty"],
                         sparsity=0.7, comparison=False, seed=3, progress=False, **small)
    for name, a in (("train_x", data["x"]), ("train_y", data["y"]), ("test_x", data["tx"]), ("test_y", data["ty"])):
        np.save(tmp_path / (name + ".npy"), a)
    subprocess.run([CLI, "prune", lenet5, "--data", str(tmp_path), "--val", "300", "--calib", "256", "--seed", "3",
                    "--sparsity", "0.7", "--no-comparison", "--onnx-sparse", "-o", str(tmp_path / "p.onnx"), "--nnc",
                    str(tmp_path / "p.nnc"), "-q"], check=True)
    assert (tmp_path / "p.nnc").read_bytes() == r.nnc
    assert (tmp_path / "p.onnx").read_bytes() == r.onnx


def test_without_test_data_the_holdout_stands_in(data, lenet5, small):
    r = nncompress.prune(lenet5, data["x"], data["y"], sparsity=0.3, comparison=False, progress=False, **small)
    assert r.summary["test_split"] == "holdout"
    held = nncompress.evaluate(r.onnx, data["x"][600:], data["y"][600:])
    assert abs(held["top1"] - r.summary["top1_after"]) < 1e-9


def test_share_with_flat_finetune_options_and_progress(data, lenet5, small):
    events = []
    r = nncompress.share(lenet5, data["x"], data["y"], test_images=data["tx"], test_labels=data["ty"], pop=8, gens=2,
                         max_evals=30, progress=events.append, **small)
    s = r.summary
    assert s["nnc_bytes"] == len(r.nnc) and s["ratio"] > 4
    assert abs(nncompress.evaluate(r.onnx, data["tx"], data["ty"])["top1"] - s["top1_after"]) < 1e-9
    assert abs(nncompress.evaluate(r.nnc, data["tx"], data["ty"])["top1"] - s["top1_after"]) < 1e-9
    assert events and all({"what", "done", "total", "seconds", "message", "finished"} <= e.keys() for e in events)
    assert any(e["done"] > 0 for e in events) and all(0 <= e["done"] <= e["total"] for e in events if e["total"] > 0)


def test_share_to_a_size_takes_the_most_accurate_codebook_that_fits(data, lenet5, small):
    r = nncompress.share(lenet5, data["x"], data["y"], size=200000, pop=8, gens=2, max_evals=30, progress=False,
                         **small)
    s = r.summary
    assert s["size"]["size_cap"] == 200000 and s["size"]["written_bytes"] == s["nnc_bytes"] == len(r.nnc) <= 200000
    assert 0 < s["size"]["fitting_candidates"] <= s["size"]["measured_candidates"]
    with pytest.raises(ValueError, match="size 2000 .*no searched codebook's file fits; the smallest is about"):
        nncompress.share(lenet5, data["x"], data["y"], size=2000, pop=8, gens=2, max_evals=30, progress=False, **small)


def test_compress_with_a_recipe_dict_and_a_report(data, lenet5, small, tmp_path):
    recipe = {"name": "py", "steps": [{"step": "prune", "options": {"sparsity": 0.6, "comparison": False}},
                                      {"step": "finetune", "options": {"epochs": 1}}]}
    r = nncompress.compress(lenet5, data["x"], data["y"], test_images=data["tx"], test_labels=data["ty"],
                            max_drop=5, recipe=recipe, report=tmp_path / "rep", progress=False, **small)
    s = r.summary
    assert [row["step"] for row in s["steps"]][1:] == ["prune", "finetune"]
    assert s["final"]["nnc_bytes"] == len(r.nnc)
    assert (tmp_path / "rep" / "report.html").stat().st_size > 1000
    assert r.report == str(tmp_path / "rep")
    m = nncompress.evaluate(r.nnc, data["tx"], data["ty"])
    assert abs(m["top1"] - s["final"]["test_top1"]) < 1e-9
    assert "steps:" in nncompress.default_recipe() and "fit" in nncompress.default_recipe(size=True)


def test_quantize_returns_a_qdq_model_that_measures_as_it_says(data, lenet5, small):
    r = nncompress.quantize(lenet5, data["x"], data["y"], test_images=data["tx"], test_labels=data["ty"],
                            progress=False, **small)
    s = r.summary
    assert s["onnx_bytes"] == len(r.onnx) and s["onnx_ratio"] > 3.8 and s["nnc_bytes"] == len(r.nnc) < len(r.onnx)
    assert len(s["layers"]) == 4 and s["activations"]
    assert abs(nncompress.evaluate(r.onnx, data["tx"], data["ty"])["top1"] - s["top1_after"]) < 1e-9
    assert abs(nncompress.evaluate(r.nnc, data["tx"], data["ty"])["top1"] - s["top1_after"]) < 1e-9
    assert abs(s["top1_drop_pt"]) <= 2.0
    w = nncompress.quantize(lenet5, data["x"], data["y"], weights_only=True, progress=False, **small)
    assert w.summary["activations"] == [] and w.summary["test_split"] == "holdout"
    with pytest.raises(ValueError, match="calibration 'kl'"):
        nncompress.quantize(lenet5, data["x"], data["y"], calibration="kl", **small)


def test_bad_options_raise_value_error_naming_the_field(data, lenet5, small):
    with pytest.raises(ValueError) as e:
        nncompress.prune(lenet5, data["x"], data["y"], sparsity=1.5, **small)
    assert e.value.field == "sparsity" and isinstance(e.value, nncompress.Error)
    with pytest.raises(nncompress.OptionError, match="lrr is not an option of prune"):
        nncompress.prune(lenet5, data["x"], data["y"], lrr=0.1, **small)
    with pytest.raises(ValueError, match="finetune.lr -1: must be positive") as e:
        nncompress.prune(lenet5, data["x"], data["y"], finetune_lr=-1, **small)
    assert e.value.field == "finetune.lr"
    with pytest.raises(ValueError, match="labels must be integers"):
        nncompress.evaluate(lenet5, data["tx"], data["ty"].astype(np.float32))
    with pytest.raises(ValueError, match="calib"):
        nncompress.prune(lenet5, data["x"], data["y"], val=300, calib=5000)
    n = len(data["y"])
    with pytest.raises(ValueError, match=f"holdout {n}: the training split has {n} images"):
        nncompress.prune(lenet5, data["x"], data["y"], holdout=n, **small)
    with pytest.raises(ValueError, match="is not an option of compress"):
        nncompress.compress(lenet5, data["x"], data["y"], sparsity=0.5)


def test_other_failures_raise_error_with_one_line(data, lenet5, tmp_path):
    with pytest.raises(nncompress.Error, match="no such file"):
        nncompress.evaluate(tmp_path / "missing.onnx", data["tx"], data["ty"])
    with pytest.raises(nncompress.Error) as e:
        nncompress.evaluate(b"not an onnx model", data["tx"], data["ty"])
    assert "\n" not in str(e.value) and not isinstance(e.value, ValueError)
    with pytest.raises(nncompress.Error, match="images have shape"):
        nncompress.evaluate(lenet5, data["tx"][:, :20, :20], data["ty"])
    with pytest.raises(nncompress.Error, match="500 images but 499 labels"):
        nncompress.evaluate(lenet5, data["tx"], data["ty"][:499])


def test_the_gil_is_released_while_the_library_works(data, lenet5):
    images = np.concatenate([data["tx"]] * 8)
    labels = np.concatenate([data["ty"]] * 8)
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    start = time.perf_counter()
    nncompress.evaluate(lenet5, images, labels, progress=False)
    end = time.perf_counter()
    done.set()
    t.join()
    during = [x for x in ticks if start < x < end]
    # Python ran on the other thread throughout: no gap of more than 0.25 s.
    assert len(during) > 10, (len(during), end - start)
    gaps = np.diff([start] + during + [end])
    assert gaps.max() < 0.25, gaps.max()


CTRL_C = r"""
import sys, time, numpy as np, nncompress
sys.path.insert(0, sys.argv[1])
from conftest import read_idx
x, y = read_idx("train-images-idx3", 1200), read_idx("train-labels-idx1", 1200)
seen = []
def progress(e):
    if not seen:
        seen.append(1)
        print("started", flush=True)
start = time.time()
try:
    nncompress.share(sys.argv[2], x, y, val=300, calib=256, pop=40, gens=100, progress=progress)
    print("finished without a stop")
except KeyboardInterrupt as e:
    print("KeyboardInterrupt", round(time.time() - start, 1), e, flush=True)
"""


def test_ctrl_c_stops_the_work_and_raises_keyboard_interrupt(lenet5, tmp_path):
    env = dict(os.environ, NNC_RUN_STATE_DIR=str(tmp_path / "state"))
    p = subprocess.Popen([sys.executable, "-c", CTRL_C, os.path.dirname(__file__), lenet5], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.0)
    sent = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert "KeyboardInterrupt" in out, out + err
    assert time.time() - sent < 60
    assert p.returncode == 0


def test_methods_lists_every_step_with_its_defaults():
    names = {m["name"]: m for m in nncompress.methods()}
    assert {"share", "prune", "lowrank", "fit", "finetune"} <= names.keys()
    assert names["prune"]["defaults"]["finetune"]["epochs"] == 0
    assert nncompress.__version__
