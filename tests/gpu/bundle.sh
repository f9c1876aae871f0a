#!/usr/bin/env bash
# bundle.sh DEST PROGRAM...: packs what tests/gpu/check.sh needs on a GPU
# machine that has the NVIDIA driver, a CUDA toolkit or PyTorch's CUDA
# wheels, but none of our Debian libraries (run by `make gpu-bundle`).
#
# DEST/bundle.tar.xz holds
#   bin/      the programs, libsiamese_cuda.so and libsiamese_mpi.so
#   lib/      every shared library they need (ldd) but glibc's own and
#             CUDA's: HDF5, OpenBLAS, readline, ncurses, stb, libgomp,
#             Open MPI's, ...
#   mpi/      Open MPI's launcher, the plug-ins it loads that need nothing
#             else (shared memory and TCP; no InfiniBand, UCX or libfabric)
#             and its messages, when libsiamese_mpi.so is bundled: the
#             data-parallel check (programs.sh tells it where it is)
#   glibc/    glibc's libraries and loader, used only when the GPU machine's
#             glibc is older than the one these programs were linked against
#   omniglot/ a few alphabets of Omniglot's background set, for the
#             training comparison ($OMNIGLOT, when given)
#   omniglot_full/  images_background and images_evaluation whole, for
#             tests/gpu/train_model.sh ($OMNIGLOT_FULL, the folder holding
#             both, when given: make gpu-bundle-model; about 6 MB compressed)
# and DEST/STAMP says which commit it was built from. Compressed, because
# the device tool carries at most 64 MB (OpenBLAS alone is 36 MB).
set -euo pipefail
dest=$1
shift
alphabets=${OMNIGLOT_ALPHABETS:-8}
limit_mb=60

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/glibc"
cp "$@" "$stage/bin/"

deps=$(for f in "$stage"/bin/*; do ldd "$f"; done)
if grep -q "not found" <<<"$deps"; then
    echo "bundle.sh: libraries missing here:" >&2
    grep "not found" <<<"$deps" | sort -u >&2
    exit 1
fi
# Open MPI's run-time parts (Debian's layout: `ompi_info --path`), the
# plug-ins those of their libraries allow, whose own libraries join deps.
if [ -f "$stage/bin/libsiamese_mpi.so" ]; then
    ompi_path() { ompi_info --path "$1" --parsable | cut -d: -f3; }
    # PMIx's folder (its plug-ins in pmix/, its messages in ../share/pmix).
    pmix=$(dirname "$(readlink -f "$(ldconfig -p | awk '/libpmix\.so\.2 / {print $NF; exit}')")")
    mkdir -p "$stage/mpi/bin" "$stage/mpi/components" "$stage/mpi/pmix" "$stage/mpi/help" "$stage/mpi/etc"
    cp -L "$(command -v orterun || command -v mpirun)" "$stage/mpi/bin/mpirun"
    cp -r "$(ompi_path pkgdatadir)"/. "$stage/mpi/help/"
    [ -d "$pmix/../share/pmix" ] && cp -r "$pmix/../share/pmix"/. "$stage/mpi/help/"
    # Libraries a plug-in may need: Open MPI's and PMIx's own, and what
    # those need; a plug-in that wants another (libfabric, UCX, verbs,
    # PSM, munge, NUMA) is left out.
    ok_libs='^(libmpi|libopen-rte|libopen-pal|libmca_common_(sm|monitoring|ompio)|libpmix|libmunge|libnl-3|libhwloc|libevent_core-[0-9.]*|libevent_pthreads-[0-9.]*|libz|libudev|libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux-x86-64|linux-vdso)\.so'
    for comp in "$(ompi_path pkglibdir)"/mca_*.so "$pmix"/pmix/*.so; do
        cdeps=$(ldd "$comp" 2>/dev/null) || continue
        grep -q "not found" <<<"$cdeps" && continue
        awk '$2 == "=>" {print $1}' <<<"$cdeps" | grep -Eqv "$ok_libs" && continue
        case $comp in */pmix/*) cp "$comp" "$stage/mpi/pmix/" ;; *) cp "$comp" "$stage/mpi/components/" ;; esac
        deps="$deps"$'\n'"$cdeps"
    done
    deps="$deps"$'\n'"$(ldd "$stage/mpi/bin/mpirun")"
    echo "bundle.sh: Open MPI: $(ls "$stage/mpi/components" | wc -l) plug-ins, $(ls "$stage/mpi/pmix" | wc -l) of PMIx"
fi

# name path, for every library any program loads
awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' <<<"$deps" | sort -u | while read -r name path; do
    case "$name" in
    # Found on the GPU machine (toolkit or wheels), and far too large to carry.
    libcudnn* | libcublas* | libcudart* | libcuda.so* | libnvrtc* | libnvJitLink*) ;;
    # glibc, and the C++ runtime CUDA's libraries need: the machine's own
    # are used unless it is too old for ours (check.sh decides).
    ld-linux* | libc.so.* | libm.so.* | libmvec.so.* | libpthread.so.* | libdl.so.* | \
        librt.so.* | libresolv.so.* | libutil.so.* | libstdc++.so.* | libgcc_s.so.*)
        cp -L "$path" "$stage/glibc/$name" ;;
    *) cp -L "$path" "$stage/lib/$name" ;;
    esac
done
loader=$(readelf -l "$stage/bin/siamese" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
cp -L "$loader" "$stage/glibc/$(basename "$loader")"

if [ -n "${OMNIGLOT:-}" ] && [ -d "$OMNIGLOT" ]; then
    mkdir -p "$stage/omniglot"
    find "$OMNIGLOT" -mindepth 1 -maxdepth 1 -type d | sort | head -n "$alphabets" |
        while read -r a; do cp -r "$a" "$stage/omniglot/"; done
    chmod -R u+w "$stage/omniglot"
    data="$(find "$stage/omniglot" -mindepth 2 -maxdepth 2 -type d | wc -l) characters from $OMNIGLOT"
else
    data="none (OMNIGLOT not set): the training comparison will use synthetic images"
fi

if [ -n "${OMNIGLOT_FULL:-}" ]; then
    [ -d "$OMNIGLOT_FULL/images_background" ] && [ -d "$OMNIGLOT_FULL/images_evaluation" ] ||
        { echo "bundle.sh: $OMNIGLOT_FULL lacks images_background or images_evaluation" >&2; exit 1; }
    mkdir -p "$stage/omniglot_full"
    cp -r "$OMNIGLOT_FULL/images_background" "$OMNIGLOT_FULL/images_evaluation" "$stage/omniglot_full/"
    chmod -R u+w "$stage/omniglot_full"
    data="$data; all of Omniglot from $OMNIGLOT_FULL"
fi

rm -rf "$dest"
mkdir -p "$dest"
XZ_OPT="-6 -T2" tar -C "$stage" -cJf "$dest/bundle.tar.xz" .
{
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
    echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "glibc $(ldd --version | head -1 | awk '{print $NF}')"
    echo "omniglot: $data"
    (cd "$stage" && find bin lib glibc -type f | sort | xargs sha256sum)
} >"$dest/STAMP"
cat >"$dest/README.txt" <<'EOF'
Made by `make gpu-bundle`; unpacked and used by tests/gpu/check.sh.
Run on the GPU machine with the device tool: carry ["gpu_carry"], command
"bash tests/gpu/check.sh". See tests/gpu/README.md.
EOF
size=$(du -sm "$dest" | cut -f1)
echo "bundle.sh: $dest is $size MB ($(du -sh "$stage" | cut -f1) unpacked); omniglot: $data"
if [ "$size" -gt "$limit_mb" ]; then
    echo "bundle.sh: $dest is over $limit_mb MB, too large to carry" >&2
    exit 1
fi
