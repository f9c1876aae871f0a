# Sourced by the shell tests (tests/sh/*.sh): a scratch folder, assertions, the dataset.
set -u
TMP=$(mktemp -d)
# (chmod first: some tests make files and folders unreadable on purpose.)
trap 'chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
FAILS=0
CASES=0
OMNIGLOT=${OMNIGLOT:-../shared/omniglot}
# The binary under test: the sanitizer tests point it at build-asan/siamese.
SIAMESE=${SIAMESE:-./siamese}
H5EDIT=${H5EDIT:-build/tests/tools/h5edit}

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# A part of the test that cannot run here (tests/run.sh shows the reason
# beside PASS); a test that cannot run at all prints "SKIP: why" and exits 77.
skip_part() { echo "SKIP (part): $*"; }
# need_omniglot DIR: skips the test when DIR, a folder of Omniglot under
# $OMNIGLOT, is absent (the dataset is not in the repository).
need_omniglot() { [ -d "$1" ] || { echo "SKIP: no Omniglot images at $1 (set OMNIGLOT)"; exit 77; }; }
# The shipped model, trained on Omniglot (model_data/README.md), for the
# tests that need a model that tells characters apart; need_shipped_model
# skips the test where it is absent (a checkout without it has only the
# untrained stand-in that `make` writes).
SHIPPED_MODEL=model_data/siamese_omniglot.h5
need_shipped_model() {
    [ -f "$SHIPPED_MODEL" ] || { echo "SKIP: $SHIPPED_MODEL is absent (the trained model)"; exit 77; }
}
# expect_status WANT CMD... : runs CMD (stdout/stderr to $TMP/out, $TMP/err)
expect_status() {
    local want=$1 got
    shift
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(head -c 400 "$TMP/err")"
}
expect_stderr() { grep -q -- "$1" "$TMP/err" || fail "stderr lacks '$1': $(head -c 400 "$TMP/err")"; }
expect_stdout() { grep -q -- "$1" "$TMP/out" || fail "stdout lacks '$1': $(head -c 400 "$TMP/out")"; }
finish() {
    [ "$FAILS" -eq 0 ] && echo "all checks passed" && exit 0
    echo "$FAILS check(s) failed"; exit 1
}

# need_mpi: skips the test (exit 77) without Open MPI's mpirun, our
# libsiamese_mpi.so or h5diff; readies Open MPI for this machine; mpi NP
# CMD... runs CMD as NP ranks, more than the cores if need be.
need_mpi() {
    command -v mpirun >/dev/null || { echo "SKIP: no mpirun (apt-get install openmpi-bin)"; exit 77; }
    [ -f libsiamese_mpi.so ] || { echo "SKIP: libsiamese_mpi.so not built (no mpicc, or NO_MPI=1)"; exit 77; }
    command -v h5diff >/dev/null || { echo "SKIP: no h5diff (apt-get install hdf5-tools)"; exit 77; }
    # CI may run as root, which Open MPI refuses unless told.
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    # Containers often forbid the single-copy transfers between processes.
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
}
mpi() { mpirun --oversubscribe --bind-to none -np "$@"; }
# ours FILE: the program's lines in FILE, those beginning "siamese: " or
# "'siamese " (mpirun adds its own).
ours() { grep -E "^(siamese: |'siamese )" "$1"; }
# shared_failure NP NAME STATUS ARGS...: NP ranks of 'siamese ARGS...' fail
# as one process does: its exit status, its lines, once.
shared_failure() {
    local np=$1 name=$2 want=$3 got
    shift 3
    ./siamese "$@" >/dev/null 2>"$TMP/$name.1.err"
    got=$?
    [ $got = "$want" ] || { cat "$TMP/$name.1.err"; fail "$name, 1 process: exit status $got, not $want"; }
    timeout 120 mpirun --oversubscribe --bind-to none -np "$np" ./siamese "$@" >/dev/null 2>"$TMP/$name.$np.err"
    got=$?
    [ $got = "$want" ] || { cat "$TMP/$name.$np.err"; fail "$name, $np ranks: exit status $got, not $want"; }
    ours "$TMP/$name.$np.err" | cmp -s - "$TMP/$name.1.err" ||
        { cat "$TMP/$name.$np.err"; fail "$name, $np ranks: not one process's lines, once"; }
}

# rank_pid COMMAND R: the pid of rank R of a running 'siamese COMMAND' job
# of Open MPI (which tells each process its rank) that this test started:
# its processes inherit SIAMESE_TEST_SCRATCH (mpirun passes its environment
# to the ranks it starts here), where other tests' jobs running at the same
# time (a developer's parallel runs) have their own.
export SIAMESE_TEST_SCRATCH=$TMP
rank_pid() {
    local p env
    for p in $(pgrep -f "siamese $1"); do
        env=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/environ")
        grep -qx "OMPI_COMM_WORLD_RANK=$2" <<<"$env" && grep -qxF "SIAMESE_TEST_SCRATCH=$TMP" <<<"$env" && echo "$p"
    done
}

# small_dataset DIR: DIR/images_background/class{1,2,3}, 8 copies of our
# own img/*.png each (no Omniglot needed).
small_dataset() {
    local c i
    for c in 1 2 3; do
        mkdir -p "$1/images_background/class$c"
        for i in 1 2 3 4 5 6 7 8; do
            cp "img/$(echo a b c | cut -d' ' -f$(((i + c) % 3 + 1))).png" "$1/images_background/class$c/$i.png"
        done
    done
}

# tiny_model PATH: a 32-pixel model with 4 to 8 channels per block (about
# 70 KB, written in a blink by our own init).
tiny_model() {
    "$SIAMESE" init --widths 4,4,8,8,8 --hidden 8 --input-shape 32 --seed 1 --out "$1" >/dev/null
}

# expect STATUS PHRASE... -- CMD...: runs CMD (stdin from /dev/null, output
# in $TMP/out and $TMP/err), checks its exit status, that stderr holds
# every PHRASE (fixed strings), and that it shows no crash or sanitizer
# report; one line per case.
expect() {
    local want=$1 phrases=() rc p ok=1
    shift
    while [ "$1" != -- ]; do
        phrases+=("$1")
        shift
    done
    shift
    CASES=$((CASES + 1))
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$* -> exit status $rc, expected $want"
        ok=0
    fi
    for p in "${phrases[@]}"; do
        grep -qF -- "$p" "$TMP/err" || { fail "$* -> standard error lacks '$p'"; ok=0; }
    done
    if grep -qE 'Sanitizer|runtime error:|Segmentation fault|Aborted|core dumped' "$TMP/err"; then
        fail "$* -> a crash or sanitizer report"
        ok=0
    fi
    if [ $ok = 0 ]; then
        sed 's/^/    stderr| /' "$TMP/err" | head -20
    else
        echo "ok: $(cat "$TMP/err" "$TMP/out" | head -c 300 | tr '\n' ' ')"
    fi
}
