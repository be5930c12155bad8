"""Builds cymem.cymem: first the Rust crate one directory up (its C API, as a
static library, with cargo), then the Cython extension linked against it, so
the installed module is one self-contained .so.

Metadata lives in pyproject.toml; this file only adds the build step.
Environment:
    CYMEM_CRATE_DIR   the crate (default: the parent of this folder)
    CARGO_TARGET_DIR  cargo's output (default: <crate>/target/python)
    CARGO             the cargo to run (default: cargo on PATH)
"""
import os
import re
import subprocess
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.abspath(os.environ.get("CYMEM_CRATE_DIR") or os.path.dirname(HERE))
INCLUDE = os.path.join(CRATE, "include")
# What rustc reports for a staticlib on Linux, if it prints nothing.
FALLBACK_NATIVE_LIBS = "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"


def build_rust_library():
    """Runs cargo; returns (path of libcymem.a, linker flags it needs)."""
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(CRATE, "target", "python")
    command = [
        os.environ.get("CARGO", "cargo"), "rustc", "--release", "--lib",
        "--features", "capi", "--crate-type", "staticlib",
        "--manifest-path", os.path.join(CRATE, "Cargo.toml"),
        "--target-dir", target_dir,
        "--", "--print", "native-static-libs",
    ]
    # One codegen unit with fat LTO: the C functions and the pool's internals
    # are optimised together (this cannot reach across into the C side).
    env = dict(os.environ,
               CARGO_PROFILE_RELEASE_LTO="fat",
               CARGO_PROFILE_RELEASE_CODEGEN_UNITS="1")
    print("+ " + " ".join(command), file=sys.stderr)
    proc = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        sys.exit("cargo failed (exit %d): a Rust toolchain (rustup.rs) is needed to build "
                 "cymem" % proc.returncode)
    found = re.findall(r"native-static-libs: (.*)", proc.stderr)
    native = found[-1].strip() if found else FALLBACK_NATIVE_LIBS
    library = os.path.join(target_dir, "release", "libcymem.a")
    if not os.path.exists(library):
        sys.exit("cargo did not produce %s" % library)
    return library, native.split()


class BuildExtWithCargo(build_ext):
    def build_extensions(self):
        library, native = build_rust_library()
        for ext in self.extensions:
            ext.extra_objects.append(library)
            ext.depends.append(library)
            # Keep the Rust symbols (std included) out of the module's exports,
            # and the debug info (Python's -g, Rust std's) out of the module:
            # 2.7 MB with it, 0.55 MB without.
            ext.extra_link_args += ["-Wl,--exclude-libs,ALL", "-Wl,--gc-sections",
                                    "-Wl,--strip-debug"] + native
        super().build_extensions()


if not os.path.exists(os.path.join(INCLUDE, "cymem.h")):
    sys.exit("setup.py: %s is missing: build from a checkout of the cymem crate "
             "(pip install ./python from its root), or set CYMEM_CRATE_DIR"
             % os.path.join(INCLUDE, "cymem.h"))

os.chdir(HERE)  # sources are given relative to python/

setup(
    ext_modules=cythonize(
        [Extension("cymem.cymem", ["cymem/cymem.pyx"], include_dirs=[INCLUDE],
                   extra_compile_args=["-O3"])],
        include_path=[INCLUDE],
        build_dir="build/cython",
        compiler_directives={"language_level": 3},
        quiet=True,
    ),
    cmdclass={"build_ext": BuildExtWithCargo},
    zip_safe=False,
)
