# programs.sh: sourced by the GPU scripts (check.sh, train_model.sh): the
# programs ready to run on this machine, from gpu_carry/ (make gpu-bundle)
# or built from the tree, with the CUDA libraries found (the toolkit's or
# PyTorch's wheels'), libsiamese_cuda.so rebuilt against them when it
# cannot load, and glibc carried along when the machine's is too old.
# gpu_script_start sets up what both scripts start with; setup_programs
# needs it and section() from the script. It sets
#   RUN    a wrapper: "$RUN PROGRAM ARGS..." runs one of the programs
#   MPIRUN Open MPI's mpirun (the bundle's, relocated, or the machine's), or
#          empty: "$MPIRUN -np N $RUN siamese train ..." runs N ranks
#   BIN    the programs' folder
#   DATA   a few Omniglot background alphabets (the training comparison)
#   FULL   Omniglot's images_background and images_evaluation, when the
#          bundle carries them (make gpu-bundle-model) or the tree has them

# gpu_script_start NAME ARGS...: run from the repository root; sets ROOT,
# DRY (1 with --dry-run), PY ($PYTHON), GPU ($GPU_CHECK_DEVICE, cuda), T0,
# ORIG_LD, a scratch folder WORK (NAME.XXXXXX, removed on exit) and RES
# ($OUT, or a folder in WORK) for the results.
gpu_script_start() {
    ROOT=$PWD
    DRY=0
    [ "${2:-}" = "--dry-run" ] && DRY=1
    PY=${PYTHON:-python3}
    GPU=${GPU_CHECK_DEVICE:-cuda}
    T0=$SECONDS
    ORIG_LD=${LD_LIBRARY_PATH:-}
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    RES=${OUT:-$WORK/out}
    mkdir -p "$RES"
    trap 'rm -rf "$WORK"' EXIT
}

# rebuild_cuda_lib DIRS: compiles libsiamese_cuda.so on this machine against
# the cuDNN and cuBLAS it has (in the colon-separated DIRS) and their
# headers (the toolkit's, or the wheels' include/ beside their lib/), for
# when the bundled library wants versions absent here (say cuBLAS 13 where
# only cuBLAS 12 is installed). Needs nvcc, a C compiler and make.
rebuild_cuda_lib() {
    local dirs=$1 nvcc inc="" cudnn="" cublas="" d h f
    nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null) || { echo "no nvcc to rebuild with"; return 1; }
    local incdirs="$(dirname "$(dirname "$nvcc")")/include"
    for d in ${dirs//:/ }; do incdirs="$incdirs $d/../include"; done
    for h in cuda_runtime_api.h cudnn.h cublas_v2.h; do
        for d in $incdirs; do
            if [ -f "$d/$h" ]; then
                [[ " $inc " == *" -I$d "* ]] || inc="$inc -I$d"
                break
            fi
        done
    done
    for d in ${dirs//:/ }; do
        [ -z "$cudnn" ] && [ -f "$d/libcudnn.so.9" ] && cudnn=$d/libcudnn.so.9
        for f in "$d"/libcublas.so.13 "$d"/libcublas.so.12; do
            [ -z "$cublas" ] && [ -f "$f" ] && cublas=$f
        done
    done
    echo "rebuilding libsiamese_cuda.so with $nvcc:$inc, $cudnn $cublas"
    [ -n "$cudnn" ] && [ -n "$cublas" ] || { echo "cuDNN 9 or cuBLAS not found: cannot rebuild"; return 1; }
    make -s -j"$(nproc)" BUILD="$WORK/build" NVCC="$nvcc" CUDA_INCLUDES="$inc" \
        CUDA_LDLIBS="-Xlinker $cudnn -Xlinker $cublas" libsiamese_cuda.so
}

setup_programs() {
    section "programs"
    local LIB="" GLIBC=""
    BIN="" DATA="" FULL=""
    if [ -f gpu_carry/bundle.tar.xz ]; then
        # (Python's tarfile where tar has no xz.)
        tar -C "$WORK" -xJf gpu_carry/bundle.tar.xz 2>/dev/null ||
            "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
                gpu_carry/bundle.tar.xz "$WORK" || { echo "cannot unpack gpu_carry/bundle.tar.xz"; return 1; }
        BIN=$WORK/bin LIB=$WORK/lib GLIBC=$WORK/glibc DATA=$WORK/omniglot
        [ -d "$WORK/omniglot_full" ] && FULL=$WORK/omniglot_full
        echo "from gpu_carry/ (make gpu-bundle):"
        sed -n '1,4p' gpu_carry/STAMP
    else
        echo "no gpu_carry/: building this tree with make"
        make -j"$(nproc)" all build/tests/test_backend_parity build/tests/gpu/train_compare \
            build/tests/gpu/bench_model >"$WORK/make.log" 2>&1 || { tail -30 "$WORK/make.log"; return 1; }
        BIN=$WORK/bin
        mkdir -p "$BIN"
        for f in siamese libsiamese_cuda.so libsiamese_mpi.so build/tests/test_backend_parity \
            build/tests/gpu/train_compare build/tests/gpu/bench_model; do
            [ -e "$f" ] && ln -s "$ROOT/$f" "$BIN/"
        done
        DATA=${OMNIGLOT:-dataset/images_background}
        FULL=$(dirname "$DATA")
    fi

    # The CUDA libraries: the toolkit's (where it has cuDNN or cuBLAS), then
    # every lib/ of Python's NVIDIA wheels (PyTorch's), which also hold what
    # cuDNN loads at run time (cuBLASLt, NVRTC) for its own CUDA version.
    local dirs="" d
    local cands="${CUDA_HOME:-/usr/local/cuda}/lib64 /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib"
    for d in $cands; do
        if compgen -G "$d/libcudnn.so.*" >/dev/null || compgen -G "$d/libcublas.so.*" >/dev/null; then
            d=$(cd "$d" && pwd -P)
            [[ ":$dirs:" == *":$d:"* ]] || dirs="$dirs:$d"
        fi
    done
    for d in $("$PY" - 2>/dev/null <<'EOF'
import importlib.util, os
spec = importlib.util.find_spec("nvidia")
for base in (spec.submodule_search_locations if spec else []):
    for sub in sorted(os.listdir(base)):
        if os.path.isdir(os.path.join(base, sub, "lib")):
            print(os.path.join(base, sub, "lib"))
EOF
); do
        dirs="$dirs:$d"
    done
    dirs=${dirs#:}
    echo "CUDA library folders: ${dirs:-none found}"
    local OURLD="$BIN${LIB:+:$LIB}${dirs:+:$dirs}${ORIG_LD:+:$ORIG_LD}"

    # GPU_CHECK_REBUILD=1 forces the rebuild (to try it, or to replace a
    # bundled library that misbehaves here).
    local missing
    missing=$(LD_LIBRARY_PATH="$OURLD" ldd "$BIN/libsiamese_cuda.so" | grep "not found")
    if [ -n "$missing" ] || [ "${GPU_CHECK_REBUILD:-0}" = 1 ]; then
        [ -n "$missing" ] && echo "libsiamese_cuda.so cannot find: $missing"
        if rebuild_cuda_lib "$dirs"; then
            rm -f "$BIN/libsiamese_cuda.so"
            cp libsiamese_cuda.so "$BIN/libsiamese_cuda.so"
        fi
    fi

    # Our programs need glibc 2.34 or newer; on an older system they run
    # under the glibc they were built with (gpu_carry/glibc).
    local loader=""
    if ! LD_LIBRARY_PATH="$OURLD" "$BIN/bench_model" --help >/dev/null 2>"$WORK/probe.err"; then
        cat "$WORK/probe.err"
        loader=$(ls "$GLIBC"/ld-linux* 2>/dev/null | head -1)
        [ -n "$loader" ] || { echo "the programs cannot run here"; return 1; }
        echo "running the programs under their own glibc ($loader)"
    fi
    {
        echo '#!/usr/bin/env bash'
        echo 'p=$1; shift'
        if [ -n "$loader" ]; then
            echo "exec \"$loader\" --library-path \"$GLIBC:$OURLD\" \"$BIN/\$p\" \"\$@\""
        else
            echo "export LD_LIBRARY_PATH=\"$OURLD\""
            echo "exec \"$BIN/\$p\" \"\$@\""
        fi
    } >"$WORK/run"
    chmod +x "$WORK/run"
    RUN=$WORK/run

    # Open MPI: the bundle's (bundle.sh), whose files say they live in /usr,
    # told where they are (OPAL_* and PMIx's component path), or the
    # machine's own. Root is allowed: the GPU machine runs us as root.
    MPIRUN=""
    if [ -x "$WORK/mpi/bin/mpirun" ]; then
        local M=$WORK/mpi
        {
            echo '#!/usr/bin/env bash'
            echo "export OPAL_PREFIX=\"$M\" OPAL_EXEC_PREFIX=\"$M\" OPAL_BINDIR=\"$M/bin\" OPAL_LIBDIR=\"$LIB\""
            echo "export OPAL_PKGLIBDIR=\"$M/components\" OPAL_DATADIR=\"$M/help\" OPAL_PKGDATADIR=\"$M/help\""
            echo "export OPAL_SYSCONFDIR=\"$M/etc\" PMIX_MCA_mca_base_component_path=\"$M/pmix\""
            echo "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
            if [ -n "$loader" ]; then
                echo "exec \"$loader\" --library-path \"$GLIBC:$OURLD\" \"$M/bin/mpirun\" \"\$@\""
            else
                echo "export LD_LIBRARY_PATH=\"$OURLD\""
                echo "exec \"$M/bin/mpirun\" \"\$@\""
            fi
        } >"$WORK/mpirun"
        chmod +x "$WORK/mpirun"
        MPIRUN=$WORK/mpirun
        echo "Open MPI: the bundle's ($M)"
    elif command -v mpirun >/dev/null; then
        MPIRUN="env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 $(command -v mpirun)"
        echo "Open MPI: this machine's ($(command -v mpirun))"
    else
        echo "Open MPI: none (the data-parallel check will be skipped)"
    fi
}
