# cython: language_level=3, embedsignature=True, freethreading_compatible=True
"""cymem's Pool, backed by the Rust pool of this repository (its C API,
linked statically into this module).

>>> from cymem.cymem cimport Pool
>>> cdef Pool mem = Pool()
>>> data1 = <int*>mem.alloc(10, sizeof(int))
>>> data2 = <float*>mem.alloc(12, sizeof(float))

A binary drop-in for cymem 2.0.16: Pool, Address, PyMalloc, PyFree,
WrapMalloc, WrapFree and own_pyref have cymem's layouts and signatures, so
spaCy, thinc and preshed wheels built against cymem import this module
unchanged. Blocks are zeroed and 16-byte aligned, and all of them are freed
when the Pool is collected (also when it is part of a reference cycle).

Errors raise Python exceptions carrying cymem_status_message():
MemoryError (out of memory), OverflowError (number * elem_size overflows),
InvalidPointerError (a ValueError and a KeyError: not a live block of this
pool), ValueError (invalid handle or argument).

Threads: every method of a Pool runs its C call and its update of
Pool.size under a critical section on the pool's `addresses` object
(`with cython.critical_section`, or for alloc and free the same
Py_BEGIN_CRITICAL_SECTION in C). On a GIL build of CPython that is a
no-op and the GIL alone serialises the calls: no method releases it. On a
free-threaded build it is a per-object lock.
"""
cimport cython
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.object cimport PyObject
from libc.stdint cimport uintptr_t
from libc.stdlib cimport malloc as libc_malloc, free as libc_free
from libc.string cimport memset
import warnings

from cymem_capi cimport *

# alloc and free, the hot pair, lock the pool in C: Py_BEGIN_CRITICAL_SECTION
# on a free-threaded build (what `with cython.critical_section` does there),
# nothing on a GIL build, where Cython's version still takes and drops a
# reference to the lock object on every call. Pool.size needs no update
# here: the C pool mirrors its total into it (cymem_pool_mirror_size).
cdef extern from *:
    """
    #if defined(Py_GIL_DISABLED)
    #  define CYMEM_PY_LOCKED(lock, body) \
        { Py_BEGIN_CRITICAL_SECTION(lock); body; Py_END_CRITICAL_SECTION(); }
    #else
    #  define CYMEM_PY_LOCKED(lock, body) { body; }
    #endif
    static inline void *cymem_py_alloc(PyObject *lock, cymem_pool *pool, size_t number,
                                       size_t elem_size) {
        void *p = NULL;
        CYMEM_PY_LOCKED(lock, p = cymem_alloc(pool, number, elem_size, NULL))
        return p;
    }
    static inline cymem_status cymem_py_free(PyObject *lock, cymem_pool *pool, void *addr) {
        cymem_status status = CYMEM_STATUS_OK;
        CYMEM_PY_LOCKED(lock, status = cymem_free(pool, addr))
        return status;
    }
    """
    void* cymem_py_alloc(PyObject* lock, cymem_pool* pool, size_t number,
                         size_t elem_size) noexcept
    cymem_status cymem_py_free(PyObject* lock, cymem_pool* pool, void* addr) noexcept

# As in cymem: set to True to warn on every zero-byte alloc.
WARN_ZERO_ALLOC = False


class InvalidPointerError(ValueError, KeyError):
    """The pointer is not the start of a live block of this pool.

    A ValueError (as cymem's realloc raises) and a KeyError (as cymem's
    free raises).
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


# A function of its own (called from two places, so the C compiler keeps it
# one): Pool.alloc's common path then needs no registers for the warning.
cdef int warn_zero_alloc() except -1:
    if WARN_ZERO_ALLOC:
        warnings.warn("Allocating zero bytes")
    return 0


cdef inline cymem_handle c_handle(pool_handle handle) noexcept:
    cdef cymem_handle h
    h.index = handle.index
    h.generation = handle.generation
    h.pool = handle.pool
    return h


cdef class PyMalloc:
    """A C malloc function, wrapped for Pool(); make one with WrapMalloc."""
    cdef void _set(self, malloc_t malloc):
        self.malloc = malloc


cdef PyMalloc WrapMalloc(malloc_t malloc):
    cdef PyMalloc o = PyMalloc()
    o._set(malloc)
    return o


cdef class PyFree:
    """A C free function, wrapped for Pool(); make one with WrapFree."""
    cdef void _set(self, free_t free):
        self.free = free


cdef PyFree WrapFree(free_t free):
    cdef PyFree o = PyFree()
    o._set(free)
    return o


# cymem's defaults (PyMem_Malloc / PyMem_Free). A Pool made with exactly these
# two objects (the default) uses the Rust pool's own allocator instead.
Default_Malloc = WrapMalloc(PyMem_Malloc)
Default_Free = WrapFree(PyMem_Free)


cdef Pool pool_with_allocator(malloc_t malloc, free_t free):
    return Pool(WrapMalloc(malloc), WrapFree(free))


READ_ONLY = "Pool.addresses is a read-only view"


@cython.final
cdef class Addresses(dict):
    """Pool.addresses: a read-only view {address: size} of the pool's live
    blocks, computed from the pool on each use.

    It owns the pool's Rust memory (the C pool), and is a dict subclass so
    that compiled code declared against cymem's `cdef readonly dict
    addresses` still finds a dict there; at the C level (PyDict_* calls) it
    is empty. Mutating it raises TypeError.
    """
    cdef cymem_pool* c_pool

    def __cinit__(self):
        self.c_pool = NULL

    def __dealloc__(self):
        if self.c_pool != NULL:
            cymem_pool_destroy(self.c_pool)
            self.c_pool = NULL

    cdef dict snapshot(self):
        cdef size_t n, i
        cdef void** ptrs = NULL
        cdef size_t* sizes = NULL
        out = {}
        with cython.critical_section(self):
            n = cymem_pool_len(self.c_pool)
            if n:
                ptrs = <void**>PyMem_Malloc(n * sizeof(void*))
                sizes = <size_t*>PyMem_Malloc(n * sizeof(size_t))
                if ptrs != NULL and sizes != NULL:
                    n = cymem_pool_blocks(self.c_pool, ptrs, sizes, n)
        try:
            if n and (ptrs == NULL or sizes == NULL):
                raise MemoryError()
            for i in range(n):
                out[<size_t>ptrs[i]] = sizes[i]
        finally:
            PyMem_Free(ptrs)
            PyMem_Free(sizes)
        return out

    def __len__(self):
        with cython.critical_section(self):
            return cymem_pool_len(self.c_pool)

    def __getitem__(self, key):
        cdef size_t size = 0
        cdef cymem_status status
        if not isinstance(key, int) or key <= 0 or key > <size_t>-1:
            raise KeyError(key)
        with cython.critical_section(self):
            status = cymem_find(self.c_pool, <void*><size_t>key, NULL, &size)
        if status != CYMEM_STATUS_OK:
            raise KeyError(key)
        return size

    def __contains__(self, key):
        try:
            self[key]
        except KeyError:
            return False
        return True

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self):
        return iter(self.snapshot())

    def keys(self):
        return self.snapshot().keys()

    def values(self):
        return self.snapshot().values()

    def items(self):
        return self.snapshot().items()

    def copy(self):
        return self.snapshot()

    def __repr__(self):
        return repr(self.snapshot())

    def __eq__(self, other):
        return self.snapshot() == other

    def __ne__(self, other):
        return self.snapshot() != other

    __hash__ = None

    def __reduce__(self):
        return (dict, (self.snapshot(),))

    def __setitem__(self, key, value):
        raise TypeError(READ_ONLY)

    def __delitem__(self, key):
        raise TypeError(READ_ONLY)

    def pop(self, *args):
        raise TypeError(READ_ONLY)

    def popitem(self):
        raise TypeError(READ_ONLY)

    def clear(self):
        raise TypeError(READ_ONLY)

    def update(self, *args, **kwargs):
        raise TypeError(READ_ONLY)

    def setdefault(self, *args):
        raise TypeError(READ_ONLY)

    def __ior__(self, other):
        raise TypeError(READ_ONLY)


@cython.no_gc_clear
cdef class Pool:
    """Track allocated memory blocks, and free them all when the Pool is
    garbage collected.

    Pool() uses the Rust pool's allocator; Pool(WrapMalloc(f), WrapFree(g))
    takes every block from f and returns it through g (a side left out, or
    None, is cymem's default: PyMem_Malloc / PyMem_Free).

    Attributes:
        size (size_t): bytes requested by the live blocks. Read-only.
        addresses (dict): a read-only view {address: size} of the live blocks.
        refs (list): objects kept alive by own_pyref. Read-only.
        pymalloc (PyMalloc), pyfree (PyFree): the allocator pair. Read-only.
        len(pool): the number of live blocks.
    """

    def __cinit__(self, PyMalloc pymalloc=Default_Malloc, PyFree pyfree=Default_Free):
        cdef Addresses addresses = Addresses()
        self.size = 0
        self.refs = []
        self.pymalloc = Default_Malloc if pymalloc is None else pymalloc
        self.pyfree = Default_Free if pyfree is None else pyfree
        if self.pymalloc is Default_Malloc and self.pyfree is Default_Free:
            addresses.c_pool = cymem_pool_new()
        else:
            if self.pymalloc.malloc == NULL or self.pyfree.free == NULL:
                raise_status(CYMEM_STATUS_INVALID_ARGUMENT)
            addresses.c_pool = cymem_pool_new_with(
                <cymem_malloc_fn><void*>self.pymalloc.malloc, <cymem_free_fn><void*>self.pyfree.free)
        if addresses.c_pool == NULL:
            raise_status(cymem_last_error())
        # The C pool keeps self.size equal to its total from now on: the
        # Addresses view that owns the C pool never outlives this object's
        # __dealloc__, which destroys it.
        cymem_pool_mirror_size(addresses.c_pool, &self.size)
        self.addresses = addresses

    def __dealloc__(self):
        # The Addresses object owns the C pool; destroy it now rather than
        # when the last reference to pool.addresses goes (it then reads as
        # empty). Never cleared by the GC (no_gc_clear), so still set here.
        cdef Addresses addresses = <Addresses>self.addresses
        if addresses is not None and addresses.c_pool != NULL:
            cymem_pool_destroy(addresses.c_pool)
            addresses.c_pool = NULL

    def __len__(self):
        return cymem_pool_len((<Addresses>self.addresses).c_pool)

    def __repr__(self):
        return "<cymem.cymem.Pool: %d blocks, %d bytes>" % (len(self), self.size)

    cdef void* alloc(self, size_t number, size_t elem_size) except NULL:
        """A zeroed, 16-byte aligned block of number * elem_size bytes, freed
        with the pool. Zero bytes gives a unique non-NULL pointer that must not
        be read. OverflowError if the product overflows, MemoryError if the
        allocator fails."""
        cdef void* p
        if number == 0 or elem_size == 0:
            warn_zero_alloc()
        # (<Addresses>self.addresses) is read through the borrowed field: no
        # reference count traffic on the hot path.
        p = cymem_py_alloc(<PyObject*>self.addresses, (<Addresses>self.addresses).c_pool,
                           number, elem_size)
        if p == NULL:
            raise_status(cymem_last_error())
        return p

    cdef void free(self, void* addr) except *:
        """Frees a block now. InvalidPointerError (ValueError, KeyError) if addr
        is not the start of a live block of this pool; nothing changes then."""
        cdef cymem_status status = cymem_py_free(
            <PyObject*>self.addresses, (<Addresses>self.addresses).c_pool, addr)
        if status != CYMEM_STATUS_OK:
            raise_status(status)

    cdef void* realloc(self, void* addr, size_t n) except NULL:
        """Resizes the block to n bytes, keeping the first min(old, n) bytes and
        zeroing the rest; returns its (possibly new) address. Unlike cymem,
        shrinking (and keeping the size) is allowed. On error the block is
        untouched."""
        cdef Addresses addresses = <Addresses>self.addresses
        cdef void* p
        with cython.critical_section(addresses):
            p = cymem_realloc(addresses.c_pool, addr, n, 1)
        if p == NULL:
            raise_status(cymem_last_error())
        return p

    cdef void* alloc_handle(self, size_t number, size_t elem_size,
                            pool_handle* out_handle) except NULL:
        """alloc(), also writing the block's handle to *out_handle."""
        cdef Addresses addresses = <Addresses>self.addresses
        cdef void* p
        if number == 0 or elem_size == 0:
            warn_zero_alloc()
        with cython.critical_section(addresses):
            p = cymem_alloc(addresses.c_pool, number, elem_size, <cymem_handle*>out_handle)
        if p == NULL:
            raise_status(cymem_last_error())
        return p

    cdef void* lookup(self, pool_handle handle, size_t* out_size) except NULL:
        """The block's address (its size in bytes to *out_size unless NULL).
        ValueError if the handle is null, freed, stale or another pool's."""
        cdef Addresses addresses = <Addresses>self.addresses
        cdef void* p
        with cython.critical_section(addresses):
            p = cymem_lookup(addresses.c_pool, c_handle(handle), out_size)
        if p == NULL:
            raise_status(cymem_last_error())
        return p

    cdef void free_handle(self, pool_handle handle) except *:
        """Frees the block named by handle; ValueError if it is not live."""
        cdef Addresses addresses = <Addresses>self.addresses
        cdef cymem_status status
        with cython.critical_section(addresses):
            status = cymem_free_handle(addresses.c_pool, c_handle(handle))
        if status != CYMEM_STATUS_OK:
            raise_status(status)

    cdef void* realloc_handle(self, pool_handle handle, size_t number,
                              size_t elem_size) except NULL:
        """realloc() by handle; the handle stays valid."""
        cdef Addresses addresses = <Addresses>self.addresses
        cdef void* p
        with cython.critical_section(addresses):
            p = cymem_realloc_handle(addresses.c_pool, c_handle(handle), number, elem_size)
        if p == NULL:
            raise_status(cymem_last_error())
        return p

    cdef pool_handle find(self, const void* addr, size_t* out_size) except *:
        """The handle of the block starting at addr (its size to *out_size
        unless NULL); InvalidPointerError if there is none."""
        cdef Addresses addresses = <Addresses>self.addresses
        cdef pool_handle handle
        cdef cymem_status status
        with cython.critical_section(addresses):
            status = cymem_find(addresses.c_pool, addr, <cymem_handle*>&handle, out_size)
        if status != CYMEM_STATUS_OK:
            raise_status(status)
        return handle

    def own_pyref(self, object py_ref):
        """Keep py_ref alive as long as the pool (as cymem's Pool.own_pyref)."""
        self.refs.append(py_ref)


cdef class Address:
    """A block of number * elem_size bytes of zeroed memory, tied to a Python
    object: freed when the object is garbage collected.

    >>> from cymem.cymem cimport Address
    >>> cdef Address address = Address(10, sizeof(double))
    >>> d10 = <double*>address.ptr

    The block comes from pymalloc (default PyMem_Malloc) and goes back
    through pyfree (default PyMem_Free), as in cymem. Unlike cymem, an
    overflowing number * elem_size raises OverflowError, and zero bytes give
    a valid one-byte block.

    Attributes:
        ptr (void*): the block (C level).
        addr (int): the block's address. Read-only.
    """
    def __cinit__(self, size_t number, size_t elem_size,
                  PyMalloc pymalloc=Default_Malloc, PyFree pyfree=Default_Free):
        self.ptr = NULL
        self.pymalloc = Default_Malloc if pymalloc is None else pymalloc
        self.pyfree = Default_Free if pyfree is None else pyfree

    def __init__(self, size_t number, size_t elem_size, *args, **kwargs):
        cdef size_t size
        if elem_size != 0 and number > (<size_t>-1) // elem_size:
            raise OverflowError(status_message(CYMEM_STATUS_SIZE_OVERFLOW))
        size = number * elem_size
        if self.ptr != NULL:  # __init__ called again
            self.pyfree.free(self.ptr)
            self.ptr = NULL
        self.ptr = self.pymalloc.malloc(size if size else 1)
        if self.ptr == NULL:
            raise MemoryError("Error assigning %d bytes" % size)
        memset(self.ptr, 0, size)

    @property
    def addr(self):
        return <size_t>self.ptr

    def __dealloc__(self):
        if self.ptr != NULL:
            self.pyfree.free(self.ptr)
            self.ptr = NULL
