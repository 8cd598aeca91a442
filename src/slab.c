/* Slab: a plain slab allocator over an internal TLSF (include/allockit/
 * slab.h has the classes, slab sizes and bounds). The story, top down:
 *
 *  - A region starts with a record and a table of 64-byte descriptors, one
 *    per 4 KiB frame of the region; the rest of the region is the TLSF's.
 *    Table slots are filled (with TAG_NONE) as slabs reach them, so init
 *    is O(1); `ready` counts the frames filled.
 *  - A slab of class c is a TLSF block of 2^S - AK_SLAB_TAIL bytes aligned
 *    to 2^S. Its descriptor is the slot of its first frame; every other
 *    slot holds TAG_NONE. So the slab of a pointer freed as class c is
 *    p & ~(2^S - 1), and its descriptor one subtract and shift away.
 *  - A descriptor's map has one bit per granule (2^(S-8) bytes; the class
 *    size is a whole number of granules): clear where a live object
 *    starts, set everywhere else. Allocation clears the highest bit of the
 *    hint word that is set at an object start (the class's row of object
 *    starts says where); free checks that the object's bit is clear and
 *    sets it. The map is at once the slab's free set and the exact record
 *    of what is live, and the objects' own memory is never touched.
 *  - Each class allocates from the head of a doubly linked list of slabs.
 *    A slab that fills is noticed by the next allocation, which takes it
 *    off the list (its tag gets TAG_FULL); its next free puts it back,
 *    second on the list. A slab that empties goes back to the TLSF unless
 *    it is the head, or the class has no spare yet: so at most two empty
 *    slabs per class, and an alloc/free pair at a slab boundary costs no
 *    TLSF call.
 *  - Three paths each way. The fast paths serve classes 16..128 (one-frame
 *    slabs, 16-byte granules, every constant a literal) with align <= 16,
 *    in the region of the last free: for a free, a range compare (a
 *    rotate folds "on 16 bytes" into it), the slot, its tag, the bit. The
 *    class paths do the same for the other classes with per-class
 *    constants the allocator holds. The slow paths take everything else:
 *    a new hint word or slab, a full slab's first free, another region,
 *    large requests, bad input.
 *  - Large requests go to the TLSF; the slab layer counts them and makes
 *    sure a pointer it passes on is not inside a slab.
 *
 * Invariants (ak_slab_check): the region index and records are sound;
 * table slots in [first, ready) hold TAG_NONE or a class, and a class's
 * slot starts an aligned span inside the region whose other slots hold
 * TAG_NONE; a map's clear bits are object starts of the class; hint and
 * cur agree; a slab tagged full has no free object; every other slab is on
 * its class's list or is its spare, and only the list's head may be full
 * or empty; the spare is empty; per class, live objects and slabs match
 * the counters; every slab is a TLSF block of its size, and the other used
 * TLSF blocks are the large blocks, as many and as big as counted; the
 * per-class constants follow the class series; the free path's view is
 * one region's; the TLSF passes ak_tlsf_check.
 */
#include "ak_internal.h"
#include "ak_ops.h"
#include "ak_region.h"
#include "ak_sizeclass.h"
#include <allockit/slab.h>

/* ------------------------------------------------------------------ */
/* Frames, descriptors, classes                                        */
/* ------------------------------------------------------------------ */

#define FRAME_SHIFT 12u
#define FRAME_BYTES ((uintptr_t)1 << FRAME_SHIFT)
#define DESC_SHIFT  6u
#define DESC_BYTES  ((uintptr_t)1 << DESC_SHIFT)
#define MAP_WORDS   AK_SLAB_MAP_WORDS
#define WORD_BITS   AK_SIZE_BITS
#define WORD_SHIFT  (sizeof(size_t) == 8 ? 6u : 5u)
#define ALL_ONES    (~(size_t)0)
#define LARGE       AK_SLAB_CLASS_COUNT

/* Descriptor tags: the class, with TAG_FULL while the slab is off its
 * class's list; TAG_NONE in every slot that starts no slab. */
#define TAG_NONE 0x7fu
#define TAG_FULL 0x80u

/* The fast paths' classes, 16..128 bytes: class (size - 1) / 16, one-frame
 * slabs with 16-byte granules. */
#define FAST_CLASSES 8u
#define FAST_LIMIT   (FAST_CLASSES * 16u)

_Static_assert(AK_SLAB_CLASS_COUNT < TAG_NONE, "class numbers fit below the tags");
_Static_assert((MAP_WORDS * AK_SIZE_BITS) == 256, "a map has 256 granules");
_Static_assert((MAP_WORDS & (MAP_WORDS - 1)) == 0, "word searches wrap by a mask");
_Static_assert(AK_SLAB_MAX_SMALL <= AK_SC_MAX, "the slab classes are a prefix of the series");
_Static_assert(AK_SLAB_MAX_SLAB == 1u << 16, "the largest slab is 2^16");

typedef struct ak_slab_desc {
    size_t map[MAP_WORDS];     /* bit g clear: a live object starts at granule g */
    struct ak_slab_desc *next; /* the class's list (allocation end first) */
    struct ak_slab_desc *prev; /* NULL at the head */
    uintptr_t cur;             /* address of granule hint * WORD_BITS */
    uint8_t tag;               /* class (| TAG_FULL off the list), or TAG_NONE */
    uint8_t hint;              /* the map word allocations look at first */
} slab_desc;

_Static_assert(sizeof(slab_desc) <= DESC_BYTES, "a descriptor fits its slot");

/* A region's record, at its start (64-aligned), followed by the table. */
typedef struct slab_region {
    ak_region r;        /* first: the region index's record; [lo, hi) the TLSF's part */
    uintptr_t fbase;    /* frame 0: start rounded down to a frame */
    size_t nframes;     /* frames of [fbase, end) */
    unsigned char *tbl; /* their descriptors, DESC_BYTES each */
    size_t first;       /* the first frame at or above lo: where slabs can start */
    size_t ready;       /* slots [first, ready) are filled */
    size_t payload;     /* what the TLSF counted for the region: its largest block */
} slab_region;

/* log2 of the slab size of class c: 12 up to 128 bytes; above, 8 plus the
 * class size's trailing zeros (so that it is a whole number of the 256
 * granules), at most 16. The hot paths read the constants derived from it
 * from the allocator (slab_mask, gran_mask, gran_shift); fast_arm fills
 * them and the checker holds them to this rule. */
static unsigned slab_shift(unsigned c)
{
    if (c < FAST_CLASSES)
        return FRAME_SHIFT;
    unsigned s = 8u + ak_ffs_size(ak_sc_size(c));
    return s < 16u ? s : 16u;
}

static inline unsigned gran_shift(unsigned c)
{
    return slab_shift(c) - 8u;
}

static inline size_t slab_bytes(unsigned c)
{
    return (size_t)1 << slab_shift(c);
}

/* What a slab asks of the TLSF: its span less the TLSF header of the next
 * block, so that slabs placed back to back tile their spans exactly. */
static inline size_t slab_request(unsigned c)
{
    return slab_bytes(c) - AK_SLAB_TAIL;
}

static inline size_t class_objects(unsigned c)
{
    return slab_request(c) / ak_sc_size(c);
}

/* The class of a request whose align is a power of two: the series' class
 * for the size, moved up to the first that guarantees align (at most a few
 * steps), or LARGE. */
static inline unsigned class_for(size_t size, size_t align)
{
    if (size > AK_SLAB_MAX_SMALL || align > AK_SLAB_MAX_CLASS_ALIGN)
        return LARGE;
    unsigned c = ak_sc_index(size);
    if (align > 16u) /* every class guarantees 16 */
        while (ak_sc_align(c) < align)
            c++;
    return c;
}

/* The highest set bit of m != 0, as a size_t: one bsr on x86-64 (GCC
 * otherwise widens the int it makes of it with one more instruction). */
static AK_ALWAYS_INLINE size_t top_bit(size_t m)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    return (size_t)__builtin_ia32_bsrdi((long long)m);
#else
    if (sizeof(size_t) == 8)
        return (size_t)(63 ^ __builtin_clzll((unsigned long long)m));
    return (size_t)(31 ^ __builtin_clz((unsigned)m));
#endif
}

/* An empty statement that makes the compiler forget what it knows of x:
 * the free paths test a bit with x & (WORD_BITS - 1) and then set it; with
 * this between the two, x86's bt and bts both take x as it is (they mask
 * it themselves) instead of a masked copy. No instruction. */
#if defined(__GNUC__)
#define FORGET(x) __asm__("" : "+r"(x))
#else
#define FORGET(x) ((void)0)
#endif

/* Class c's row of object starts: bit g set where an object starts. Filled
 * into the allocator at the class's first slab (word 0 always has bit 0,
 * so 0 there means "not yet"). */
static void row_of(unsigned c, size_t row[MAP_WORDS])
{
    size_t q = ak_sc_size(c) >> gran_shift(c), n = class_objects(c);
    for (unsigned w = 0; w < MAP_WORDS; w++)
        row[w] = 0;
    for (size_t k = 0, g = 0; k < n; k++, g += q)
        row[g >> WORD_SHIFT] |= (size_t)1 << (g & (WORD_BITS - 1));
}

/* The head of an empty class list once the fast paths are set up: it has
 * no free object (every map bit clear), so allocation needs no NULL test
 * and goes the slow way for the class. Never written. */
static const slab_desc nil_slab;
#define NIL ((slab_desc *)(uintptr_t)&nil_slab)

/* The first slab of class c's list, or NULL (an empty list's head is NIL,
 * or NULL in an allocator that was zero-initialised and never given
 * memory). */
static inline slab_desc *list_first(const ak_slab *a, unsigned c)
{
    slab_desc *s = a->head[c];
    return s == NIL ? NULL : s;
}

static inline void set_head(ak_slab *a, unsigned c, slab_desc *s)
{
    a->head[c] = s ? s : NIL;
}

/* Set up the fast and class paths: a head (NIL if nothing else) in every
 * class, the per-class constants, and the limits that let sizes up to
 * FAST_LIMIT (fast) and AK_SLAB_MAX_SMALL (class paths) at aligns 1, 2,
 * 4, 8, 16 in. A zero-initialised allocator has all limits 0, so every
 * call takes the slow way. */
static void fast_arm(ak_slab *a)
{
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        if (!a->head[c])
            a->head[c] = NIL;
        unsigned gs = gran_shift(c);
        a->gran_shift[c] = (unsigned char)gs;
        a->gran_mask[c] = ((uintptr_t)1 << gs) - 1;
        a->slab_mask[c] = ~(((uintptr_t)256 << gs) - 1);
    }
    for (unsigned i = 0; i < AK_SLAB_MAX_SMALL / 16; i++)
        a->class_of[i] = (unsigned char)ak_sc_index((size_t)i * 16 + 1);
    for (unsigned i = 0; i <= 16; i++) {
        a->fast_limit[i] = ak_is_pow2(i) ? FAST_LIMIT : 0;
        a->class_limit[i] = ak_is_pow2(i) ? AK_SLAB_MAX_SMALL : 0;
    }
}

static inline slab_desc *frame_desc(const slab_region *r, size_t f)
{
    return (slab_desc *)(void *)(r->tbl + (f << DESC_SHIFT));
}

/* The slab's first byte, from the hint word's address. */
static inline uintptr_t slab_start(const slab_desc *s, unsigned gs)
{
    return s->cur - ((uintptr_t)s->hint << (WORD_SHIFT + gs));
}

static inline bool slab_is_empty(const slab_desc *s)
{
    size_t all = ALL_ONES;
    for (unsigned w = 0; w < MAP_WORDS; w++)
        all &= s->map[w];
    return all == ALL_ONES;
}

/* ------------------------------------------------------------------ */
/* Regions and the free path's view                                    */
/* ------------------------------------------------------------------ */

/* A region's view for lookups: the first frame that can hold a slab, the
 * 16-byte granules from it that filled slots cover, and that frame's slot. */
static inline uintptr_t view_base(const slab_region *r)
{
    return r->fbase + ((uintptr_t)r->first << FRAME_SHIFT);
}

static inline unsigned char *view_tbl(const slab_region *r)
{
    return r->tbl + (r->first << DESC_SHIFT);
}

static size_t view_span(const slab_region *r)
{
    uintptr_t base = view_base(r);
    uintptr_t end =
        r->ready < r->nframes ? r->fbase + ((uintptr_t)r->ready << FRAME_SHIFT) : r->r.hi;
    if (end > r->r.hi)
        end = r->r.hi;
    return r->ready > r->first && end > base ? (size_t)((end - base) >> 4) : 0;
}

/* Make r the region the free paths look at first. */
static void set_hint(ak_slab *a, slab_region *r)
{
    a->hint_base = view_base(r);
    a->hint_span = view_span(r);
    a->hint_tbl = view_tbl(r);
    ak_region_remember(&a->regions, &r->r);
}

static inline const slab_region *region_of(const ak_slab *a, uintptr_t p)
{
    return (const slab_region *)(const void *)ak_region_find(&a->regions, p);
}

/* (p - base) / 16, or a number past every span when p is below base or not
 * on 16 bytes (the low bits rotate to the top). */
static AK_ALWAYS_INLINE uintptr_t granule16(uintptr_t p, uintptr_t base)
{
    uintptr_t off = p - base;
    return (off >> 4) | (off << (AK_SIZE_BITS - 4u));
}

/* The live object of class c at p, looked up in a view: its slab (tag of
 * class c, full or not) and granule; NULL if there is none. */
static slab_desc *object_at(uintptr_t base, size_t span, unsigned char *tbl, uintptr_t p,
                            unsigned c, size_t *gp)
{
    unsigned gs = gran_shift(c);
    uintptr_t h = p & ~(((uintptr_t)256 << gs) - 1);
    uintptr_t f = granule16(h, base);
    if (f >= span || (p & (((uintptr_t)1 << gs) - 1)) != 0)
        return NULL;
    slab_desc *s = (slab_desc *)(void *)(tbl + ((f >> 8) << DESC_SHIFT));
    size_t g = (size_t)(p >> gs) & 255u;
    if ((s->tag & ~TAG_FULL) != c || ((s->map[g >> WORD_SHIFT] >> (g & (WORD_BITS - 1))) & 1u))
        return NULL;
    *gp = g;
    return s;
}

static inline slab_desc *object_in(const slab_region *r, uintptr_t p, unsigned c, size_t *gp)
{
    return object_at(view_base(r), view_span(r), view_tbl(r), p, c, gp);
}

/* As object_at, from any region: the view of the last free, else the
 * region looked up (the hint is not moved: for the calls that only read). */
static slab_desc *object_lookup(const ak_slab *a, uintptr_t p, unsigned c, size_t *gp)
{
    slab_desc *s = object_at(a->hint_base, a->hint_span, a->hint_tbl, p, c, gp);
    if (s)
        return s;
    const slab_region *r = region_of(a, p);
    return r ? object_in(r, p, c, gp) : NULL;
}

/* The slab whose span holds p in region r, whatever its class, or NULL;
 * its class in *cp. One probe per slab size. */
static slab_desc *slab_around(const slab_region *r, uintptr_t p, unsigned *cp)
{
    uintptr_t base = view_base(r);
    for (unsigned sh = FRAME_SHIFT; sh <= 16; sh++) {
        uintptr_t h = p & ~(((uintptr_t)1 << sh) - 1);
        if (h < base)
            continue;
        size_t f = (size_t)((h - r->fbase) >> FRAME_SHIFT);
        if (f >= r->ready)
            continue;
        slab_desc *s = frame_desc(r, f);
        unsigned c = s->tag & ~TAG_FULL;
        if (c < LARGE && slab_shift(c) == sh) {
            *cp = c;
            return s;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Slabs from and to the TLSF                                          */
/* ------------------------------------------------------------------ */

/* Fill the slots of region r up to frame `upto` with TAG_NONE. */
static void frames_ready(slab_region *r, size_t upto)
{
    for (size_t f = r->ready; f < upto; f++)
        frame_desc(r, f)->tag = TAG_NONE;
    if (upto > r->ready)
        r->ready = upto;
}

static void slab_release(ak_slab *a, unsigned c, slab_desc *s)
{
    uintptr_t h = slab_start(s, gran_shift(c));
    s->tag = TAG_NONE; /* a released slab's objects must never validate */
    a->slabs[c]--;
    ak_error e = ak_tlsf_dealloc(&a->tlsf, (void *)h, slab_request(c), slab_bytes(c));
    AK_ASSERT(e == AK_OK);
    (void)e;
}

size_t ak_slab_trim(ak_slab *a)
{
    size_t n = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        slab_desc *s = a->spare[c];
        if (s) {
            a->spare[c] = NULL;
            slab_release(a, c, s);
            n++;
        }
        s = list_first(a, c);
        if (s && slab_is_empty(s)) {
            /* The next slab, if any, has a free object (only the head may
             * be full or empty). */
            set_head(a, c, s->next);
            if (s->next)
                s->next->prev = NULL;
            slab_release(a, c, s);
            n++;
        }
    }
    return n;
}

/* True if some region could hold (size, align) when empty: else a failed
 * request must not give the kept slabs back (an impossible request changes
 * nothing). Generous: a request it passes may still not fit. */
static bool could_fit(const ak_slab *a, size_t size, size_t align)
{
    for (const ak_region *g = ak_region_first(&a->regions); g; g = g->next) {
        const slab_region *r = (const slab_region *)(const void *)g;
        uintptr_t at;
        if (size <= r->payload && ak_align_up_checked(g->lo, align, &at) && at < g->hi &&
            g->hi - at >= size)
            return true;
    }
    return false;
}

/* Ask the TLSF; when it is out of memory and the request could fit, give
 * the kept empty slabs back and ask once more. */
static ak_error tlsf_alloc_pressed(ak_slab *a, size_t size, size_t align, void **out)
{
    ak_error e = ak_tlsf_alloc(&a->tlsf, size, align, out);
    if (e == AK_ERR_NO_MEMORY && could_fit(a, size, align) && ak_slab_trim(a) != 0)
        e = ak_tlsf_alloc(&a->tlsf, size, align, out);
    return e;
}

/* An allocation that found no memory: counted for the stats. */
static AK_NOINLINE ak_error no_memory(ak_slab *a)
{
    a->failed_allocs++;
    return AK_ERR_NO_MEMORY;
}

/* A new, empty slab of class c from the TLSF (not on the list), or NULL. */
static AK_NOINLINE slab_desc *slab_new(ak_slab *a, unsigned c)
{
    void *mem;
    if (tlsf_alloc_pressed(a, slab_request(c), slab_bytes(c), &mem) != AK_OK)
        return NULL;
    uintptr_t h = (uintptr_t)mem;
    slab_region *r = (slab_region *)(void *)ak_region_find(&a->regions, h);
    AK_ASSERT(r != NULL && h >= view_base(r));
    size_t f = (size_t)((h - r->fbase) >> FRAME_SHIFT);
    frames_ready(r, f + (slab_bytes(c) >> FRAME_SHIFT));
    slab_desc *s = frame_desc(r, f);
    for (unsigned w = 0; w < MAP_WORDS; w++)
        s->map[w] = ALL_ONES;
    s->tag = (uint8_t)c;
    s->hint = 0;
    s->cur = h;
    a->slabs[c]++;
    if (a->rows[c][0] == 0)
        row_of(c, a->rows[c]);
    set_hint(a, r); /* its span grew; frees of the new objects look here */
    return s;
}

/* ------------------------------------------------------------------ */
/* The class lists                                                     */
/* ------------------------------------------------------------------ */

static inline void list_remove(ak_slab *a, unsigned c, slab_desc *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        set_head(a, c, s->next);
    if (s->next)
        s->next->prev = s->prev;
}

/* A slab off the list (full) got a free, in map word w: back on the list,
 * second, so that the head keeps filling (or the head if the list is
 * empty), with its hint at w, where its free object is. */
static inline void slab_relist(ak_slab *a, unsigned c, slab_desc *s, size_t w)
{
    slab_desc *h = list_first(a, c);
    s->cur += (uintptr_t)(w - s->hint) << (WORD_SHIFT + a->gran_shift[c]);
    s->hint = (uint8_t)w;
    s->tag = (uint8_t)c;
    if (!h) {
        s->next = s->prev = NULL;
        a->head[c] = s;
        return;
    }
    s->prev = h;
    s->next = h->next;
    if (h->next)
        h->next->prev = s;
    h->next = s;
}

/* A free left a map word of s with no live object: if s is now empty and
 * not the head, it leaves the list to be the spare or goes to the TLSF. */
static AK_NOINLINE ak_error slab_word_freed(ak_slab *a, unsigned c, slab_desc *s)
{
    if (s == a->head[c] || !slab_is_empty(s))
        return AK_OK;
    list_remove(a, c, s);
    if (!a->spare[c])
        a->spare[c] = s;
    else
        slab_release(a, c, s);
    return AK_OK;
}

/* ------------------------------------------------------------------ */
/* Large blocks                                                        */
/* ------------------------------------------------------------------ */

typedef struct find_ctx {
    uintptr_t p;
    bool found;
} find_ctx;

static void find_used_block(uintptr_t start, size_t size, bool used, void *ctx)
{
    find_ctx *f = (find_ctx *)ctx;
    (void)size;
    if (used && start == f->p)
        f->found = true;
}

/* True if p starts a used TLSF block that is no slab: a live large block.
 * A walk of the TLSF's blocks, O(blocks): for error answers only. */
static bool large_is_live(const ak_slab *a, const slab_region *r, uintptr_t p)
{
    unsigned c;
    if (slab_around(r, p, &c))
        return false;
    find_ctx f = {p, false};
    ak_tlsf_walk(&a->tlsf, find_used_block, &f);
    return f.found;
}

/* What a call that does not find a live object of class c at p answers:
 * AK_ERR_INVALID_PARAM if p is a live block all the same (an object of
 * another class, or a large block when `walk` allows the search), else
 * AK_ERR_NOT_ALLOCATED. Reads only. */
static ak_error small_refused(const ak_slab *a, const slab_region *r, uintptr_t p, bool walk)
{
    if (!r)
        return AK_ERR_NOT_ALLOCATED;
    unsigned c;
    size_t g;
    if (slab_around(r, p, &c))
        return object_in(r, p, c, &g) ? AK_ERR_INVALID_PARAM : AK_ERR_NOT_ALLOCATED;
    return walk && large_is_live(a, r, p) ? AK_ERR_INVALID_PARAM : AK_ERR_NOT_ALLOCATED;
}

/* A large (size, align) at p: AK_OK if p is outside every slab of its
 * region, so the TLSF may judge it; else what to answer (a small object
 * freed as large is a live block with a wrong size). */
static ak_error large_locate(const ak_slab *a, uintptr_t p, const slab_region **rp)
{
    const slab_region *r = region_of(a, p);
    unsigned c;
    size_t g;
    if (!r)
        return AK_ERR_NOT_ALLOCATED;
    if (slab_around(r, p, &c))
        return object_in(r, p, c, &g) ? AK_ERR_INVALID_PARAM : AK_ERR_NOT_ALLOCATED;
    *rp = r;
    return AK_OK;
}

static AK_NOINLINE ak_error large_alloc(ak_slab *a, size_t size, size_t align, void **out)
{
    void *p;
    ak_error e = tlsf_alloc_pressed(a, size, align, &p);
    if (e == AK_ERR_NO_MEMORY)
        return no_memory(a);
    if (e != AK_OK)
        return e;
    a->large_count++;
    a->large_bytes += ak_tlsf_usable_size(&a->tlsf, p, size, align);
    *out = p;
    return AK_OK;
}

static AK_NOINLINE ak_error large_free(ak_slab *a, void *ptr, size_t size, size_t align)
{
    const slab_region *r;
    ak_error e = large_locate(a, (uintptr_t)ptr, &r);
    if (e != AK_OK)
        return e;
    size_t u = ak_tlsf_usable_size(&a->tlsf, ptr, size, align);
    e = ak_tlsf_dealloc(&a->tlsf, ptr, size, align);
    if (e != AK_OK)
        return e;
    AK_ASSERT(u != 0);
    a->large_count--;
    a->large_bytes -= u;
    return AK_OK;
}

/* ------------------------------------------------------------------ */
/* Allocation                                                          */
/* ------------------------------------------------------------------ */

/* The object of class c at the hint word of s (which has one). */
static inline void *slab_take(ak_slab *a, unsigned c, slab_desc *s)
{
    size_t w = s->hint;
    size_t v = s->map[w];
    size_t b = top_bit(v & a->rows[c][w]);
    s->map[w] = v & ~((size_t)1 << b);
    a->live[c]++;
    return (void *)(s->cur + (b << a->gran_shift[c]));
}

/* An allocation of class c from a new head: the spare or a new slab. */
static AK_NOINLINE ak_error alloc_refill(ak_slab *a, unsigned c, void **out)
{
    slab_desc *s = a->spare[c];
    if (s)
        a->spare[c] = NULL;
    else if (!(s = slab_new(a, c)))
        return no_memory(a);
    s->next = s->prev = NULL;
    a->head[c] = s;
    *out = slab_take(a, c, s);
    return AK_OK;
}

/* The first map word of s with a free object of class c, or MAP_WORDS if
 * it has none (it is full). */
static AK_NOINLINE size_t slab_free_word(const ak_slab *a, unsigned c, const slab_desc *s)
{
    size_t w = 0;
    while (w < MAP_WORDS && !(s->map[w] & a->rows[c][w]))
        w++;
    return w;
}

/* Point s's hint at map word w (of class c's slab). */
static inline void slab_point(const ak_slab *a, unsigned c, slab_desc *s, size_t w)
{
    s->cur += (uintptr_t)(w - s->hint) << (WORD_SHIFT + a->gran_shift[c]);
    s->hint = (uint8_t)w;
}

/* An allocation of class c whose head slab is full: off the list it goes
 * until its next free, and the next slab (which has a free object: only
 * the head may be full; its hint word has one when it came back to the
 * list by a free) or a new one becomes the head. */
static AK_NOINLINE ak_error alloc_next(ak_slab *a, unsigned c, void **out)
{
    slab_desc *s = a->head[c];
    s->tag = (uint8_t)(c | TAG_FULL);
    s = s->next;
    set_head(a, c, s);
    if (!s)
        return alloc_refill(a, c, out);
    s->prev = NULL;
    size_t w = s->hint;
    if (!(s->map[w] & a->rows[c][w])) {
        w = slab_free_word(a, c, s);
        AK_ASSERT(w < MAP_WORDS); /* a slab after the head has a free object */
        slab_point(a, c, s, w);
    }
    *out = slab_take(a, c, s);
    return AK_OK;
}

/* An allocation of class c whose head slab has no free object in its hint
 * word: another word of the head, or the next slab, or a new head. O(1);
 * only tail calls, so that it saves no registers. */
static AK_NOINLINE ak_error alloc_class(ak_slab *a, unsigned c, void **out)
{
    slab_desc *s = a->head[c]; /* not NULL: the callers come after fast_arm */
    if (s == NIL)
        return alloc_refill(a, c, out);
    size_t w = 0;
    while (!(s->map[w] & a->rows[c][w]))
        if (++w == MAP_WORDS)
            return alloc_next(a, c, out);
    if (w != s->hint)
        slab_point(a, c, s, w);
    *out = slab_take(a, c, s);
    return AK_OK;
}

/* The class path: classes above 128 (or any, from q = (size - 1) / 16
 * below 256) at align <= 16, the fast path's steps with the class's
 * constants. */
static AK_NOINLINE ak_error alloc_mid(ak_slab *a, size_t q, void **out)
{
    size_t c = a->class_of[q];
    slab_desc *s = a->head[c];
    size_t w = s->hint;
    size_t v = s->map[w];
    size_t m = v & a->rows[c][w];
    if (AK_UNLIKELY(m == 0))
        return alloc_class(a, (unsigned)c, out);
    size_t b = top_bit(m);
    s->map[w] = v & ~((size_t)1 << b);
    a->live[c]++;
    *out = (void *)(s->cur + (b << a->gran_shift[c]));
    return AK_OK;
}

/* The slow path: bad input, larger aligns, large requests, and an
 * allocator that was zero-initialised (x = size - 1, as the fast path
 * holds it). */
static AK_NOINLINE ak_error alloc_any(ak_slab *a, size_t x, size_t align, void **out)
{
    size_t size = x + 1;
    if (!out || !ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(size, align);
    if (c == LARGE)
        return large_alloc(a, size, align, out);
    if (!a->head[c]) /* zero-initialised: nothing to allocate from */
        return no_memory(a);
    return alloc_class(a, c, out);
}

/* The fast path: classes 16..128 with align <= 16, from the head slab's
 * hint word. Inline, so that the byte interface's adapter has it. */
AK_ALWAYS_INLINE ak_error ak_slab_alloc(ak_slab *a, size_t size, size_t align, void **out)
{
    size_t x = size - 1;
    if (AK_UNLIKELY(align > 16u || x >= a->fast_limit[align] || !out)) {
        if (AK_LIKELY(align <= 16u && x < a->class_limit[align] && out))
            return alloc_mid(a, x >> 4, out);
        return alloc_any(a, x, align, out);
    }
    size_t c = x >> 4;
    slab_desc *s = a->head[c]; /* never NULL once fast_limit is set: NIL */
    size_t w = s->hint;
    size_t v = s->map[w];
    size_t m = v & a->rows[c][w];
    if (AK_UNLIKELY(m == 0))
        return alloc_class(a, (unsigned)c, out);
    size_t b = top_bit(m); /* the word's last free object */
    s->map[w] = v & ~((size_t)1 << b);
    a->live[c]++;
    *out = (void *)(s->cur + (b << 4));
    return AK_OK;
}

/* ------------------------------------------------------------------ */
/* Free                                                                */
/* ------------------------------------------------------------------ */

/* The object of class c at granule g of s, found live, is freed. */
static inline ak_error object_free(ak_slab *a, unsigned c, slab_desc *s, size_t g)
{
    size_t *wp = &s->map[g >> WORD_SHIFT];
    size_t v = *wp | (size_t)1 << (g & (WORD_BITS - 1));
    *wp = v;
    a->live[c]--;
    if (AK_UNLIKELY(s->tag & TAG_FULL)) {
        slab_relist(a, c, s, g >> WORD_SHIFT);
        return AK_OK;
    }
    if (AK_UNLIKELY(v == ALL_ONES))
        return slab_word_freed(a, c, s);
    return AK_OK;
}

/* A free of class c that the view of the last free does not settle: a
 * slab off its list, another region, or no live object there. */
static AK_NOINLINE ak_error free_class(ak_slab *a, void *ptr, unsigned c)
{
    uintptr_t p = (uintptr_t)ptr;
    size_t g;
    slab_desc *s = object_at(a->hint_base, a->hint_span, a->hint_tbl, p, c, &g);
    if (!s) {
        slab_region *r = (slab_region *)(void *)ak_region_find(&a->regions, p);
        if (!r || !(s = object_in(r, p, c, &g)))
            return small_refused(a, r, p, true);
        set_hint(a, r); /* frees tend to stay in one region */
    }
    return object_free(a, c, s, g);
}

/* The pointer the fast path turned into g = granule16(p, hint_base). */
static inline void *fast_pointer(const ak_slab *a, uintptr_t g)
{
    return (void *)(((g << 4) | (g >> (AK_SIZE_BITS - 4u))) + a->hint_base);
}

/* The fast path's way to free_class, from what it holds. */
static AK_NOINLINE ak_error free_fast_miss(ak_slab *a, uintptr_t g, size_t c)
{
    return free_class(a, fast_pointer(a, g), (unsigned)c);
}

/* The fast or class path found slot s for granule g (of the slab's own
 * granules) of ptr but not a slab of class c on its list. A slab of the
 * class off its list (full) takes the free here, with the checks of the
 * fast path; anything else goes to free_class. */
static ak_error tag_miss(ak_slab *a, void *ptr, unsigned c, slab_desc *s, size_t g)
{
    size_t w = (g >> WORD_SHIFT) & (MAP_WORDS - 1u);
    size_t v = s->map[w];
    if (s->tag != (c | TAG_FULL) || ((v >> (g & (WORD_BITS - 1))) & 1u))
        return free_class(a, ptr, c);
    s->map[w] = v | (size_t)1 << (g & (WORD_BITS - 1));
    a->live[c]--;
    slab_relist(a, c, s, w);
    return AK_OK;
}

static AK_NOINLINE ak_error free_tag_miss(ak_slab *a, void *ptr, unsigned c, slab_desc *s, size_t g)
{
    return tag_miss(a, ptr, c, s, g);
}

/* The fast path's way to tag_miss, from what it holds. */
static AK_NOINLINE ak_error free_fast_tag_miss(ak_slab *a, uintptr_t g, size_t c, slab_desc *s)
{
    return tag_miss(a, fast_pointer(a, g), (unsigned)c, s, g & 255u);
}

/* The class path: classes above 128 (or any, from x = size - 1 < 4096) at
 * align <= 16 in the view of the last free, the fast path's steps with the
 * class's constants (q = (size - 1) / 16 below 256); the range compare is
 * on the slab's start, so it covers the slab. */
static AK_NOINLINE ak_error free_mid(ak_slab *a, void *ptr, size_t q)
{
    size_t c = a->class_of[q];
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t f = granule16(p & a->slab_mask[c], a->hint_base);
    if (AK_UNLIKELY(f >= a->hint_span || (p & a->gran_mask[c]) != 0))
        return free_class(a, ptr, (unsigned)c);
    slab_desc *s = (slab_desc *)(void *)(a->hint_tbl + ((f >> 8) << DESC_SHIFT));
    size_t g = (size_t)(p >> a->gran_shift[c]) & 255u;
    if (AK_UNLIKELY(s->tag != (uint8_t)c))
        return free_tag_miss(a, ptr, (unsigned)c, s, g);
    size_t *wp = &s->map[g >> WORD_SHIFT];
    size_t v = *wp;
    if (AK_UNLIKELY((v >> (g & (WORD_BITS - 1))) & 1u))
        return free_class(a, ptr, (unsigned)c);
    FORGET(g);
    v |= (size_t)1 << (g & (WORD_BITS - 1));
    *wp = v;
    a->live[c]--;
    if (AK_UNLIKELY(v == ALL_ONES))
        return slab_word_freed(a, (unsigned)c, s);
    return AK_OK;
}

/* The slow path: bad input, larger aligns, large blocks, and an allocator
 * that was zero-initialised (x = size - 1, as the fast path holds it). */
static AK_NOINLINE ak_error free_any(ak_slab *a, void *ptr, size_t x, size_t align)
{
    size_t size = x + 1;
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(size, align);
    if (c == LARGE)
        return large_free(a, ptr, size, align);
    return free_class(a, ptr, c);
}

/* The fast path: classes 16..128 with align <= 16, in the region of the
 * last free, when the slab is on its list and the word keeps a live
 * object: a range compare (which also checks the 16-byte granule), the
 * slab's slot, its tag, the object's bit. Inline, so that the byte
 * interface's adapter has it. */
AK_ALWAYS_INLINE ak_error ak_slab_dealloc(ak_slab *a, void *ptr, size_t size, size_t align)
{
    size_t x = size - 1;
    if (AK_UNLIKELY(align > 16u || x >= a->fast_limit[align])) {
        if (AK_LIKELY(align <= 16u && x < a->class_limit[align]))
            return free_mid(a, ptr, x >> 4);
        return free_any(a, ptr, x, align);
    }
    size_t c = x >> 4;
    uintptr_t g = granule16((uintptr_t)ptr, a->hint_base);
    if (AK_UNLIKELY(g >= a->hint_span))
        return free_fast_miss(a, g, c);
    slab_desc *s = (slab_desc *)(void *)(a->hint_tbl + ((g >> 8) << DESC_SHIFT));
    if (AK_UNLIKELY(s->tag != (uint8_t)c))
        return free_fast_tag_miss(a, g, c, s);
    size_t *wp = &s->map[(g >> WORD_SHIFT) & (MAP_WORDS - 1u)];
    size_t v = *wp;
    if (AK_UNLIKELY((v >> (g & (WORD_BITS - 1))) & 1u))
        return free_fast_miss(a, g, c);
    FORGET(g);
    v |= (size_t)1 << (g & (WORD_BITS - 1));
    *wp = v;
    a->live[c]--;
    if (AK_UNLIKELY(v == ALL_ONES))
        return slab_word_freed(a, (unsigned)c, s);
    return AK_OK;
}

/* ------------------------------------------------------------------ */
/* Resize and usable size                                              */
/* ------------------------------------------------------------------ */

ak_error ak_slab_resize(ak_slab *a, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(old_size, align);
    uintptr_t p = (uintptr_t)ptr;
    if (c != LARGE) {
        size_t g;
        if (!object_lookup(a, p, c, &g))
            return small_refused(a, region_of(a, p), p, true);
        /* Each object counts at its class size: nothing to update. */
        return class_for(new_size, align) == c ? AK_OK : AK_ERR_NO_MEMORY;
    }
    const slab_region *r;
    ak_error e = large_locate(a, p, &r);
    if (e != AK_OK)
        return e;
    size_t u = ak_tlsf_usable_size(&a->tlsf, ptr, old_size, align);
    if (class_for(new_size, align) != LARGE) {
        /* It would have to move into a slab. */
        if (u != 0)
            return AK_ERR_NO_MEMORY;
        return large_is_live(a, r, p) ? AK_ERR_INVALID_PARAM : AK_ERR_NOT_ALLOCATED;
    }
    e = ak_tlsf_resize(&a->tlsf, ptr, old_size, align, new_size);
    if (e != AK_OK)
        return e;
    a->large_bytes = a->large_bytes - u + ak_tlsf_usable_size(&a->tlsf, ptr, new_size, align);
    return AK_OK;
}

size_t ak_slab_usable_size(const ak_slab *a, const void *ptr, size_t size, size_t align)
{
    if (!ak_is_pow2(align))
        return 0;
    unsigned c = class_for(size, align);
    uintptr_t p = (uintptr_t)ptr;
    if (c != LARGE) {
        size_t g;
        return object_lookup(a, p, c, &g) ? ak_sc_size(c) : 0;
    }
    const slab_region *r;
    if (large_locate(a, p, &r) != AK_OK)
        return 0;
    return ak_tlsf_usable_size(&a->tlsf, ptr, size, align);
}

/* ------------------------------------------------------------------ */
/* The cache hooks                                                     */
/* ------------------------------------------------------------------ */

/* The mark of a cached block at p: p times the internal TLSF's key (new
 * at every init of the slab, which inits the TLSF) and its complement,
 * the TLSF's own mark for its large blocks: one form for every block, so
 * that a layer can write it inline (ak_byte_cache_key). */
static inline uintptr_t cache_mark(const ak_slab *a, uintptr_t p)
{
    return p * *ak_tlsf_cache_key(&a->tlsf);
}

const uintptr_t *ak_slab_cache_key(const ak_slab *a)
{
    return ak_tlsf_cache_key(&a->tlsf);
}

/* Checks as dealloc does, reading only: the region by the tree (not the
 * hint, which calls under the lock move), the tables, the TLSF's
 * usable_size for a large block. */
ak_error ak_slab_cache(ak_slab *a, void *ptr, size_t size, size_t align)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(size, align);
    uintptr_t p = (uintptr_t)ptr;
    const slab_region *r = (const slab_region *)(const void *)ak_region_search(&a->regions, p);
    if (!r)
        return AK_ERR_NOT_ALLOCATED;
    uintptr_t *w = (uintptr_t *)ptr;
    uintptr_t m = cache_mark(a, p);
    unsigned k;
    size_t g;
    if (slab_around(r, p, &k)) {
        if (!object_in(r, p, k, &g))
            return AK_ERR_NOT_ALLOCATED;
        /* A live object of another class (or one named as large) is a
         * wrong size, unless the layer holds it: then its callers have no
         * block there at all. */
        if (w[0] == m && w[1] == ~m)
            return AK_ERR_NOT_ALLOCATED;
        if (k != c)
            return AK_ERR_INVALID_PARAM;
    } else {
        /* Outside every slab: a large block or nothing, which the TLSF's
         * own hook judges and marks (by the tree, without the lock). */
        return c == LARGE ? ak_tlsf_cache(&a->tlsf, ptr, size, align) : AK_ERR_NOT_ALLOCATED;
    }
    w[0] = m;
    w[1] = ~m;
    return AK_OK;
}

void ak_slab_uncache(ak_slab *a, void *ptr, size_t size, size_t align)
{
    if (class_for(size, align) == LARGE) {
        ak_tlsf_uncache(&a->tlsf, ptr, size, align);
        return;
    }
    uintptr_t *w = (uintptr_t *)ptr;
    /* Two equal words are never a mark; both written, so that the next
     * cache reads defined memory (valgrind) even on a fresh block. */
    w[0] = ~cache_mark(a, (uintptr_t)ptr);
    w[1] = w[0];
}

/* ------------------------------------------------------------------ */
/* Regions                                                             */
/* ------------------------------------------------------------------ */

/* Where a region's parts go: record at rec (64-aligned from start), table
 * after it, one slot per frame of [fbase, end), the TLSF's part [body,
 * end). */
typedef struct region_layout {
    uintptr_t start, end, rec, fbase, tbl, body;
    size_t nframes;
} region_layout;

static bool layout_region(uintptr_t start, size_t size, region_layout *l)
{
    uintptr_t end, rec;
    if (!ak_range_end(start, size, &end))
        return false;
    if (!ak_align_up_checked(start, DESC_BYTES, &rec) || rec >= end ||
        end - rec <= sizeof(slab_region) + DESC_BYTES)
        return false;
    uintptr_t tbl = ak_align_up(rec + sizeof(slab_region), DESC_BYTES);
    uintptr_t fbase = start & ~(FRAME_BYTES - 1);
    uintptr_t span = end - fbase;
    size_t nframes = (size_t)(span >> FRAME_SHIFT) + ((span & (FRAME_BYTES - 1)) != 0);
    if ((end - tbl) >> DESC_SHIFT <= nframes)
        return false; /* no room after the table */
    l->start = start;
    l->end = end;
    l->rec = rec;
    l->fbase = fbase;
    l->tbl = tbl;
    l->nframes = nframes;
    l->body = tbl + ((uintptr_t)nframes << DESC_SHIFT);
    return true;
}

/* The first frame of a region at or above lo (where slabs can start), or
 * nframes when there is none. */
static size_t first_frame(uintptr_t fbase, size_t nframes, uintptr_t lo, uintptr_t end)
{
    uintptr_t first;
    if (!ak_align_up_checked(lo, FRAME_BYTES, &first) || first >= end)
        return nframes;
    return (size_t)((first - fbase) >> FRAME_SHIFT);
}

/* Write the record of a region whose TLSF part is in place, and index it. */
static void region_install(ak_slab *a, const region_layout *l, size_t payload)
{
    slab_region *r = (slab_region *)l->rec;
    r->r.start = l->start;
    r->r.end = l->end;
    r->r.lo = l->body;
    r->r.hi = l->end;
    r->fbase = l->fbase;
    r->nframes = l->nframes;
    r->tbl = (unsigned char *)l->tbl;
    r->first = first_frame(l->fbase, l->nframes, l->body, l->end);
    r->ready = r->first;
    r->payload = payload;
    ak_region_insert(&a->regions, &r->r);
    set_hint(a, r);
}

ak_error ak_slab_init(ak_slab *a, uintptr_t start, size_t size)
{
    region_layout l;
    if (!layout_region(start, size, &l))
        return AK_ERR_INVALID_PARAM;
    /* ak_tlsf_init leaves the TLSF unchanged when it fails, so a failed
     * init keeps everything; on success it forgets the old blocks and
     * changes its salt, so their headers no longer validate. */
    ak_error e = ak_tlsf_init(&a->tlsf, l.body, (size_t)(l.end - l.body));
    if (e != AK_OK)
        return e;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        a->head[c] = a->spare[c] = NULL;
        a->live[c] = a->slabs[c] = 0;
        for (unsigned w = 0; w < MAP_WORDS; w++)
            a->rows[c][w] = 0; /* init may be given an object that was never zeroed */
    }
    a->large_count = a->large_bytes = a->failed_allocs = 0;
    ak_region_index_clear(&a->regions);
    region_install(a, &l, ak_tlsf_total_bytes(&a->tlsf));
    fast_arm(a);
    return AK_OK;
}

ak_error ak_slab_add_memory(ak_slab *a, uintptr_t start, size_t size)
{
    uintptr_t end;
    if (!ak_range_end(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    if (ak_region_overlaps(&a->regions, start, end))
        return AK_ERR_MEMORY_OVERLAP;
    region_layout l;
    if (!layout_region(start, size, &l))
        return AK_ERR_INVALID_PARAM;
    size_t before = ak_tlsf_total_bytes(&a->tlsf);
    ak_error e = ak_tlsf_add_memory(&a->tlsf, l.body, (size_t)(l.end - l.body));
    if (e != AK_OK)
        return e;
    region_install(a, &l, ak_tlsf_total_bytes(&a->tlsf) - before);
    fast_arm(a);
    return AK_OK;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

size_t ak_slab_total_bytes(const ak_slab *a)
{
    return ak_tlsf_total_bytes(&a->tlsf);
}

size_t ak_slab_used_bytes(const ak_slab *a)
{
    size_t used = a->large_bytes;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        used += a->live[c] * ak_sc_size(c);
    return used;
}

size_t ak_slab_available_bytes(const ak_slab *a)
{
    return ak_slab_total_bytes(a) - ak_slab_used_bytes(a);
}

size_t ak_slab_class_size(unsigned class_index)
{
    return class_index < AK_SLAB_CLASS_COUNT ? ak_sc_size(class_index) : 0;
}

int ak_slab_class_of(size_t size, size_t align)
{
    if (!ak_is_pow2(align))
        return -1;
    return (int)class_for(size, align);
}

/* Live objects of slab s of class c. */
static size_t slab_live(const ak_slab *a, unsigned c, const slab_desc *s)
{
    size_t n = 0;
    for (unsigned w = 0; w < MAP_WORDS; w++)
        n += ak_popcount64((uint64_t)(a->rows[c][w] & ~s->map[w]));
    return n;
}

ak_error ak_slab_class_stats(const ak_slab *a, unsigned class_index, ak_slab_class_info *out)
{
    if (class_index >= AK_SLAB_CLASS_COUNT)
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_index;
    size_t n = class_objects(c), listed = 0, partial = 0, empty = 0, full = 0;
    for (const slab_desc *s = list_first(a, c); s && listed < a->slabs[c]; s = s->next) {
        size_t live = slab_live(a, c, s);
        listed++;
        if (live == 0)
            empty++;
        else if (live == n)
            full++; /* the head, found full by no allocation yet */
        else
            partial++;
    }
    out->object_size = ak_sc_size(c);
    out->object_align = ak_sc_align(c);
    out->slab_size = slab_bytes(c);
    out->objects_per_slab = n;
    out->objects_in_use = a->live[c];
    out->slabs_partial = partial;
    out->slabs_empty = empty + (a->spare[c] != NULL);
    out->slabs_full = a->slabs[c] - listed - (a->spare[c] != NULL) + full;
    out->waste_bytes = a->slabs[c] * slab_bytes(c) - a->live[c] * ak_sc_size(c);
    return AK_OK;
}

void ak_slab_usage_stats(const ak_slab *a, ak_slab_usage *out)
{
    out->small_objects = out->small_bytes = 0;
    out->slabs = out->slab_bytes = out->slabs_empty = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class_info ci;
        ak_slab_class_stats(a, c, &ci);
        out->small_objects += ci.objects_in_use;
        out->small_bytes += ci.objects_in_use * ci.object_size;
        out->slabs += a->slabs[c];
        out->slab_bytes += a->slabs[c] * ci.slab_size;
        out->slabs_empty += ci.slabs_empty;
    }
    out->large_blocks = a->large_count;
    out->large_bytes = a->large_bytes;
    out->waste_bytes = out->slab_bytes - out->small_bytes;
    out->tlsf_used_bytes = ak_tlsf_used_bytes(&a->tlsf);
}

/* ------------------------------------------------------------------ */
/* Walker                                                              */
/* ------------------------------------------------------------------ */

/* The slab that starts at p (a used TLSF block), or NULL; its class in *cp. */
static const slab_desc *slab_at(const ak_slab *a, uintptr_t p, unsigned *cp)
{
    const slab_region *r = region_of(a, p);
    unsigned c;
    const slab_desc *s = r ? slab_around(r, p, &c) : NULL;
    if (!s || slab_start(s, gran_shift(c)) != p)
        return NULL;
    *cp = c;
    return s;
}

typedef struct walk_ctx {
    const ak_slab *a;
    ak_walker fn;
    void *ctx;
} walk_ctx;

/* A TLSF block as the slab's walk reports it: a slab as its object slots,
 * anything else as it is. */
static void walk_block(uintptr_t start, size_t size, bool used, void *ctx)
{
    const walk_ctx *w = (const walk_ctx *)ctx;
    unsigned c;
    const slab_desc *s = used ? slab_at(w->a, start, &c) : NULL;
    if (!s) {
        w->fn(start, size, used, w->ctx);
        return;
    }
    size_t osize = ak_sc_size(c), q = osize >> gran_shift(c), n = class_objects(c);
    for (size_t k = 0; k < n; k++) {
        size_t g = k * q;
        bool live = !((s->map[g >> WORD_SHIFT] >> (g & (WORD_BITS - 1))) & 1u);
        w->fn(start + k * osize, osize, live, w->ctx);
    }
}

void ak_slab_walk(const ak_slab *a, ak_walker fn, void *ctx)
{
    walk_ctx w = {a, fn, ctx};
    ak_tlsf_walk(&a->tlsf, walk_block, &w);
}

/* The free side of the stats, from the TLSF's blocks: a slab's free
 * objects from its map, a free TLSF block as it is. */
typedef struct free_tally {
    const ak_slab *a;
    size_t blocks, bytes, largest;
} free_tally;

static void tally_block(uintptr_t start, size_t size, bool used, void *ctx)
{
    free_tally *t = (free_tally *)ctx;
    unsigned c;
    const slab_desc *s = used ? slab_at(t->a, start, &c) : NULL;
    if (used && !s)
        return; /* a large block */
    size_t n = 1;
    if (s) {
        n = class_objects(c) - slab_live(t->a, c, s);
        size = ak_sc_size(c);
    }
    if (!n)
        return;
    t->blocks += n;
    t->bytes += n * size;
    if (size > t->largest)
        t->largest = size;
}

void ak_slab_stats(const ak_slab *a, struct ak_byte_stats *out)
{
    free_tally t = {a, 0, 0, 0};
    ak_tlsf_walk(&a->tlsf, tally_block, &t);
    size_t live = a->large_count;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        live += a->live[c];
    out->total_bytes = ak_slab_total_bytes(a);
    out->used_bytes = ak_slab_used_bytes(a);
    out->free_bytes = t.bytes;
    out->largest_free = t.largest;
    out->used_blocks = live;
    out->free_blocks = t.blocks;
    out->region_count = a->regions.count;
    out->failed_allocs = a->failed_allocs;
}

/* ------------------------------------------------------------------ */
/* Invariant checker                                                   */
/* ------------------------------------------------------------------ */

/* What the tables hold, per class. */
typedef struct table_count {
    size_t listed[AK_SLAB_CLASS_COUNT]; /* on the list (not full, not the spare) */
    size_t full[AK_SLAB_CLASS_COUNT];
    size_t spare[AK_SLAB_CLASS_COUNT];
    size_t live[AK_SLAB_CLASS_COUNT];
} table_count;

/* The slab of class c at frame f of region r. */
static const char *check_slab(const ak_slab *a, const slab_region *r, size_t f, unsigned c,
                              table_count *t)
{
    const slab_desc *s = frame_desc(r, f);
    uintptr_t h = r->fbase + ((uintptr_t)f << FRAME_SHIFT);
    size_t nf = slab_bytes(c) >> FRAME_SHIFT;
    if ((h & (slab_bytes(c) - 1)) != 0)
        return "slab: not aligned to its size";
    if (h < r->r.lo || h > r->r.hi || r->r.hi - h < slab_request(c))
        return "slab: not inside the TLSF part of its region";
    if (f + nf > r->ready)
        return "slab: frames past the filled slots";
    for (size_t i = 1; i < nf; i++)
        if (frame_desc(r, f + i)->tag != TAG_NONE)
            return "slab: another slab's descriptor inside its span";
    if (a->rows[c][0] == 0)
        return "slab: its class has no row of object starts";
    for (unsigned w = 0; w < MAP_WORDS; w++)
        if (~s->map[w] & ~a->rows[c][w])
            return "slab: a live bit where no object starts";
    if (s->hint >= MAP_WORDS)
        return "slab: hint word past the map";
    if (s->cur != h + ((uintptr_t)s->hint << (WORD_SHIFT + gran_shift(c))))
        return "slab: hint address does not match the hint word";
    size_t live = slab_live(a, c, s);
    t->live[c] += live;
    if (s->tag & TAG_FULL) {
        if (live != class_objects(c))
            return "slab: tagged full with a free object";
        t->full[c]++;
    } else if (s == a->spare[c]) {
        if (live != 0)
            return "slab: the spare is not empty";
        t->spare[c]++;
    } else {
        t->listed[c]++;
    }
    return NULL;
}

static const char *check_region(const ak_slab *a, const slab_region *r, table_count *t)
{
    const ak_region *g = &r->r;
    uintptr_t tbl = ak_align_up((uintptr_t)r + sizeof(slab_region), DESC_BYTES);
    if ((uintptr_t)r != ak_align_up(g->start, DESC_BYTES))
        return "region: record not at the region's start";
    if (r->fbase != (g->start & ~(FRAME_BYTES - 1)) || r->nframes == 0 ||
        (r->nframes - 1) != ((g->end - 1 - r->fbase) >> FRAME_SHIFT))
        return "region: frames do not cover the region";
    if ((uintptr_t)r->tbl != tbl || g->lo != tbl + ((uintptr_t)r->nframes << DESC_SHIFT) ||
        g->hi != g->end)
        return "region: table or TLSF part misplaced";
    if (r->first != first_frame(r->fbase, r->nframes, g->lo, g->end) || r->ready < r->first ||
        r->ready > r->nframes)
        return "region: first or filled frame out of place";
    for (size_t f = r->first; f < r->ready; f++) {
        unsigned tag = frame_desc(r, f)->tag;
        if (tag == TAG_NONE)
            continue;
        unsigned c = tag & ~TAG_FULL;
        if (c >= LARGE)
            return "slab: tag out of range";
        const char *why = check_slab(a, r, f, c, t);
        if (why)
            return why;
    }
    return NULL;
}

/* True if s is the descriptor of a slab of class c in one of the regions'
 * tables (a slot in [first, ready) whose tag names class c). */
static bool is_slab_of(const ak_slab *a, const slab_desc *s, unsigned c)
{
    uintptr_t d = (uintptr_t)s;
    for (const ak_region *g = ak_region_first(&a->regions); g; g = g->next) {
        const slab_region *r = (const slab_region *)(const void *)g;
        uintptr_t t0 = (uintptr_t)r->tbl;
        if (d < t0 || d - t0 >= ((uintptr_t)r->nframes << DESC_SHIFT))
            continue;
        size_t f = (size_t)((d - t0) >> DESC_SHIFT);
        return ((d - t0) & (DESC_BYTES - 1)) == 0 && f >= r->first && f < r->ready &&
               (s->tag & ~TAG_FULL) == c;
    }
    return false;
}

static const char *check_class(const ak_slab *a, unsigned c, const table_count *t)
{
    size_t n = 0, limit = t->listed[c] + 1;
    const slab_desc *prev = NULL;
    for (const slab_desc *s = list_first(a, c); s; prev = s, s = s->next) {
        if (++n > limit)
            return "class: list longer than its slabs (or a cycle)";
        if (!is_slab_of(a, s, c))
            return "class: list holds a descriptor that is no slab of the class";
        if (s->prev != prev)
            return "class: list back link broken";
        if (s->tag != c || s == a->spare[c])
            return "class: list holds a slab not of the class, full or the spare";
        if (prev) {
            size_t live = slab_live(a, c, s);
            if (live == 0 || live == class_objects(c))
                return "class: a slab after the head is empty or full";
        }
    }
    if (n != t->listed[c])
        return "class: slabs on the list and in the tables differ";
    if ((a->spare[c] != NULL) != (t->spare[c] == 1) || t->spare[c] > 1 ||
        (a->spare[c] && !is_slab_of(a, a->spare[c], c)))
        return "class: the spare is not one of the class's slabs";
    if (a->slabs[c] != t->listed[c] + t->full[c] + t->spare[c])
        return "class: slab counter and the tables differ";
    if (a->live[c] != t->live[c])
        return "class: live counter and the maps differ";
    if (a->rows[c][0] != 0) {
        size_t row[MAP_WORDS];
        row_of(c, row);
        for (unsigned w = 0; w < MAP_WORDS; w++)
            if (row[w] != a->rows[c][w])
                return "class: row of object starts wrong";
    }
    return NULL;
}

/* The per-class constants and limits: all zero (a zero-initialised
 * allocator, paths off) or as fast_arm sets them. */
static const char *check_constants(const ak_slab *a)
{
    bool armed = a->fast_limit[1] != 0;
    for (unsigned i = 0; i <= 16; i++)
        if (a->fast_limit[i] != (armed && ak_is_pow2(i) ? FAST_LIMIT : 0) ||
            a->class_limit[i] != (armed && ak_is_pow2(i) ? AK_SLAB_MAX_SMALL : 0))
            return "constants: a path limit is wrong";
    if (!armed)
        return NULL;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        unsigned gs = gran_shift(c);
        if (!a->head[c])
            return "constants: a class without a head";
        if (a->gran_shift[c] != gs || a->gran_mask[c] != ((uintptr_t)1 << gs) - 1 ||
            a->slab_mask[c] != ~(((uintptr_t)256 << gs) - 1))
            return "constants: a class's slab or granule constants are wrong";
        if (ak_sc_size(c) % ((size_t)1 << gs) != 0 ||
            class_objects(c) * (ak_sc_size(c) >> gs) > 256)
            return "constants: a class's objects do not fit its map";
    }
    for (unsigned i = 0; i < AK_SLAB_MAX_SMALL / 16; i++)
        if (a->class_of[i] != ak_sc_index((size_t)i * 16 + 1) ||
            a->class_of[i] != ak_sc_index((size_t)i * 16 + 16))
            return "constants: the size-to-class table is wrong";
    return NULL;
}

typedef struct block_count {
    const ak_slab *a;
    size_t slabs, large, large_bytes;
    const char *why;
} block_count;

static void count_block(uintptr_t start, size_t size, bool used, void *ctx)
{
    block_count *b = (block_count *)ctx;
    unsigned c;
    if (!used)
        return;
    if (slab_at(b->a, start, &c)) {
        /* The TLSF may leave a leftover too small to split in the block. */
        if (size < slab_request(c) || size - slab_request(c) >= 2 * AK_TLSF_MIN_BLOCK)
            b->why = "tlsf: a slab's block is not of the slab's size";
        b->slabs++;
    } else {
        b->large++;
        b->large_bytes += size;
    }
}

const char *ak_slab_check(const ak_slab *a)
{
    const char *why = check_constants(a);
    if (why)
        return why;
    why = ak_region_check(&a->regions);
    if (why)
        return why;
    table_count t;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) /* no struct copy: no memset call */
        t.listed[c] = t.full[c] = t.spare[c] = t.live[c] = 0;
    bool hint_found = a->hint_span == 0 && a->hint_tbl == NULL;
    for (const ak_region *g = ak_region_first(&a->regions); g; g = g->next) {
        const slab_region *r = (const slab_region *)(const void *)g;
        why = check_region(a, r, &t);
        if (why)
            return why;
        if (a->hint_base == view_base(r) && a->hint_span == view_span(r) &&
            a->hint_tbl == view_tbl(r))
            hint_found = true;
    }
    if (!hint_found)
        return "hint: the free path's view is no region's";
    size_t slabs = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        why = check_class(a, c, &t);
        if (why)
            return why;
        slabs += a->slabs[c];
    }
    why = ak_tlsf_check(&a->tlsf);
    if (why)
        return why;
    block_count b = {a, 0, 0, 0, NULL};
    ak_tlsf_walk(&a->tlsf, count_block, &b);
    if (b.why)
        return b.why;
    if (b.slabs != slabs)
        return "tlsf: slabs in the tables and the TLSF's blocks differ";
    if (b.large != a->large_count || b.large_bytes != a->large_bytes)
        return "large: count or bytes differ from the TLSF's blocks";
    if (ak_slab_used_bytes(a) > ak_slab_total_bytes(a))
        return "used bytes exceed total bytes";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The byte-allocator interface                                        */
/* ------------------------------------------------------------------ */

AK_DEFINE_BYTE_ALLOCATOR_FULL(ak_slab, "slab")
