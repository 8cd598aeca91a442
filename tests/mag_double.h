/* A test double behind the byte interface with the cache hooks as core.h
 * specifies them, for the tests of the magazine layer until (and beside)
 * the kit's own allocators have theirs.
 *
 * One region cut into 16-byte granules; a per-granule state table (block
 * start live or free, and its length) says what is allocated, so every
 * bad pointer is refused exactly. Free blocks are kept on lists by exact
 * length and reused by an alloc of that length; new blocks come from a
 * bump pointer; nothing coalesces, but once no block is live the whole
 * region is free again. Blocks take ceil(size / 16) + slack granules and
 * that is their usable size.
 *   slack   extra granules per block, so the usable size of a class-size
 *           request exceeds the class size (as with TLSF or buddy)
 *   strict  dealloc refuses a size that maps to another length (as the
 *           slab refuses another class); otherwise any size up to the
 *           usable size is accepted (as TLSF does)
 * cache marks a block by writing two words derived from its address and
 * the allocator into its first 16 bytes; it reads only the state table
 * and writes only inside the block, so it may run without the lock.
 * With lock_depth set, every other call checks that the caller holds the
 * lock (*lock_depth == 1) and counts the calls that do not. Hosted (the
 * tables come from calloc). */
#ifndef AK_MAG_DOUBLE_H
#define AK_MAG_DOUBLE_H

#include <allockit/core.h>
#include <stdlib.h>
#include <string.h>

#define DBL_GRAIN    ((size_t)16)
#define DBL_MAX_LIST 4200u /* exact-length lists up to this many granules */
#define DBL_FREE     1u
#define DBL_LIVE     2u

typedef struct mag_double {
    uintptr_t lo, hi, bump; /* [lo, hi) granules; [lo, bump) cut into blocks */
    size_t ngran, used, total;
    uint8_t *state; /* per granule: 0, or DBL_FREE / DBL_LIVE at a block start */
    uint32_t *len;  /* at a block start: its length in granules */
    void **list;    /* [len]: free blocks of that length, linked through them */
    void *big;      /* free blocks longer than DBL_MAX_LIST */
    uintptr_t salt;
    unsigned slack;
    bool strict;
    const int *lock_depth;
    unsigned long calls, unlocked_calls, hook_calls, live_blocks;
    unsigned long fail_allocs; /* the next this many allocs fail (NO_MEMORY) */
} mag_double;

static void dbl_note_call(mag_double *d)
{
    d->calls++;
    if (d->lock_depth && *d->lock_depth != 1)
        d->unlocked_calls++;
}

static uintptr_t dbl_mark(const mag_double *d, uintptr_t p)
{
    uintptr_t x = (p ^ d->salt) * (uintptr_t)0x9e3779b97f4a7c15ull;
    return x ^ (x >> 13);
}

static void dbl_release_tables(mag_double *d)
{
    free(d->state);
    free(d->len);
    free(d->list);
    d->state = NULL;
    d->len = NULL;
    d->list = NULL;
}

/* Every table freed: call once the double is no longer used. */
static void mag_double_destroy(mag_double *d)
{
    dbl_release_tables(d);
    memset(d, 0, sizeof *d);
}

static void dbl_reset(mag_double *d)
{
    memset(d->state, 0, d->ngran);
    memset(d->list, 0, (DBL_MAX_LIST + 1) * sizeof(void *));
    d->big = NULL;
    __atomic_store_n(&d->bump, d->lo, __ATOMIC_RELAXED);
    d->used = 0;
    d->live_blocks = 0;
}

static ak_error dbl_init(void *self, uintptr_t start, size_t size)
{
    mag_double *d = self;
    dbl_note_call(d);
    uintptr_t end;
    if (size == 0 || __builtin_add_overflow(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    uintptr_t lo = ak_align_up(start, DBL_GRAIN), hi = ak_align_down(end, DBL_GRAIN);
    if (lo < start || hi <= lo)
        return AK_ERR_INVALID_PARAM;
    size_t n = (hi - lo) / DBL_GRAIN;
    uint8_t *state = calloc(n, 1);
    uint32_t *len = calloc(n, sizeof *len);
    void **list = calloc(DBL_MAX_LIST + 1, sizeof *list);
    if (!state || !len || !list) {
        free(state);
        free(len);
        free(list);
        return AK_ERR_NO_MEMORY;
    }
    dbl_release_tables(d);
    d->state = state;
    d->len = len;
    d->list = list;
    d->lo = lo;
    d->hi = hi;
    d->ngran = n;
    d->total = hi - lo;
    /* A new salt for every init of every double: marks left in memory by
     * an earlier use do not read as cached. */
    static uintptr_t inits;
    d->salt =
        (uintptr_t)((__atomic_add_fetch(&inits, 1, __ATOMIC_RELAXED) * 0x5851f42d4c957f2dull) | 1);
    dbl_reset(d);
    return AK_OK;
}

static ak_error dbl_add_memory(void *self, uintptr_t start, size_t size)
{
    mag_double *d = self;
    dbl_note_call(d);
    uintptr_t end;
    if (size == 0 || __builtin_add_overflow(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    if (d->state && start < d->hi && d->lo < end)
        return AK_ERR_MEMORY_OVERLAP;
    return AK_ERR_INVALID_PARAM; /* one region only */
}

static size_t dbl_granules(const mag_double *d, size_t size)
{
    size_t g = size / DBL_GRAIN + (size % DBL_GRAIN != 0);
    return (g ? g : 1) + d->slack;
}

static void dbl_push_free(mag_double *d, size_t i)
{
    void **blk = (void **)(d->lo + i * DBL_GRAIN);
    void **head = d->len[i] <= DBL_MAX_LIST ? &d->list[d->len[i]] : &d->big;
    d->state[i] = DBL_FREE;
    blk[0] = *head;
    *head = blk;
}

static ak_error dbl_alloc(void *self, size_t size, size_t align, void **out)
{
    mag_double *d = self;
    dbl_note_call(d);
    if (!out || !ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    if (!d->state || size > d->total || align > d->total)
        return AK_ERR_NO_MEMORY;
    if (d->fail_allocs) {
        d->fail_allocs--;
        return AK_ERR_NO_MEMORY;
    }
    size_t g = dbl_granules(d, size), i;
    void **head = g <= DBL_MAX_LIST ? &d->list[g] : &d->big;
    void **link = head;
    while (*link && !(ak_is_aligned((uintptr_t)*link, align) &&
                      d->len[((uintptr_t)*link - d->lo) / DBL_GRAIN] == g))
        link = (void **)*link;
    if (*link) {
        uintptr_t p = (uintptr_t)*link;
        *link = *(void **)p;
        i = (p - d->lo) / DBL_GRAIN;
    } else {
        uintptr_t p = ak_align_up(d->bump, align);
        if (p < d->bump || p > d->hi || g > (d->hi - p) / DBL_GRAIN)
            return AK_ERR_NO_MEMORY;
        if (p > d->bump) { /* the gap in front becomes a free block */
            size_t gi = (d->bump - d->lo) / DBL_GRAIN;
            d->len[gi] = (uint32_t)((p - d->bump) / DBL_GRAIN);
            dbl_push_free(d, gi);
        }
        i = (p - d->lo) / DBL_GRAIN;
        d->len[i] = (uint32_t)g;
        /* Read by the hooks without the lock. */
        __atomic_store_n(&d->bump, p + g * DBL_GRAIN, __ATOMIC_RELAXED);
    }
    d->state[i] = DBL_LIVE;
    d->used += g * DBL_GRAIN;
    d->live_blocks++;
    *out = (void *)(d->lo + i * DBL_GRAIN);
    return AK_OK;
}

/* The check dealloc makes: the granule index of a live block that could
 * have been allocated with (size, align). */
static ak_error dbl_find(const mag_double *d, const void *ptr, size_t size, size_t align,
                         size_t *at)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!d->state || p < d->lo || p >= __atomic_load_n(&d->bump, __ATOMIC_RELAXED) ||
        !ak_is_aligned(p - d->lo, DBL_GRAIN))
        return AK_ERR_NOT_ALLOCATED;
    size_t i = (p - d->lo) / DBL_GRAIN;
    if (d->state[i] != DBL_LIVE)
        return AK_ERR_NOT_ALLOCATED;
    if (!ak_is_pow2(align) || !ak_is_aligned(p, align))
        return AK_ERR_INVALID_PARAM;
    size_t g = dbl_granules(d, size);
    if (g > d->len[i] || (d->strict && g != d->len[i]))
        return AK_ERR_INVALID_PARAM;
    *at = i;
    return AK_OK;
}

static ak_error dbl_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    mag_double *d = self;
    dbl_note_call(d);
    size_t i;
    ak_error e = dbl_find(d, ptr, size, align, &i);
    if (e != AK_OK)
        return e;
    d->used -= (size_t)d->len[i] * DBL_GRAIN;
    d->live_blocks--;
    if (d->live_blocks == 0)
        dbl_reset(d);
    else
        dbl_push_free(d, i);
    return AK_OK;
}

static size_t dbl_total(const void *self)
{
    dbl_note_call((mag_double *)(uintptr_t)self);
    return ((const mag_double *)self)->total;
}

static size_t dbl_used(const void *self)
{
    dbl_note_call((mag_double *)(uintptr_t)self);
    return ((const mag_double *)self)->used;
}

static size_t dbl_available(const void *self)
{
    const mag_double *d = self;
    dbl_note_call((mag_double *)(uintptr_t)self);
    return d->total - d->used;
}

static size_t dbl_usable_size(const void *self, const void *ptr, size_t size, size_t align)
{
    const mag_double *d = self;
    dbl_note_call((mag_double *)(uintptr_t)self);
    size_t i;
    return dbl_find(d, ptr, size, align, &i) == AK_OK ? (size_t)d->len[i] * DBL_GRAIN : 0;
}

static ak_error dbl_cache(void *self, void *ptr, size_t size, size_t align)
{
    mag_double *d = self;
    size_t i;
    __atomic_add_fetch(&d->hook_calls, 1, __ATOMIC_RELAXED);
    ak_error e = dbl_find(d, ptr, size, align, &i);
    if (e != AK_OK)
        return e;
    uintptr_t *w = ptr, mk = dbl_mark(d, (uintptr_t)ptr);
    if (w[0] == mk && w[1] == ~mk)
        return AK_ERR_NOT_ALLOCATED;
    w[0] = mk;
    w[1] = ~mk;
    return AK_OK;
}

static void dbl_uncache(void *self, void *ptr, size_t size, size_t align)
{
    mag_double *d = self;
    (void)size;
    (void)align;
    __atomic_add_fetch(&d->hook_calls, 1, __ATOMIC_RELAXED);
    ((uintptr_t *)ptr)[0] = 0;
}

static const char *dbl_check(const void *self)
{
    const mag_double *d = self;
    dbl_note_call((mag_double *)(uintptr_t)self);
    if (!d->state)
        return d->used ? "double: used with no region" : NULL;
    size_t used = 0, live = 0, free_blocks = 0, listed = 0;
    uintptr_t p = d->lo;
    while (p < d->bump) {
        size_t i = (p - d->lo) / DBL_GRAIN;
        if (d->state[i] != DBL_LIVE && d->state[i] != DBL_FREE)
            return "double: a block start is not marked";
        if (d->len[i] == 0 || d->len[i] > (d->bump - p) / DBL_GRAIN)
            return "double: a block's length runs past the bump pointer";
        for (size_t k = 1; k < d->len[i]; k++)
            if (d->state[i + k])
                return "double: a block start inside a block";
        if (d->state[i] == DBL_LIVE) {
            used += (size_t)d->len[i] * DBL_GRAIN;
            live++;
        } else {
            free_blocks++;
        }
        p += (size_t)d->len[i] * DBL_GRAIN;
    }
    if (used != d->used || live != d->live_blocks)
        return "double: used bytes or live blocks do not match the blocks";
    for (size_t g = 0; g <= DBL_MAX_LIST + 1; g++)
        for (void *b = g <= DBL_MAX_LIST ? d->list[g] : d->big; b; b = *(void **)b) {
            size_t i = ((uintptr_t)b - d->lo) / DBL_GRAIN;
            if ((uintptr_t)b < d->lo || (uintptr_t)b >= d->bump || d->state[i] != DBL_FREE ||
                (g <= DBL_MAX_LIST ? d->len[i] != g : d->len[i] <= DBL_MAX_LIST))
                return "double: a free list holds a block that is not free or of its length";
            if (++listed > free_blocks)
                return "double: the free lists hold more blocks than are free";
        }
    if (listed != free_blocks)
        return "double: a free block is on no list";
    return NULL;
}

static const ak_byte_allocator_ops mag_double_ops = {
    .name = "double",
    .init = dbl_init,
    .add_memory = dbl_add_memory,
    .alloc = dbl_alloc,
    .dealloc = dbl_dealloc,
    .total_bytes = dbl_total,
    .used_bytes = dbl_used,
    .available_bytes = dbl_available,
    .usable_size = dbl_usable_size,
    .check = dbl_check,
    .cache = dbl_cache,
    .uncache = dbl_uncache,
};

static inline ak_byte_allocator mag_double_as_byte(mag_double *d)
{
    ak_byte_allocator h = {&mag_double_ops, d};
    return h;
}

#endif /* AK_MAG_DOUBLE_H */
