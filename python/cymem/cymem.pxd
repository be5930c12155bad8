# cymem.cymem: cymem's Pool, Address, PyMalloc and PyFree over the Rust pool.
#
#     from cymem.cymem cimport Pool, Address
#
# Self-contained: this file needs no other .pxd (beyond Cython's own libc)
# and no C header. The declarations below give the same object layouts,
# field order and vtables as cymem 2.0.16's cymem.pxd, so extension modules
# compiled against that file (spaCy, thinc, preshed wheels from PyPI) load
# and run against this module without a rebuild. Anything added goes after
# cymem's own methods (vtable slots are positional) and adds no fields
# (Cython checks each object's size when a client module is imported).
from libc.stdint cimport uint32_t, uint64_t

# cymem's allocator function types.
ctypedef void* (*malloc_t)(size_t n)
ctypedef void (*free_t)(void *p)

cdef class PyMalloc:
    cdef malloc_t malloc
    cdef void _set(self, malloc_t malloc)

cdef PyMalloc WrapMalloc(malloc_t malloc)

cdef class PyFree:
    cdef free_t free
    cdef void _set(self, free_t free)

cdef PyFree WrapFree(free_t free)

# A generation-checked name for a block (the C API's cymem_handle, 16 bytes
# of plain data; all zeroes is the null handle). Survives realloc; rejected
# once its block is freed.
cdef struct pool_handle:
    uint32_t index
    uint32_t generation
    uint64_t pool

cdef class Pool:
    # Bytes requested by live blocks (sum of number * elem_size), kept up to
    # date in this field: compiled code may read it directly.
    cdef readonly size_t size
    # A read-only view {address: size} of the live blocks, built from the
    # Rust pool on each use (cymem.cymem.Addresses, a dict subclass that also
    # owns the Rust pool). Compiled code reading this field directly gets a
    # dict that is empty at the C level (PyDict_* calls).
    cdef readonly dict addresses
    # Python objects kept alive as long as the pool (see own_pyref).
    cdef readonly list refs
    # The allocator pair the pool was made with (module-level Default_Malloc
    # and Default_Free unless given).
    cdef readonly PyMalloc pymalloc
    cdef readonly PyFree pyfree

    # cymem's interface, in cymem's vtable order.
    cdef void* alloc(self, size_t number, size_t elem_size) except NULL
    cdef void free(self, void* addr) except *
    cdef void* realloc(self, void* addr, size_t n) except NULL

    # Additions (after cymem's slots): blocks named by handle.
    cdef void* alloc_handle(self, size_t number, size_t elem_size,
                            pool_handle* out_handle) except NULL
    cdef void* lookup(self, pool_handle handle, size_t* out_size) except NULL
    cdef void free_handle(self, pool_handle handle) except *
    cdef void* realloc_handle(self, pool_handle handle, size_t number,
                              size_t elem_size) except NULL
    cdef pool_handle find(self, const void* addr, size_t* out_size) except *


cdef class Address:
    cdef void* ptr
    cdef readonly PyMalloc pymalloc
    cdef readonly PyFree pyfree

# A pool whose blocks come from `malloc` and go back through `free`
# (the same as Pool(WrapMalloc(malloc), WrapFree(free))).
cdef Pool pool_with_allocator(malloc_t malloc, free_t free)
