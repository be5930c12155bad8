# cython: language_level=3, embedsignature=True
"""cymem's Pool, backed by the cymem C API (a Rust library).

>>> from cymem_rs cimport Pool
>>> cdef Pool mem = Pool()
>>> data1 = <int*>mem.alloc(10, sizeof(int))
>>> data2 = <float*>mem.alloc(12, sizeof(float))

Blocks are zeroed and 16-byte aligned, and all of them are freed when the
Pool is collected (including when it is part of a reference cycle).

Errors raise Python exceptions carrying cymem_status_message():
MemoryError (out of memory), OverflowError (number * elem_size overflows),
InvalidPointerError (a ValueError and KeyError: not a live block of this
pool), ValueError (invalid handle or argument).

A Pool is not thread-safe; calls hold the GIL.
"""
from libc.stdlib cimport malloc as libc_malloc, free as libc_free
from cymem_capi cimport *


class InvalidPointerError(ValueError, KeyError):
    """The pointer is not the start of a live block of this pool.

    A ValueError, and also a KeyError as cymem's Pool.free raises.
    """
    __str__ = ValueError.__str__


def status_message(int status):
    """The C library's description of a cymem_status value."""
    return cymem_status_message(status).decode("utf-8", "replace")


cdef int raise_status(cymem_status status) except -1:
    msg = status_message(status)
    if status == CYMEM_STATUS_OUT_OF_MEMORY:
        raise MemoryError(msg)
    if status == CYMEM_STATUS_SIZE_OVERFLOW:
        raise OverflowError(msg)
    if status == CYMEM_STATUS_INVALID_POINTER:
        raise InvalidPointerError(msg)
    if status == CYMEM_STATUS_OK:
        raise SystemError("cymem call failed but reported no error")
    # CYMEM_STATUS_INVALID_HANDLE, CYMEM_STATUS_INVALID_ARGUMENT, CYMEM_STATUS_NULL_POOL
    raise ValueError(msg)


cdef class PyMalloc:
    """A C malloc function, wrapped for Pool(); make one with WrapMalloc."""
    cdef void _set(self, malloc_t malloc) noexcept:
        self.malloc = malloc


cdef PyMalloc WrapMalloc(malloc_t malloc):
    cdef PyMalloc o = PyMalloc()
    o._set(malloc)
    return o


cdef class PyFree:
    """A C free function, wrapped for Pool(); make one with WrapFree."""
    cdef void _set(self, free_t free) noexcept:
        self.free = free


cdef PyFree WrapFree(free_t free):
    cdef PyFree o = PyFree()
    o._set(free)
    return o


cdef Pool pool_with_allocator(cymem_malloc_fn malloc, cymem_free_fn free):
    return Pool(WrapMalloc(malloc), WrapFree(free))


cdef class Pool:
    """Track allocated memory blocks, and free them all when the Pool is
    garbage collected.

    Pool() uses the library's default allocator; Pool(WrapMalloc(f),
    WrapFree(g)) takes every block from f and returns it through g (a side
    left out defaults to libc malloc / free).

    Attributes:
        size (size_t): bytes requested by the live blocks. Read-only.
        refs (list): objects kept alive by own_pyref. Read-only.
        len(pool): the number of live blocks.
    """

    def __cinit__(self, PyMalloc pymalloc=None, PyFree pyfree=None):
        cdef cymem_malloc_fn m
        cdef cymem_free_fn f
        self.c_pool = NULL
        self.size = 0
        self.refs = []
        self.pymalloc = pymalloc
        self.pyfree = pyfree
        if pymalloc is None and pyfree is None:
            self.c_pool = cymem_pool_new()
        else:
            m = pymalloc.malloc if pymalloc is not None else libc_malloc
            f = pyfree.free if pyfree is not None else libc_free
            if m == NULL or f == NULL:
                raise_status(CYMEM_STATUS_INVALID_ARGUMENT)
            self.c_pool = cymem_pool_new_with(m, f)
        if self.c_pool == NULL:
            raise_status(CYMEM_STATUS_OUT_OF_MEMORY)

    def __dealloc__(self):
        if self.c_pool != NULL:
            cymem_pool_destroy(self.c_pool)
            self.c_pool = NULL

    def __len__(self):
        return cymem_pool_len(self.c_pool)

    def __repr__(self):
        return "<cymem_rs.Pool: %d blocks, %d bytes>" % (len(self), self.size)

    cdef void* alloc(self, size_t number, size_t elem_size) except NULL:
        """A zeroed, 16-byte aligned block of number * elem_size bytes, freed
        with the pool. Zero bytes gives a unique non-NULL pointer that must not
        be read. OverflowError if the product overflows, MemoryError if the
        allocator fails."""
        cdef void* p = cymem_alloc(self.c_pool, number, elem_size, NULL)
        if p == NULL:
            raise_status(cymem_last_error())
        self.size += number * elem_size
        return p

    cdef void free(self, void* addr) except *:
        """Frees a block now. InvalidPointerError (ValueError, KeyError) if addr
        is not the start of a live block of this pool; nothing changes then."""
        cdef cymem_status status = cymem_free(self.c_pool, addr)
        if status != CYMEM_STATUS_OK:
            raise_status(status)
        self.size = cymem_pool_size(self.c_pool)

    cdef void* realloc(self, void* addr, size_t n) except NULL:
        """Resizes the block to n bytes, keeping the first min(old, n) bytes and
        zeroing the rest; returns its (possibly new) address. Unlike cymem,
        shrinking is allowed. On error the block is untouched."""
        cdef void* p = cymem_realloc(self.c_pool, addr, n, 1)
        if p == NULL:
            raise_status(cymem_last_error())
        self.size = cymem_pool_size(self.c_pool)
        return p

    cdef void* alloc_handle(self, size_t number, size_t elem_size,
                            cymem_handle* out_handle) except NULL:
        """alloc(), also writing the block's handle to *out_handle."""
        cdef void* p = cymem_alloc(self.c_pool, number, elem_size, out_handle)
        if p == NULL:
            raise_status(cymem_last_error())
        self.size += number * elem_size
        return p

    cdef void* lookup(self, cymem_handle handle, size_t* out_size) except NULL:
        """The block's address (its size in bytes to *out_size unless NULL).
        ValueError if the handle is null, freed, stale or another pool's."""
        cdef void* p = cymem_lookup(self.c_pool, handle, out_size)
        if p == NULL:
            raise_status(cymem_last_error())
        return p

    cdef void free_handle(self, cymem_handle handle) except *:
        """Frees the block named by handle; ValueError if it is not live."""
        cdef cymem_status status = cymem_free_handle(self.c_pool, handle)
        if status != CYMEM_STATUS_OK:
            raise_status(status)
        self.size = cymem_pool_size(self.c_pool)

    cdef void* realloc_handle(self, cymem_handle handle, size_t number,
                              size_t elem_size) except NULL:
        """realloc() by handle; the handle stays valid."""
        cdef void* p = cymem_realloc_handle(self.c_pool, handle, number, elem_size)
        if p == NULL:
            raise_status(cymem_last_error())
        self.size = cymem_pool_size(self.c_pool)
        return p

    cdef cymem_handle find(self, const void* addr, size_t* out_size) except *:
        """The handle of the block starting at addr (its size to *out_size
        unless NULL); InvalidPointerError if there is none."""
        cdef cymem_handle handle
        cdef cymem_status status = cymem_find(self.c_pool, addr, &handle, out_size)
        if status != CYMEM_STATUS_OK:
            raise_status(status)
        return handle

    def own_pyref(self, object py_ref):
        """Keep py_ref alive as long as the pool (as cymem's Pool.own_pyref)."""
        self.refs.append(py_ref)
