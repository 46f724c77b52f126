/* scratch.c - per-thread working memory for libaairt's helpers (scratch.h). */
#include "scratch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

enum { SCRATCH_ALIGN = 64 };

typedef struct Block {
    void *p;
    size_t cap;
} Block;

typedef struct Blocks {
    Block use[AAIRT_SCRATCH_USES];
} Blocks;

/* The calling thread's blocks: found through the key, whose destructor
 * frees them when the thread exits; thread_blocks caches the lookup. A
 * per-thread pointer, like the OpenBLAS warm-up flag in blas.c, is
 * process-wide state by nature. */
static pthread_key_t blocks_key;
static pthread_once_t blocks_once = PTHREAD_ONCE_INIT;
static bool key_ok;
static _Thread_local Blocks *thread_blocks;

static void blocks_free(void *arg) {
    Blocks *b = arg;
    for (int i = 0; i < AAIRT_SCRATCH_USES; i++) free(b->use[i].p);
    free(b);
}

/* The main thread never runs key destructors (it leaves through exit()). */
static void main_blocks_free(void) {
    if (!thread_blocks) return;
    pthread_setspecific(blocks_key, NULL);
    blocks_free(thread_blocks);
    thread_blocks = NULL;
}

static void key_init(void) {
    key_ok = pthread_key_create(&blocks_key, blocks_free) == 0;
    if (key_ok) atexit(main_blocks_free);
}

static Blocks *blocks_of_thread(void) {
    if (thread_blocks) return thread_blocks;
    pthread_once(&blocks_once, key_init);
    if (!key_ok) return NULL;
    Blocks *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (pthread_setspecific(blocks_key, b) != 0) {
        free(b);
        return NULL;
    }
    thread_blocks = b;
    return b;
}

void *aairt_scratch(AairtScratchUse use, size_t bytes) {
    Blocks *b = blocks_of_thread();
    if (!b || use < 0 || use >= AAIRT_SCRATCH_USES) return NULL;
    Block *k = &b->use[use];
    if (bytes <= k->cap && k->p) return k->p;
    size_t cap = (bytes + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    if (cap == 0) cap = SCRATCH_ALIGN;
    void *p = aligned_alloc(SCRATCH_ALIGN, cap);
    if (!p) return NULL;
    free(k->p);
    k->p = p;
    k->cap = cap;
    return p;
}
