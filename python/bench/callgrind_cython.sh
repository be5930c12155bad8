#!/usr/bin/env bash
# Instructions per Cython alloc + free pair, counted by callgrind
# (deterministic, unlike wall time on a shared machine), for the loops of
# bench_pairs.pyx: libc calloc/free, PyPI cymem's Pool, this package's Pool and
# the C API called directly. Each figure is
# (run with 10^5 pairs - run with 0 pairs) / 10^5, so interpreter start-up and
# the 10^4 warm-up pairs cancel out.
# Needs the virtualenvs and the bench module that `python3 python/bench/bench.py`
# sets up (run it once first; `--samples 1 --pairs 1000 --fills 1000` is enough).
# Usage: bash python/bench/callgrind_cython.sh   (needs valgrind)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/target/callgrind-cython"
mkdir -p "$out"
cd "$root"
instructions() { # venv function pairs
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$1.$2.$3" \
        "target/$1/bin/python" -c "import sys; sys.path.insert(0, 'target/python-bench/lib')
import bench_pairs; bench_pairs.$2($3)" 2>&1 | sed -n 's/.*refs: *//p' | tr -d ,
}
for run in "venv-bench-ours pairs_libc libc" "venv-bench-pypi pairs_pool PyPI-cymem-Pool" \
    "venv-bench-ours pairs_pool this-package-Pool" "venv-bench-ours pairs_capi C-API-direct"; do
    set -- $run
    zero="$(instructions "$1" "$2" 0)"
    full="$(instructions "$1" "$2" 100000)"
    echo "$3: $(((full - zero) / 100000)) instructions per pair"
done
