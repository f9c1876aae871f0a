"""The PyTorch peer of `siamese bench`: the same Siamese VGG16 (or compact)
network, with the weights read from one of our Keras-layout HDF5 files,
timed the same way, printing the same key=value line.

    python torch_peer.py --weights W.h5 --mode latency|batch|train|sgemm|lines
        [--batch 32] [--repeat N] [--threads N] [--layout nhwc|nchw]

--mode lines is the line protocol, as predict.py would serve it: image
paths two lines at a time on standard input, each image opened with Pillow
and preprocessed as ours (RGB, the shorter side to the input size with
Pillow's bilinear filter, a centre crop, / 255), one pair through the
network, the probability printed and flushed; bench/line_rate.py times it.

Inputs are random (timings do not depend on the values). PyTorch gets every
core (torch.set_num_threads: it would use one thread otherwise here) and
oneDNN (mkldnn) for its convolutions; --layout picks channels-last (nhwc)
or contiguous (nchw) tensors, and run.sh keeps whichever is faster.
"""
import argparse
import os
import resource
import statistics
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

CONVS_PER_BLOCK = (2, 2, 3, 3, 3)


class Siamese(torch.nn.Module):
    """VGG16 backbone (3x3 conv + ReLU, 2x2 max-pool per block) on both
    twins as one batch, channels-last flatten (as Keras), |f1 - f2|,
    Dense(hidden, ReLU), Dense(1)."""

    def __init__(self, path):
        super().__init__()
        self.convs = torch.nn.ModuleList()
        with h5py.File(path, "r") as f:
            def weights(name):
                g = f[name]
                return [np.asarray(g[n]) for n in g.attrs["weight_names"]]

            for b, n in enumerate(CONVS_PER_BLOCK):
                for i in range(n):
                    k, bias = weights(f"block{b + 1}_conv{i + 1}")  # k is (3,3,C,K)
                    conv = torch.nn.Conv2d(k.shape[2], k.shape[3], 3, padding=1)
                    conv.weight.data = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
                    conv.bias.data = torch.from_numpy(bias.copy())
                    self.convs.append(conv)
            self.dense = torch.nn.ModuleList()
            for name in ("dense_1", "dense_2"):
                w, bias = weights(name)  # w is (In,Out)
                lin = torch.nn.Linear(w.shape[0], w.shape[1])
                lin.weight.data = torch.from_numpy(w.T.copy())
                lin.bias.data = torch.from_numpy(bias.copy())
                self.dense.append(lin)
            self.size = int(f.attrs["siamese_input_size"])

    def forward(self, x):  # x is (2N,3,S,S); returns the logits (N)
        c = 0
        for n in CONVS_PER_BLOCK:
            for _ in range(n):
                x = F.relu(self.convs[c](x))
                c += 1
            x = F.max_pool2d(x, 2)
        f = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # channels-last flatten
        n = f.shape[0] // 2
        h = F.relu(self.dense[0]((f[:n] - f[n:]).abs()))
        return self.dense[1](h).squeeze(1)


def sgemm_rate(repeat):
    """torch.mm (PyTorch's BLAS) and numpy's (its bundled OpenBLAS) at 2048^3."""
    n = 2048
    out = {}
    a, b = torch.randn(n, n), torch.randn(n, n)
    an, bn = a.numpy(), b.numpy()
    for name, mm in (("torch", lambda: torch.mm(a, b)), ("numpy", lambda: an @ bn)):
        mm()
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            mm()
            ts.append(time.perf_counter() - t0)
        out[name] = 2.0 * n**3 / statistics.median(ts) * 1e-9
    return out


def load(path, size):
    """An image as predict.py feeds it: (3,size,size) in [0,1]."""
    from PIL import Image
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    return x.permute(2, 0, 1)


def serve_lines(model, fmt):
    """Pairs of paths on stdin, one probability a line on stdout."""
    paths = (line.strip() for line in sys.stdin)
    paths = (p for p in paths if p)
    with torch.inference_mode():
        for p1 in paths:
            p2 = next(paths)
            x = torch.stack([load(p1, model.size), load(p2, model.size)])
            prob = torch.sigmoid(model(x.contiguous(memory_format=fmt)))
            print(f"{float(prob[0]):.6f}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights")
    p.add_argument("--mode", default="latency",
                   choices=["latency", "batch", "train", "sgemm", "lines"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeat", type=int, default=None)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--layout", default="nhwc", choices=["nhwc", "nchw"])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = True
    repeat = a.repeat or (5 if a.mode == "train" else 20)
    if a.mode == "sgemm":
        r = sgemm_rate(repeat)
        print(f"mode=sgemm n=2048 threads={a.threads} torch_gflops={r['torch']:.1f} "
              f"numpy_gflops={r['numpy']:.1f}")
        return

    torch.manual_seed(0)
    model = Siamese(a.weights)
    fmt = torch.channels_last if a.layout == "nhwc" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    if a.mode == "lines":
        serve_lines(model, fmt)
        return
    n = 1 if a.mode == "latency" else a.batch
    x = torch.rand(2 * n, 3, model.size, model.size).contiguous(memory_format=fmt)
    y = (torch.arange(n) % 2).float()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def step():
        if a.mode == "train":
            opt.zero_grad(set_to_none=False)
            loss = F.binary_cross_entropy_with_logits(model(x), y)
            loss.backward()
            opt.step()
        else:
            with torch.inference_mode():
                torch.sigmoid(model(x))

    ts = []
    for r in range(repeat + 1):  # run 0 warms up (oneDNN primitive creation)
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    ts = ts[1:]
    med = statistics.median(ts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"mode={a.mode} layout={a.layout} threads={torch.get_num_threads()} batch={n} "
          f"repeat={repeat} median_ms={med * 1e3:.2f} min_ms={min(ts) * 1e3:.2f} "
          f"max_ms={max(ts) * 1e3:.2f} pairs_per_s={n / med:.2f} peak_rss_mib={rss:.1f} "
          f"torch={torch.__version__} mkldnn={int(torch.backends.mkldnn.is_available())}")


if __name__ == "__main__":
    main()
