# cython: language_level=3, boundscheck=False, wraparound=False
"""Tight loops for python/bench/bench.py, each timed in C (CLOCK_MONOTONIC)
and returning seconds: libc calloc/free, cymem's Pool (whichever cymem.cymem
is installed: PyPI's or this package, same .pxd layout, so one build of this
module runs against both) and the bare C API (linked statically here)."""
from libc.stdlib cimport calloc, free
from cymem.cymem cimport Pool

cdef extern from *:
    """
    #include <time.h>
    /* Makes p escape, so the compiler cannot drop an allocation/free pair. */
    static inline void bench_escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }
    static double bench_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec * 1e-9;
    }
    """
    void bench_escape(void* p) noexcept nogil
    double bench_now() noexcept nogil

cdef extern from "cymem.h" nogil:
    ctypedef struct cymem_pool:
        pass
    ctypedef struct cymem_handle:
        pass
    cymem_pool* cymem_pool_new()
    void cymem_pool_destroy(cymem_pool* pool)
    void* cymem_alloc(cymem_pool* pool, size_t number, size_t elem_size, cymem_handle* out)
    int cymem_free(cymem_pool* pool, void* ptr)

cdef enum:
    SIZE = 32
    WARMUP = 10000


def pairs_libc(size_t n):
    cdef size_t i
    cdef void* p
    cdef double start = 0
    for i in range(n + WARMUP):
        if i == WARMUP:
            start = bench_now()
        p = calloc(1, SIZE)
        if p == NULL:
            raise MemoryError()
        bench_escape(p)
        free(p)
    return bench_now() - start


def pairs_pool(size_t n):
    cdef Pool pool = Pool()
    cdef size_t i
    cdef void* p
    cdef double start = 0
    for i in range(n + WARMUP):
        if i == WARMUP:
            start = bench_now()
        p = pool.alloc(1, SIZE)
        bench_escape(p)
        pool.free(p)
    return bench_now() - start


def pairs_capi(size_t n):
    cdef cymem_pool* pool = cymem_pool_new()
    cdef size_t i
    cdef void* p
    cdef double start = 0
    if pool == NULL:
        raise MemoryError()
    for i in range(n + WARMUP):
        if i == WARMUP:
            start = bench_now()
        p = cymem_alloc(pool, 1, SIZE, NULL)
        if p == NULL:
            cymem_pool_destroy(pool)
            raise MemoryError()
        bench_escape(p)
        cymem_free(pool, p)
    cymem_pool_destroy(pool)
    return bench_now() - start


def fill_libc(size_t n):
    """calloc n blocks (pointers kept in an array), then free each: the same
    work a pool's fill and destroy does."""
    cdef double start = bench_now()
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
    return bench_now() - start


def fill_pool(size_t n):
    cdef double start = bench_now()
    cdef Pool pool = Pool()
    cdef size_t i
    for i in range(n):
        bench_escape(pool.alloc(1, SIZE))
    pool = None
    return bench_now() - start


def fill_capi(size_t n):
    cdef double start = bench_now()
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
    return bench_now() - start
