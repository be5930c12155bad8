# cython: language_level=3, boundscheck=False, wraparound=False
"""Tight loops for python/bench.py: libc calloc/free, PyPI cymem's Pool,
cymem_rs's Pool and the bare C API, each doing the same work."""
from libc.stdlib cimport calloc, free
from cymem.cymem cimport Pool as PyPIPool
from cymem_rs cimport Pool as RsPool
from cymem_capi cimport *

cdef extern from *:
    """
    /* Makes p escape, so the compiler cannot drop an allocation/free pair. */
    static inline void bench_escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }
    """
    void bench_escape(void* p) noexcept nogil

cdef enum:
    SIZE = 32


def pairs_calloc(size_t n):
    cdef size_t i
    cdef void* p
    for i in range(n):
        p = calloc(1, SIZE)
        if p == NULL:
            raise MemoryError()
        bench_escape(p)
        free(p)


def pairs_pypi(size_t n):
    cdef PyPIPool pool = PyPIPool()
    cdef size_t i
    cdef void* p
    for i in range(n):
        p = pool.alloc(1, SIZE)
        bench_escape(p)
        pool.free(p)


def pairs_rs(size_t n):
    cdef RsPool pool = RsPool()
    cdef size_t i
    cdef void* p
    for i in range(n):
        p = pool.alloc(1, SIZE)
        bench_escape(p)
        pool.free(p)


def pairs_rs_handle(size_t n):
    cdef RsPool pool = RsPool()
    cdef size_t i
    cdef void* p
    cdef cymem_handle h
    for i in range(n):
        p = pool.alloc_handle(1, SIZE, &h)
        bench_escape(p)
        pool.free_handle(h)


def pairs_capi(size_t n):
    cdef cymem_pool* pool = cymem_pool_new()
    cdef size_t i
    cdef void* p
    if pool == NULL:
        raise MemoryError()
    for i in range(n):
        p = cymem_alloc(pool, 1, SIZE, NULL)
        if p == NULL:
            cymem_pool_destroy(pool)
            raise MemoryError()
        bench_escape(p)
        cymem_free(pool, p)
    cymem_pool_destroy(pool)


def fill_drop_calloc(size_t n):
    if n > 1 << 32:
        raise OverflowError("n too large")
    cdef void** blocks = <void**>calloc(n, sizeof(void*))
    cdef size_t i
    if blocks == NULL:
        raise MemoryError()
    for i in range(n):
        blocks[i] = calloc(1, SIZE)
        if blocks[i] == NULL:
            raise MemoryError()
    for i in range(n):
        free(blocks[i])
    free(blocks)


def fill_drop_pypi(size_t n):
    cdef PyPIPool pool = PyPIPool()
    cdef size_t i
    for i in range(n):
        bench_escape(pool.alloc(1, SIZE))
    pool = None


def fill_drop_rs(size_t n):
    cdef RsPool pool = RsPool()
    cdef size_t i
    for i in range(n):
        bench_escape(pool.alloc(1, SIZE))
    pool = None


def fill_drop_capi(size_t n):
    cdef cymem_pool* pool = cymem_pool_new()
    cdef size_t i
    cdef void* p
    if pool == NULL:
        raise MemoryError()
    for i in range(n):
        p = cymem_alloc(pool, 1, SIZE, NULL)
        if p == NULL:
            cymem_pool_destroy(pool)
            raise MemoryError()
        bench_escape(p)
    cymem_pool_destroy(pool)
