/* gemm_small.c - matrix products with one short side: the GEMMs of small
 * convolutions and of a dense layer's narrow end.
 *
 * OpenBLAS copies both operands into packed panels and scales C by beta in
 * a separate pass before multiplying. When one side of the product is
 * short (8 output channels, a 5x5 window of one input channel, 10
 * classes) that costs as much as the multiplication itself (bench/profile
 * on examples/fashion_cnn.aai: packing and the beta pass were 30 % of a
 * training epoch). These kernels read the operands where they lie and
 * keep a block of C in registers for the whole reduction:
 *
 *  - narrow, C = A op(B) with n <= 16 (a convolution's forward pass, the
 *    output channels as columns): op(B) is copied once into k rows of one
 *    or two 8-float vectors, and 6-8 rows of A are broadcast against each.
 *  - short, C = A B with k <= 32 (a convolution's input gradient, whose
 *    inner dimension is the output channels): blocks of 4 rows x 24
 *    columns of C, B's rows loaded in place.
 *  - tall, C = A^T B with m <= 16 (a weight gradient, summed over batch x
 *    pixels: 50,176 terms for LeNet's first layer): with n < 32, one or
 *    two vectors of A's row p against up to 12 broadcast elements of B's
 *    row p; with n >= 32 (wide), 4 broadcast elements of A's row p against
 *    3 vectors of B's row p, which leaves fewer lanes idle, and B's rows,
 *    far apart, are prefetched 8 ahead. Either way the sum runs in blocks
 *    of 256 terms that are then added up, as a BLAS's K blocking does, so
 *    a long sum rounds no worse than OpenBLAS's.
 *
 * Every element of C is one chain of fused multiply-adds in k order
 * whatever the blocking and however the rows or columns are cut over
 * threads, so the answer is the same at any thread count. The kernels need
 * AVX2 and FMA, checked at run time; other CPUs (older x86-64, aarch64)
 * send every product to OpenBLAS as before. */
#include "gemm_small.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "pool.h"
#include "scratch.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

enum {
    ROW_MAJOR = 101,         /* CblasRowMajor */
    NO_TRANS = 111,          /* CblasNoTrans */
    TRANS = 112,             /* CblasTrans */
    VEC = 8,                 /* floats in an AVX2 register */
    NARROW_MAX_N = 2 * VEC,  /* op(B)'s row fits two registers */
    NARROW_MAX_K = 2048,     /* op(B)'s copy stays within 128 KB */
    SHORT_MAX_K = 32,
    SHORT_MAX_B = 1 << 16,   /* B's floats: re-read for every 4 rows, from cache */
    TALL_MAX_M = 2 * VEC,    /* A's row fits two registers */
    TALL_BLOCK_K = 256,      /* terms per partial sum */
    TALL_ACCUMULATORS = 12,  /* of the 16 registers; the rest hold A and B */
    WIDE_MIN_N = 4 * VEC,    /* from here A^T B runs along C's rows (wide) */
    PREFETCH_ROWS = 8,       /* wide: B's rows are far apart, ask for row p + 8 at p */
    ROWS_PER_PART = 16,      /* the least a thread is given */
    MIN_SPLIT_MACS = 1 << 17, /* below this a handoff costs more than it saves */
};

#define AVX2 __attribute__((target("avx2,fma")))
/* Before the small loops over a kernel's rows, columns and vectors: fully
 * unrolled, their accumulator arrays live in registers (GCC spilled them to
 * the stack otherwise, at a third of the speed). */
#define UNROLL _Pragma("GCC unroll 16")
#define INLINE_AVX2 static inline __attribute__((always_inline, target("avx2,fma")))

typedef enum Kind { KIND_NONE, KIND_NARROW, KIND_SHORT, KIND_TALL, KIND_WIDE } Kind;

typedef struct Job {
    Gemm g;
    float *packed; /* narrow: op(B), k rows of `vecs` vectors */
    float *sums;   /* tall: C^T's sums, n rows of `vecs` vectors; wide: C's,
                      m rows of `vecs` vectors */
    int vecs;      /* registers per row of C (narrow, wide) or column (tall) */
    int parts;
} Job;

static Kind kind_of(const Gemm *g) {
    bool codes = (g->ta == NO_TRANS || g->ta == TRANS) && (g->tb == NO_TRANS || g->tb == TRANS);
    if (g->order != ROW_MAJOR || !codes || g->m < 1 || g->n < 1 || g->k < 1) return KIND_NONE;
    bool ta = g->ta == TRANS, tb = g->tb == TRANS;
    if (!ta && g->n <= NARROW_MAX_N && g->k <= NARROW_MAX_K) return KIND_NARROW;
    if (!ta && !tb && g->k <= SHORT_MAX_K && (long long)g->k * g->n <= SHORT_MAX_B)
        return KIND_SHORT;
    if (ta && !tb && g->m <= TALL_MAX_M) return g->n >= WIDE_MIN_N ? KIND_WIDE : KIND_TALL;
    return KIND_NONE;
}

/* ---- vectors ---------------------------------------------------------------- */

static const int32_t lane_masks[2 * VEC] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* The mask of the first `lanes` lanes (clamped to 0..8). */
INLINE_AVX2 __m256i mask_of(int lanes) {
    lanes = lanes < 0 ? 0 : lanes > VEC ? VEC : lanes;
    return _mm256_loadu_si256((const __m256i *)(const void *)(lane_masks + VEC - lanes));
}

/* c[0, lanes) = alpha acc + beta c. C is read only when beta != 0: as in
 * BLAS, it need not hold numbers otherwise. */
INLINE_AVX2 void store_vec(float *c, __m256 acc, int lanes, float alpha, float beta) {
    __m256 v = _mm256_mul_ps(_mm256_set1_ps(alpha), acc);
    if (lanes >= VEC) {
        if (beta != 0.0f) v = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), v);
        _mm256_storeu_ps(c, v);
        return;
    }
    __m256i mask = mask_of(lanes);
    if (beta != 0.0f) v = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(c, mask), v);
    _mm256_maskstore_ps(c, mask, v);
}

/* Rows [lo, hi) of part `part` of `rows`, cut in whole blocks of `align`. */
static void part_range(int rows, int parts, int part, int align, int *lo, int *hi) {
    int blocks = (rows + align - 1) / align;
    *lo = (int)((long long)blocks * part / parts) * align;
    *hi = (int)((long long)blocks * (part + 1) / parts) * align;
    if (*lo > rows) *lo = rows;
    if (*hi > rows) *hi = rows;
}

/* ---- narrow: C = A op(B), n <= 16 --------------------------------------------- */

/* op(B) as k rows of `vecs` vectors, zero past column n; NULL without
 * memory. Each loop reads B along its rows (at batch 1 the copy is a good
 * part of a small convolution's time). */
static float *narrow_pack(const Gemm *g, int vecs) {
    size_t width = (size_t)vecs * VEC, k = (size_t)g->k, n = (size_t)g->n, ldb = (size_t)g->ldb;
    float *p = aairt_scratch(AAIRT_SCRATCH_GEMM, k * width * sizeof *p);
    if (!p) return NULL;
    if (n < width) memset(p, 0, k * width * sizeof *p);
    if (g->tb == TRANS) { /* B is n x k */
        for (size_t col = 0; col < n; col++)
            for (size_t q = 0; q < k; q++) p[q * width + col] = g->b[col * ldb + q];
    } else {
        for (size_t q = 0; q < k; q++) memcpy(p + q * width, g->b + q * ldb, n * sizeof *p);
    }
    return p;
}

/* Rows [i, i + ROWS) of C, each a chain over k of one row of A broadcast
 * against op(B)'s row. */
INLINE_AVX2 void narrow_rows(const Job *job, int i, const int ROWS, const int VECS) {
    const Gemm *g = &job->g;
    __m256 acc[8][2];
    UNROLL for (int r = 0; r < ROWS; r++)
        UNROLL for (int v = 0; v < VECS; v++) acc[r][v] = _mm256_setzero_ps();
    const float *a = g->a + (size_t)i * (size_t)g->lda;
    const float *b = job->packed;
    for (int p = 0; p < g->k; p++, b += VECS * VEC) {
        if ((p & 15) == 0) { /* a new cache line of each row: ask for the one 4 ahead */
            UNROLL for (int r = 0; r < ROWS; r++)
                _mm_prefetch((const char *)(a + (size_t)r * (size_t)g->lda + p + 64), _MM_HINT_T0);
        }
        __m256 b0 = _mm256_load_ps(b), b1 = VECS > 1 ? _mm256_load_ps(b + VEC) : b0;
        UNROLL for (int r = 0; r < ROWS; r++) {
            __m256 x = _mm256_broadcast_ss(a + (size_t)r * (size_t)g->lda + p);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            if (VECS > 1) acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    UNROLL for (int r = 0; r < ROWS; r++) {
        float *c = g->c + (size_t)(i + r) * (size_t)g->ldc;
        UNROLL for (int v = 0; v < VECS; v++)
            store_vec(c + v * VEC, acc[r][v], g->n - v * VEC, g->alpha, g->beta);
    }
}

static AVX2 void narrow_part(void *ctx, int part) {
    const Job *job = ctx;
    int i, hi;
    part_range(job->g.m, job->parts, part, ROWS_PER_PART, &i, &hi);
    if (job->vecs == 1) { /* 8 accumulators */
        for (; i + 8 <= hi; i += 8) narrow_rows(job, i, 8, 1);
        for (; i < hi; i++) narrow_rows(job, i, 1, 1);
    } else { /* 12 */
        for (; i + 6 <= hi; i += 6) narrow_rows(job, i, 6, 2);
        for (; i < hi; i++) narrow_rows(job, i, 1, 2);
    }
}

/* ---- short: C = A B, k <= 32 ------------------------------------------------------ */

/* Rows [i, i + ROWS) x VECS vectors of columns from `col` of C; the last
 * vector has `lanes` columns. */
INLINE_AVX2 void short_block(const Gemm *g, int i, int col, const int ROWS, const int VECS,
                             int lanes) {
    __m256 acc[4][3];
    UNROLL for (int r = 0; r < ROWS; r++)
        UNROLL for (int v = 0; v < VECS; v++) acc[r][v] = _mm256_setzero_ps();
    __m256i mask = mask_of(lanes);
    const float *a = g->a + (size_t)i * (size_t)g->lda, *b = g->b + col;
    for (int p = 0; p < g->k; p++, b += g->ldb) {
        __m256 bv[3];
        UNROLL for (int v = 0; v < VECS; v++)
            bv[v] = v == VECS - 1 && lanes < VEC ? _mm256_maskload_ps(b + v * VEC, mask)
                                                 : _mm256_loadu_ps(b + v * VEC);
        UNROLL for (int r = 0; r < ROWS; r++) {
            __m256 x = _mm256_broadcast_ss(a + (size_t)r * (size_t)g->lda + p);
            UNROLL for (int v = 0; v < VECS; v++) acc[r][v] = _mm256_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
    UNROLL for (int r = 0; r < ROWS; r++) {
        float *c = g->c + (size_t)(i + r) * (size_t)g->ldc + col;
        UNROLL for (int v = 0; v < VECS; v++)
            store_vec(c + v * VEC, acc[r][v], v == VECS - 1 ? lanes : VEC, g->alpha, g->beta);
    }
}

/* Every column of rows [i, i + ROWS): blocks of 3 vectors, then single
 * ones, the last maybe partial. */
INLINE_AVX2 void short_rows(const Gemm *g, int i, const int ROWS) {
    int col = 0;
    for (; col + 3 * VEC <= g->n; col += 3 * VEC) short_block(g, i, col, ROWS, 3, VEC);
    for (; col < g->n; col += VEC) short_block(g, i, col, ROWS, 1, g->n - col);
}

static AVX2 void short_part(void *ctx, int part) {
    const Job *job = ctx;
    int i, hi;
    part_range(job->g.m, job->parts, part, ROWS_PER_PART, &i, &hi);
    for (; i + 4 <= hi; i += 4) short_rows(&job->g, i, 4);
    for (; i < hi; i++) short_rows(&job->g, i, 1);
}

/* ---- tall: C = A^T B, m <= 16 ------------------------------------------------------- */

/* Adds to sums[col, col + COLS) (C's columns, each `VECS` vectors of C's
 * m rows) the terms p0 <= p < p1: B[p, col + j] A[p, 0:m]. */
INLINE_AVX2 void tall_block(const Job *job, int col, const int COLS, const int VECS, int p0,
                            int p1) {
    const Gemm *g = &job->g;
    __m256 acc[TALL_ACCUMULATORS][2];
    UNROLL for (int j = 0; j < COLS; j++)
        UNROLL for (int v = 0; v < VECS; v++) acc[j][v] = _mm256_setzero_ps();
    __m256i mask0 = mask_of(g->m), mask1 = mask_of(g->m - VEC);
    bool whole = g->m == VECS * VEC;
    const float *a = g->a + (size_t)p0 * (size_t)g->lda;
    const float *b = g->b + (size_t)p0 * (size_t)g->ldb + col;
    for (int p = p0; p < p1; p++, a += g->lda, b += g->ldb) {
        __m256 a0 = whole ? _mm256_loadu_ps(a) : _mm256_maskload_ps(a, mask0);
        __m256 a1 = VECS < 2 ? a0
                    : whole  ? _mm256_loadu_ps(a + VEC)
                             : _mm256_maskload_ps(a + VEC, mask1);
        UNROLL for (int j = 0; j < COLS; j++) {
            __m256 x = _mm256_broadcast_ss(b + j);
            acc[j][0] = _mm256_fmadd_ps(x, a0, acc[j][0]);
            if (VECS > 1) acc[j][1] = _mm256_fmadd_ps(x, a1, acc[j][1]);
        }
    }
    float *s = job->sums + (size_t)col * VECS * VEC;
    UNROLL for (int j = 0; j < COLS; j++)
        UNROLL for (int v = 0; v < VECS; v++) {
            float *q = s + (j * VECS + v) * VEC;
            _mm256_store_ps(q, _mm256_add_ps(_mm256_load_ps(q), acc[j][v]));
        }
}

#define TALL_CASE(n, vecs) \
    case n: tall_block(job, col, n, vecs, p0, p1); break;

/* tall_block with COLS and VECS as constants, so the accumulators stay in
 * registers. */
static AVX2 void tall_cols(const Job *job, int col, int cols, int p0, int p1) {
    if (job->vecs == 1) {
        switch (cols) {
            TALL_CASE(1, 1) TALL_CASE(2, 1) TALL_CASE(3, 1) TALL_CASE(4, 1)
            TALL_CASE(5, 1) TALL_CASE(6, 1) TALL_CASE(7, 1) TALL_CASE(8, 1)
            TALL_CASE(9, 1) TALL_CASE(10, 1) TALL_CASE(11, 1) TALL_CASE(12, 1)
        default: break;
        }
        return;
    }
    switch (cols) {
        TALL_CASE(1, 2) TALL_CASE(2, 2) TALL_CASE(3, 2)
        TALL_CASE(4, 2) TALL_CASE(5, 2) TALL_CASE(6, 2)
    default: break;
    }
}
#undef TALL_CASE

/* C's columns [lo, hi): blocks of at most 12 / vecs columns, as even as
 * they come, for every 256 terms in turn; then C = alpha sums + beta C. */
static AVX2 void tall_part(void *ctx, int part) {
    const Job *job = ctx;
    const Gemm *g = &job->g;
    int lo, hi;
    part_range(g->n, job->parts, part, 1, &lo, &hi);
    int width = hi - lo, most = TALL_ACCUMULATORS / job->vecs;
    int blocks = (width + most - 1) / most;
    for (int p0 = 0; p0 < g->k; p0 += TALL_BLOCK_K) {
        int p1 = g->k - p0 < TALL_BLOCK_K ? g->k : p0 + TALL_BLOCK_K;
        for (int q = 0, col = lo; q < blocks; q++) {
            int end = lo + (int)((long long)width * (q + 1) / blocks);
            tall_cols(job, col, end - col, p0, p1);
            col = end;
        }
    }
    for (int col = lo; col < hi; col++)
        for (int i = 0; i < g->m; i++) {
            float s = g->alpha * job->sums[(size_t)col * (size_t)job->vecs * VEC + (size_t)i];
            float *c = g->c + (size_t)i * (size_t)g->ldc + col;
            *c = g->beta != 0.0f ? s + g->beta * *c : s;
        }
}

/* ---- tall and wide: C = A^T B, m <= 16, n >= 32 ------------------------------------- */

/* Adds to sums rows [i, i + ROWS) x VECS vectors of columns from `col`
 * (the last vector `lanes` wide) the terms p0 <= p < p1: A[p, i + r] B[p, col:]. */
INLINE_AVX2 void wide_block(const Job *job, int i, int col, const int ROWS, const int VECS,
                            int lanes, int p0, int p1) {
    const Gemm *g = &job->g;
    __m256 acc[4][3];
    UNROLL for (int r = 0; r < ROWS; r++)
        UNROLL for (int v = 0; v < VECS; v++) acc[r][v] = _mm256_setzero_ps();
    __m256i mask = mask_of(lanes);
    const float *a = g->a + (size_t)p0 * (size_t)g->lda + i;
    const float *b = g->b + (size_t)p0 * (size_t)g->ldb + col;
    for (int p = p0; p < p1; p++, a += g->lda, b += g->ldb) {
        /* Never past B's last row: a prefetch into a page that is not
         * mapped costs a page walk on AMD (16 x 784 x 64 ran at half speed,
         * 90 against 46 us, when B ended where its mapping did). */
        const float *ahead = p + PREFETCH_ROWS < g->k ? b + PREFETCH_ROWS * (size_t)g->ldb : b;
        _mm_prefetch((const char *)ahead, _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + VECS * VEC - 1), _MM_HINT_T0);
        if (VECS > 2) _mm_prefetch((const char *)(ahead + 2 * VEC), _MM_HINT_T0);
        __m256 bv[3];
        UNROLL for (int v = 0; v < VECS; v++)
            bv[v] = v == VECS - 1 && lanes < VEC ? _mm256_maskload_ps(b + v * VEC, mask)
                                                 : _mm256_loadu_ps(b + v * VEC);
        UNROLL for (int r = 0; r < ROWS; r++) {
            __m256 x = _mm256_broadcast_ss(a + r);
            UNROLL for (int v = 0; v < VECS; v++)
                acc[r][v] = _mm256_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
    UNROLL for (int r = 0; r < ROWS; r++) {
        float *s = job->sums + (size_t)(i + r) * (size_t)job->vecs * VEC + col;
        UNROLL for (int v = 0; v < VECS; v++)
            _mm256_storeu_ps(s + v * VEC, _mm256_add_ps(_mm256_loadu_ps(s + v * VEC), acc[r][v]));
    }
}

/* Every row of C for the columns [lo, hi) and the terms [p0, p1). */
INLINE_AVX2 void wide_rows(const Job *job, int i, const int ROWS, int lo, int hi, int p0,
                           int p1) {
    int col = lo;
    for (; col + 3 * VEC <= hi; col += 3 * VEC) wide_block(job, i, col, ROWS, 3, VEC, p0, p1);
    for (; col < hi; col += VEC) wide_block(job, i, col, ROWS, 1, hi - col, p0, p1);
}

/* C's columns [lo, hi) (whole vectors but the last): for every 256 terms
 * in turn, blocks of 4 rows x 24 columns; then C = alpha sums + beta C. */
static AVX2 void wide_part(void *ctx, int part) {
    const Job *job = ctx;
    const Gemm *g = &job->g;
    int lo, hi;
    part_range(g->n, job->parts, part, VEC, &lo, &hi);
    for (int p0 = 0; p0 < g->k; p0 += TALL_BLOCK_K) {
        int p1 = g->k - p0 < TALL_BLOCK_K ? g->k : p0 + TALL_BLOCK_K, i = 0;

        for (; i + 4 <= g->m; i += 4) wide_rows(job, i, 4, lo, hi, p0, p1);
        for (; i < g->m; i++) wide_rows(job, i, 1, lo, hi, p0, p1);
    }
    for (int i = 0; i < g->m; i++) {
        const float *s = job->sums + (size_t)i * (size_t)job->vecs * VEC;
        float *c = g->c + (size_t)i * (size_t)g->ldc;
        for (int col = lo; col < hi; col += VEC)
            store_vec(c + col, _mm256_loadu_ps(s + col), hi - col, g->alpha, g->beta);
    }
}

/* ---- running a product ------------------------------------------------------------------ */

/* How many parts of `len` rows or columns (at least `least` each) to cut
 * the product into. */
static int parts_for(const Gemm *g, int threads, int len, int least) {
    if (threads < 2 || (double)g->m * g->n * g->k < MIN_SPLIT_MACS) return 1;
    int most = len / least;
    if (threads > AAIRT_POOL_MAX_THREADS) threads = AAIRT_POOL_MAX_THREADS;
    return most < 2 ? 1 : most < threads ? most : threads;
}

static void job_run(Job *job, AairtPartFn fn) {
    if (job->parts < 2) fn(job, 0);
    else aairt_pool_run(fn, job, job->parts);
}

bool aairt_gemm_small_run(const Gemm *g, int threads) {
    Kind kind = kind_of(g);
    if (kind == KIND_NONE || !aairt_cpu_has_avx2_fma()) return false;
    Job job = {.g = *g, .vecs = 1};
    switch (kind) {
    case KIND_NARROW:
        job.vecs = (g->n + VEC - 1) / VEC;
        job.packed = narrow_pack(g, job.vecs);
        if (!job.packed) return false;
        job.parts = parts_for(g, threads, g->m, ROWS_PER_PART);
        job_run(&job, narrow_part);
        return true;
    case KIND_SHORT:
        job.parts = parts_for(g, threads, g->m, ROWS_PER_PART);
        job_run(&job, short_part);
        return true;
    case KIND_TALL: {
        job.vecs = (g->m + VEC - 1) / VEC;
        size_t floats = (size_t)g->n * (size_t)job.vecs * VEC;
        job.sums = aairt_scratch(AAIRT_SCRATCH_GEMM, floats * sizeof *job.sums);
        if (!job.sums) return false;
        memset(job.sums, 0, floats * sizeof *job.sums);
        job.parts = parts_for(g, threads, g->n, 1);
        job_run(&job, tall_part);
        return true;
    }
    case KIND_WIDE: {
        job.vecs = (g->n + VEC - 1) / VEC; /* a row of sums */
        size_t floats = (size_t)g->m * (size_t)job.vecs * VEC;
        job.sums = aairt_scratch(AAIRT_SCRATCH_GEMM, floats * sizeof *job.sums);
        if (!job.sums) return false;
        memset(job.sums, 0, floats * sizeof *job.sums);
        job.parts = parts_for(g, threads, job.vecs, 1);
        job_run(&job, wide_part);
        return true;
    }
    case KIND_NONE: break;
    }
    return false;
}

#else /* no AVX2 kernels for this target: OpenBLAS does every product */

bool aairt_gemm_small_run(const Gemm *g, int threads) {
    (void)g;
    (void)threads;
    return false;
}

#endif
