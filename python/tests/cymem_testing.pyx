# cython: language_level=3
"""Test support for cymem_rs: drives Pool's cdef methods (through the
cross-module cimport, as user code does) and a counting C allocator."""
from libc.string cimport memcpy
from libc.stdint cimport uintptr_t
from cymem_capi cimport cymem_handle, cymem_malloc_fn, cymem_free_fn
from cymem_rs cimport Pool, WrapMalloc, WrapFree, pool_with_allocator

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


cdef cymem_handle to_handle(tuple t):
    cdef cymem_handle h
    h.index, h.generation, h.pool = t
    return h


cdef tuple from_handle(cymem_handle h):
    return (h.index, h.generation, h.pool)


def alloc_handle(Pool pool, size_t number, size_t elem_size):
    """(address, handle) with the handle as an (index, generation, pool) tuple."""
    cdef cymem_handle h
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
    cdef cymem_handle h = pool.find(<void*>addr, &size)
    return from_handle(h), size
