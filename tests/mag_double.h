/* A test double behind the byte interface with the cache hooks as core.h
 * specifies them, for the tests of the magazine layer until (and beside)
 * the kit's own allocators have theirs.
 *
 * Regions (up to 16) cut into 16-byte granules; a per-granule state table
 * (block start live or free, and its length) says what is allocated, so
 * every bad pointer is refused exactly. Free blocks are kept on lists by
 * exact length and reused by an alloc of that length; new blocks come
 * from a region's bump pointer; nothing coalesces, but once no block is
 * live every region is free again. Blocks take ceil(size / 16) + slack granules and
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
 * lock (*lock_depth == 1) and counts the calls that do not. The tables
 * come from calloc, or from MAG_DOUBLE_CALLOC / MAG_DOUBLE_FREE if the
 * includer defines them (the bare-metal harness does). */
#ifndef AK_MAG_DOUBLE_H
#define AK_MAG_DOUBLE_H

#include <allockit/core.h>

/* Where the tables come from: calloc and free on a hosted system; a
 * bare-metal includer defines both (and provides memset). */
#ifndef MAG_DOUBLE_CALLOC
#include <stdlib.h>
#include <string.h>
#define MAG_DOUBLE_CALLOC(n, size) calloc(n, size)
#define MAG_DOUBLE_FREE(p)         free(p)
#endif

#define DBL_GRAIN    ((size_t)16)
#define DBL_MAX_LIST 4200u /* exact-length lists up to this many granules */
#define DBL_REGIONS  16
#define DBL_FREE     1u
#define DBL_LIVE     2u

typedef struct dbl_region {
    uintptr_t start, end;   /* as given */
    uintptr_t lo, hi, bump; /* [lo, hi) granules; [lo, bump) cut into blocks */
    size_t ngran;
    uint8_t *state; /* per granule: 0, or DBL_FREE / DBL_LIVE at a block start */
    uint32_t *len;  /* at a block start: its length in granules */
} dbl_region;

typedef struct mag_double {
    dbl_region r[DBL_REGIONS];
    unsigned nregions;
    size_t used, total;
    void **list; /* [len]: free blocks of that length, linked through them */
    void *big;   /* free blocks longer than DBL_MAX_LIST */
    uintptr_t salt;
    unsigned slack;
    bool strict;
    const int *lock_depth;
    unsigned long calls, unlocked_calls, live_blocks;
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
    for (unsigned i = 0; i < d->nregions; i++) {
        MAG_DOUBLE_FREE(d->r[i].state);
        MAG_DOUBLE_FREE(d->r[i].len);
    }
    MAG_DOUBLE_FREE(d->list);
    d->list = NULL;
    d->nregions = 0;
}

/* Every table freed: call once the double is no longer used. */
static inline void mag_double_destroy(mag_double *d)
{
    dbl_release_tables(d);
    memset(d, 0, sizeof *d);
}

/* No block is live: every region is free again. */
static void dbl_reset(mag_double *d)
{
    for (unsigned i = 0; i < d->nregions; i++) {
        memset(d->r[i].state, 0, d->r[i].ngran);
        __atomic_store_n(&d->r[i].bump, d->r[i].lo, __ATOMIC_RELAXED);
    }
    memset(d->list, 0, (DBL_MAX_LIST + 1) * sizeof(void *));
    d->big = NULL;
    d->used = 0;
    d->live_blocks = 0;
}

/* A region record for [start, start+size), tables allocated; false if the
 * range is unusable (too small, wraps) or memory runs out. */
static ak_error dbl_region_make(dbl_region *g, uintptr_t start, size_t size)
{
    uintptr_t end;
    if (size == 0 || __builtin_add_overflow(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    uintptr_t lo = ak_align_up(start, DBL_GRAIN), hi = ak_align_down(end, DBL_GRAIN);
    if (lo < start || hi <= lo)
        return AK_ERR_INVALID_PARAM;
    size_t n = (hi - lo) / DBL_GRAIN;
    uint8_t *state = MAG_DOUBLE_CALLOC(n, 1);
    uint32_t *len = MAG_DOUBLE_CALLOC(n, sizeof *len);
    if (!state || !len) {
        MAG_DOUBLE_FREE(state);
        MAG_DOUBLE_FREE(len);
        return AK_ERR_NO_MEMORY;
    }
    *g = (dbl_region){start, end, lo, hi, lo, n, state, len};
    return AK_OK;
}

static ak_error dbl_init(void *self, uintptr_t start, size_t size)
{
    mag_double *d = self;
    dbl_note_call(d);
    dbl_region g;
    ak_error e = dbl_region_make(&g, start, size);
    if (e != AK_OK)
        return e;
    void **list = MAG_DOUBLE_CALLOC(DBL_MAX_LIST + 1, sizeof *list);
    if (!list) {
        MAG_DOUBLE_FREE(g.state);
        MAG_DOUBLE_FREE(g.len);
        return AK_ERR_NO_MEMORY;
    }
    dbl_release_tables(d);
    d->list = list;
    d->r[0] = g;
    d->nregions = 1;
    d->total = g.hi - g.lo;
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
    for (unsigned i = 0; i < d->nregions; i++)
        if (start < d->r[i].end && d->r[i].start < end)
            return AK_ERR_MEMORY_OVERLAP;
    if (!d->nregions || d->nregions == DBL_REGIONS)
        return AK_ERR_INVALID_PARAM;
    ak_error e = dbl_region_make(&d->r[d->nregions], start, size);
    if (e != AK_OK)
        return e;
    d->total += d->r[d->nregions].hi - d->r[d->nregions].lo;
    d->nregions++;
    return AK_OK;
}

static size_t dbl_granules(const mag_double *d, size_t size)
{
    size_t g = size / DBL_GRAIN + (size % DBL_GRAIN != 0);
    return (g ? g : 1) + d->slack;
}

/* The region holding address p (in its block area), or NULL. */
static dbl_region *dbl_region_of(const mag_double *d, uintptr_t p)
{
    for (unsigned i = 0; i < d->nregions; i++)
        if (p >= d->r[i].lo && p < d->r[i].hi)
            return (dbl_region *)(uintptr_t)&d->r[i];
    return NULL;
}

static void dbl_push_free(mag_double *d, dbl_region *g, size_t i)
{
    void **blk = (void **)(g->lo + i * DBL_GRAIN);
    void **head = g->len[i] <= DBL_MAX_LIST ? &d->list[g->len[i]] : &d->big;
    g->state[i] = DBL_FREE;
    blk[0] = *head;
    *head = blk;
}

/* A fresh block of n granules aligned to align from a region's bump
 * pointer (the gap in front becomes a free block); 0 if none has room. */
static uintptr_t dbl_bump(mag_double *d, size_t n, size_t align)
{
    for (unsigned k = 0; k < d->nregions; k++) {
        dbl_region *g = &d->r[k];
        uintptr_t p = ak_align_up(g->bump, align);
        if (p < g->bump || p > g->hi || n > (g->hi - p) / DBL_GRAIN)
            continue;
        if (p > g->bump) {
            size_t gi = (g->bump - g->lo) / DBL_GRAIN;
            g->len[gi] = (uint32_t)((p - g->bump) / DBL_GRAIN);
            dbl_push_free(d, g, gi);
        }
        g->len[(p - g->lo) / DBL_GRAIN] = (uint32_t)n;
        /* Read by the hooks without the lock. */
        __atomic_store_n(&g->bump, p + n * DBL_GRAIN, __ATOMIC_RELAXED);
        return p;
    }
    return 0;
}

static ak_error dbl_alloc(void *self, size_t size, size_t align, void **out)
{
    mag_double *d = self;
    dbl_note_call(d);
    if (!out || !ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    if (!d->nregions || size > d->total || align > d->total)
        return AK_ERR_NO_MEMORY;
    if (d->fail_allocs) {
        d->fail_allocs--;
        return AK_ERR_NO_MEMORY;
    }
    size_t n = dbl_granules(d, size);
    void **link = n <= DBL_MAX_LIST ? &d->list[n] : &d->big;
    uintptr_t p = 0;
    for (; *link; link = (void **)*link) {
        uintptr_t q = (uintptr_t)*link;
        dbl_region *g = dbl_region_of(d, q);
        if (ak_is_aligned(q, align) && g->len[(q - g->lo) / DBL_GRAIN] == n) {
            *link = *(void **)q;
            p = q;
            break;
        }
    }
    if (!p && !(p = dbl_bump(d, n, align)))
        return AK_ERR_NO_MEMORY;
    dbl_region *g = dbl_region_of(d, p);
    g->state[(p - g->lo) / DBL_GRAIN] = DBL_LIVE;
    d->used += n * DBL_GRAIN;
    d->live_blocks++;
    *out = (void *)p;
    return AK_OK;
}

/* The check dealloc makes: the region and granule of a live block that
 * could have been allocated with (size, align). */
static ak_error dbl_find(const mag_double *d, const void *ptr, size_t size, size_t align,
                         dbl_region **rg, size_t *at)
{
    uintptr_t p = (uintptr_t)ptr;
    dbl_region *g = dbl_region_of(d, p);
    if (!g || p >= __atomic_load_n(&g->bump, __ATOMIC_RELAXED) ||
        !ak_is_aligned(p - g->lo, DBL_GRAIN))
        return AK_ERR_NOT_ALLOCATED;
    size_t i = (p - g->lo) / DBL_GRAIN;
    if (g->state[i] != DBL_LIVE)
        return AK_ERR_NOT_ALLOCATED;
    if (!ak_is_pow2(align) || !ak_is_aligned(p, align))
        return AK_ERR_INVALID_PARAM;
    size_t n = dbl_granules(d, size);
    if (n > g->len[i] || (d->strict && n != g->len[i]))
        return AK_ERR_INVALID_PARAM;
    *rg = g;
    *at = i;
    return AK_OK;
}

static ak_error dbl_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    mag_double *d = self;
    dbl_note_call(d);
    dbl_region *g;
    size_t i;
    ak_error e = dbl_find(d, ptr, size, align, &g, &i);
    if (e != AK_OK)
        return e;
    d->used -= (size_t)g->len[i] * DBL_GRAIN;
    d->live_blocks--;
    if (d->live_blocks == 0)
        dbl_reset(d);
    else
        dbl_push_free(d, g, i);
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
    dbl_region *g;
    size_t i;
    return dbl_find(d, ptr, size, align, &g, &i) == AK_OK ? (size_t)g->len[i] * DBL_GRAIN : 0;
}

static ak_error dbl_cache(void *self, void *ptr, size_t size, size_t align)
{
    mag_double *d = self;
    dbl_region *g;
    size_t i;
    ak_error e = dbl_find(d, ptr, size, align, &g, &i);
    uintptr_t *w = ptr, mk = dbl_mark(d, (uintptr_t)ptr);
    /* INVALID_PARAM comes only for a live block start: its marks can be
     * read. A cached block named with another class's size is a free of
     * a block the caller no longer holds, as in the real backends. */
    if (e == AK_ERR_INVALID_PARAM && w[0] == mk && w[1] == ~mk)
        return AK_ERR_NOT_ALLOCATED;
    if (e != AK_OK)
        return e;
    if (w[0] == mk && w[1] == ~mk)
        return AK_ERR_NOT_ALLOCATED;
    w[0] = mk;
    w[1] = ~mk;
    return AK_OK;
}

static void dbl_uncache(void *self, void *ptr, size_t size, size_t align)
{
    (void)self;
    (void)size;
    (void)align;
    ((uintptr_t *)ptr)[0] = 0;
}

static const char *dbl_check(const void *self)
{
    const mag_double *d = self;
    dbl_note_call((mag_double *)(uintptr_t)self);
    if (!d->nregions)
        return d->used ? "double: used with no region" : NULL;
    size_t used = 0, live = 0, free_blocks = 0, listed = 0;
    for (unsigned k = 0; k < d->nregions; k++) {
        const dbl_region *g = &d->r[k];
        uintptr_t p = g->lo;
        while (p < g->bump) {
            size_t i = (p - g->lo) / DBL_GRAIN;
            if (g->state[i] != DBL_LIVE && g->state[i] != DBL_FREE)
                return "double: a block start is not marked";
            if (g->len[i] == 0 || g->len[i] > (g->bump - p) / DBL_GRAIN)
                return "double: a block's length runs past the bump pointer";
            for (size_t j = 1; j < g->len[i]; j++)
                if (g->state[i + j])
                    return "double: a block start inside a block";
            if (g->state[i] == DBL_LIVE) {
                used += (size_t)g->len[i] * DBL_GRAIN;
                live++;
            } else {
                free_blocks++;
            }
            p += (size_t)g->len[i] * DBL_GRAIN;
        }
    }
    if (used != d->used || live != d->live_blocks)
        return "double: used bytes or live blocks do not match the blocks";
    for (size_t n = 0; n <= DBL_MAX_LIST + 1; n++)
        for (void *b = n <= DBL_MAX_LIST ? d->list[n] : d->big; b; b = *(void **)b) {
            const dbl_region *g = dbl_region_of(d, (uintptr_t)b);
            if (!g || (uintptr_t)b >= g->bump)
                return "double: a free list holds a block outside every region";
            size_t i = ((uintptr_t)b - g->lo) / DBL_GRAIN;
            if (g->state[i] != DBL_FREE ||
                (n <= DBL_MAX_LIST ? g->len[i] != n : g->len[i] <= DBL_MAX_LIST))
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
