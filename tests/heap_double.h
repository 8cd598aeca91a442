/* A test double for the byte-allocator interface, used by the ak_heap
 * tests so that the heap's own logic is exercised whatever allocators this
 * build contains (and with an allocator whose behaviour is obvious).
 *
 * "Segregated bump": blocks are cut from the newest region with a bump
 * pointer; freed blocks of up to 4 KiB (alignment <= 16) go to an exact
 * size list per 16-byte step and are reused from there; larger blocks are
 * rounded up to a power of two and kept on one list per power, tagged with
 * their alignment (a request takes the first block at least as aligned).
 * No headers: dealloc is given the size. resize succeeds when the rounded
 * size does not change. Not thread-safe (the heap locks around it), except
 * for the cache hooks (core.h), which read nothing but the count of live
 * blocks and mark a block in its first two words, so that the heap's
 * magazines run over the double too. */
#ifndef AK_HEAP_DOUBLE_H
#define AK_HEAP_DOUBLE_H

#include <allockit/core.h>
#include <string.h>

#define DBL_STEP  16u
#define DBL_SMALL 4096u

typedef struct dbl_big {
    struct dbl_big *next;
    size_t align;
} dbl_big;

typedef struct dbl_alloc {
    uintptr_t cur, end;
    size_t total, used;
    void *small[DBL_SMALL / DBL_STEP + 1];
    dbl_big *big[sizeof(size_t) * 8];
    unsigned long live;
} dbl_alloc;

static size_t dbl_round(size_t size, size_t align)
{
    size_t s = size ? size : 1;
    s = (s + DBL_STEP - 1) & ~(size_t)(DBL_STEP - 1);
    if (s > DBL_SMALL || align > DBL_STEP) {
        size_t p = DBL_STEP;
        while (p < s)
            p *= 2;
        s = p;
    }
    return s;
}

static unsigned dbl_log2(size_t x)
{
    unsigned n = 0;
    while (x >>= 1)
        n++;
    return n;
}

static ak_error dbl_add_memory(void *self, uintptr_t start, size_t size)
{
    dbl_alloc *a = self;
    uintptr_t s = (start + DBL_STEP - 1) & ~(uintptr_t)(DBL_STEP - 1);
    if (size < 64 || s - start > size - 64)
        return AK_ERR_INVALID_PARAM;
    a->cur = s;
    a->end = start + size;
    a->total += (size_t)(a->end - s);
    return AK_OK;
}

static ak_error dbl_alloc_fn(void *self, size_t size, size_t align, void **out)
{
    dbl_alloc *a = self;
    if (!align || (align & (align - 1)) || size > SIZE_MAX / 2)
        return AK_ERR_INVALID_PARAM;
    size_t r = dbl_round(size, align);
    if (r <= DBL_SMALL && align <= DBL_STEP && a->small[r / DBL_STEP]) {
        void *p = a->small[r / DBL_STEP];
        a->small[r / DBL_STEP] = *(void **)p;
        *out = p;
        a->used += size;
        __atomic_store_n(&a->live, a->live + 1, __ATOMIC_RELAXED); /* the hook reads it unlocked */
        return AK_OK;
    }
    if (r > DBL_SMALL || align > DBL_STEP) {
        for (dbl_big **pp = &a->big[dbl_log2(r)]; *pp; pp = &(*pp)->next) {
            if ((*pp)->align >= align) {
                void *p = *pp;
                *pp = (*pp)->next;
                *out = p;
                a->used += size;
                __atomic_store_n(&a->live, a->live + 1,
                                 __ATOMIC_RELAXED); /* the hook reads it unlocked */
                return AK_OK;
            }
        }
    }
    uintptr_t p = (a->cur + align - 1) & ~(uintptr_t)(align - 1);
    if (p < a->cur || p > a->end || a->end - p < r)
        return AK_ERR_NO_MEMORY;
    a->cur = p + r;
    a->used += size;
    __atomic_store_n(&a->live, a->live + 1, __ATOMIC_RELAXED); /* the hook reads it unlocked */
    *out = (void *)p;
    return AK_OK;
}

static ak_error dbl_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    dbl_alloc *a = self;
    size_t r = dbl_round(size, align);
    if (!ptr || !a->live)
        return AK_ERR_NOT_ALLOCATED;
    if (r <= DBL_SMALL && align <= DBL_STEP) {
        *(void **)ptr = a->small[r / DBL_STEP];
        a->small[r / DBL_STEP] = ptr;
    } else {
        dbl_big *b = ptr;
        b->align = align;
        b->next = a->big[dbl_log2(r)];
        a->big[dbl_log2(r)] = b;
    }
    a->used -= size;
    __atomic_store_n(&a->live, a->live - 1, __ATOMIC_RELAXED);
    return AK_OK;
}

static ak_error dbl_init(void *self, uintptr_t start, size_t size)
{
    memset(self, 0, sizeof(dbl_alloc));
    return dbl_add_memory(self, start, size);
}

static size_t dbl_total(const void *self)
{
    return ((const dbl_alloc *)self)->total;
}

static size_t dbl_used(const void *self)
{
    return ((const dbl_alloc *)self)->used;
}

static size_t dbl_available(const void *self)
{
    return dbl_total(self) - dbl_used(self);
}

static ak_error dbl_resize(void *self, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    dbl_alloc *a = self;
    (void)ptr;
    if (dbl_round(old_size, align) != dbl_round(new_size, align))
        return AK_ERR_NO_MEMORY;
    a->used = a->used - old_size + new_size;
    return AK_OK;
}

static size_t dbl_usable(const void *self, const void *ptr, size_t size, size_t align)
{
    (void)self;
    (void)ptr;
    return dbl_round(size, align);
}

static const char *dbl_check(const void *self)
{
    const dbl_alloc *a = self;
    if (a->used > a->total)
        return "double: used exceeds total";
    if (a->cur > a->end)
        return "double: bump pointer past the region";
    return NULL;
}

/* The mark of a cached block at p: a hash of p and the double's address,
 * and its complement. */
static uintptr_t dbl_mark(const dbl_alloc *a, uintptr_t p)
{
    uintptr_t x = (p ^ (uintptr_t)a) * (uintptr_t)0x9e3779b97f4a7c15ull;
    return x ^ (x >> 13);
}

/* Checked as dealloc checks (a double with live blocks), then marked;
 * a block marked already is refused. */
static ak_error dbl_cache(void *self, void *ptr, size_t size, size_t align)
{
    dbl_alloc *a = self;
    (void)size;
    (void)align;
    if (!ptr || !__atomic_load_n(&a->live, __ATOMIC_RELAXED))
        return AK_ERR_NOT_ALLOCATED;
    uintptr_t *w = ptr, m = dbl_mark(a, (uintptr_t)ptr);
    if (w[0] == m && w[1] == ~m)
        return AK_ERR_NOT_ALLOCATED;
    w[0] = m;
    w[1] = ~m;
    return AK_OK;
}

static void dbl_uncache(void *self, void *ptr, size_t size, size_t align)
{
    (void)self;
    (void)size;
    (void)align;
    uintptr_t *w = ptr;
    w[0] = w[1] = 0;
}

static const ak_byte_allocator_ops dbl_ops = {
    .name = "double",
    .init = dbl_init,
    .add_memory = dbl_add_memory,
    .alloc = dbl_alloc_fn,
    .dealloc = dbl_dealloc,
    .total_bytes = dbl_total,
    .used_bytes = dbl_used,
    .available_bytes = dbl_available,
    .resize = dbl_resize,
    .usable_size = dbl_usable,
    .check = dbl_check,
    .cache = dbl_cache,
    .uncache = dbl_uncache,
};

static inline ak_byte_allocator dbl_as_byte(dbl_alloc *a)
{
    ak_byte_allocator h = {&dbl_ops, a};
    return h;
}

#endif /* AK_HEAP_DOUBLE_H */
