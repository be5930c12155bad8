#!/usr/bin/env bash
# Builds libcymem (C API), the cymem_rs Cython extensions (under
# target/python-build, leaving the source tree clean) and runs their tests.
# CI: `bash python/run.sh` from the repository root (any cwd works).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
py="${PYTHON:-python3}"
build="$root/target/python-build"

if ! "$py" -c 'import Cython, sys; sys.exit(Cython.__version__.split(".")[0] != "3")' 2>/dev/null; then
    "$py" -m pip install --quiet 'cython>=3,<4'
fi
if ! "$py" -c 'import setuptools' 2>/dev/null; then
    "$py" -m pip install --quiet setuptools
fi

cd "$root"
cargo rustc --release --lib --features capi --crate-type cdylib,staticlib

mkdir -p "$build"
CYMEM_RS_BUILD_DIR="$build/c" "$py" python/setup.py --quiet build_ext \
    --build-lib "$build/lib" --build-temp "$build/tmp"

# Run from beside the built modules, so an in-place build in python/ can't shadow them.
cp "$here/test_cymem_rs.py" "$build/lib/"
cd "$build/lib"
"$py" test_cymem_rs.py
