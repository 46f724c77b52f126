/* alloc_count.c - an LD_PRELOAD library that counts the heap allocations
 * of a process (malloc, calloc, realloc, aligned_alloc, posix_memalign)
 * and prints "allocations N" to stderr at exit. tests/e2e/no_alloc.sh runs
 * a training for 1 and for 3 epochs under it: a warmed training step
 * allocates nothing, so the counts must be equal. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long allocations;

/* dlsym itself may call calloc before the real one is known: those few
 * bytes come from here and are never freed. */
static char early[4096];
static size_t early_used;

static void *early_alloc(size_t n) {
    size_t at = early_used;
    early_used += (n + 15) & ~(size_t)15;
    return early_used <= sizeof early ? early + at : NULL;
}

static bool is_early(const void *p) {
    return (const char *)p >= early && (const char *)p < early + sizeof early;
}

typedef void *(*MallocFn)(size_t);
typedef void *(*ReallocFn)(void *, size_t);
typedef void *(*AlignedFn)(size_t, size_t);
typedef int (*MemalignFn)(void **, size_t, size_t);
typedef void (*FreeFn)(void *);

/* The next definition of `name` (libc's), looked up once. */
static void *next(const char *name, void **cache) {
    if (!*cache) *cache = dlsym(RTLD_NEXT, name);
    return *cache;
}

void *malloc(size_t n) {
    static void *real;
    atomic_fetch_add(&allocations, 1);
    return ((MallocFn)next("malloc", &real))(n);
}

void *calloc(size_t count, size_t size) {
    static _Thread_local int resolving;
    static void *real;
    if (!real) {
        if (resolving) return early_alloc(count * size);
        resolving = 1;
        next("calloc", &real);
        resolving = 0;
    }
    atomic_fetch_add(&allocations, 1);
    return ((AlignedFn)real)(count, size);
}

void *realloc(void *p, size_t n) {
    static void *real;
    atomic_fetch_add(&allocations, 1);
    return ((ReallocFn)next("realloc", &real))(p, n);
}

void *aligned_alloc(size_t align, size_t n) {
    static void *real;
    atomic_fetch_add(&allocations, 1);
    return ((AlignedFn)next("aligned_alloc", &real))(align, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
    static void *real;
    atomic_fetch_add(&allocations, 1);
    return ((MemalignFn)next("posix_memalign", &real))(out, align, n);
}

void free(void *p) {
    static void *real;
    if (is_early(p)) return;
    ((FreeFn)next("free", &real))(p);
}

__attribute__((destructor)) static void report(void) {
    fprintf(stderr, "allocations %ld\n", atomic_load(&allocations));
}
