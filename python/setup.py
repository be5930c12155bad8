"""Builds the cymem_rs Cython extensions against include/cymem.h and
target/release/libcymem.so (linked with an rpath, so no LD_LIBRARY_PATH).

    cargo rustc --release --lib --features capi --crate-type cdylib,staticlib
    python python/setup.py build_ext --inplace        # .c/.so beside the .pyx

python/run.sh instead keeps everything under target/python-build by setting
CYMEM_RS_BUILD_DIR (generated .c files) and passing --build-lib/--build-temp.
CYMEM_RS_BENCH=1 adds bench_pairs (needs PyPI cymem for its .pxd).
"""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INCLUDE = os.path.join(ROOT, "include")
LIBDIR = os.path.join(ROOT, "target", "release")

os.chdir(HERE)  # sources are given relative to python/


def extension(name):
    return Extension(
        name,
        [name + ".pyx"],
        include_dirs=[INCLUDE],
        library_dirs=[LIBDIR],
        libraries=["cymem"],
        runtime_library_dirs=[LIBDIR],
    )


names = ["cymem_rs", "cymem_rs_testing", "sparse_matrix"]
if os.environ.get("CYMEM_RS_BENCH") == "1":
    names.append("bench_pairs")

if not os.path.exists(os.path.join(INCLUDE, "cymem.h")):
    sys.exit("setup.py: %s missing (it comes with the C API)" % os.path.join(INCLUDE, "cymem.h"))

setup(
    name="cymem_rs",
    version="0.1.0",
    ext_modules=cythonize(
        [extension(n) for n in names],
        include_path=[INCLUDE, HERE],
        build_dir=os.environ.get("CYMEM_RS_BUILD_DIR") or None,
        compiler_directives={"language_level": 3},
        quiet=True,
    ),
    zip_safe=False,
)
