__title__ = "cymem"
__version__ = "2.0.16+rust"
__summary__ = "cymem's Cython Pool over a Rust memory pool (a binary drop-in for cymem 2.0.16)"
__license__ = "MIT"
