# Cython declarations of the cymem C API, include/cymem.h.
#
#     from cymem_capi cimport *
#
# Compile with include/ on the C include path and this folder on Cython's
# include path; link libcymem (target/release/libcymem.so or .a).
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "cymem.h" nogil:
    # The allocator pair of cymem_pool_new_with. Functions written in Cython
    # for them must be `noexcept`: the library cannot propagate exceptions.
    ctypedef void* (*cymem_malloc_fn)(size_t size) noexcept
    ctypedef void (*cymem_free_fn)(void* ptr) noexcept

    ctypedef enum cymem_status:
        CYMEM_STATUS_OK
        CYMEM_STATUS_NULL_POOL
        CYMEM_STATUS_INVALID_HANDLE
        CYMEM_STATUS_INVALID_POINTER
        CYMEM_STATUS_SIZE_OVERFLOW
        CYMEM_STATUS_OUT_OF_MEMORY
        CYMEM_STATUS_INVALID_ARGUMENT

    # Opaque; only ever used through a pointer.
    ctypedef struct cymem_pool:
        pass

    # 16 bytes of plain data; treat as opaque. All zeroes is the null handle.
    ctypedef struct cymem_handle:
        uint32_t index
        uint32_t generation
        uint64_t pool

    cymem_pool* cymem_pool_new()
    cymem_pool* cymem_pool_new_with(cymem_malloc_fn malloc_fn, cymem_free_fn free_fn)
    void cymem_pool_destroy(cymem_pool* pool)

    void* cymem_alloc(cymem_pool* pool, size_t number, size_t elem_size,
                      cymem_handle* out_handle)
    cymem_status cymem_free(cymem_pool* pool, void* ptr)
    cymem_status cymem_free_with_size(cymem_pool* pool, void* ptr, size_t* out_size)
    void cymem_pool_mirror_size(cymem_pool* pool, size_t* mirror)
    cymem_status cymem_free_handle(cymem_pool* pool, cymem_handle handle)
    void* cymem_realloc(cymem_pool* pool, void* ptr, size_t number, size_t elem_size)
    void* cymem_realloc_handle(cymem_pool* pool, cymem_handle handle,
                               size_t number, size_t elem_size)

    void* cymem_lookup(const cymem_pool* pool, cymem_handle handle, size_t* out_size)
    cymem_status cymem_find(cymem_pool* pool, const void* ptr,
                            cymem_handle* out_handle, size_t* out_size)

    size_t cymem_pool_size(const cymem_pool* pool)
    size_t cymem_pool_len(const cymem_pool* pool)
    size_t cymem_pool_blocks(const cymem_pool* pool, void** out_addresses,
                             size_t* out_sizes, size_t capacity)

    cymem_status cymem_last_error()
    const char* cymem_status_message(int status)
