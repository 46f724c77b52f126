/* arena.h - bump allocator owning every AST and IR object of one compilation.
 *
 * Objects are never freed one by one; arena_free releases the whole
 * compilation at once. Allocation failure aborts (out of memory is not a
 * user error we can report usefully). */
#ifndef AAI_ARENA_H
#define AAI_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct Arena {
    ArenaBlock *head; /* newest block; older blocks chain behind it */
} Arena;

/* Returns zeroed memory of `size` bytes, 16-byte aligned, owned by `a`. */
void *arena_alloc(Arena *a, size_t size);
/* Copies `s` (NUL-terminated) into the arena. */
char *arena_strdup(Arena *a, const char *s);
/* Copies the first `n` bytes of `s` and terminates the copy. */
char *arena_strndup(Arena *a, const char *s, size_t n);
/* printf into arena memory. */
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Releases every block; the arena may be reused afterwards. */
void arena_free(Arena *a);

/* Growable array of pointers whose storage lives in an arena. */
typedef struct PtrVec {
    void **items;
    size_t len, cap;
} PtrVec;

void ptrvec_push(Arena *a, PtrVec *v, void *item);

#define ARENA_NEW(a, T) ((T *)arena_alloc((a), sizeof(T)))
#define ARENA_NEW_ARRAY(a, T, n) ((T *)arena_alloc((a), sizeof(T) * (size_t)(n)))

#endif
