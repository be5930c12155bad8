/*
 * cymem's README example through the C API, then the C API's error contract.
 *
 * Part 1 ports the README's array of sparse matrices: each matrix has rows,
 * each row owns a `size_t *indices` and a `double *values` array, all from
 * `cymem_alloc` on one pool and never freed one by one: destroying the pool
 * frees them. A second variant stores `cymem_handle`s instead of pointers and
 * reaches its arrays through `cymem_lookup`. Everything is read back and
 * compared with values recomputed from the same seed.
 *
 * Part 2 checks the error contract: NULL pools, foreign/interior/freed
 * pointers, stale/foreign/forged handles, size overflow, realloc semantics,
 * zero-byte blocks, alignment, status messages, the per-thread last error and
 * a pool over a counting (and failing on demand) malloc/free pair.
 *
 * Every check counts; a failed one prints file:line and its expression. The
 * exit code is 0 only if all of them pass. Built and run (under valgrind,
 * under ASan+UBSan, and against the shared library) by tests/c/run.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cymem.h"

/* ---------------------------------------------------------------- checks */

static unsigned long total_checks, total_failed, sec_checks, sec_failed;
static const char *sec_name = "";
static const char *ctx = NULL; /* what is being checked, printed on failure */

static int report(int ok, const char *file, int line, const char *expr, const char *detail) {
    total_checks++;
    sec_checks++;
    if (!ok) {
        total_failed++;
        sec_failed++;
        if (sec_failed <= 25) {
            fprintf(stderr, "%s:%d: CHECK failed: %s", file, line, expr);
            if (detail) fprintf(stderr, " %s", detail);
            if (ctx) fprintf(stderr, " [%s]", ctx);
            fprintf(stderr, "\n");
        } else if (sec_failed == 26) {
            fprintf(stderr, "(further failures in section '%s' not printed)\n", sec_name);
        }
    }
    return ok;
}

#define CHECK(e) report((e) ? 1 : 0, __FILE__, __LINE__, #e, NULL)

static int check_eq(unsigned long long got, unsigned long long want, const char *file, int line,
                    const char *expr) {
    char detail[96];
    snprintf(detail, sizeof detail, "(got %llu, want %llu)", got, want);
    return report(got == want, file, line, expr, detail);
}
#define CHECK_EQ(got, want) \
    check_eq((unsigned long long)(got), (unsigned long long)(want), __FILE__, __LINE__, #got " == " #want)

static const char *status_name(int s) {
    switch (s) {
    case CYMEM_STATUS_OK: return "CYMEM_STATUS_OK";
    case CYMEM_STATUS_NULL_POOL: return "CYMEM_STATUS_NULL_POOL";
    case CYMEM_STATUS_INVALID_HANDLE: return "CYMEM_STATUS_INVALID_HANDLE";
    case CYMEM_STATUS_INVALID_POINTER: return "CYMEM_STATUS_INVALID_POINTER";
    case CYMEM_STATUS_SIZE_OVERFLOW: return "CYMEM_STATUS_SIZE_OVERFLOW";
    case CYMEM_STATUS_OUT_OF_MEMORY: return "CYMEM_STATUS_OUT_OF_MEMORY";
    case CYMEM_STATUS_INVALID_ARGUMENT: return "CYMEM_STATUS_INVALID_ARGUMENT";
    default: return "(not a status)";
    }
}

static int check_status(int got, int want, const char *file, int line, const char *expr) {
    char detail[128];
    snprintf(detail, sizeof detail, "(got %s, want %s)", status_name(got), status_name(want));
    return report(got == want, file, line, expr, detail);
}
/* A call that returns a cymem_status, and the expected status. */
#define CHECK_ST(e, want) check_status((int)(e), (int)(want), __FILE__, __LINE__, #e)
/* cymem_last_error() equals `want`. */
#define CHECK_ERR(want) check_status((int)cymem_last_error(), (int)(want), __FILE__, __LINE__, "cymem_last_error()")

/* A check whose failure makes going on pointless (e.g. a setup allocation). */
#define REQUIRE(e)                                                              \
    do {                                                                        \
        if (!CHECK(e)) {                                                        \
            fprintf(stderr, "%s:%d: required check failed, stopping\n", __FILE__, __LINE__); \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static void section_begin(const char *name) {
    sec_name = name;
    sec_checks = sec_failed = 0;
    ctx = NULL;
}

static void section_end(const char *fmt, ...) {
    va_list ap;
    ctx = NULL;
    printf("%s %-22s %6lu checks", sec_failed ? "FAIL" : "ok  ", sec_name, sec_checks);
    if (sec_failed) printf(", %lu FAILED", sec_failed);
    printf(": ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* --------------------------------------------------------------- helpers */

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

static int all_bytes(const void *p, int byte, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != (unsigned char)byte) return 0;
    return 1;
}
#define IS_ZERO(p, n) all_bytes((p), 0, (n))

static int handle_eq(cymem_handle a, cymem_handle b) {
    return a.index == b.index && a.generation == b.generation && a.pool == b.pool;
}
static int handle_is_null(cymem_handle h) { return h.index == 0 && h.generation == 0 && h.pool == 0; }

typedef struct {
    size_t len, size;
} Snap;

static Snap snap(const cymem_pool *pool) {
    Snap s = {cymem_pool_len(pool), cymem_pool_size(pool)};
    return s;
}
#define CHECK_SNAP(pool, s)                         \
    do {                                            \
        CHECK_EQ(cymem_pool_len(pool), (s).len);   \
        CHECK_EQ(cymem_pool_size(pool), (s).size); \
    } while (0)

/* Sets the last error to CYMEM_STATUS_OK with a successful call, so the next
   failing call is seen to set its own status (not leave an older one). */
static cymem_pool *primer_pool;
static cymem_handle primer_handle;
#define PRIME()                                                                    \
    do {                                                                           \
        CHECK(cymem_lookup(primer_pool, primer_handle, NULL) != NULL);             \
        CHECK_ERR(CYMEM_STATUS_OK);                                                \
    } while (0)

/* cymem_alloc that must succeed: checks the status, alignment, zeroing, the
   handle, and find/lookup agreeing with it. */
static void *alloc_ok(cymem_pool *pool, size_t number, size_t elem_size, cymem_handle *out,
                      const char *file, int line) {
    cymem_handle h, found;
    size_t bytes = number * elem_size, size = 777;
    void *p;
    memset(&h, 0, sizeof h);
    p = cymem_alloc(pool, number, elem_size, out ? out : &h);
    if (!report(p != NULL, file, line, "cymem_alloc(...) != NULL", NULL)) {
        fprintf(stderr, "%s:%d: allocation failed (%s), stopping\n", file, line,
                status_name((int)cymem_last_error()));
        exit(1);
    }
    if (out) h = *out;
    check_status((int)cymem_last_error(), CYMEM_STATUS_OK, file, line, "cymem_last_error() after cymem_alloc");
    report(aligned16(p), file, line, "block is 16-byte aligned", NULL);
    report(IS_ZERO(p, bytes), file, line, "fresh block is zeroed", NULL);
    report(!handle_is_null(h), file, line, "cymem_alloc's handle is not null", NULL);
    report(cymem_lookup(pool, h, &size) == p, file, line, "cymem_lookup(handle) == block", NULL);
    check_eq(size, bytes, file, line, "cymem_lookup size == number * elem_size");
    memset(&found, 0, sizeof found);
    size = 777;
    check_status((int)cymem_find(pool, p, &found, &size), CYMEM_STATUS_OK, file, line, "cymem_find(block)");
    report(handle_eq(found, h), file, line, "cymem_find(block) gives the block's handle", NULL);
    check_eq(size, bytes, file, line, "cymem_find size == number * elem_size");
    return p;
}
#define ALLOC(pool, n, sz, out) alloc_ok((pool), (n), (sz), (out), __FILE__, __LINE__)

/* lookup that must succeed with a known size */
static void *lookup_ok(const cymem_pool *pool, cymem_handle h, size_t bytes, const char *file, int line) {
    size_t size = 777;
    void *p = cymem_lookup(pool, h, &size);
    if (!report(p != NULL, file, line, "cymem_lookup(handle) != NULL", NULL)) {
        fprintf(stderr, "%s:%d: lookup failed, stopping\n", file, line);
        exit(1);
    }
    report(aligned16(p), file, line, "looked-up block is 16-byte aligned", NULL);
    check_eq(size, bytes, file, line, "cymem_lookup size");
    return p;
}
#define LOOKUP(pool, h, bytes) lookup_ok((pool), (h), (bytes), __FILE__, __LINE__)

/* ------------------------------------------------- deterministic content */

typedef struct {
    uint64_t state;
} Rng;

static uint64_t rng_next(Rng *r, uint64_t bound) {
    r->state = r->state * 6364136223846793005u + 1442695040888963407u;
    return (r->state >> 33) % bound;
}

static uint64_t rng_bits(Rng *r) {
    uint64_t a = rng_next(r, 1u << 31), b = rng_next(r, 1u << 31), c = rng_next(r, 1u << 31);
    return (a << 62) ^ (b << 31) ^ c;
}

enum { N_MATRICES = 50, MAX_ROWS = 40, MAX_ENTRIES = 30 };
static const uint64_t SEED_PTR = 0x2545f4914f6cdd1du;
static const uint64_t SEED_HANDLE = 0x9e3779b97f4a7c15u;
static const uint64_t SEED_CUSTOM = 0x0123456789abcdefu;

/* The content, drawn in this order: per matrix its row count, per row its
   entry count (one row in five is empty), per entry its column then value. */
static size_t gen_rows(Rng *r) { return 1 + (size_t)rng_next(r, MAX_ROWS); }
static size_t gen_entries(Rng *r) { return rng_next(r, 5) == 0 ? 0 : 1 + (size_t)rng_next(r, MAX_ENTRIES); }
static size_t gen_index(Rng *r, size_t j) { return j * 3 + (size_t)rng_next(r, 3); }
static double gen_value(Rng *r) { return (double)rng_next(r, 100) / 4.0; } /* exact in binary */

typedef struct {
    size_t rows, empty_rows, entries;
    double sum;
} Expect;

/* The plain data, without any pool: what the structures must hold. */
static Expect expect_for(uint64_t seed, size_t nmat) {
    Expect e = {0, 0, 0, 0.0};
    Rng r = {seed};
    for (size_t m = 0; m < nmat; m++) {
        size_t nrows = gen_rows(&r);
        e.rows += nrows;
        for (size_t i = 0; i < nrows; i++) {
            size_t len = gen_entries(&r);
            e.entries += len;
            e.empty_rows += len == 0;
            for (size_t j = 0; j < len; j++) {
                (void)gen_index(&r, j);
                e.sum += gen_value(&r);
            }
        }
    }
    return e;
}

/* --------------------------------------------- variant 1: raw pointers */

typedef struct {
    size_t length;
    size_t *indices;
    double *values;
} SparseRow;

typedef struct {
    size_t length;
    SparseRow *rows;
} SparseMatrix;

static SparseMatrix *build_ptr(cymem_pool *pool, uint64_t seed, size_t nmat) {
    SparseMatrix *mats = ALLOC(pool, nmat, sizeof *mats, NULL);
    Rng r = {seed};
    for (size_t m = 0; m < nmat; m++) {
        size_t nrows = gen_rows(&r);
        cymem_handle hrows;
        SparseRow *rows = ALLOC(pool, nrows, sizeof *rows, &hrows);
        mats[m].length = nrows;
        mats[m].rows = rows;
        for (size_t i = 0; i < nrows; i++) {
            size_t len = gen_entries(&r);
            size_t *indices = ALLOC(pool, len, sizeof *indices, NULL);
            double *values = ALLOC(pool, len, sizeof *values, NULL);
            for (size_t j = 0; j < len; j++) {
                indices[j] = gen_index(&r, j);
                values[j] = gen_value(&r);
            }
            rows[i].length = len;
            rows[i].indices = indices;
            rows[i].values = values;
        }
    }
    return mats;
}

/* Checks a pointer-variant block: it is a live block of `bytes` bytes. */
static void check_block(cymem_pool *pool, const void *p, size_t bytes, const char *file, int line) {
    cymem_handle h;
    size_t size = 777;
    memset(&h, 0, sizeof h);
    report(aligned16(p), file, line, "block is 16-byte aligned", NULL);
    check_status((int)cymem_find(pool, p, &h, &size), CYMEM_STATUS_OK, file, line, "cymem_find(block)");
    check_eq(size, bytes, file, line, "cymem_find size");
    size = 777;
    report(cymem_lookup(pool, h, &size) == p, file, line, "cymem_lookup(cymem_find(block)) == block", NULL);
    check_eq(size, bytes, file, line, "cymem_lookup size");
}

/* Reads the structure back against the generator; returns the sum of all values. */
static double verify_ptr(cymem_pool *pool, const SparseMatrix *mats, uint64_t seed, size_t nmat) {
    Rng r = {seed};
    double sum = 0.0;
    check_block(pool, mats, nmat * sizeof *mats, __FILE__, __LINE__);
    for (size_t m = 0; m < nmat; m++) {
        size_t nrows = gen_rows(&r);
        if (!CHECK_EQ(mats[m].length, nrows)) return sum;
        check_block(pool, mats[m].rows, nrows * sizeof(SparseRow), __FILE__, __LINE__);
        for (size_t i = 0; i < nrows; i++) {
            const SparseRow *row = &mats[m].rows[i];
            size_t len = gen_entries(&r);
            if (!CHECK_EQ(row->length, len)) return sum;
            check_block(pool, row->indices, len * sizeof(size_t), __FILE__, __LINE__);
            check_block(pool, row->values, len * sizeof(double), __FILE__, __LINE__);
            CHECK(row->indices != (void *)row->values);
            for (size_t j = 0; j < len; j++) {
                size_t want_index = gen_index(&r, j);
                double want_value = gen_value(&r);
                CHECK_EQ(row->indices[j], want_index);
                CHECK(row->values[j] == want_value);
                sum += row->values[j];
            }
        }
    }
    return sum;
}

/* ------------------------------------------------- variant 2: handles */

typedef struct {
    size_t length;
    cymem_handle indices;
    cymem_handle values;
} SparseRowH;

typedef struct {
    size_t length;
    cymem_handle rows;
} SparseMatrixH;

/* Builds through handles only: every access is a fresh cymem_lookup. Each
   values array starts at half its length and grows by cymem_realloc_handle
   (prefix kept, tail zeroed, handle unchanged). */
static cymem_handle build_handle(cymem_pool *pool, uint64_t seed, size_t nmat, size_t *reallocs) {
    cymem_handle hm;
    Rng r = {seed};
    ALLOC(pool, nmat, sizeof(SparseMatrixH), &hm);
    for (size_t m = 0; m < nmat; m++) {
        size_t nrows = gen_rows(&r);
        cymem_handle hr;
        SparseMatrixH *mats;
        ALLOC(pool, nrows, sizeof(SparseRowH), &hr);
        mats = LOOKUP(pool, hm, nmat * sizeof(SparseMatrixH));
        mats[m].length = nrows;
        mats[m].rows = hr;
        for (size_t i = 0; i < nrows; i++) {
            size_t len = gen_entries(&r), half = len / 2, size = 777;
            cymem_handle hi, hv;
            size_t *indices;
            double *values;
            SparseRowH *rows = LOOKUP(pool, hr, nrows * sizeof(SparseRowH));
            /* zeroed rows hold null handles, which name nothing */
            CHECK(cymem_lookup(pool, rows[i].indices, &size) == NULL);
            CHECK_ERR(CYMEM_STATUS_INVALID_HANDLE);
            CHECK_EQ(size, 777);
            ALLOC(pool, len, sizeof(size_t), &hi);
            ALLOC(pool, half, sizeof(double), &hv);
            indices = LOOKUP(pool, hi, len * sizeof(size_t));
            values = LOOKUP(pool, hv, half * sizeof(double));
            for (size_t j = 0; j < half; j++) {
                indices[j] = gen_index(&r, j);
                values[j] = gen_value(&r);
            }
            if (len != half) {
                double *grown = cymem_realloc_handle(pool, hv, len, sizeof(double));
                REQUIRE(grown != NULL);
                CHECK_ERR(CYMEM_STATUS_OK);
                (*reallocs)++;
                CHECK(grown == LOOKUP(pool, hv, len * sizeof(double)));
                CHECK(aligned16(grown));
                CHECK(IS_ZERO(grown + half, (len - half) * sizeof(double)));
                values = grown;
            }
            for (size_t j = half; j < len; j++) {
                indices[j] = gen_index(&r, j);
                values[j] = gen_value(&r);
            }
            rows = LOOKUP(pool, hr, nrows * sizeof(SparseRowH));
            rows[i].length = len;
            rows[i].indices = hi;
            rows[i].values = hv;
        }
    }
    return hm;
}

static double verify_handle(const cymem_pool *pool, cymem_handle hm, uint64_t seed, size_t nmat) {
    Rng r = {seed};
    double sum = 0.0;
    const SparseMatrixH *mats = LOOKUP(pool, hm, nmat * sizeof(SparseMatrixH));
    for (size_t m = 0; m < nmat; m++) {
        size_t nrows = gen_rows(&r);
        const SparseRowH *rows;
        if (!CHECK_EQ(mats[m].length, nrows)) return sum;
        rows = LOOKUP(pool, mats[m].rows, nrows * sizeof(SparseRowH));
        for (size_t i = 0; i < nrows; i++) {
            size_t len = gen_entries(&r);
            const size_t *indices;
            const double *values;
            if (!CHECK_EQ(rows[i].length, len)) return sum;
            indices = LOOKUP(pool, rows[i].indices, len * sizeof(size_t));
            values = LOOKUP(pool, rows[i].values, len * sizeof(double));
            for (size_t j = 0; j < len; j++) {
                size_t want_index = gen_index(&r, j);
                double want_value = gen_value(&r);
                CHECK_EQ(indices[j], want_index);
                CHECK(values[j] == want_value);
                sum += values[j];
            }
        }
    }
    return sum;
}

/* Bytes a structure of either variant asks for. */
static size_t struct_bytes(const Expect *e, size_t nmat, size_t matrix_size, size_t row_size) {
    return nmat * matrix_size + e->rows * row_size + e->entries * (sizeof(size_t) + sizeof(double));
}
static size_t struct_blocks(const Expect *e, size_t nmat) { return 1 + nmat + 2 * e->rows; }

/* ------------------------------------- block addresses: distinct, disjoint */

typedef struct {
    uintptr_t start;
    size_t size;
} Span;

typedef struct {
    Span *items;
    size_t len, cap;
} Spans;

static void spans_push(Spans *s, const void *p, size_t size) {
    if (s->len == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        Span *items = realloc(s->items, cap * sizeof *items);
        REQUIRE(items != NULL);
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len].start = (uintptr_t)p;
    s->items[s->len].size = size;
    s->len++;
}

static int span_cmp(const void *a, const void *b) {
    uintptr_t x = ((const Span *)a)->start, y = ((const Span *)b)->start;
    return x < y ? -1 : x > y;
}

static void collect_ptr(Spans *s, const SparseMatrix *mats, size_t nmat) {
    spans_push(s, mats, nmat * sizeof *mats);
    for (size_t m = 0; m < nmat; m++) {
        spans_push(s, mats[m].rows, mats[m].length * sizeof(SparseRow));
        for (size_t i = 0; i < mats[m].length; i++) {
            const SparseRow *row = &mats[m].rows[i];
            spans_push(s, row->indices, row->length * sizeof(size_t));
            spans_push(s, row->values, row->length * sizeof(double));
        }
    }
}

static void collect_handle(Spans *s, const cymem_pool *pool, cymem_handle hm, size_t nmat) {
    const SparseMatrixH *mats = cymem_lookup(pool, hm, NULL);
    spans_push(s, mats, nmat * sizeof *mats);
    for (size_t m = 0; m < nmat; m++) {
        const SparseRowH *rows = cymem_lookup(pool, mats[m].rows, NULL);
        spans_push(s, rows, mats[m].length * sizeof *rows);
        for (size_t i = 0; i < mats[m].length; i++) {
            spans_push(s, cymem_lookup(pool, rows[i].indices, NULL), rows[i].length * sizeof(size_t));
            spans_push(s, cymem_lookup(pool, rows[i].values, NULL), rows[i].length * sizeof(double));
        }
    }
}

/* Every block starts at its own address (zero-byte ones too), and blocks of
   non-zero size do not overlap. Returns the number of zero-byte blocks. */
static size_t check_spans(Spans *s) {
    size_t zero = 0, last_nonzero = (size_t)-1;
    qsort(s->items, s->len, sizeof *s->items, span_cmp);
    for (size_t i = 0; i < s->len; i++) {
        zero += s->items[i].size == 0;
        if (i > 0) CHECK(s->items[i].start != s->items[i - 1].start);
        if (s->items[i].size == 0) continue;
        if (last_nonzero != (size_t)-1)
            CHECK(s->items[last_nonzero].start + s->items[last_nonzero].size <= s->items[i].start);
        last_nonzero = i;
    }
    return zero;
}

/* ------------------------------------------------- error-contract helpers */

/* `p` is not the start of a live block of `pool`: free, find and realloc
   refuse it with CYMEM_STATUS_INVALID_POINTER and change nothing. */
static void expect_invalid_pointer(cymem_pool *pool, void *p, const char *what) {
    Snap s = snap(pool);
    cymem_handle h = {7, 7, 7};
    size_t size = 777;
    ctx = what;
    PRIME();
    CHECK_ST(cymem_free(pool, p), CYMEM_STATUS_INVALID_POINTER);
    CHECK_ERR(CYMEM_STATUS_INVALID_POINTER);
    PRIME();
    CHECK_ST(cymem_find(pool, p, &h, &size), CYMEM_STATUS_INVALID_POINTER);
    CHECK_ERR(CYMEM_STATUS_INVALID_POINTER);
    CHECK(h.index == 7 && h.generation == 7 && h.pool == 7); /* nothing written */
    CHECK_EQ(size, 777);
    PRIME();
    CHECK_ST(cymem_find(pool, p, NULL, NULL), CYMEM_STATUS_INVALID_POINTER);
    PRIME();
    CHECK(cymem_realloc(pool, p, 4, 8) == NULL);
    CHECK_ERR(CYMEM_STATUS_INVALID_POINTER);
    PRIME();
    CHECK(cymem_realloc(pool, p, 0, 8) == NULL);
    CHECK_ERR(CYMEM_STATUS_INVALID_POINTER);
    CHECK_SNAP(pool, s);
    ctx = NULL;
}

/* `h` names no block of `pool`: lookup, free_handle and realloc_handle refuse
   it with CYMEM_STATUS_INVALID_HANDLE and change nothing. */
static void expect_invalid_handle(cymem_pool *pool, cymem_handle h, const char *what) {
    Snap s = snap(pool);
    size_t size = 777;
    ctx = what;
    PRIME();
    CHECK(cymem_lookup(pool, h, &size) == NULL);
    CHECK_ERR(CYMEM_STATUS_INVALID_HANDLE);
    CHECK_EQ(size, 777); /* not written */
    PRIME();
    CHECK(cymem_lookup(pool, h, NULL) == NULL);
    CHECK_ERR(CYMEM_STATUS_INVALID_HANDLE);
    PRIME();
    CHECK_ST(cymem_free_handle(pool, h), CYMEM_STATUS_INVALID_HANDLE);
    CHECK_ERR(CYMEM_STATUS_INVALID_HANDLE);
    PRIME();
    CHECK(cymem_realloc_handle(pool, h, 4, 8) == NULL);
    CHECK_ERR(CYMEM_STATUS_INVALID_HANDLE);
    CHECK_SNAP(pool, s);
    ctx = NULL;
}

/* A block of 64 bytes holding `byte` everywhere, still that size, at `p`. */
static void expect_block_intact(cymem_pool *pool, const void *p, cymem_handle h, size_t bytes, int byte) {
    size_t size = 777;
    cymem_handle found;
    memset(&found, 0, sizeof found);
    CHECK(cymem_lookup(pool, h, &size) == p);
    CHECK_EQ(size, bytes);
    CHECK_ST(cymem_find(pool, p, &found, NULL), CYMEM_STATUS_OK);
    CHECK(handle_eq(found, h));
    CHECK(all_bytes(p, byte, bytes));
}

/* ------------------------------------------------ the counting allocator */

/* Blocks from my_malloc carry a 24-byte header (size, magic) and are handed
   out 8 bytes past a 16-byte boundary, so the pool's own alignment is tested.
   Fresh memory is filled with 0xCD, so the pool's own zeroing is tested. */
enum { HEADER = 24 };
/* The most a block may ask my_malloc for beyond its size, as documented on
   cymem_pool_new_with in include/cymem.h ("up to 23 bytes more"). */
#ifndef OVERALLOC_MAX
#define OVERALLOC_MAX 39
#endif
static const uint64_t MAGIC = 0x63796d656d212121u; /* "cymem!!!" */

static struct {
    unsigned long mallocs, frees, refused, bad_frees, zero_requests;
    size_t live_bytes, last_request;
    int fail; /* refuse every request while set */
} cnt;

static void *my_malloc(size_t size) {
    unsigned char *base;
    cnt.last_request = size;
    if (size == 0) cnt.zero_requests++;
    if (cnt.fail || size > ((size_t)1 << 40)) {
        cnt.refused++;
        return NULL;
    }
    base = malloc(size + HEADER);
    if (base == NULL) {
        cnt.refused++;
        return NULL;
    }
    memcpy(base, &size, sizeof size);
    memcpy(base + 8, &MAGIC, sizeof MAGIC);
    memset(base + HEADER, 0xCD, size);
    cnt.mallocs++;
    cnt.live_bytes += size;
    return base + HEADER;
}

static void my_free(void *ptr) {
    unsigned char *base;
    uint64_t magic;
    size_t size;
    if (ptr == NULL) return;
    base = (unsigned char *)ptr - HEADER;
    memcpy(&magic, base + 8, sizeof magic);
    if (magic != MAGIC) { /* not ours, or freed twice */
        cnt.bad_frees++;
        return;
    }
    memcpy(&size, base, sizeof size);
    memset(base + 8, 0, sizeof magic);
    cnt.frees++;
    cnt.live_bytes -= size;
    free(base);
}

/* --------------------------------------------------- per-thread last error */

static void *thread_body(void *arg) {
    int *result = arg;
    cymem_pool *pool;
    result[0] = (int)cymem_last_error(); /* before any call on this thread: OK */
    pool = cymem_pool_new();
    result[1] = pool != NULL && cymem_alloc(pool, 4, 4, NULL) != NULL;
    result[2] = (int)cymem_last_error(); /* OK */
    result[3] = cymem_alloc(pool, SIZE_MAX, 2, NULL) == NULL;
    result[4] = (int)cymem_last_error(); /* SIZE_OVERFLOW */
    cymem_pool_destroy(pool);
    return NULL;
}

/* ===================================================================== */

int main(void) {
    cymem_pool *pool, *other;
    SparseMatrix *mats;
    cymem_handle hm, primer_h;
    Expect ep = expect_for(SEED_PTR, N_MATRICES), eh = expect_for(SEED_HANDLE, N_MATRICES);
    size_t ptr_blocks = struct_blocks(&ep, N_MATRICES);
    size_t ptr_bytes = struct_bytes(&ep, N_MATRICES, sizeof(SparseMatrix), sizeof(SparseRow));
    size_t h_blocks = struct_blocks(&eh, N_MATRICES);
    size_t h_bytes = struct_bytes(&eh, N_MATRICES, sizeof(SparseMatrixH), sizeof(SparseRowH));
    size_t reallocs = 0;
    Snap base;
    double sum;

    printf("cymem C API test: %d sparse matrices x up to %d rows x up to %d entries\n", N_MATRICES,
           MAX_ROWS, MAX_ENTRIES);

    /* The primer: a pool whose one block makes PRIME() succeed. */
    primer_pool = cymem_pool_new();
    REQUIRE(primer_pool != NULL);
    REQUIRE(cymem_alloc(primer_pool, 1, 1, &primer_h) != NULL);
    primer_handle = primer_h;

    /* ------------------------------------------------------------------ */
    section_begin("sparse (pointers)");
    CHECK_ERR(CYMEM_STATUS_OK);
    pool = cymem_pool_new();
    REQUIRE(pool != NULL);
    CHECK_ERR(CYMEM_STATUS_OK);
    CHECK_EQ(cymem_pool_len(pool), 0);
    CHECK_EQ(cymem_pool_size(pool), 0);
    mats = build_ptr(pool, SEED_PTR, N_MATRICES);
    sum = verify_ptr(pool, mats, SEED_PTR, N_MATRICES);
    CHECK(sum == ep.sum);
    CHECK(ep.empty_rows > 0);
    CHECK_EQ(cymem_pool_len(pool), ptr_blocks);
    CHECK_EQ(cymem_pool_size(pool), ptr_bytes);
    section_end("%d matrices, %zu rows (%zu empty), %zu entries, sum %.2f (expected %.2f); "
                "pool_len %zu == %zu blocks, pool_size %zu == %zu bytes",
                N_MATRICES, ep.rows, ep.empty_rows, ep.entries, sum, ep.sum, cymem_pool_len(pool),
                ptr_blocks, cymem_pool_size(pool), ptr_bytes);

    /* ------------------------------------------------------------------ */
    section_begin("sparse (handles)");
    hm = build_handle(pool, SEED_HANDLE, N_MATRICES, &reallocs);
    sum = verify_handle(pool, hm, SEED_HANDLE, N_MATRICES);
    CHECK(sum == eh.sum);
    CHECK_EQ(cymem_pool_len(pool), ptr_blocks + h_blocks);
    CHECK_EQ(cymem_pool_size(pool), ptr_bytes + h_bytes);
    /* the pointer variant is untouched by the second build */
    CHECK(verify_ptr(pool, mats, SEED_PTR, N_MATRICES) == ep.sum);
    {
        Spans spans = {NULL, 0, 0};
        size_t zero;
        collect_ptr(&spans, mats, N_MATRICES);
        collect_handle(&spans, pool, hm, N_MATRICES);
        CHECK_EQ(spans.len, ptr_blocks + h_blocks);
        zero = check_spans(&spans);
        CHECK_EQ(zero, 2 * (ep.empty_rows + eh.empty_rows));
        free(spans.items);
    }
    base = snap(pool);
    section_end("%zu rows (%zu empty), %zu entries, %zu values grown by realloc_handle, sum %.2f "
                "(expected %.2f); pool now %zu blocks / %zu bytes as computed; all %zu block "
                "addresses distinct, non-empty blocks disjoint",
                eh.rows, eh.empty_rows, eh.entries, reallocs, sum, eh.sum, base.len, base.size, base.len);

    /* ------------------------------------------------------------------ */
    section_begin("NULL pool");
    {
        cymem_handle h = {1, 1, 1};
        size_t size = 777;
        void *p = mats;
        cymem_pool_destroy(NULL); /* no-op */
        PRIME();
        CHECK(cymem_alloc(NULL, 1, 8, &h) == NULL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        CHECK(h.index == 1 && h.generation == 1 && h.pool == 1);
        PRIME();
        CHECK(cymem_alloc(NULL, 0, 8, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        PRIME();
        CHECK_ST(cymem_free(NULL, p), CYMEM_STATUS_NULL_POOL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        PRIME();
        CHECK_ST(cymem_free_handle(NULL, hm), CYMEM_STATUS_NULL_POOL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        PRIME();
        CHECK(cymem_realloc(NULL, p, 2, 8) == NULL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        PRIME();
        CHECK(cymem_realloc_handle(NULL, hm, 2, 8) == NULL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        PRIME();
        CHECK(cymem_lookup(NULL, hm, &size) == NULL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        CHECK_EQ(size, 777);
        PRIME();
        CHECK_ST(cymem_find(NULL, p, &h, &size), CYMEM_STATUS_NULL_POOL);
        CHECK_ERR(CYMEM_STATUS_NULL_POOL);
        CHECK(h.index == 1 && h.generation == 1 && h.pool == 1);
        CHECK_EQ(size, 777);
        CHECK_EQ(cymem_pool_size(NULL), 0);
        CHECK_EQ(cymem_pool_len(NULL), 0);
        /* the real pool saw none of it */
        CHECK_SNAP(pool, base);
        CHECK(cymem_lookup(pool, hm, NULL) != NULL);
        CHECK_ST(cymem_find(pool, p, NULL, NULL), CYMEM_STATUS_OK);
    }
    section_end("alloc/free/free_handle/realloc/realloc_handle/lookup/find -> NULL_POOL, "
                "size/len -> 0, destroy(NULL) no-op; out-params untouched");

    /* ------------------------------------------------------------------ */
    section_begin("foreign pointers");
    {
        int on_stack = 0;
        void *from_malloc = malloc(64);
        cymem_handle hv, hw, ho;
        unsigned char *victim, *w, *in_other;
        double *some_values = NULL;
        REQUIRE(from_malloc != NULL);
        other = cymem_pool_new();
        REQUIRE(other != NULL);
        in_other = ALLOC(other, 64, 1, &ho);
        memset(in_other, 0x5A, 64);
        victim = ALLOC(pool, 64, 1, &hv);
        memset(victim, 0xA5, 64);
        w = ALLOC(pool, 32, 1, &hw);
        CHECK_ST(cymem_free(pool, w), CYMEM_STATUS_OK);
        CHECK_ERR(CYMEM_STATUS_OK);
        for (size_t m = 0; m < N_MATRICES && !some_values; m++)
            for (size_t i = 0; i < mats[m].length && !some_values; i++)
                if (mats[m].rows[i].length >= 4) some_values = mats[m].rows[i].values;
        REQUIRE(some_values != NULL);

        expect_invalid_pointer(pool, NULL, "NULL");
        expect_invalid_pointer(pool, &on_stack, "stack address");
        expect_invalid_pointer(pool, from_malloc, "malloc'd pointer");
        expect_invalid_pointer(pool, in_other, "pointer from another pool");
        expect_invalid_pointer(pool, victim + 1, "interior pointer block+1");
        expect_invalid_pointer(pool, victim + 16, "interior pointer block+16 (aligned)");
        expect_invalid_pointer(pool, victim + 63, "interior pointer block+63");
        expect_invalid_pointer(pool, some_values + 2, "interior pointer into a row's values");
        expect_invalid_pointer(pool, w, "already-freed pointer");
        expect_invalid_pointer(pool, (void *)(uintptr_t)16, "address 16");
        expect_invalid_pointer(pool, (void *)UINTPTR_MAX, "address UINTPTR_MAX");
        /* the other pool in turn refuses this pool's blocks */
        expect_invalid_pointer(other, victim, "pointer of pool A given to pool B");

        /* nothing changed: the victim, the other pool's block, both structures */
        expect_block_intact(pool, victim, hv, 64, 0xA5);
        expect_block_intact(other, in_other, ho, 64, 0x5A);
        CHECK_EQ(cymem_pool_len(other), 1);
        CHECK_EQ(cymem_pool_size(other), 64);
        CHECK_EQ(cymem_pool_len(pool), base.len + 1);
        CHECK_EQ(cymem_pool_size(pool), base.size + 64);
        CHECK(verify_ptr(pool, mats, SEED_PTR, N_MATRICES) == ep.sum);
        CHECK(verify_handle(pool, hm, SEED_HANDLE, N_MATRICES) == eh.sum);
        CHECK_ST(cymem_free(pool, victim), CYMEM_STATUS_OK);
        CHECK_SNAP(pool, base);
        free(from_malloc);
    }
    section_end("free/find/realloc of NULL, stack, malloc'd, other pool's, interior (+1, +16, +63), "
                "already-freed, wild pointers -> INVALID_POINTER; len/size and every block unchanged");

    /* ------------------------------------------------------------------ */
    section_begin("stale/forged handles");
    {
        cymem_handle ha, hb, hc, hd, hq, hr, forged;
        cymem_pool *q, *r;
        void *a, *b, *c, *d, *qb, *rb;
        Rng rng = {42};
        unsigned long genuine_hits = 0;

        /* stale after free_handle */
        a = ALLOC(pool, 8, 8, &ha);
        b = ALLOC(pool, 8, 8, &hb);
        memset(b, 0x11, 64);
        CHECK_ST(cymem_free_handle(pool, ha), CYMEM_STATUS_OK);
        CHECK_ERR(CYMEM_STATUS_OK);
        expect_invalid_handle(pool, ha, "stale after free_handle");
        expect_invalid_pointer(pool, a, "pointer of a block freed by handle");
        /* still stale after realloc_handle of another block */
        b = cymem_realloc_handle(pool, hb, 4096, 1);
        REQUIRE(b != NULL);
        CHECK(all_bytes(b, 0x11, 64) && IS_ZERO((char *)b + 64, 4096 - 64));
        expect_invalid_handle(pool, ha, "stale after realloc_handle of another block");
        CHECK(cymem_lookup(pool, hb, NULL) == b);
        CHECK(all_bytes(b, 0x11, 64));
        /* ...and after a new block (which may reuse the freed slot) */
        c = ALLOC(pool, 8, 8, &hc);
        if (hc.index == ha.index) CHECK(hc.generation != ha.generation);
        expect_invalid_handle(pool, ha, "stale after its slot may be reused");
        CHECK(cymem_lookup(pool, hc, NULL) == c);
        /* stale after free by pointer */
        d = ALLOC(pool, 3, 8, &hd);
        CHECK_ST(cymem_free(pool, d), CYMEM_STATUS_OK);
        expect_invalid_handle(pool, hd, "stale after free by pointer");
        /* realloc by pointer of another block leaves it stale too */
        c = cymem_realloc(pool, c, 1 << 16, 1);
        REQUIRE(c != NULL);
        CHECK(cymem_lookup(pool, hc, NULL) == c);
        expect_invalid_handle(pool, hd, "stale after realloc of another block");

        /* handles of other pools: two fresh pools, one block each, so the
           handles most likely differ only in their pool id */
        q = cymem_pool_new();
        r = cymem_pool_new();
        REQUIRE(q != NULL && r != NULL);
        qb = ALLOC(q, 16, 1, &hq);
        rb = ALLOC(r, 16, 1, &hr);
        memset(qb, 0x77, 16);
        memset(rb, 0x88, 16);
        CHECK(hq.pool != hr.pool);
        expect_invalid_handle(r, hq, "handle from another pool");
        expect_invalid_handle(q, hr, "handle from another pool");
        expect_invalid_handle(pool, hq, "handle from another pool");

        /* forged handles, on the one-block pool r */
        memset(&forged, 0, sizeof forged);
        expect_invalid_handle(r, forged, "all-zero handle");
        expect_invalid_handle(pool, forged, "all-zero handle");
        forged = hr; forged.index += 1;
        expect_invalid_handle(r, forged, "index+1");
        forged = hr; forged.index -= 1;
        expect_invalid_handle(r, forged, "index-1");
        forged = hr; forged.index = UINT32_MAX;
        expect_invalid_handle(r, forged, "index UINT32_MAX");
        forged = hr; forged.generation += 1;
        expect_invalid_handle(r, forged, "generation+1");
        forged = hr; forged.generation -= 1;
        expect_invalid_handle(r, forged, "generation-1");
        forged = hr; forged.generation ^= 0x80000000u;
        expect_invalid_handle(r, forged, "generation top bit flipped");
        forged = hr; forged.pool += 1;
        expect_invalid_handle(r, forged, "pool id+1");
        forged = hr; forged.pool -= 1;
        expect_invalid_handle(r, forged, "pool id-1");
        forged = hr; forged.pool ^= (uint64_t)1 << 63;
        expect_invalid_handle(r, forged, "pool id top bit flipped");
        forged = hr; forged.pool = 0;
        expect_invalid_handle(r, forged, "pool id 0");
        /* random bits; then random index and generation with the right pool id */
        for (int i = 0; i < 500; i++) {
            uint64_t bits = rng_bits(&rng);
            forged.index = (uint32_t)bits;
            forged.generation = (uint32_t)(bits >> 32);
            forged.pool = rng_bits(&rng);
            expect_invalid_handle(pool, forged, "random bits");
            forged.pool = hr.pool;
            expect_invalid_handle(r, forged, "random index/generation, right pool id");
        }
        /* On the big pool a forged neighbour index may name a live block; if
           so it must be that block's genuine handle, never other memory. */
        for (int i = 0; i < 200; i++) {
            cymem_handle probe, found;
            void *p;
            probe = hb;
            probe.index = (uint32_t)rng_next(&rng, base.len + 64);
            p = cymem_lookup(pool, probe, NULL);
            if (p == NULL) {
                CHECK_ERR(CYMEM_STATUS_INVALID_HANDLE);
                continue;
            }
            genuine_hits++;
            memset(&found, 0, sizeof found);
            CHECK_ST(cymem_find(pool, p, &found, NULL), CYMEM_STATUS_OK);
            CHECK(handle_eq(found, probe));
        }
        /* nothing changed in q and r */
        expect_block_intact(q, qb, hq, 16, 0x77);
        expect_block_intact(r, rb, hr, 16, 0x88);
        CHECK_EQ(cymem_pool_len(q), 1);
        CHECK_EQ(cymem_pool_len(r), 1);
        cymem_pool_destroy(q);
        cymem_pool_destroy(r);
        CHECK_ST(cymem_free_handle(pool, hb), CYMEM_STATUS_OK);
        CHECK_ST(cymem_free_handle(pool, hc), CYMEM_STATUS_OK);
        CHECK_SNAP(pool, base);
        section_end("stale (free_handle, free, after realloc of others, slot reuse), other pools', "
                    "all-zero, index/generation/pool-id +-1, 1000 random -> INVALID_HANDLE; "
                    "%lu/200 random same-generation indices named a live block, each its own handle",
                    genuine_hits);
    }

    /* ------------------------------------------------------------------ */
    section_begin("size overflow");
    {
        cymem_handle h = {9, 9, 9}, hb;
        unsigned char *b = ALLOC(pool, 40, 1, &hb);
        static const size_t cases[][2] = {
            {SIZE_MAX, 2}, {2, SIZE_MAX}, {SIZE_MAX / 2 + 1, 1}, {1, SIZE_MAX / 2 + 1},
            {SIZE_MAX / 2 + 1, 2}, {SIZE_MAX, SIZE_MAX}, {PTRDIFF_MAX / 8 + 1, 8}, {SIZE_MAX, 1},
        };
        Snap s;
        memset(b, 0x3C, 40);
        s = snap(pool);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            PRIME();
            CHECK(cymem_alloc(pool, cases[i][0], cases[i][1], &h) == NULL);
            CHECK_ERR(CYMEM_STATUS_SIZE_OVERFLOW);
            CHECK(h.index == 9 && h.generation == 9 && h.pool == 9); /* not written */
            PRIME();
            CHECK(cymem_realloc(pool, b, cases[i][0], cases[i][1]) == NULL);
            CHECK_ERR(CYMEM_STATUS_SIZE_OVERFLOW);
            PRIME();
            CHECK(cymem_realloc_handle(pool, hb, cases[i][0], cases[i][1]) == NULL);
            CHECK_ERR(CYMEM_STATUS_SIZE_OVERFLOW);
            CHECK_SNAP(pool, s);
        }
        expect_block_intact(pool, b, hb, 40, 0x3C);
        /* zero times anything is no overflow */
        {
            cymem_handle hz1, hz2;
            void *z1 = ALLOC(pool, 0, SIZE_MAX, &hz1), *z2 = ALLOC(pool, SIZE_MAX, 0, &hz2);
            CHECK(z1 != z2);
            CHECK_EQ(cymem_pool_size(pool), s.size);
            CHECK_ST(cymem_free(pool, z1), CYMEM_STATUS_OK);
            CHECK_ST(cymem_free_handle(pool, hz2), CYMEM_STATUS_OK);
        }
        CHECK_ST(cymem_free(pool, b), CYMEM_STATUS_OK);
        CHECK_SNAP(pool, base);
    }
    section_end("alloc/realloc/realloc_handle of (SIZE_MAX,2), (SIZE_MAX/2+1,1), (PTRDIFF_MAX/8+1,8) "
                "and 5 more -> NULL + SIZE_OVERFLOW, block untouched; (0,SIZE_MAX), (SIZE_MAX,0) succeed");

    /* ------------------------------------------------------------------ */
    section_begin("realloc");
    {
        cymem_handle h, found;
        size_t size;
        uint64_t *a, *b, *c, *d, *e, *z;
        unsigned char *small, *big;
        unsigned moved = 0, checked_moves = 0;
        Snap s = snap(pool);

        a = ALLOC(pool, 10, 8, &h);
        for (int i = 0; i < 10; i++) a[i] = (uint64_t)i + 1;
        /* grow by pointer: prefix kept, tail zero, same handle */
        b = cymem_realloc(pool, a, 1000, 8);
        REQUIRE(b != NULL);
        CHECK_ERR(CYMEM_STATUS_OK);
        CHECK(aligned16(b));
        for (int i = 0; i < 10; i++) CHECK_EQ(b[i], i + 1);
        CHECK(IS_ZERO(b + 10, 990 * 8));
        memset(&found, 0, sizeof found);
        CHECK_ST(cymem_find(pool, b, &found, &size), CYMEM_STATUS_OK);
        CHECK(handle_eq(found, h));
        CHECK_EQ(size, 8000);
        CHECK(cymem_lookup(pool, h, &size) == b);
        CHECK_EQ(cymem_pool_len(pool), s.len + 1);
        CHECK_EQ(cymem_pool_size(pool), s.size + 8000);
        if (b != a) {
            moved++;
            expect_invalid_pointer(pool, a, "old address after a moving realloc");
        }
        for (int i = 10; i < 1000; i++) b[i] = 0xEEEEEEEEEEEEEEEEu;
        /* shrink, then grow: zeros past the shrunk size, not the old data */
        c = cymem_realloc(pool, b, 3, 8);
        REQUIRE(c != NULL);
        CHECK(aligned16(c));
        for (int i = 0; i < 3; i++) CHECK_EQ(c[i], i + 1);
        CHECK(cymem_lookup(pool, h, &size) == c);
        CHECK_EQ(size, 24);
        CHECK_EQ(cymem_pool_size(pool), s.size + 24);
        if (c != b) {
            moved++;
            expect_invalid_pointer(pool, b, "old address after a moving shrink");
        }
        d = cymem_realloc(pool, c, 10, 8);
        REQUIRE(d != NULL);
        for (int i = 0; i < 3; i++) CHECK_EQ(d[i], i + 1);
        CHECK(IS_ZERO(d + 3, 7 * 8));
        d[3] = 4;
        for (int i = 4; i < 10; i++) d[i] = 0xDDDDDDDDDDDDDDDDu;
        /* the same by handle */
        e = cymem_realloc_handle(pool, h, 4, 8);
        REQUIRE(e != NULL);
        CHECK_ERR(CYMEM_STATUS_OK);
        for (int i = 0; i < 4; i++) CHECK_EQ(e[i], i + 1);
        e = cymem_realloc_handle(pool, h, 5000, 8);
        REQUIRE(e != NULL);
        CHECK(aligned16(e));
        for (int i = 0; i < 4; i++) CHECK_EQ(e[i], i + 1);
        CHECK(IS_ZERO(e + 4, (5000 - 4) * 8));
        memset(&found, 0, sizeof found);
        CHECK_ST(cymem_find(pool, e, &found, &size), CYMEM_STATUS_OK);
        CHECK(handle_eq(found, h));
        CHECK_EQ(size, 40000);
        CHECK_EQ(cymem_pool_len(pool), s.len + 1);
        CHECK_EQ(cymem_pool_size(pool), s.size + 40000);
        memset(e, 0xBB, 40000);
        /* to zero bytes and back */
        z = cymem_realloc_handle(pool, h, 0, 8);
        REQUIRE(z != NULL);
        CHECK(aligned16(z));
        CHECK(cymem_lookup(pool, h, &size) == z);
        CHECK_EQ(size, 0);
        CHECK_EQ(cymem_pool_size(pool), s.size);
        CHECK_EQ(cymem_pool_len(pool), s.len + 1);
        memset(&found, 0, sizeof found);
        CHECK_ST(cymem_find(pool, z, &found, &size), CYMEM_STATUS_OK);
        CHECK(handle_eq(found, h));
        z = cymem_realloc(pool, z, 64, 8);
        REQUIRE(z != NULL);
        CHECK(IS_ZERO(z, 512));
        CHECK(cymem_lookup(pool, h, NULL) == z);
        CHECK_ST(cymem_free(pool, z), CYMEM_STATUS_OK);
        expect_invalid_handle(pool, h, "handle of a reallocated then freed block");

        /* a small block grown a lot must move: the old address is then invalid
           and the new one maps to the same handle */
        for (int round = 0; round < 16; round++) {
            cymem_handle hs;
            small = ALLOC(pool, 16, 1, &hs);
            memset(small, 0x42, 16);
            big = cymem_realloc(pool, small, 1 << 20, 1);
            REQUIRE(big != NULL);
            CHECK(all_bytes(big, 0x42, 16));
            CHECK(IS_ZERO(big + 16, (1 << 20) - 16));
            memset(&found, 0, sizeof found);
            CHECK_ST(cymem_find(pool, big, &found, &size), CYMEM_STATUS_OK);
            CHECK(handle_eq(found, hs));
            CHECK_EQ(size, 1 << 20);
            if (big != small) {
                moved++;
                checked_moves++;
                expect_invalid_pointer(pool, small, "old address after a moving grow");
            }
            CHECK_ST(cymem_free_handle(pool, hs), CYMEM_STATUS_OK);
        }
        CHECK(checked_moves > 0);
        CHECK_SNAP(pool, s);
        section_end("grow keeps prefix + zero tail; shrink-then-grow gives zeros; by pointer and by "
                    "handle; to 0 bytes and back; %u moves seen, old address INVALID_POINTER and new "
                    "address -> same handle each time",
                    moved);
    }

    /* ------------------------------------------------------------------ */
    section_begin("zero-byte blocks");
    {
        enum { NZ = 100 };
        void *z[NZ];
        cymem_handle hz[NZ];
        static const size_t shapes[][2] = {{0, 8}, {8, 0}, {0, 0}, {0, 1}, {0, SIZE_MAX}};
        Snap s = snap(pool);
        size_t dup = 0;
        for (int i = 0; i < NZ; i++) z[i] = ALLOC(pool, shapes[i % 5][0], shapes[i % 5][1], &hz[i]);
        for (int i = 0; i < NZ; i++)
            for (int j = i + 1; j < NZ; j++) {
                dup += z[i] == z[j];
                CHECK(!handle_eq(hz[i], hz[j]));
            }
        CHECK_EQ(dup, 0);
        CHECK_EQ(cymem_pool_len(pool), s.len + NZ);
        CHECK_EQ(cymem_pool_size(pool), s.size);
        for (int i = 0; i < NZ; i++) {
            if (i % 2)
                CHECK_ST(cymem_free_handle(pool, hz[i]), CYMEM_STATUS_OK);
            else
                CHECK_ST(cymem_free(pool, z[i]), CYMEM_STATUS_OK);
        }
        CHECK_SNAP(pool, s);
        for (int i = 0; i < NZ; i += 10) {
            expect_invalid_pointer(pool, z[i], "freed zero-byte block");
            expect_invalid_handle(pool, hz[i], "freed zero-byte block");
        }
        CHECK_SNAP(pool, s);
    }
    section_end("100 zero-byte blocks (0x8, 8x0, 0x0, 0x1, 0xSIZE_MAX): non-NULL, distinct, "
                "16-aligned, own handles, count in len not size; freed ones rejected");

    /* ------------------------------------------------------------------ */
    section_begin("alignment, zeroing");
    {
        enum { NA = 400 };
        void *p[NA];
        static const size_t elems[] = {1, 2, 3, 7, 8, 12, 16, 24, 100};
        Snap s = snap(pool);
        size_t bytes = 0;
        /* sizes 1..400 bytes in various shapes: all 16-aligned and zero */
        for (int i = 0; i < NA; i++) {
            size_t es = elems[i % 9], n = (size_t)(i + 1 + es - 1) / es;
            p[i] = ALLOC(pool, n, es, NULL);
            bytes += n * es;
            memset(p[i], 0xAB, n * es);
        }
        CHECK_EQ(cymem_pool_size(pool), s.size + bytes);
        for (int i = 0; i < NA; i++) CHECK_ST(cymem_free(pool, p[i]), CYMEM_STATUS_OK);
        CHECK_SNAP(pool, s);
        /* freed dirty memory comes back zeroed (ALLOC checks every byte) */
        for (int round = 0; round < 8; round++) {
            static const size_t sizes[] = {24, 200, 256, 257, 4096, 100000};
            for (size_t k = 0; k < 6; k++) {
                void *q = ALLOC(pool, sizes[k], 1, NULL);
                memset(q, 0xAB, sizes[k]);
                CHECK_ST(cymem_free(pool, q), CYMEM_STATUS_OK);
            }
        }
        CHECK_SNAP(pool, s);
    }
    section_end("400 blocks of 1..400 bytes 16-aligned and zeroed; 48 alloc/dirty/free rounds "
                "(24..100000 bytes) always come back zeroed");

    /* ------------------------------------------------------------------ */
    section_begin("status messages");
    {
        const char *msg[7];
        int statuses[] = {CYMEM_STATUS_OK, CYMEM_STATUS_NULL_POOL, CYMEM_STATUS_INVALID_HANDLE,
                          CYMEM_STATUS_INVALID_POINTER, CYMEM_STATUS_SIZE_OVERFLOW,
                          CYMEM_STATUS_OUT_OF_MEMORY, CYMEM_STATUS_INVALID_ARGUMENT};
        for (int i = 0; i < 7; i++) {
            CHECK_EQ(statuses[i], i);
            msg[i] = cymem_status_message(statuses[i]);
            REQUIRE(msg[i] != NULL);
            CHECK(strlen(msg[i]) > 0);
            CHECK(strcmp(msg[i], "unknown status") != 0);
            CHECK(msg[i] == cymem_status_message(i)); /* static */
            printf("     %d %-29s \"%s\"\n", i, status_name(i), msg[i]);
        }
        for (int i = 0; i < 7; i++)
            for (int j = i + 1; j < 7; j++) CHECK(strcmp(msg[i], msg[j]) != 0);
        {
            int unknown[] = {99, 7, -1, 1 << 30};
            for (int i = 0; i < 4; i++) {
                const char *m = cymem_status_message(unknown[i]);
                REQUIRE(m != NULL);
                CHECK(strcmp(m, "unknown status") == 0);
            }
            printf("     99 \"%s\"\n", cymem_status_message(99));
        }
    }
    section_end("7 distinct non-empty messages; 99, 7, -1, 2^30 -> \"unknown status\"");

    /* ------------------------------------------------------------------ */
    section_begin("per-thread last error");
    {
        pthread_t t;
        int result[5] = {-1, -1, -1, -1, -1};
        PRIME();
        CHECK(cymem_realloc(pool, NULL, 1, 1) == NULL);
        CHECK_ERR(CYMEM_STATUS_INVALID_POINTER);
        REQUIRE(pthread_create(&t, NULL, thread_body, result) == 0);
        REQUIRE(pthread_join(t, NULL) == 0);
        CHECK_ST(result[0], CYMEM_STATUS_OK);
        CHECK(result[1] == 1);
        CHECK_ST(result[2], CYMEM_STATUS_OK);
        CHECK(result[3] == 1);
        CHECK_ST(result[4], CYMEM_STATUS_SIZE_OVERFLOW);
        CHECK_ERR(CYMEM_STATUS_INVALID_POINTER); /* this thread's, unchanged */
    }
    section_end("a new thread starts at OK and sees its own statuses; this thread's "
                "INVALID_POINTER survives the other's calls");

    /* ------------------------------------------------------------------ */
    section_begin("custom allocator");
    {
        cymem_pool *cp;
        cymem_handle chm, h, h0;
        Expect ec = expect_for(SEED_CUSTOM, 20);
        size_t c_reallocs = 0, cbytes = struct_bytes(&ec, 20, sizeof(SparseMatrixH), sizeof(SparseRowH));
        size_t cblocks = struct_blocks(&ec, 20);
        unsigned long m0;
        size_t max_over = 0;
        unsigned char *p, *big;
        Snap s;

        PRIME();
        CHECK(cymem_pool_new_with(NULL, my_free) == NULL);
        CHECK_ERR(CYMEM_STATUS_INVALID_ARGUMENT);
        PRIME();
        CHECK(cymem_pool_new_with(NULL, free) == NULL);
        CHECK_ERR(CYMEM_STATUS_INVALID_ARGUMENT);
        PRIME();
        CHECK(cymem_pool_new_with(my_malloc, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_INVALID_ARGUMENT);
        PRIME();
        CHECK(cymem_pool_new_with(NULL, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_INVALID_ARGUMENT);
        CHECK_EQ(cnt.mallocs + cnt.refused, 0);

        cp = cymem_pool_new_with(my_malloc, my_free);
        REQUIRE(cp != NULL);
        CHECK_ERR(CYMEM_STATUS_OK);
        m0 = cnt.mallocs;
        CHECK_EQ(m0, 0); /* the pool itself is not a block */

        /* one my_malloc per block (of any size), at most OVERALLOC_MAX bytes over it */
        for (size_t bytes = 0; bytes <= 300; bytes++) {
            unsigned long before = cnt.mallocs;
            p = ALLOC(cp, bytes, 1, &h);
            CHECK_EQ(cnt.mallocs, before + 1);
            CHECK(cnt.last_request >= bytes);
            if (cnt.last_request - bytes > max_over) max_over = cnt.last_request - bytes;
            CHECK_ST(cymem_free_handle(cp, h), CYMEM_STATUS_OK);
            CHECK_EQ(cnt.frees, cnt.mallocs);
            CHECK_EQ(cnt.live_bytes, 0);
        }
        CHECK(max_over <= OVERALLOC_MAX);

        /* the handle variant again, over my_malloc (which hands out 0xCD-filled,
           8-but-not-16-aligned memory: ALLOC checks zeroing and alignment) */
        chm = build_handle(cp, SEED_CUSTOM, 20, &c_reallocs);
        CHECK(verify_handle(cp, chm, SEED_CUSTOM, 20) == ec.sum);
        CHECK_EQ(cymem_pool_len(cp), cblocks);
        CHECK_EQ(cymem_pool_size(cp), cbytes);
        CHECK_EQ(cnt.mallocs - cnt.frees, cblocks); /* one live malloc per live block */
        CHECK(cnt.live_bytes >= cbytes && cnt.live_bytes <= cbytes + OVERALLOC_MAX * cblocks);
        CHECK_EQ(cnt.zero_requests, 0);
        CHECK_EQ(cnt.bad_frees, 0);

        /* out of memory on demand: NULL + OUT_OF_MEMORY, pool unchanged, usable */
        p = ALLOC(cp, 64, 1, &h);
        memset(p, 0x99, 64);
        s = snap(cp);
        cnt.fail = 1;
        h0.index = 5; h0.generation = 5; h0.pool = 5;
        PRIME();
        CHECK(cymem_alloc(cp, 10, 8, &h0) == NULL);
        CHECK_ERR(CYMEM_STATUS_OUT_OF_MEMORY);
        CHECK(h0.index == 5 && h0.generation == 5 && h0.pool == 5);
        CHECK_SNAP(cp, s);
        PRIME();
        CHECK(cymem_realloc(cp, p, 100000, 1) == NULL);
        CHECK_ERR(CYMEM_STATUS_OUT_OF_MEMORY);
        PRIME();
        CHECK(cymem_realloc_handle(cp, h, 100000, 1) == NULL);
        CHECK_ERR(CYMEM_STATUS_OUT_OF_MEMORY);
        CHECK_SNAP(cp, s);
        expect_block_intact(cp, p, h, 64, 0x99);
        CHECK(cnt.refused >= 3);
        cnt.fail = 0;
        /* sizes that are not overflows but no allocator can give */
        PRIME();
        CHECK(cymem_alloc(cp, PTRDIFF_MAX / 2, 1, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_OUT_OF_MEMORY);
        PRIME();
        CHECK(cymem_alloc(cp, (size_t)1 << 41, 1, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_OUT_OF_MEMORY);
        PRIME();
        CHECK(cymem_alloc(cp, PTRDIFF_MAX - 64, 1, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_OUT_OF_MEMORY);
        /* the largest size that, rounded up to 16, stays within PTRDIFF_MAX */
        PRIME();
        CHECK(cymem_alloc(cp, PTRDIFF_MAX - 15, 1, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_OUT_OF_MEMORY);
        /* one byte more rounds past PTRDIFF_MAX: an overflow */
        PRIME();
        CHECK(cymem_alloc(cp, PTRDIFF_MAX - 14, 1, NULL) == NULL);
        CHECK_ERR(CYMEM_STATUS_SIZE_OVERFLOW);
        CHECK_SNAP(cp, s);
        /* still usable */
        big = cymem_realloc_handle(cp, h, 100000, 1);
        REQUIRE(big != NULL);
        CHECK(aligned16(big));
        CHECK(all_bytes(big, 0x99, 64) && IS_ZERO(big + 64, 100000 - 64));
        CHECK(verify_handle(cp, chm, SEED_CUSTOM, 20) == ec.sum);
        CHECK_EQ(cymem_pool_len(cp), cblocks + 1);
        CHECK_EQ(cymem_pool_size(cp), cbytes + 100000);
        CHECK_EQ(cnt.mallocs - cnt.frees, cblocks + 1);

        /* destroying frees every block through my_free */
        cymem_pool_destroy(cp);
        CHECK_EQ(cnt.mallocs, cnt.frees);
        CHECK_EQ(cnt.live_bytes, 0);
        CHECK_EQ(cnt.bad_frees, 0);
        section_end("new_with(NULL, free)/(NULL, my_free)/(my_malloc, NULL)/(NULL, NULL) -> NULL + INVALID_ARGUMENT; "
                    "blocks of 0..300 bytes ask my_malloc for at most %zu extra bytes (documented: %d); "
                    "%zu blocks, sum %.2f as expected; failing malloc -> NULL + OUT_OF_MEMORY, pool "
                    "unchanged and usable; after destroy %lu mallocs == %lu frees, 0 live bytes",
                    max_over, OVERALLOC_MAX, cblocks, ec.sum, cnt.mallocs, cnt.frees);
    }

    /* ------------------------------------------------------------------ */
    section_begin("final integrity");
    {
        Spans spans = {NULL, 0, 0};
        CHECK_SNAP(pool, base);
        CHECK(verify_ptr(pool, mats, SEED_PTR, N_MATRICES) == ep.sum);
        CHECK(verify_handle(pool, hm, SEED_HANDLE, N_MATRICES) == eh.sum);
        collect_ptr(&spans, mats, N_MATRICES);
        collect_handle(&spans, pool, hm, N_MATRICES);
        check_spans(&spans);
        free(spans.items);
        CHECK_EQ(cymem_pool_len(other), 1);
        cymem_pool_destroy(other);
        cymem_pool_destroy(pool); /* frees every block: no free-walk */
        cymem_pool_destroy(primer_pool);
    }
    section_end("after all error tests both structures read back exactly; pool_len %zu, pool_size %zu "
                "as before; pools destroyed",
                base.len, base.size);

    printf("%s: %lu checks, %lu failed\n", total_failed ? "FAILED" : "PASSED", total_checks, total_failed);
    return total_failed ? 1 : 0;
}
