# cymem_rs: cymem's Pool over the cymem C API (Rust).
#
#     from cymem_rs cimport Pool
#
# The cdef methods alloc/free/realloc and the readonly `size` have cymem's
# signatures, so code written for `from cymem.cymem cimport Pool` only needs
# its cimport line changed.
from cymem_capi cimport cymem_pool, cymem_handle, cymem_malloc_fn, cymem_free_fn

# cymem's names for the allocator function types (C function pointers, so
# allocator functions written in Cython must be declared `noexcept`).
ctypedef cymem_malloc_fn malloc_t
ctypedef cymem_free_fn free_t

cdef class PyMalloc:
    cdef malloc_t malloc
    cdef void _set(self, malloc_t malloc) noexcept

cdef PyMalloc WrapMalloc(malloc_t malloc)

cdef class PyFree:
    cdef free_t free
    cdef void _set(self, free_t free) noexcept

cdef PyFree WrapFree(free_t free)

cdef class Pool:
    cdef cymem_pool* c_pool
    # Bytes requested by live blocks (sum of number * elem_size).
    cdef readonly size_t size
    # Python objects kept alive as long as the pool (see own_pyref).
    cdef readonly list refs
    # The allocator wrappers given to the constructor, or None.
    cdef readonly PyMalloc pymalloc
    cdef readonly PyFree pyfree

    # cymem's interface.
    cdef void* alloc(self, size_t number, size_t elem_size) except NULL
    cdef void free(self, void* addr) except *
    cdef void* realloc(self, void* addr, size_t n) except NULL

    # Handles: generation-checked names for blocks that survive realloc and
    # are rejected (ValueError) once their block is freed.
    cdef void* alloc_handle(self, size_t number, size_t elem_size,
                            cymem_handle* out_handle) except NULL
    cdef void* lookup(self, cymem_handle handle, size_t* out_size) except NULL
    cdef void free_handle(self, cymem_handle handle) except *
    cdef void* realloc_handle(self, cymem_handle handle, size_t number,
                              size_t elem_size) except NULL
    cdef cymem_handle find(self, const void* addr, size_t* out_size) except *

# A pool whose blocks come from `malloc` and go back through `free`
# (the same as Pool(WrapMalloc(malloc), WrapFree(free))).
cdef Pool pool_with_allocator(cymem_malloc_fn malloc, cymem_free_fn free)
