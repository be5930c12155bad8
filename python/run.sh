#!/usr/bin/env bash
# Installs the cymem package (python/, `pip install ./python`: cargo builds the
# Rust library, Cython the module) into a virtualenv under target/, builds the
# test extensions against the installed cymem/cymem.pxd and runs the tests.
# CI: `bash python/run.sh` from the repository root (any cwd works).
# PYTHON picks the interpreter that makes the virtualenv (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="$root/target/python-tests"
venv="$root/target/venv-tests"

"${PYTHON:-python3}" -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet 'cython>=3.1,<4' setuptools
"$py" -m pip install --quiet --force-reinstall --no-deps "$here"
"$py" -c 'import cymem.about as a; assert "+rust" in a.__version__, a.__version__'

mkdir -p "$build"
CYMEM_TESTS_BUILD_DIR="$build/c" "$py" "$here/tests/setup_tests.py" --quiet build_ext \
    --build-lib "$build/lib" --build-temp "$build/tmp"

# Run from beside the built modules; the source tree never holds build output.
cp "$here/tests/test_cymem.py" "$build/lib/"
cd "$build/lib"
"$py" test_cymem.py
