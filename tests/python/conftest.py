"""Fixtures of the Python module's tests: a small Fashion-MNIST (1,200 training images: 600 held
out; 500 test images) read into NumPy, the committed models, the CLI for cross-checks."""
import gzip
import os

import numpy as np
import pytest

ROOT = os.environ.get("NNC_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(name, n):
    with gzip.open(os.path.join(FASHION, name + "-ubyte.gz")) as f:
        data = f.read()
    if "images" in name:
        return np.frombuffer(data, np.uint8, offset=16)[: n * 784].reshape(n, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)[:n].astype(np.int64)


@pytest.fixture(scope="session")
def data():
    return {
        "x": read_idx("train-images-idx3", 1200), "y": read_idx("train-labels-idx1", 1200),
        "tx": read_idx("t10k-images-idx3", 500), "ty": read_idx("t10k-labels-idx1", 500),
    }


@pytest.fixture(scope="session")
def lenet5():
    return os.path.join(ROOT, "models", "lenet5.onnx")


@pytest.fixture(scope="session")
def small():
    """Split sizes that fit 600 held-out images."""
    return {"val": 300, "calib": 256}
