/* test_scratch.c - libaairt's per-thread working memory (runtime/src/
 * scratch.c): a block is reused while it is big enough, grows when asked
 * for more, is 64-byte aligned, and is its own per use and per thread. A
 * thread's blocks are freed when it exits (the sanitizer pass of the
 * tests reports a leak otherwise). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "scratch.h"

static bool aligned64(const void *p) { return ((uintptr_t)p & 63) == 0; }

Test(scratch, reused_while_big_enough_and_grown_when_not) {
    char *a = aairt_scratch(AAIRT_SCRATCH_WINDOW, 1000);
    cr_assert(a && aligned64(a));
    memset(a, 1, 1000);
    cr_expect_eq(aairt_scratch(AAIRT_SCRATCH_WINDOW, 10), a, "a smaller request reuses the block");
    cr_expect_eq(aairt_scratch(AAIRT_SCRATCH_WINDOW, 1000), a, "so does the same size");
    char *b = aairt_scratch(AAIRT_SCRATCH_WINDOW, 1 << 20);
    cr_assert(b && aligned64(b));
    memset(b, 2, 1 << 20); /* all of it is usable */
    cr_expect_eq(aairt_scratch(AAIRT_SCRATCH_WINDOW, 4096), b, "the grown block is kept");
}

Test(scratch, uses_do_not_share_a_block) {
    char *w = aairt_scratch(AAIRT_SCRATCH_WINDOW, 256), *g = aairt_scratch(AAIRT_SCRATCH_GEMM, 256);
    cr_assert(w && g);
    cr_expect_neq(w, g);
}

static void *other_thread(void *arg) {
    char *mine = aairt_scratch(AAIRT_SCRATCH_GEMM, 512);
    if (mine) memset(mine, 3, 512);
    *(void **)arg = mine;
    return NULL;
}

Test(scratch, each_thread_has_its_own_and_frees_it_on_exit) {
    char *main_block = aairt_scratch(AAIRT_SCRATCH_GEMM, 512);
    cr_assert(main_block);
    memset(main_block, 4, 512);
    void *seen = NULL;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, other_thread, &seen), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_expect_not_null(seen);
    cr_expect_neq(seen, (void *)main_block, "another thread got its own block");
    for (int i = 0; i < 512; i++)
        cr_assert_eq(main_block[i], 4, "this thread's block untouched at %d", i);
}
