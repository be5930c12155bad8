"""Builds the test extensions against the installed cymem package (its
cymem/cymem.pxd, found on sys.path; no header, no library: calls go through
the installed module as they do for spaCy's).

    python setup_tests.py build_ext --build-lib OUT --build-temp TMP
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
os.chdir(HERE)
names = ["cymem_testing", "sparse_matrix"]
setup(
    name="cymem_tests",
    ext_modules=cythonize(
        [Extension(n, [n + ".pyx"]) for n in names],
        build_dir=os.environ.get("CYMEM_TESTS_BUILD_DIR") or None,
        compiler_directives={"language_level": 3},
        quiet=True,
    ),
)
