"""Turns bench/run.sh's raw lines into the side-by-side table (stdout) and
bench/RESULTS.md.   python report.py RAW RESULTS.md

Each raw line is "TAG [KEY] k=v k=v ...". A figure is the median over
rounds of each round's median; PyTorch's figures come from its faster
layout (channels-last or contiguous), chosen per figure.
"""
import datetime
import re
import statistics
import subprocess
import sys

TARGET = 1.2  # ours must be this many times faster than PyTorch


def parse(path):
    rows, loads = [], []
    for line in open(path):
        m = re.match(r"round=(\d+) load=([\d.]+)", line)
        if m:
            loads.append(float(m.group(2)))
            continue
        head = line.split(" mode=")[0].split()
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        rows.append((head, kv))
    return rows, loads


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def torch_config():
    try:
        import torch
        libs = [l.strip(" -") for l in torch.__config__.show().splitlines()
                if "Math Kernel" in l or "MKL-DNN" in l or "oneDNN" in l]
        return f"PyTorch {torch.__version__} ({'; '.join(libs)})"
    except Exception as e:  # the report still stands without it
        return f"PyTorch (version unknown: {e})"


def spread(v):
    m = statistics.median(v)
    return (max(v) - min(v)) / m * 100 if m else 0.0


def main(raw, out):
    rows, loads = parse(raw)
    ours, ours_one, peer, layers = {}, {}, {}, []
    sgemm = {}
    for head, kv in rows:
        tag = head[0]
        if tag == "sgemm":
            if "gflops" in kv:
                sgemm["ours (siamese gemm)"] = float(kv["gflops"])
            else:
                sgemm["PyTorch torch.mm"] = float(kv["torch_gflops"])
                sgemm["numpy (OpenBLAS)"] = float(kv["numpy_gflops"])
        elif tag == "layers":
            layers.append(kv)
        elif tag == "ours":
            ours.setdefault(head[1], []).append(kv)
        elif tag == "ours1":
            ours_one.setdefault(head[1], []).append(kv)
        elif tag == "torch":
            peer.setdefault(head[1], {}).setdefault(kv.get("layout", "nhwc"), []).append(kv)
    peak = max(sgemm.values()) if sgemm else float("nan")

    def med(runs, k):
        return statistics.median(float(r[k]) for r in runs)

    table, notes = [], []
    for arch in ("vgg16", "compact"):
        for mode, label in (("latency", "one pair, latency (ms)"),
                            ("batch", "batch 32 inference (pairs/s)"),
                            ("train", "training batch 32 (pairs/s)"),
                            ("lines", "line protocol, a pair at a time (pairs/s)")):
            key = f"{arch}-{mode}"
            if key not in ours or key not in peer:
                continue
            fig = "median_ms" if mode == "latency" else "pairs_per_s"
            layout = (min(peer[key], key=lambda L: med(peer[key][L], "median_ms"))
                      if mode != "lines" else next(iter(peer[key])))
            p_runs, o_runs = peer[key][layout], ours[key]
            o, p = med(o_runs, fig), med(p_runs, fig)
            speedup = p / o if mode == "latency" else o / p
            table.append(dict(
                name=f"{arch} {label}", ours=o, peer=p, ratio=o / p, speedup=speedup,
                met=speedup >= TARGET - 1e-9,
                gflops=med(o_runs, "gflops") if "gflops" in o_runs[0] else None,
                rss_o=med(o_runs, "peak_rss_mib") if "peak_rss_mib" in o_runs[0] else None,
                rss_p=med(p_runs, "peak_rss_mib") if "peak_rss_mib" in p_runs[0] else None,
                layout=layout, noise=max(spread([float(r[fig]) for r in o_runs]),
                                         spread([float(r[fig]) for r in p_runs])),
                n=len(o_runs)))
    ratio_goal = {True: f"<= {1 / TARGET:.3f}", False: f">= {TARGET:.2f}"}
    lines = []
    w = lines.append
    w("| figure | ours | PyTorch | ours/PyTorch | target | met | our effective GFLOP/s | peak RSS ours / PyTorch (MiB) |")
    w("| --- | ---: | ---: | ---: | ---: | :---: | ---: | ---: |")
    for t in table:
        lat = "latency" in t["name"]
        gflops = f"{t['gflops']:.1f}" if t["gflops"] is not None else "-"
        rss = f"{t['rss_o']:.0f} / {t['rss_p']:.0f}" if t["rss_o"] is not None else "-"
        w(f"| {t['name']} | {t['ours']:.2f} | {t['peer']:.2f} ({t['layout']}) | {t['ratio']:.3f} | "
          f"{ratio_goal[lat]} | {'yes' if t['met'] else 'NO'} | {gflops} | {rss} |")
    w("")
    lines_rows = [(arch, med(ours[f"{arch}-lines"], "pairs_per_s"),
                   med(ours_one[f"{arch}-lines"], "pairs_per_s"))
                  for arch in ("vgg16", "compact")
                  if f"{arch}-lines" in ours and f"{arch}-lines" in ours_one]
    if lines_rows:
        w("The line protocol (`siamese < pairs`, 40 pairs of the sample images, timed from the "
          "first result to the last by bench/line_rate.py) with our default thread count "
          "against `--threads 1`. The default should not be the slower; on a busy machine "
          "one compact pair takes one thread either way (see the notes):")
        w("")
        w("| model | default threads (pairs/s) | --threads 1 (pairs/s) | default / one thread |")
        w("| --- | ---: | ---: | ---: |")
        for arch, d, one in lines_rows:
            w(f"| {arch} | {d:.2f} | {one:.2f} | {d / one:.2f} |")
        w("")
    w("Matrix-multiply rate on this machine (2048^3, single precision, all cores):")
    w("")
    for k, v in sgemm.items():
        w(f"- {k}: {v:.1f} GFLOP/s")
    w("")
    w("Effective GFLOP/s count the FLOPs of the direct method (a training step as three "
      "forwards); the layers that run Winograd F(2x2,3x3) do 2.25x fewer multiplies, so "
      "their effective rate can exceed the machine's matrix-multiply rate.")
    w("")
    if layers:
        w(f"Our VGG16 convolution layers, forward, batch 32 pairs, effective rate as a share of "
          f"the best measured matrix-multiply rate ({peak:.1f} GFLOP/s; target >= 60% on the "
          f"large layers):")
        w("")
        w("| layer | ms | GFLOP/s | share of peak |")
        w("| --- | ---: | ---: | ---: |")
        for kv in layers:
            g = float(kv["gflops"])
            w(f"| {kv['layer']} | {float(kv['median_ms']):.1f} | {g:.1f} | {g / peak * 100:.0f}% |")
        w("")
    body = "\n".join(lines)
    print(body)
    missed = [t["name"] for t in table if not t["met"]]
    print(f"\n{len(table) - len(missed)} of {len(table)} figures at or above target"
          + (f"; below: {', '.join(missed)}" if missed else ""))

    noise = max((t["noise"] for t in table), default=0)
    head = [
        "# CPU benchmark: siamese against PyTorch",
        "",
        f"- Date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- CPU: {cpu_model()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} threads used by both",
        f"- Peer: {torch_config()}, torch.set_num_threads(all cores), oneDNN on; "
        "its faster tensor layout per figure is shown in brackets",
        f"- Rounds: {max((t['n'] for t in table), default=0)}; each figure is the median over "
        "rounds of a median over repeated runs in one process",
        f"- Load average at the start of each round: {', '.join(f'{l:.2f}' for l in loads)}; "
        f"largest spread between rounds of one figure: {noise:.0f}% (other programs share the cores)",
        "- Produced by `make bench` (bench/run.sh); the notes below are written by hand.",
        "",
    ]
    with open(out, "w") as f:
        f.write("\n".join(head) + "\n" + body + "\n")
        # The notes (by hand), the gallery's figures (bench/gallery.sh) and the
        # GPU check's (tests/gpu/check.sh, by hand).
        for part in ("NOTES.md", "GALLERY.md", "GPU.md"):
            try:
                f.write("\n" + open(out.replace("RESULTS.md", part)).read())
            except OSError:
                pass


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
