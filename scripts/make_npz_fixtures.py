#!/usr/bin/python3
"""Writes the NPZ fixtures of tests/data/npz_test.cpp with numpy's own writers.

Run with Debian's python3 (python3-numpy): /usr/bin/python3 scripts/make_npz_fixtures.py
Writes tests/fixtures/npz/{savez,savez_compressed}.npz (members stored / deflated; numpy writes
them with zip64 local headers) and data.npz (a tiny data set: train_x, train_y, test_x, test_y).
Every value is a function of its index, so the test rebuilds the expected arrays itself.
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "npz")


def arrays():
    return {
        "images_u8": (np.arange(3 * 4 * 5) * 7 % 256).astype(np.uint8).reshape(3, 4, 5),
        "images_f4": (np.arange(2 * 3 * 4, dtype=np.float32) / 8).reshape(2, 3, 4),
        "labels_i8": np.array([3, 1, 4, 1, 5], dtype=np.int64),
        "labels_i4": np.array([2, 7, 1, 8], dtype=np.int32),
        "scalar_f8": np.float64(0.25),
        "empty_f4": np.zeros((0, 3), dtype=np.float32),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    np.savez(os.path.join(OUT, "savez.npz"), **arrays())
    np.savez_compressed(os.path.join(OUT, "savez_compressed.npz"), **arrays())
    # A data set of 4x4 images (NHWC, one channel) in 3 classes: 30 training, 6 test images.
    n, m = 30, 6
    np.savez_compressed(
        os.path.join(OUT, "data.npz"),
        train_x=(np.arange(n * 16) % 256).astype(np.uint8).reshape(n, 4, 4, 1),
        train_y=(np.arange(n) % 3).astype(np.int64),
        test_x=(np.arange(m * 16) * 3 % 256).astype(np.uint8).reshape(m, 4, 4, 1),
        test_y=(np.arange(m) % 3).astype(np.int64),
    )


if __name__ == "__main__":
    main()
