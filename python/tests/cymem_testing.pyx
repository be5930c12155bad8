# cython: language_level=3
"""Test support for cymem.cymem: drives Pool's cdef methods (through the
cross-module cimport, as user code does) and a counting C allocator.
Compiled against the installed cymem/cymem.pxd only (no C header)."""
from libc.string cimport memcpy, memset
from libc.stdint cimport uintptr_t
from cymem.cymem cimport (Pool, Address, PyMalloc, PyFree, WrapMalloc, WrapFree,
                          pool_with_allocator, pool_handle)

cdef extern from *:
    """
    #include <stdlib.h>
    static size_t cymem_rs_test_mallocs = 0;
    static size_t cymem_rs_test_frees = 0;
    static long cymem_rs_test_fail_after = -1;  /* < 0: never fail */
    static void *cymem_rs_test_malloc(size_t size) {
        if (cymem_rs_test_fail_after == 0) return NULL;
        if (cymem_rs_test_fail_after > 0) cymem_rs_test_fail_after--;
        void *p = malloc(size);
        if (p != NULL) cymem_rs_test_mallocs++;
        return p;
    }
    static void cymem_rs_test_free(void *p) {
        if (p != NULL) cymem_rs_test_frees++;
        free(p);
    }
    """
    size_t cymem_rs_test_mallocs
    size_t cymem_rs_test_frees
    long cymem_rs_test_fail_after
    void* cymem_rs_test_malloc(size_t size) noexcept nogil
    void cymem_rs_test_free(void* p) noexcept nogil


def counts():
    """(mallocs, frees) made by the counting allocator so far."""
    return cymem_rs_test_mallocs, cymem_rs_test_frees


def fail_after(long n):
    """The counting allocator's next n mallocs succeed, then all fail; -1 resets."""
    global cymem_rs_test_fail_after
    cymem_rs_test_fail_after = n


def counting_pool(str how="factory"):
    """A Pool over the counting allocator, built by pool_with_allocator
    ("factory") or by Pool(WrapMalloc(...), WrapFree(...)) ("wrap")."""
    if how == "factory":
        return pool_with_allocator(cymem_rs_test_malloc, cymem_rs_test_free)
    return Pool(WrapMalloc(cymem_rs_test_malloc), WrapFree(cymem_rs_test_free))


def alloc(Pool pool, size_t number, size_t elem_size):
    return <uintptr_t>pool.alloc(number, elem_size)


def free(Pool pool, uintptr_t addr):
    pool.free(<void*>addr)


def realloc(Pool pool, uintptr_t addr, size_t n):
    return <uintptr_t>pool.realloc(<void*>addr, n)


def read(uintptr_t addr, size_t n):
    return (<char*>addr)[:n]


def write(uintptr_t addr, bytes data):
    memcpy(<void*>addr, <const char*>data, len(data))


cdef pool_handle to_handle(tuple t):
    cdef pool_handle h
    h.index, h.generation, h.pool = t
    return h


cdef tuple from_handle(pool_handle h):
    return (h.index, h.generation, h.pool)


def alloc_handle(Pool pool, size_t number, size_t elem_size):
    """(address, handle) with the handle as an (index, generation, pool) tuple."""
    cdef pool_handle h
    cdef void* p = pool.alloc_handle(number, elem_size, &h)
    return <uintptr_t>p, from_handle(h)


def lookup(Pool pool, tuple handle):
    """(address, size) of the block named by handle."""
    cdef size_t size = 0
    cdef void* p = pool.lookup(to_handle(handle), &size)
    return <uintptr_t>p, size


def free_handle(Pool pool, tuple handle):
    pool.free_handle(to_handle(handle))


def realloc_handle(Pool pool, tuple handle, size_t number, size_t elem_size):
    return <uintptr_t>pool.realloc_handle(to_handle(handle), number, elem_size)


def find(Pool pool, uintptr_t addr):
    """(handle, size) of the block starting at addr."""
    cdef size_t size = 0
    cdef pool_handle h = pool.find(<void*>addr, &size)
    return from_handle(h), size


# ---- Layout: what compiled clients of cymem 2.0.16 rely on. ----

def word_at(object obj, size_t offset):
    """The pointer-sized word at `offset` bytes into obj's C struct."""
    return (<size_t*>(<char*><void*>obj + offset))[0]


def address_read(Address address, size_t n):
    return (<char*>address.ptr)[:n]


def counting_address(size_t number, size_t elem_size):
    return Address(number, elem_size, WrapMalloc(cymem_rs_test_malloc),
                   WrapFree(cymem_rs_test_free))


def wrapped_is_malloc(PyMalloc m):
    return m.malloc == cymem_rs_test_malloc


# ---- Threads ----

cdef extern from *:
    """
    static unsigned cymem_test_next(unsigned *state) {
        *state ^= *state << 13; *state ^= *state >> 17; *state ^= *state << 5;
        return *state;
    }
    """
    unsigned cymem_test_next(unsigned* state) noexcept nogil


def stress(Pool pool, size_t rounds, unsigned seed, unsigned char tag):
    """Random alloc / realloc / free by pointer on `pool` (shared with other
    threads), each live block filled with `tag` and checked before it is
    resized or freed; the GIL is released every few operations so threads
    interleave. Frees everything it made; returns the checks made."""
    cdef void* ptrs[32]
    cdef size_t sizes[32]
    cdef size_t i, j, k, n, kept, checks = 0
    cdef unsigned state = seed | 1
    cdef unsigned char* p
    for k in range(32):
        ptrs[k] = NULL
        sizes[k] = 0
    for i in range(rounds):
        k = cymem_test_next(&state) % 32
        n = cymem_test_next(&state) % 300
        kept = 0
        if ptrs[k] != NULL:
            p = <unsigned char*>ptrs[k]
            for j in range(sizes[k]):
                if p[j] != tag:
                    raise AssertionError("a block of thread %d was overwritten" % tag)
            checks += 1
            if n % 3 == 0:
                pool.free(ptrs[k])
                ptrs[k] = NULL
                sizes[k] = 0
                continue
            ptrs[k] = pool.realloc(ptrs[k], n)
            kept = sizes[k] if sizes[k] < n else n
        else:
            ptrs[k] = pool.alloc(n, 1)
        p = <unsigned char*>ptrs[k]
        for j in range(kept):
            if p[j] != tag:
                raise AssertionError("realloc lost the block's contents")
        for j in range(kept, n):
            if p[j] != 0:
                raise AssertionError("new bytes are not zeroed")
        memset(p, tag, n)
        sizes[k] = n
        if i % 8 == 0:
            with nogil:
                pass
    for k in range(32):
        if ptrs[k] != NULL:
            pool.free(ptrs[k])
    return checks
