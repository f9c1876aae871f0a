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

--profile STEPS: instead, where PyTorch's training step goes, in the table of
`siamese bench --mode profile` (tui/bench_profile.c): each training batch of
--train-batches profiled over STEPS steps by torch.profiler, every kernel's
time given to the layer and piece that launched it, the median over the
steps of each cell; one line per cell:
  PROFILE layer=block1_conv1 piece=wgrad ms=0.2063
A kernel belongs to the layer whose forward pass ran it (module hooks), or
whose forward operation made the autograd node that ran it (the sequence
number that links the two). The piece comes from the module and the node
(Conv2d forward, ReLU, MaxPool2d, the casts of autocast) and, in a
convolution's backward pass, from the kernel's name (cuDNN's wgrad and
dgrad kernels, PyTorch's reduction for the bias); a kernel named neither is
counted as "backward" and listed. On the CPU the operations' own times
stand in for kernels, so a convolution's backward pass is "backward".
"""
import argparse
import contextlib
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import DeviceType

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


def prepare(args, dev, impl, mode, batch, section=contextlib.nullcontext):
    """The model and one step of mode at batch, ready to time: (step, model).
    section(name) wraps the training step's parts for --profile (the copies
    in, the model, the loss; a layer's own label comes from its module); a
    no-op otherwise."""
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

    amp = args.precision == "bf16"
    if mode == "infer":
        model.eval()

        def step():
            with torch.inference_mode(), torch.autocast(device_type=dev.type,
                                                         dtype=torch.bfloat16, enabled=amp):
                xg = x.to(dev, non_blocking=True)
                torch.sigmoid(model(xg)).cpu()  # the answers come back every batch

    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)

        def step():
            with section("input"):
                xg, yg = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            # (autocast keeps binary_cross_entropy_with_logits in float32)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
                with section("head"):  # (the modules' own labels are inside)
                    out = model(xg)
                with section("loss"):
                    loss = F.binary_cross_entropy_with_logits(out, yg)
            loss.backward()
            opt.step()

    return step, model


def bench(args, dev, impl, mode, batch):
    step, _ = prepare(args, dev, impl, mode, batch)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    every = 1 if mode == "infer" else 4
    n, dt = measure(step, dev, args.seconds, args.warmup, every)
    peak = torch.cuda.max_memory_reserved(dev) / 2**20 if dev.type == "cuda" else 0
    pps = n * batch / dt
    print(f"{impl} {mode} batch {batch}, {args.precision}: {pps:.1f} pairs/s, {1e3 * dt / n:.3f} "
          f"ms per batch ({n} batches), peak reserved {peak:.0f} MiB", flush=True)
    print(f"RESULT impl={impl} mode={mode} batch={batch} pairs_per_s={pps:.2f} "
          f"ms_per_batch={1e3 * dt / n:.4f} peak_mib={peak:.0f} precision={args.precision}",
          flush=True)


# --profile: the columns of `siamese bench --mode profile`, in its order.
PIECES = ("copy", "forward", "bias+relu", "pool", "head", "relu bwd", "bias grad", "wgrad",
          "dgrad", "pool bwd", "convert", "backward", "optimizer", "other")
# Profiler scopes rather than work: ours, PyTorch's autograd nodes and optimizer.
SCOPES = ("profiled step", "input", "head", "loss")
SCOPE_PREFIXES = ("autograd::engine::evaluate_function", "Optimizer.", "ProfilerStep")


def layer_names(backbone):
    """Our layer labels for the backbone's modules (engine/model.c): a ReLU
    belongs to the convolution before it, as in our fused forward pass."""
    names, block, conv = [], 1, 0
    for module in backbone:
        if isinstance(module, nn.Conv2d):
            conv += 1
        if isinstance(module, nn.MaxPool2d):
            names.append(f"block{block}_pool")
            block, conv = block + 1, 0
        else:
            names.append(f"block{block}_conv{conv}")
    return names


def label_modules(model):
    """Forward hooks that open a record_function named after each module's
    layer while it runs; returns (the hooks' handles, the module kind of each
    label)."""
    handles, kinds, open_ = [], {}, []
    named = list(zip(layer_names(model.backbone), model.backbone))
    named += [("dense_1", model.fc1), ("dense_2", model.fc2)]
    for name, module in named:
        kind = type(module).__name__
        label = name if kind != "ReLU" else name + "/relu"
        kinds[label] = kind

        def pre(_m, _i, label=label):
            open_.append(torch.profiler.record_function(label))
            open_[-1].__enter__()

        def post(_m, _i, _o):
            open_.pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return handles, kinds


def conv_backward_piece(kernel):
    """A convolution's backward kernel by its name: cuDNN names its filter-
    and data-gradient kernels (and the split-K reduction of the filter
    gradient); PyTorch sums the bias gradient with its reduce kernel."""
    k = kernel.lower()
    if "wgrad" in k or "splitk" in k:
        return "wgrad"
    if "dgrad" in k:
        return "dgrad"
    if "reduce" in k:
        return "bias grad"
    return "backward"


def piece_of(label, kind, node, op, cast, name):
    """The piece of a kernel (or, on the CPU, an operation) called name,
    launched by operation op (within a cast or not) inside layer label (of
    module kind) in the forward pass (node None) or by the autograd node
    called node."""
    if label == "input":
        return "copy"
    if label == "optimizer":
        return "optimizer"
    if cast or node == "ToCopyBackward0":
        return "convert"  # autocast's casts to bfloat16 and back
    if kind is None:
        return "other" if label == "step" else "head"
    if node is None:
        return {"Conv2d": "bias+relu" if op.startswith("aten::add") else "forward",
                "ReLU": "bias+relu", "MaxPool2d": "pool"}.get(kind, "head")
    if kind == "Conv2d":
        return conv_backward_piece(name)
    return {"ReLU": "relu bwd", "MaxPool2d": "pool bwd"}.get(kind, "head")


def profile(args, dev, impl, batch):
    """Prints where PyTorch's training step goes (--profile)."""
    step, model = prepare(args, dev, impl, "train", batch, torch.profiler.record_function)
    for _ in range(args.warmup):
        step()
    sync(dev)
    handles, kinds = label_modules(model)
    cuda = dev.type == "cuda"
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    walls = []
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(args.profile):
            t0 = time.perf_counter()
            with torch.profiler.record_function("profiled step"):
                step()
                sync(dev)
            walls.append((time.perf_counter() - t0) * 1e3)
    for h in handles:
        h.remove()
    events = [e for e in prof.events() if e.device_type == DeviceType.CPU]
    # Each step's operations by their start: the backward pass runs on
    # autograd's own thread, outside the main thread's scopes, but inside
    # the step's span (loss.backward() waits for it).
    spans = sorted((e.time_range.start, e.time_range.end) for e in events
                   if e.name == "profiled step")

    # The label of each forward operation's autograd node (its sequence number).
    def scope(e):
        """(label, node, cast) around operation e: the innermost layer or
        section, the autograd node (name, sequence number) in a backward
        pass, and whether e is part of a cast (autocast's to bfloat16)."""
        node, label, cast = None, None, False
        while e is not None:
            n = e.name
            cast = cast or n == "aten::_to_copy"
            if label is None and (n in kinds or n in SCOPES[1:]):
                label = n
            if label is None and n.startswith("Optimizer."):
                label = "optimizer"
            if n.startswith("autograd::engine::evaluate_function: "):
                node = (n.split(": ", 1)[1], e.sequence_nr)
            e = e.cpu_parent
        return label, node, cast

    seq_label = {}
    for e in events:
        if e.sequence_nr >= 0 and not e.name.startswith("autograd::engine"):
            label, node, _ = scope(e)
            if node is None and label is not None:
                seq_label.setdefault(e.sequence_nr, label)
    # The time of each kernel (each operation's own time on the CPU), by
    # step, label and piece.
    cells = [dict() for _ in spans]
    unnamed = {}
    amp = args.precision == "bf16"
    for e in events:
        if cuda:
            work = [(k.name, k.duration) for k in e.kernels]
        elif e.name in SCOPES or e.name in kinds or e.name.startswith(SCOPE_PREFIXES):
            work = []  # scopes: the operations inside carry the time
        else:
            work = [(e.name, e.self_cpu_time_total)]
        if not work:
            continue
        label, node, cast = scope(e)
        if node is not None:
            label = seq_label.get(node[1], "head")
        label = label or "step"
        kind = kinds.get(label)
        row = label[:-5] if label.endswith("/relu") else ("head" if label == "loss" else label)
        t = e.time_range.start
        i = next((j for j, (_, end) in enumerate(spans) if t <= end), len(spans) - 1)
        for name, us in work:
            # (without autocast a copy is a layer's own work, not a cast to bfloat16)
            piece = piece_of(label, kind, node and node[0], e.name, cast and amp, name)
            key = (row, piece)
            cells[i][key] = cells[i].get(key, 0.0) + us / 1e3
            if piece == "backward" and cuda:
                unnamed[name] = unnamed.get(name, 0.0) + us / 1e3 / len(spans)
    rows = []
    for c in cells:
        for row, _ in c:
            if row not in rows:
                rows.append(row)
    order = ["input"] + layer_names(model.backbone) + ["dense_1", "dense_2", "head", "optimizer", "step"]
    rows.sort(key=lambda r: order.index(r) if r in order else len(order))
    med = {(r, p): statistics.median(c.get((r, p), 0.0) for c in cells) for r in rows for p in PIECES}
    shown = [p for p in PIECES if sum(med[r, p] for r in rows) >= 0.0005]
    what = "CUDA kernels" if cuda else "the operations' own CPU time"
    print(f"profile PyTorch {impl} {args.backbone}, input {args.input}, {batch} pairs a step, "
          f"{args.precision}: the median of {len(spans)} steps, milliseconds ({what}, "
          f"torch.profiler)")
    print(f"{'layer':<14}" + "".join(f" {p:>9}" for p in shown) + f" {'total':>9}")
    for r in rows:
        print(f"{r:<14}" + "".join(f" {med[r, p]:9.3f}" for p in shown)
              + f" {sum(med[r, p] for p in PIECES):9.3f}")
    col = {p: sum(med[r, p] for r in rows) for p in PIECES}
    busy = statistics.median(sum(c.values()) for c in cells)
    print(f"{'total':<14}" + "".join(f" {col[p]:9.3f}" for p in shown) + f" {sum(col.values()):9.3f}")
    print(f"step: {statistics.median(walls):.3f} ms under the profiler (its overhead included), "
          f"{busy:.3f} ms inside {what}")
    for name, ms in sorted(unnamed.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  a convolution's backward kernel named neither wgrad nor dgrad: {ms:.3f} ms  {name[:100]}")
    for r in rows:
        for p in PIECES:
            if med[r, p] > 0:
                print(f"PROFILE layer={r} piece={p} ms={med[r, p]:.6f}")
    print(f"PROFILE step_ms={statistics.median(walls):.4f} ops_ms={busy:.4f}", flush=True)


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
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="profile STEPS training steps of each impl and training batch "
                         "instead of timing (no inference, no torch.compile)")
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

    if args.profile:
        for impl in args.impls.split(","):
            if impl == "compile":
                continue
            for b in args.train_batches.split(","):
                if b:
                    profile(args, dev, impl, int(b))
        return 0

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
