#!/usr/bin/env bash
# Runs a program of the ThreadSanitizer build (tests/run.sh, tests/sh/tsan.sh),
# or skips (77) where LLVM's Archer is missing: without it every OpenMP
# parallel loop is a false report (see tests/run.sh).
if [ -z "${OMP_TOOL_LIBRARIES:-}" ] || [ ! -f "$OMP_TOOL_LIBRARIES" ]; then
    echo "SKIP: no libarcher.so (LLVM's OpenMP tool for TSan; make setup installs libomp-dev)"
    exit 77
fi
exec "$@"
