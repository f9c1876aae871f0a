#!/usr/bin/env python3
"""The PyTorch peer of tests/gpu/bench_model.c, for tests/gpu/check.sh.

The same Siamese network as engine/model.h: a VGG16 backbone (3x3 'same'
convolutions + ReLU, 2,2,3,3,3 per block, each block ending in a 2x2 max-pool),
flattened channels-last as Keras does, |f1 - f2|, Dense(512) + ReLU,
Dense(1). Both twins run as one batch of 2N images, as in our engine.

Measured exactly as bench_model measures ours:
  infer  host batch -> device, forward, sigmoid, probabilities back to the
         host, once per batch (the batch-1 time is the single-pair latency);
  train  host batch -> device, forward, BCE-with-logits, backward, one
         SGD-Nesterov step (lr 0.01, momentum 0.9, weight decay 5e-4), batches
         queued back to back, synchronised every 4 batches to read the clock.
Host batches sit in pinned memory and are copied with non_blocking=True,
PyTorch's best case. cudnn.benchmark = True. --precision as ours:
  tf32  PyTorch's defaults (cudnn.allow_tf32 = True, matmul.allow_tf32 = False):
        TF32 convolutions, FP32 matmuls; the default, as ours;
  fp32  neither;
  bf16  as tf32, with the forward pass and loss under
        torch.autocast(dtype=torch.bfloat16), the peer of `siamese --precision
        bf16` (weights, gradients and the optimizer stay float32).

Variants: eager in NCHW and in channels_last, and torch.compile (default mode)
when it works here. One line per measurement:
  RESULT impl=eager-nhwc mode=train batch=32 pairs_per_s=1234.5 ms_per_batch=25.9 peak_mib=2345 precision=tf32
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTHS = {"vgg16": (64, 128, 256, 512, 512), "compact": (16, 32, 64, 128, 128)}
CONVS_PER_BLOCK = (2, 2, 3, 3, 3)


class Siamese(nn.Module):
    def __init__(self, widths, size, hidden=512):
        super().__init__()
        layers, c, s = [], 3, size
        for w, n in zip(widths, CONVS_PER_BLOCK):
            for _ in range(n):
                layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(inplace=True)]
                c = w
            layers.append(nn.MaxPool2d(2))
            s //= 2
        self.backbone = nn.Sequential(*layers)
        self.fc1 = nn.Linear(s * s * c, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        """x is (2N,3,S,S): the first images of the N pairs, then the second ones."""
        f = self.backbone(x)
        f = f.permute(0, 2, 3, 1).reshape(f.shape[0], -1)  # channels-last flatten, as Keras
        n = f.shape[0] // 2
        return self.fc2(F.relu(self.fc1((f[:n] - f[n:]).abs()))).squeeze(1)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def measure(step, dev, seconds, warmup, every):
    """Runs step() warmup times, then for `seconds`; returns (batches, elapsed)."""
    for _ in range(warmup):
        step()
    sync(dev)
    t0, n = time.perf_counter(), 0
    while True:
        step()
        n += 1
        if n % every == 0:
            sync(dev)
            if time.perf_counter() - t0 >= seconds:
                return n, time.perf_counter() - t0


def bench(args, dev, impl, mode, batch):
    torch.manual_seed(0)
    channels_last = impl in ("eager-nhwc", "compile")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = Siamese(WIDTHS[args.backbone], args.input).to(dev).to(memory_format=fmt)
    if impl == "compile":
        model = torch.compile(model)
    pin = dev.type == "cuda"
    x = torch.rand(2 * batch, 3, args.input, args.input).contiguous(memory_format=fmt)
    y = (torch.arange(batch) % 2).float()
    if pin:
        x, y = x.pin_memory(), y.pin_memory()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    amp = args.precision == "bf16"
    if mode == "infer":
        model.eval()

        def step():
            with torch.inference_mode(), torch.autocast(device_type=dev.type,
                                                         dtype=torch.bfloat16, enabled=amp):
                xg = x.to(dev, non_blocking=True)
                torch.sigmoid(model(xg)).cpu()  # the answers come back every batch

        every = 1
    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)

        def step():
            xg, yg = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            # (autocast keeps binary_cross_entropy_with_logits in float32)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.binary_cross_entropy_with_logits(model(xg), yg)
            loss.backward()
            opt.step()

        every = 4
    n, dt = measure(step, dev, args.seconds, args.warmup, every)
    peak = torch.cuda.max_memory_reserved(dev) / 2**20 if dev.type == "cuda" else 0
    pps = n * batch / dt
    print(f"{impl} {mode} batch {batch}, {args.precision}: {pps:.1f} pairs/s, {1e3 * dt / n:.3f} "
          f"ms per batch ({n} batches), peak reserved {peak:.0f} MiB", flush=True)
    print(f"RESULT impl={impl} mode={mode} batch={batch} pairs_per_s={pps:.2f} "
          f"ms_per_batch={1e3 * dt / n:.4f} peak_mib={peak:.0f} precision={args.precision}",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--backbone", default="vgg16", choices=sorted(WIDTHS))
    ap.add_argument("--input", type=int, default=105)
    ap.add_argument("--infer-batches", default="1,64")
    ap.add_argument("--train-batches", default="32")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--impls", default="eager-nchw,eager-nhwc,compile")
    ap.add_argument("--deadline", type=float, default=0,
                    help="seconds from start after which no new measurement begins (0: none)")
    ap.add_argument("--precision", default="tf32", choices=("fp32", "tf32", "bf16"),
                    help="as siamese --precision (default tf32: PyTorch's defaults)")
    args = ap.parse_args()

    start = time.perf_counter()
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = args.precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
          f"{torch.backends.cudnn.version()}, device {dev}"
          + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else "")
          + f", precision {args.precision}", flush=True)
    n_params = sum(p.numel() for p in Siamese(WIDTHS[args.backbone], args.input).parameters())
    print(f"model {args.backbone}, input {args.input}, {n_params} parameters", flush=True)

    runs = [("infer", int(b)) for b in args.infer_batches.split(",") if b] + \
           [("train", int(b)) for b in args.train_batches.split(",") if b]
    for impl in args.impls.split(","):
        for mode, batch in runs:
            if args.deadline and time.perf_counter() - start > args.deadline:
                print(f"{impl} {mode} batch {batch}: skipped, out of time", flush=True)
                continue
            try:
                bench(args, dev, impl, mode, batch)
            except Exception as e:  # torch.compile may not work on every machine
                print(f"{impl} {mode} batch {batch}: failed: {type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}", flush=True)
                if impl != "compile":
                    raise
            if dev.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
