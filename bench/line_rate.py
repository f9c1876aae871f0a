"""The line protocol's throughput: runs a command that reads image paths two
lines at a time on standard input and writes one line per pair (siamese, or
torch_peer.py --mode lines), feeds it PAIRS, and times the output lines as
they arrive. The rate is taken from the first result to the last, so the
program's start (loading the model, importing torch) does not count.

    python line_rate.py PAIRS -- COMMAND ARGS...

prints "mode=lines pairs=N pairs_per_s=X first_ms=Y" (first_ms: from the
start to the first result).
"""
import subprocess
import sys
import time


def main():
    sep = sys.argv.index("--")
    pairs_file, cmd = sys.argv[1], sys.argv[sep + 1:]
    t0 = time.perf_counter()
    with open(pairs_file) as f:
        p = subprocess.Popen(cmd, stdin=f, stdout=subprocess.PIPE, text=True)
        stamps = []
        for line in p.stdout:
            stamps.append(time.perf_counter())
            if line.strip() == "error":
                sys.exit(f"line_rate: {cmd[0]} could not score a pair")
        if p.wait() != 0:
            sys.exit(f"line_rate: {cmd[0]} exited with status {p.returncode}")
    n = len(stamps)
    if n < 2:
        sys.exit("line_rate: fewer than two results")
    rate = (n - 1) / (stamps[-1] - stamps[0])
    print(f"mode=lines pairs={n} pairs_per_s={rate:.2f} first_ms={(stamps[0] - t0) * 1e3:.0f}")


if __name__ == "__main__":
    main()
