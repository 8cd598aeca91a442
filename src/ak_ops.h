/* The interface adapters, written once: each allocator X whose object type
 * is X and whose calls are X_init, X_alloc, ... gets its const ops table and
 * its X_as_byte / X_as_page / X_as_id from one macro line. The adapters only
 * convert `void *self` back to the object type; they are what the
 * ak_byte_* / ak_page_* / ak_id_* dispatch in core.c calls. Freestanding. */
#ifndef AK_OPS_H
#define AK_OPS_H

#include <allockit/core.h>

/* The adapters every interface shares: init, add_memory and the checker. */
#define AK_BASE_ADAPTERS_(X)                                                                       \
    static ak_error X##_op_init(void *s, uintptr_t start, size_t size)                             \
    {                                                                                              \
        return X##_init((X *)s, start, size);                                                      \
    }                                                                                              \
    static ak_error X##_op_add_memory(void *s, uintptr_t start, size_t size)                       \
    {                                                                                              \
        return X##_add_memory((X *)s, start, size);                                                \
    }                                                                                              \
    static const char *X##_op_check(const void *s)                                                 \
    {                                                                                              \
        return X##_check((const X *)s);                                                            \
    }

/* The walk and stats adapters of X, whose X_walk(const X *, ak_walker,
 * void *) and X_stats(const X *, struct ak_KIND_stats *) cannot fail. */
#define AK_INSPECT_ADAPTERS_(X, KIND)                                                              \
    static ak_error X##_op_walk(const void *s, ak_walker fn, void *ctx)                            \
    {                                                                                              \
        X##_walk((const X *)s, fn, ctx);                                                           \
        return AK_OK;                                                                              \
    }                                                                                              \
    static void X##_op_stats(const void *s, struct ak_##KIND##_stats *out)                         \
    {                                                                                              \
        X##_stats((const X *)s, out);                                                              \
    }

/* A byte allocator with the optional ops resize, usable_size, check, walk
 * and stats. */
#define AK_DEFINE_BYTE_ALLOCATOR(X, NAME)                                                          \
    AK_INSPECT_ADAPTERS_(X, byte)                                                                  \
    AK_DEFINE_BYTE_OPS_(X, NAME, .cache = 0, .uncache = 0, .walk = X##_op_walk,                    \
                        .stats = X##_op_stats)

/* The adapters and ops table; the trailing arguments are extra designated
 * initialisers for the table. */
#define AK_DEFINE_BYTE_OPS_(X, NAME, ...)                                                          \
    AK_BASE_ADAPTERS_(X)                                                                           \
    static ak_error X##_op_alloc(void *s, size_t size, size_t align, void **out)                   \
    {                                                                                              \
        return X##_alloc((X *)s, size, align, out);                                                \
    }                                                                                              \
    static ak_error X##_op_dealloc(void *s, void *ptr, size_t size, size_t align)                  \
    {                                                                                              \
        return X##_dealloc((X *)s, ptr, size, align);                                              \
    }                                                                                              \
    static size_t X##_op_total_bytes(const void *s)                                                \
    {                                                                                              \
        return X##_total_bytes((const X *)s);                                                      \
    }                                                                                              \
    static size_t X##_op_used_bytes(const void *s)                                                 \
    {                                                                                              \
        return X##_used_bytes((const X *)s);                                                       \
    }                                                                                              \
    static size_t X##_op_available_bytes(const void *s)                                            \
    {                                                                                              \
        return X##_available_bytes((const X *)s);                                                  \
    }                                                                                              \
    static ak_error X##_op_resize(void *s, void *ptr, size_t old_size, size_t align,               \
                                  size_t new_size)                                                 \
    {                                                                                              \
        return X##_resize((X *)s, ptr, old_size, align, new_size);                                 \
    }                                                                                              \
    static size_t X##_op_usable_size(const void *s, const void *ptr, size_t size, size_t align)    \
    {                                                                                              \
        return X##_usable_size((const X *)s, ptr, size, align);                                    \
    }                                                                                              \
    static const ak_byte_allocator_ops X##_byte_ops = {.name = NAME,                               \
                                                       .init = X##_op_init,                        \
                                                       .add_memory = X##_op_add_memory,            \
                                                       .alloc = X##_op_alloc,                      \
                                                       .dealloc = X##_op_dealloc,                  \
                                                       .total_bytes = X##_op_total_bytes,          \
                                                       .used_bytes = X##_op_used_bytes,            \
                                                       .available_bytes = X##_op_available_bytes,  \
                                                       .resize = X##_op_resize,                    \
                                                       .usable_size = X##_op_usable_size,          \
                                                       .check = X##_op_check,                      \
                                                       __VA_ARGS__};                               \
    ak_byte_allocator X##_as_byte(X *a)                                                            \
    {                                                                                              \
        ak_byte_allocator h = {&X##_byte_ops, a};                                                  \
        return h;                                                                                  \
    }

/* The cache-hook adapters of X (X_cache, X_uncache and X_cache_key). */
#define AK_CACHE_ADAPTERS_(X)                                                                      \
    static ak_error X##_op_cache(void *s, void *ptr, size_t size, size_t align)                    \
    {                                                                                              \
        return X##_cache((X *)s, ptr, size, align);                                                \
    }                                                                                              \
    static void X##_op_uncache(void *s, void *ptr, size_t size, size_t align)                      \
    {                                                                                              \
        X##_uncache((X *)s, ptr, size, align);                                                     \
    }                                                                                              \
    static const uintptr_t *X##_op_cache_key(const void *s)                                        \
    {                                                                                              \
        return X##_cache_key((const X *)s);                                                        \
    }

/* A byte allocator with every optional op: the cache hooks, walk and
 * stats included. */
#define AK_DEFINE_BYTE_ALLOCATOR_FULL(X, NAME)                                                     \
    AK_CACHE_ADAPTERS_(X)                                                                          \
    AK_INSPECT_ADAPTERS_(X, byte)                                                                  \
    AK_DEFINE_BYTE_OPS_(X, NAME, .cache = X##_op_cache, .uncache = X##_op_uncache,                 \
                        .walk = X##_op_walk, .stats = X##_op_stats, .cache_key = X##_op_cache_key)

/* A page allocator (with its checker, walk and stats). */
#define AK_DEFINE_PAGE_ALLOCATOR(X, NAME)                                                          \
    AK_BASE_ADAPTERS_(X)                                                                           \
    AK_INSPECT_ADAPTERS_(X, page)                                                                  \
    static ak_error X##_op_alloc_pages(void *s, size_t n, size_t align_pow2, uintptr_t *out)       \
    {                                                                                              \
        return X##_alloc_pages((X *)s, n, align_pow2, out);                                        \
    }                                                                                              \
    static ak_error X##_op_alloc_pages_at(void *s, uintptr_t base, size_t n, size_t align_pow2,    \
                                          uintptr_t *out)                                          \
    {                                                                                              \
        return X##_alloc_pages_at((X *)s, base, n, align_pow2, out);                               \
    }                                                                                              \
    static ak_error X##_op_dealloc_pages(void *s, uintptr_t pos, size_t n)                         \
    {                                                                                              \
        return X##_dealloc_pages((X *)s, pos, n);                                                  \
    }                                                                                              \
    static size_t X##_op_total_pages(const void *s)                                                \
    {                                                                                              \
        return X##_total_pages((const X *)s);                                                      \
    }                                                                                              \
    static size_t X##_op_used_pages(const void *s)                                                 \
    {                                                                                              \
        return X##_used_pages((const X *)s);                                                       \
    }                                                                                              \
    static size_t X##_op_available_pages(const void *s)                                            \
    {                                                                                              \
        return X##_available_pages((const X *)s);                                                  \
    }                                                                                              \
    static size_t X##_op_page_size(const void *s)                                                  \
    {                                                                                              \
        return X##_page_size((const X *)s);                                                        \
    }                                                                                              \
    static const ak_page_allocator_ops X##_page_ops = {                                            \
        .name = NAME,                                                                              \
        .init = X##_op_init,                                                                       \
        .add_memory = X##_op_add_memory,                                                           \
        .alloc_pages = X##_op_alloc_pages,                                                         \
        .alloc_pages_at = X##_op_alloc_pages_at,                                                   \
        .dealloc_pages = X##_op_dealloc_pages,                                                     \
        .total_pages = X##_op_total_pages,                                                         \
        .used_pages = X##_op_used_pages,                                                           \
        .available_pages = X##_op_available_pages,                                                 \
        .page_size = X##_op_page_size,                                                             \
        .check = X##_op_check,                                                                     \
        .walk = X##_op_walk,                                                                       \
        .stats = X##_op_stats,                                                                     \
    };                                                                                             \
    ak_page_allocator X##_as_page(X *a)                                                            \
    {                                                                                              \
        ak_page_allocator h = {&X##_page_ops, a};                                                  \
        return h;                                                                                  \
    }

/* An ID allocator (with its checker, walk and stats). */
#define AK_DEFINE_ID_ALLOCATOR(X, NAME)                                                            \
    AK_BASE_ADAPTERS_(X)                                                                           \
    AK_INSPECT_ADAPTERS_(X, id)                                                                    \
    static ak_error X##_op_alloc_id(void *s, size_t count, size_t align_pow2, size_t *out)         \
    {                                                                                              \
        return X##_alloc_id((X *)s, count, align_pow2, out);                                       \
    }                                                                                              \
    static ak_error X##_op_dealloc_id(void *s, size_t start_id, size_t count)                      \
    {                                                                                              \
        return X##_dealloc_id((X *)s, start_id, count);                                            \
    }                                                                                              \
    static bool X##_op_is_allocated(const void *s, size_t id)                                      \
    {                                                                                              \
        return X##_is_allocated((const X *)s, id);                                                 \
    }                                                                                              \
    static ak_error X##_op_alloc_fixed_id(void *s, size_t id)                                      \
    {                                                                                              \
        return X##_alloc_fixed_id((X *)s, id);                                                     \
    }                                                                                              \
    static size_t X##_op_size(const void *s)                                                       \
    {                                                                                              \
        return X##_size((const X *)s);                                                             \
    }                                                                                              \
    static size_t X##_op_used(const void *s)                                                       \
    {                                                                                              \
        return X##_used((const X *)s);                                                             \
    }                                                                                              \
    static size_t X##_op_available(const void *s)                                                  \
    {                                                                                              \
        return X##_available((const X *)s);                                                        \
    }                                                                                              \
    static const ak_id_allocator_ops X##_id_ops = {                                                \
        .name = NAME,                                                                              \
        .init = X##_op_init,                                                                       \
        .add_memory = X##_op_add_memory,                                                           \
        .alloc_id = X##_op_alloc_id,                                                               \
        .dealloc_id = X##_op_dealloc_id,                                                           \
        .is_allocated = X##_op_is_allocated,                                                       \
        .alloc_fixed_id = X##_op_alloc_fixed_id,                                                   \
        .size = X##_op_size,                                                                       \
        .used = X##_op_used,                                                                       \
        .available = X##_op_available,                                                             \
        .check = X##_op_check,                                                                     \
        .walk = X##_op_walk,                                                                       \
        .stats = X##_op_stats,                                                                     \
    };                                                                                             \
    ak_id_allocator X##_as_id(X *a)                                                                \
    {                                                                                              \
        ak_id_allocator h = {&X##_id_ops, a};                                                      \
        return h;                                                                                  \
    }

#endif /* AK_OPS_H */
