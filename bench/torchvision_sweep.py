#!/usr/bin/python3
"""Architectures we did not design: torchvision's classifiers (random weights, random BatchNorm
statistics, 10 classes), exported by torch.onnx.export with a dynamic batch at each opset given.

For each model: `nncompress run` on a random input against PyTorch's own logits (max abs error,
tolerance 1e-4 relative to the logits' scale). With --compress, also share / prune / lowrank on a
synthetic NPY data set (random pixels and labels: accuracies are meaningless, the point is that
every command runs and ONNX Runtime gives the same top-1 on what it wrote).

Usage: /usr/bin/python3 bench/torchvision_sweep.py [--archs a,b] [--opsets 13,17] [--out DIR] [--compress]
Prints one line per (model, opset[, command]).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torchvision.models as M
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NNC = os.path.join(ROOT, 'build/src/cli/nncompress')
ORT = os.path.join(ROOT, 'tools/ort/ort_eval.js')

ARCHS = {
    'alexnet': (lambda: M.alexnet(num_classes=10), 224),
    'vgg11_bn': (lambda: M.vgg11_bn(num_classes=10), 224),
    'resnet18': (lambda: M.resnet18(num_classes=10), 64),
    'resnext50_32x4d': (lambda: M.resnext50_32x4d(num_classes=10), 64),
    'densenet121': (lambda: M.densenet121(num_classes=10), 64),
    'squeezenet1_1': (lambda: M.squeezenet1_1(num_classes=10), 64),
    'googlenet': (lambda: M.googlenet(num_classes=10, aux_logits=False, init_weights=True), 64),
    'mobilenet_v2': (lambda: M.mobilenet_v2(num_classes=10), 64),
    'mobilenet_v3_small': (lambda: M.mobilenet_v3_small(num_classes=10), 64),
    'shufflenet_v2_x0_5': (lambda: M.shufflenet_v2_x0_5(num_classes=10), 64),
    'mnasnet0_5': (lambda: M.mnasnet0_5(num_classes=10), 64),
    'efficientnet_b0': (lambda: M.efficientnet_b0(num_classes=10), 64),
    'efficientnet_v2_s': (lambda: M.efficientnet_v2_s(num_classes=10), 64),
    'regnet_x_400mf': (lambda: M.regnet_x_400mf(num_classes=10), 64),
    'regnet_y_400mf': (lambda: M.regnet_y_400mf(num_classes=10), 64),
    'convnext_tiny': (lambda: M.convnext_tiny(num_classes=10), 64),
    'swin_t': (lambda: M.swin_t(num_classes=10), 64),
    'maxvit_t': (lambda: M.maxvit_t(num_classes=10), 224),
    'vit_small': (lambda: M.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64,
                                              mlp_dim=128, num_classes=10), 64),
}
COMMANDS = [['share', '--pop', '8', '--gens', '2'], ['prune', '--sparsity', '0.5'], ['lowrank', '--keep', '0.8']]


def randomise(model):
    torch.manual_seed(0)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    # torchvision's ViT starts with a zero head: logits would all be 0.
    for p in model.parameters():
        if p.dim() >= 2 and not p.abs().sum():
            torch.nn.init.normal_(p, std=0.02)
    return model.eval()


def synthetic_data(path, size):
    r = np.random.default_rng(0)
    os.makedirs(path, exist_ok=True)
    np.save(f'{path}/train_x.npy', r.integers(0, 256, (1200, 3, size, size), dtype=np.uint8))
    np.save(f'{path}/train_y.npy', r.integers(0, 10, 1200).astype(np.int64))
    np.save(f'{path}/test_x.npy', r.integers(0, 256, (200, 3, size, size), dtype=np.uint8))
    np.save(f'{path}/test_y.npy', r.integers(0, 10, 200).astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--archs', default=','.join(ARCHS))
    ap.add_argument('--opsets', default='13,17')
    ap.add_argument('--out', default='/tmp/nnc_torchvision')
    ap.add_argument('--compress', action='store_true')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    failures = 0
    for name in a.archs.split(','):
        make, size = ARCHS[name]
        model = randomise(make())
        x = torch.randn(3, 3, size, size)
        with torch.no_grad():
            ref = model(x).numpy()
        np.save(f'{a.out}/x{size}.npy', x.numpy())
        for opset in [int(o) for o in a.opsets.split(',')]:
            path = f'{a.out}/{name}_op{opset}.onnx'
            try:
                torch.onnx.export(model, x, path, opset_version=opset, input_names=['input'],
                                  output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})
            except Exception as e:  # an exporter limitation, not ours
                print(f'{name:20s} op{opset}: export failed: {str(e).splitlines()[0][:100]}', flush=True)
                continue
            r = subprocess.run([NNC, 'run', path, '--input', f'{a.out}/x{size}.npy', '--output-dir',
                                f'{a.out}/out'], capture_output=True, text=True)
            if r.returncode != 0:
                failures += 1
                print(f'{name:20s} op{opset}: FAILED {r.stderr.strip().splitlines()[-1][:150]}', flush=True)
                continue
            out = numpy_helper.to_array(onnx.load_tensor(f'{a.out}/out/output_0.pb'))
            err, scale = float(np.abs(out - ref).max()), float(np.abs(ref).max())
            ok = err <= 1e-4 * max(1.0, scale)
            failures += not ok
            print(f'{name:20s} op{opset}: run vs PyTorch max abs err {err:.2e} (|logits| up to {scale:.2e}) '
                  f'{"ok" if ok else "WRONG"}', flush=True)
            if not a.compress or opset != int(a.opsets.split(',')[0]):
                continue
            data = f'{a.out}/data{size}'
            if not os.path.exists(f'{data}/test_y.npy'):
                synthetic_data(data, size)
            common = ['--data', data, '--mean', '0.5', '--std', '0.25', '--val', '100', '--calib', '64', '-q', '--json']
            for cmd in COMMANDS:
                written = f'{a.out}/{name}.{cmd[0]}.onnx'
                r = subprocess.run([NNC] + cmd + [path] + common + ['-o', written], capture_output=True, text=True)
                if r.returncode != 0:
                    failures += 1
                    print(f'{name:20s} {cmd[0]:8s}: FAILED {r.stderr.strip().splitlines()[-1][:150]}', flush=True)
                    continue
                res = json.loads(r.stdout)
                o = subprocess.run(['node', ORT, written, '--data', data, '--mean', '0.5', '--std', '0.25'],
                                   capture_output=True, text=True)
                ort_top1 = json.loads(o.stdout)['top1'] if o.returncode == 0 else None
                same = ort_top1 is not None and abs(ort_top1 - res['top1_after']) < 1e-9
                failures += not same
                print(f'{name:20s} {cmd[0]:8s}: top-1 {res["top1_after"]:.3f}, ONNX Runtime {ort_top1}, '
                      f'ratio {res["ratio"]:.2f}, {res["seconds"]:.0f} s {"ok" if same else "DIFFERENT"}', flush=True)
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
