#!/usr/bin/env python3
"""PyTorch float64 reference for the Siamese forward, backward and optimizers.

A small Siamese network equivalent to the Keras one (VGG16-style shared
backbone, widths 4,4|8,8|8,8,8|16,16,16|16,16,16, input 32x32x3, channels-last
flatten, |f1-f2|, Dense 32 ReLU, Dense 1 -> logit), computed in float64 from
float32 weights and inputs; results stored as float32.

Writes (tests/fixtures/):
  torch_ref_weights.h5   the initial weights, Keras 2.1.5 save_weights layout
  torch_ref.h5           inputs, outputs, loss, gradients, and the weights
                         after 3 steps of torch SGD (Nesterov) and Adam

Also cross-checks the Keras fixtures (keras_compact.h5, keras_tiny_tfkeras.h5
and their *_pairs.txt) with an independent float64 forward, when present.

Run from the repo root:
    /work/venv/bin/python tests/gen_torch_reference.py
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")

WIDTHS = (4, 4, 8, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16)
HIDDEN = 32
SIZE = 32
N = 3
Y = (1.0, 0.0, 1.0)
SEED = 4242
STEPS = 3
HEAD_GAIN = (4.0, 4.0)   # dense_1, dense_2 kernel init gains
SGD_HP = dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4, dampening=0.0)
ADAM_HP = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4, amsgrad=False)

CONV_NAMES = ["block1_conv1", "block1_conv2",
              "block2_conv1", "block2_conv2",
              "block3_conv1", "block3_conv2", "block3_conv3",
              "block4_conv1", "block4_conv2", "block4_conv3",
              "block5_conv1", "block5_conv2", "block5_conv3"]
POOL_AFTER = {"block1_conv2": "block1_pool", "block2_conv2": "block2_pool",
              "block3_conv3": "block3_pool", "block4_conv3": "block4_pool",
              "block5_conv3": "block5_pool"}
DENSE_NAMES = ["dense_1", "dense_2"]
PARAM_LAYERS = CONV_NAMES + DENSE_NAMES
# Keras 2.1.5 model.layers order of the Siamese model, weightless layers included.
LAYER_NAMES = ["input_1", "input_2"]
for _c in CONV_NAMES:
    LAYER_NAMES.append(_c)
    if _c in POOL_AFTER:
        LAYER_NAMES.append(POOL_AFTER[_c])
LAYER_NAMES += ["flatten", "lambda_1"] + DENSE_NAMES


class Siamese(nn.Module):
    def __init__(self, widths, hidden, size):
        super().__init__()
        self.convs = nn.ModuleList()
        cin = 3
        for w in widths:
            self.convs.append(nn.Conv2d(cin, w, 3, padding=1))
            cin = w
        side = size
        for _ in range(5):
            side //= 2
        self.flat = side * side * cin
        self.dense_1 = nn.Linear(self.flat, hidden)
        self.dense_2 = nn.Linear(hidden, 1)

    def layer(self, name):
        if name in CONV_NAMES:
            return self.convs[CONV_NAMES.index(name)]
        return getattr(self, name)

    def features(self, x_nhwc):
        x = x_nhwc.permute(0, 3, 1, 2)                  # NHWC -> NCHW
        for name, conv in zip(CONV_NAMES, self.convs):
            x = F.relu(conv(x))
            if name in POOL_AFTER:
                x = F.max_pool2d(x, 2, 2)               # valid, floor
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)   # channels-last flatten

    def forward(self, x1, x2, extras=False):
        f1, f2 = self.features(x1), self.features(x2)
        h = F.relu(self.dense_1(torch.abs(f1 - f2)))
        logit = self.dense_2(h)[:, 0]
        if extras:
            return logit, f1, f2, h
        return logit

    # ---- Keras layout <-> torch layout ----
    def load_keras(self, weights):
        with torch.no_grad():
            for name in PARAM_LAYERS:
                k, b = weights[name]
                mod = self.layer(name)
                k = torch.from_numpy(np.asarray(k, np.float64))
                if name in CONV_NAMES:
                    mod.weight.copy_(k.permute(3, 2, 0, 1))   # (kh,kw,cin,cout) -> (cout,cin,kh,kw)
                else:
                    mod.weight.copy_(k.t())                   # (in,out) -> (out,in)
                mod.bias.copy_(torch.from_numpy(np.asarray(b, np.float64)))

    @staticmethod
    def to_keras(name, weight, bias):
        w = weight.detach()
        w = w.permute(2, 3, 1, 0) if name in CONV_NAMES else w.t()
        return (w.contiguous().numpy().astype(np.float32),
                bias.detach().numpy().astype(np.float32))

    def export_keras(self):
        return {n: self.to_keras(n, self.layer(n).weight, self.layer(n).bias) for n in PARAM_LAYERS}

    def grads_keras(self):
        return {n: self.to_keras(n, self.layer(n).weight.grad, self.layer(n).bias.grad)
                for n in PARAM_LAYERS}


def init_keras_weights(rng, widths, hidden, flat):
    """He-uniform conv kernels, Glorot-uniform dense kernels, non-zero
    (mostly positive, keeps the narrow ReLU stack alive) biases; float32."""
    w = {}
    cin = 3
    for name, cout in zip(CONV_NAMES, widths):
        lim = np.sqrt(6.0 / (9 * cin))
        w[name] = (rng.uniform(-lim, lim, size=(3, 3, cin, cout)).astype(np.float32),
                   rng.uniform(-0.02, 0.08, size=(cout,)).astype(np.float32))
        cin = cout
    # The head is Glorot-uniform times a gain, so that the logits are O(1)
    # (random inputs give small |f1-f2|) and the probabilities not all ~0.5.
    for name, (fi, fo), gain in zip(DENSE_NAMES, [(flat, hidden), (hidden, 1)], HEAD_GAIN):
        lim = gain * np.sqrt(6.0 / (fi + fo))
        w[name] = (rng.uniform(-lim, lim, size=(fi, fo)).astype(np.float32),
                   rng.uniform(-0.05, 0.05, size=(fo,)).astype(np.float32))
    return w


def write_keras215_weights(path, weights):
    """Keras 2.1.5 save_weights layout (h5py 2.x era: fixed-length strings)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in LAYER_NAMES])
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        f.attrs["keras_version"] = np.bytes_(b"2.1.5")
        for name in LAYER_NAMES:
            g = f.create_group(name)
            if name not in weights:
                g.attrs["weight_names"] = []
                continue
            k, b = weights[name]
            wn = [f"{name}/kernel:0", f"{name}/bias:0"]
            g.attrs["weight_names"] = np.array([s.encode() for s in wn])
            g.create_dataset(wn[0], data=k)
            g.create_dataset(wn[1], data=b)


def read_keras_weights(path):
    """{layer: [arrays in weight_names order]} for layers with weights."""
    def s(x):
        return x.decode() if isinstance(x, bytes) else str(x)
    out = {}
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in g.attrs:
            names = [s(n) for n in g.attrs["layer_names"]]
        else:
            names, i = [], 0
            while "layer_names%d" % i in g.attrs:
                names += [s(n) for n in g.attrs["layer_names%d" % i]]
                i += 1
        for n in names:
            wn = [s(w) for w in g[n].attrs["weight_names"]]
            if wn:
                out[n] = [g[n][w][()] for w in wn]
    return out


def bce_logits(logit, y):
    return F.binary_cross_entropy_with_logits(logit, y, reduction="mean")


def run_optimizer(kind, w0, x1, x2, y):
    model = Siamese(WIDTHS, HIDDEN, SIZE).double()
    model.load_keras(w0)
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), foreach=False, **SGD_HP)
    else:
        opt = torch.optim.Adam(model.parameters(), foreach=False, **ADAM_HP)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = bce_logits(model(x1, x2), y)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    with torch.no_grad():
        loss_after = bce_logits(model(x1, x2), y).item()
    return model.export_keras(), np.array(losses), loss_after


def manual_optimizer(kind, w0, x1, x2, y):
    """The same 3 steps with the update rules written out (as README.md states
    them), to pin down torch's semantics; returns Keras-layout weights."""
    model = Siamese(WIDTHS, HIDDEN, SIZE).double()
    model.load_keras(w0)
    params = list(model.parameters())
    state = [dict() for _ in params]
    for t in range(1, STEPS + 1):
        model.zero_grad()
        bce_logits(model(x1, x2), y).backward()
        with torch.no_grad():
            for p, st in zip(params, state):
                if kind == "sgd":
                    g = p.grad + SGD_HP["weight_decay"] * p
                    buf = g.clone() if t == 1 else SGD_HP["momentum"] * st["buf"] + g
                    st["buf"] = buf
                    p -= SGD_HP["lr"] * (g + SGD_HP["momentum"] * buf)
                else:
                    b1, b2 = ADAM_HP["betas"]
                    g = p.grad + ADAM_HP["weight_decay"] * p
                    m = st.get("m", torch.zeros_like(p)) * b1 + (1 - b1) * g
                    v = st.get("v", torch.zeros_like(p)) * b2 + (1 - b2) * g * g
                    st["m"], st["v"] = m, v
                    mhat_step = ADAM_HP["lr"] / (1 - b1 ** t)
                    denom = v.sqrt() / np.sqrt(1 - b2 ** t) + ADAM_HP["eps"]
                    p -= mhat_step * m / denom
    return model.export_keras()


def finite_difference_check(model, x1, x2, y, rng):
    """Central differences (float64) on a few coordinates of x1 and of weights."""
    def loss_of():
        with torch.no_grad():
            return bce_logits(model(x1, x2), y).item()
    worst = 0.0
    x1g = x1.grad.clone()
    targets = [(x1, x1g)] + [(model.layer(n).weight, model.layer(n).weight.grad.clone())
                             for n in ("block1_conv1", "block3_conv2", "block5_conv3", "dense_1")]
    eps = 1e-6
    with torch.no_grad():
        for t, g in targets:
            flat, gflat = t.view(-1), g.view(-1)
            for i in rng.choice(flat.numel(), size=5, replace=False):
                old = flat[i].item()
                flat[i] = old + eps
                lp = loss_of()
                flat[i] = old - eps
                lm = loss_of()
                flat[i] = old
                worst = max(worst, abs((lp - lm) / (2 * eps) - gflat[i].item()))
    return worst


def crosscheck_keras():
    """Independent float64 forward of the Keras fixtures vs Keras' float32 predictions."""
    from gen_preprocess_ref import IMAGES, load_default
    cases = [("keras_compact.h5", "keras_compact_pairs.txt",
              (16, 16, 32, 32, 64, 64, 64, 128, 128, 128, 128, 128, 128), 512),
             ("keras_tiny_tfkeras.h5", "keras_tiny_pairs.txt", WIDTHS, HIDDEN),
             ("keras_split_attr_tiny.h5", "keras_tiny_pairs.txt", WIDTHS, HIDDEN),
             ("keras_tiny_fullmodel.h5", "keras_tiny_pairs.txt", WIDTHS, HIDDEN)]
    for h5name, txt, widths, hidden in cases:
        hp, tp = os.path.join(FIX, h5name), os.path.join(FIX, txt)
        if not (os.path.exists(hp) and os.path.exists(tp)):
            print(f"crosscheck: {h5name} or {txt} missing, skipped")
            continue
        raw = read_keras_weights(hp)
        dense = [n for n in raw if n not in CONV_NAMES]   # dense_1/dense_2 or dense/dense_1
        w = {n: raw[n] for n in CONV_NAMES}
        w["dense_1"], w["dense_2"] = raw[dense[0]], raw[dense[1]]
        lines = [l.split() for l in open(tp)]
        x1 = np.stack([load_default(os.path.join(IMAGES, a)) for a, _, _ in lines])
        x2 = np.stack([load_default(os.path.join(IMAGES, b)) for _, b, _ in lines])
        ref = np.array([float(p) for _, _, p in lines])
        m = Siamese(widths, hidden, 105).double()
        m.load_keras(w)
        with torch.no_grad():
            p = torch.sigmoid(m(torch.from_numpy(x1).double(), torch.from_numpy(x2).double())).numpy()
        err = np.abs(p - ref).max()
        print(f"crosscheck {h5name}: max |p_float64 - p_keras| = {err:.3g}")
        if err > 1e-4:
            sys.exit(f"crosscheck failed for {h5name}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)

    # Inputs (float32, channels-last) and initial weights (float32).
    x1_32 = rng.uniform(0.0, 1.0, size=(N, SIZE, SIZE, 3)).astype(np.float32)
    x2_32 = rng.uniform(0.0, 1.0, size=(N, SIZE, SIZE, 3)).astype(np.float32)
    y_32 = np.array(Y, np.float32)
    model = Siamese(WIDTHS, HIDDEN, SIZE).double()
    w0 = init_keras_weights(rng, WIDTHS, HIDDEN, model.flat)
    model.load_keras(w0)
    assert all(np.array_equal(a, b) for n in PARAM_LAYERS
               for a, b in zip(model.export_keras()[n], w0[n])), "keras<->torch round trip"
    write_keras215_weights(os.path.join(FIX, "torch_ref_weights.h5"), w0)

    # Forward + backward in float64.
    x1 = torch.from_numpy(x1_32.astype(np.float64)).requires_grad_(True)
    x2 = torch.from_numpy(x2_32.astype(np.float64)).requires_grad_(True)
    y = torch.from_numpy(y_32.astype(np.float64))
    logit, f1, f2, h = model(x1, x2, extras=True)
    prob = torch.sigmoid(logit)
    loss = bce_logits(logit, y)
    model.zero_grad()
    loss.backward()
    grads = model.grads_keras()

    print("logit", logit.detach().numpy(), "prob", prob.detach().numpy(), "loss", loss.item())
    print("feat1", f1.detach().numpy().round(4))
    print("nonzero |f1-f2|:", int((torch.abs(f1 - f2) > 0).sum()), "of", f1.numel())
    for n in PARAM_LAYERS:
        gk, gb = grads[n]
        print(f"  grad {n:13s} kernel {str(gk.shape):16s} |g|max {np.abs(gk).max():.3e} "
              f"nonzero {np.count_nonzero(gk)}/{gk.size}  bias |g|max {np.abs(gb).max():.3e}")
        # block5_conv3's bias gradient is exactly 0 where a feature is active
        # in both twins: the bias shifts f1 and f2 alike, |f1-f2| is unchanged.
        if not np.abs(gk).max() > 0 or (n != "block5_conv3" and not np.abs(gb).max() > 0):
            sys.exit(f"zero gradient for {n}: change the seed/init")

    fd = finite_difference_check(model, x1, x2, y, np.random.default_rng(7))
    print(f"finite differences: max |numeric - analytic| = {fd:.3g}")
    if fd > 1e-6:
        sys.exit("gradient check failed")

    sgd_w, sgd_losses, sgd_after = run_optimizer("sgd", w0, x1.detach(), x2.detach(), y)
    adam_w, adam_losses, adam_after = run_optimizer("adam", w0, x1.detach(), x2.detach(), y)
    for kind, w in (("sgd", sgd_w), ("adam", adam_w)):
        man = manual_optimizer(kind, w0, x1.detach(), x2.detach(), y)
        d = max(float(np.abs(man[n][i].astype(np.float64) - w[n][i]).max())
                for n in PARAM_LAYERS for i in range(2))
        print(f"{kind}: max |torch - written-out update rule| = {d:.3g}")
        if d > 1e-6:
            sys.exit(f"{kind}: update rule mismatch")
    print("sgd losses", sgd_losses, "after", sgd_after)
    print("adam losses", adam_losses, "after", adam_after)

    f32 = lambda t: np.asarray(t.detach().numpy() if torch.is_tensor(t) else t, np.float64).astype(np.float32)
    path = os.path.join(FIX, "torch_ref.h5")
    with h5py.File(path, "w") as f:
        f.attrs["widths"] = np.array(WIDTHS, np.int32)
        f.attrs["hidden"] = np.int32(HIDDEN)
        f.attrs["input_size"] = np.int32(SIZE)
        f.attrs["batch"] = np.int32(N)
        f.attrs["layers"] = np.array([n.encode() for n in PARAM_LAYERS])
        f.attrs["loss_fn"] = np.bytes_(b"BCEWithLogitsLoss(reduction=mean)")
        f.attrs["torch_version"] = np.bytes_(torch.__version__.encode())
        f.create_dataset("x1", data=x1_32)
        f.create_dataset("x2", data=x2_32)
        f.create_dataset("y", data=y_32)
        f.create_dataset("logit", data=f32(logit))
        f.create_dataset("prob", data=f32(prob))
        f.create_dataset("loss", data=f32([loss.item()]))
        f.create_dataset("feat1", data=f32(f1))
        f.create_dataset("feat2", data=f32(f2))
        f.create_dataset("hidden", data=f32(h))
        for n in PARAM_LAYERS:
            f.create_dataset(f"grad/{n}/kernel", data=grads[n][0])
            f.create_dataset(f"grad/{n}/bias", data=grads[n][1])
        f.create_dataset("grad/x1", data=f32(x1.grad))
        f.create_dataset("grad/x2", data=f32(x2.grad))
        for kind, w, losses, after, hp in (("sgd", sgd_w, sgd_losses, sgd_after, SGD_HP),
                                           ("adam", adam_w, adam_losses, adam_after, ADAM_HP)):
            g = f.create_group(kind)
            for k, v in hp.items():
                if k == "betas":
                    g.attrs["beta1"], g.attrs["beta2"] = np.float64(v[0]), np.float64(v[1])
                else:
                    g.attrs[k] = np.float64(v) if isinstance(v, float) else np.int32(v)
            g.attrs["steps"] = np.int32(STEPS)
            for n in PARAM_LAYERS:
                g.create_dataset(f"{n}/kernel", data=w[n][0])
                g.create_dataset(f"{n}/bias", data=w[n][1])
            g.create_dataset("losses", data=f32(losses))
            g.create_dataset("loss_after", data=f32([after]))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")

    # Check: the weights file read back gives the same forward.
    m2 = Siamese(WIDTHS, HIDDEN, SIZE).double()
    m2.load_keras(read_keras_weights(os.path.join(FIX, "torch_ref_weights.h5")))
    with torch.no_grad():
        assert torch.equal(m2(x1, x2), logit.detach()), "weights file round trip"

    crosscheck_keras()


if __name__ == "__main__":
    main()
