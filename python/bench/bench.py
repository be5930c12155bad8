"""Cython benchmark: cymem.cymem.Pool (this package, and PyPI's cymem 2.0.16)
against libc calloc/free, and the C API called directly.

    python3 python/bench/bench.py [--samples 7] [--pairs 1000000] [--fills 100000,1000000]

Sets up two virtualenvs under target/ (PyPI's cymem; this package via
`pip install ./python`), builds bench_pairs.pyx once against the installed
cymem.cymem .pxd (one layout, so the same module runs on both), then runs
every sample in a fresh process, the variants interleaved round by round,
and prints medians with ratios to libc from the same run. Not a test:
nothing is asserted.

- pair:        N x (alloc(1, 32); free) on one pool, after 10^4 warm-up pairs
               (libc: calloc(1, 32); free).
- fill+destroy: alloc(1, 32) x M on a new pool, then drop the pool (libc:
               calloc M blocks into an array, then free each), in a fresh
               process, so every variant starts from a fresh heap.
"""
# The bench module's functions and loops are aligned to 64 bytes: without it,
# where the linker happened to place each loop moved the pair's ratios by
# 10-15 % from one build of this module to the next (same cymem, same libc).
import argparse
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(PYTHON_DIR)
TARGET = os.path.join(ROOT, "target")
BUILD = os.path.join(TARGET, "python-bench")
VENV_OURS = os.path.join(TARGET, "venv-bench-ours")
VENV_PYPI = os.path.join(TARGET, "venv-bench-pypi")


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def run(*command, **kwargs):
    print("+ " + " ".join(command), file=sys.stderr)
    subprocess.check_call(command, **kwargs)


def setup():
    for venv in (VENV_OURS, VENV_PYPI):
        if not os.path.exists(venv_python(venv)):
            run(sys.executable, "-m", "venv", venv)
    run(venv_python(VENV_PYPI), "-m", "pip", "install", "--quiet", "cymem==2.0.16")
    py = venv_python(VENV_OURS)
    run(py, "-m", "pip", "install", "--quiet", "cython>=3.1,<4", "setuptools")
    run(py, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps", PYTHON_DIR)
    # The static library `pip install` just built (python/setup.py's default).
    library = os.path.join(TARGET, "python", "release", "libcymem.a")
    setup_py = os.path.join(BUILD, "setup_bench.py")
    os.makedirs(BUILD, exist_ok=True)
    with open(setup_py, "w") as f:
        f.write(
            "from Cython.Build import cythonize\n"
            "from setuptools import Extension, setup\n"
            "setup(name='bench_pairs', ext_modules=cythonize([Extension('bench_pairs', [%r],"
            " include_dirs=[%r], extra_objects=[%r], extra_compile_args=['-O3', '-falign-functions=64', '-falign-loops=64'],"
            " extra_link_args=['-lpthread', '-ldl', '-lm'])], build_dir=%r,"
            " compiler_directives={'language_level': 3}, quiet=True))\n"
            % (os.path.join(HERE, "bench_pairs.pyx"), os.path.join(ROOT, "include"), library,
               os.path.join(BUILD, "c")))
    run(py, setup_py, "--quiet", "build_ext", "--build-lib", os.path.join(BUILD, "lib"),
        "--build-temp", os.path.join(BUILD, "tmp"), "--force")


def sample(venv, function, n):
    code = ("import sys; sys.path.insert(0, %r); import bench_pairs as b; print(b.%s(%d))"
            % (os.path.join(BUILD, "lib"), function, n))
    out = subprocess.check_output([venv_python(venv), "-c", code], cwd=BUILD)
    return float(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-setup", action="store_true")
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--fills", default="100000,1000000")
    args = parser.parse_args()
    if not args.no_setup:
        setup()
    version = subprocess.check_output(
        [venv_python(VENV_PYPI), "-c", "import cymem.about as a; print(a.__version__)"],
        text=True).strip()
    variants = [
        ("libc calloc/free", VENV_OURS, "libc"),
        ("PyPI cymem %s Pool" % version, VENV_PYPI, "pool"),
        ("this package's Pool", VENV_OURS, "pool"),
        ("C API direct", VENV_OURS, "capi"),
    ]
    workloads = [("pair", "pairs", args.pairs)] + [
        ("fill+destroy %d" % int(m), "fill", int(m)) for m in args.fills.split(",")]
    times = {}
    for _ in range(args.samples):
        for wname, prefix, n in workloads:
            for vname, venv, suffix in variants:
                t = sample(venv, "%s_%s" % (prefix, suffix), n)
                times.setdefault((wname, vname), []).append(t)

    print("%s, Python %s, %d cores; median of %d samples, each a fresh process; blocks of 32 B"
          % (platform.processor() or platform.machine(), platform.python_version(),
             os.cpu_count(), args.samples))
    print("| workload | variant | median | vs libc | per-round ratio: median (range) |")
    print("|---|---|---|---|---|")
    for wname, prefix, n in workloads:
        base_times = times[(wname, variants[0][0])]
        base = statistics.median(base_times)
        for vname, _, _ in variants:
            med = statistics.median(times[(wname, vname)])
            # Each round runs every variant back to back, so a round's ratio
            # shares that moment's machine load: steadier than the medians.
            ratios = [t / b for t, b in zip(times[(wname, vname)], base_times)]
            shown = "%.1f ns/pair" % (med / n * 1e9) if prefix == "pairs" else "%.2f ms" % (med * 1e3)
            print("| %s | %s | %s | %.2fx | %.2fx (%.2f-%.2f) |" % (
                wname, vname, shown, med / base, statistics.median(ratios), min(ratios),
                max(ratios)))


if __name__ == "__main__":
    main()
