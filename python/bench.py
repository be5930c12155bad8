"""Benchmark: cymem_rs's Pool against libc calloc/free and PyPI cymem.

    python3 python/bench.py [--no-build] [--reps 7] [--pairs 1000000] [--fill 100000]

Builds libcymem and the extensions (with bench_pairs) under
target/python-build unless --no-build, installs PyPI cymem if missing, then
times tight Cython loops in one process and prints medians over --reps runs,
with ratios to calloc/free. Not a test: nothing is asserted.

- pairs:     N x (alloc(1, 32); free) on one pool (calloc(1, 32); free for libc).
- fill+drop: alloc(1, 32) x M on a new pool, then drop the pool
             (libc: calloc M blocks into an array, then free each).
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, "target", "python-build")


def build():
    try:
        import cymem  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "cymem"])
    try:
        import Cython  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "cython>=3,<4"])
    subprocess.check_call(
        ["cargo", "rustc", "--release", "--lib", "--features", "capi",
         "--crate-type", "cdylib,staticlib"], cwd=ROOT)
    env = dict(os.environ, CYMEM_RS_BENCH="1", CYMEM_RS_BUILD_DIR=os.path.join(BUILD, "c"))
    subprocess.check_call(
        [sys.executable, os.path.join(HERE, "setup.py"), "--quiet", "build_ext",
         "--build-lib", os.path.join(BUILD, "lib"), "--build-temp", os.path.join(BUILD, "tmp")],
        env=env)


def median_seconds(fn, arg, reps):
    fn(arg)  # warm up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--fill", type=int, default=100_000)
    args = parser.parse_args()
    if not args.no_build:
        build()
    sys.path.insert(0, os.path.join(BUILD, "lib"))
    import cymem.about
    import bench_pairs as b

    rows = [
        ("libc calloc/free", b.pairs_calloc, b.fill_drop_calloc),
        ("PyPI cymem %s Pool" % cymem.about.__version__, b.pairs_pypi, b.fill_drop_pypi),
        ("cymem_rs Pool", b.pairs_rs, b.fill_drop_rs),
        ("cymem_rs Pool, handles", b.pairs_rs_handle, None),
        ("C API direct", b.pairs_capi, b.fill_drop_capi),
    ]
    results = []
    for name, pairs, fill in rows:
        p = median_seconds(pairs, args.pairs, args.reps)
        f = median_seconds(fill, args.fill, args.reps) if fill else None
        results.append((name, p, f))
    base_p, base_f = results[0][1], results[0][2]

    print("%s, Python %s, %d cores; median of %d runs; blocks of 32 bytes"
          % (platform.processor() or platform.machine(), platform.python_version(),
             os.cpu_count(), args.reps))
    print("| %-24s | %21s | %8s | %24s | %8s |"
          % ("", "pairs: ns/pair", "vs libc", "fill+drop %d: ms" % args.fill, "vs libc"))
    print("|%s|%s|%s|%s|%s|" % ("-" * 26, "-" * 23, "-" * 10, "-" * 26, "-" * 10))
    for name, p, f in results:
        fill_ms = "%.2f" % (f * 1e3) if f is not None else "-"
        fill_ratio = "%.2fx" % (f / base_f) if f is not None else "-"
        print("| %-24s | %21.1f | %7.2fx | %24s | %8s |"
              % (name, p / args.pairs * 1e9, p / base_p, fill_ms, fill_ratio))


if __name__ == "__main__":
    main()
