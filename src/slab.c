/* Slab: an object-caching byte allocator for small sizes over an internal
 * TLSF (see include/allockit/slab.h for the class table, slab sizes and
 * waste bounds).
 *
 * A slab is a power-of-two span from the TLSF, aligned to its size. Its
 * header, at the span start, carries a tag derived from the header address,
 * the class and a per-allocator salt (so a pointer's slab, align_down(ptr,
 * slab_size), is validated with one compare), the count of objects in use,
 * the slab's list links, and one allocated bit per object. The bitmap is
 * both the free structure and the double-free detector: alloc takes the
 * lowest clear bit at or after a hint word (at most 4 words of 64 bits), a
 * free clears its bit. Header and bitmap share the header's first cache
 * line for classes up to 32 bytes (and need at most two for any class), so
 * alloc and free touch only the slab header, never the objects: an
 * intrusive free list would read a cold object on every alloc and write
 * one on every free.
 *
 * Each class has a list of partial slabs (allocation takes from the head),
 * a count of full slabs (on no list; the checker finds them by walking the
 * TLSF), and at most one cached empty slab: a slab that empties while one
 * is cached goes back to the TLSF. When the TLSF cannot satisfy a request,
 * every cached empty slab is released and the request retried once.
 *
 * Costs: alloc/free O(1) (free O(regions) to validate its pointer when
 * there are several regions); a new slab or a released one costs one TLSF
 * call. Overhead: the header (32 bytes on 64-bit targets, 20 on 32-bit,
 * plus the bitmap, rounded up to the class's alignment) and AK_SLAB_TAIL
 * bytes per slab, and one region record (3 words) at the start of each
 * region.
 *
 * Invariants (checked by ak_slab_check): every slab carries its class's
 * tag, lies inside a region and is aligned to its size; partial slabs (on
 * the list) have 0 < in_use < objects, full ones (found in the TLSF)
 * in_use == objects, the cached one in_use == 0; the bitmap has exactly
 * in_use bits set below the object count and every bit past it set; words
 * below the hint are full; per-class counters match the slabs; the TLSF's
 * used bytes equal the slabs' requests plus the requested bytes of large
 * blocks; the TLSF passes ak_tlsf_check.
 */
#include "ak_internal.h"
#include <allockit/slab.h>

#if defined(__GNUC__) || defined(__clang__)
#define AK_LIKELY(x)   __builtin_expect(!!(x), 1)
#define AK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AK_NOINLINE    __attribute__((noinline))
#else
#define AK_LIKELY(x)   (x)
#define AK_UNLIKELY(x) (x)
#define AK_NOINLINE
#endif

/* ------------------------------------------------------------------ */
/* Slab header and class table                                         */
/* ------------------------------------------------------------------ */

enum { LIST_PARTIAL = 1, LIST_FULL = 2, LIST_EMPTY = 3 };

#define LARGE    AK_SLAB_CLASS_COUNT
#define BM_BITS  AK_SIZE_BITS
#define BM_SHIFT (sizeof(size_t) == 8 ? 6u : 5u)

struct ak_slab_hdr {
    uintptr_t tag;  /* slab_tag(a, header address, class) while the slab is held */
    uint16_t inuse; /* objects allocated */
    uint8_t hint;   /* bitmap words below this one are full */
    uint8_t cls;
    uint8_t list; /* LIST_* */
    struct ak_slab_hdr *next, *prev;
    size_t bitmap[]; /* bit set: object allocated (or past the last object) */
};
typedef struct ak_slab_hdr slab_hdr;

/* The tag of a live slab: mixes the header address with the class and
 * the allocator's salt, so a header of another class, a released slab
 * (its tag is cleared) or one left in the memory by an earlier allocator
 * over the same region (another salt) does not match. */
static inline uintptr_t slab_tag(const ak_slab *a, uintptr_t h, unsigned cls)
{
    return (h ^ a->salt) + (uintptr_t)(cls + 1) * 0x9e3779b1u;
}

/* Each allocator instance gets its own salt when it takes its first
 * region: a counter of instances mixed with the object's and the region's
 * addresses. Not a secret, only distinct from one instance to the next. */
static uintptr_t salt_counter;

static uintptr_t make_salt(const ak_slab *a, uintptr_t start)
{
    uint64_t x = (uint64_t)++salt_counter * 0x9e3779b97f4a7c15ull;
    x ^= (uint64_t)(uintptr_t)a * 0xbf58476d1ce4e5b9ull;
    x ^= (uint64_t)start * 0x94d049bb133111ebull;
    x ^= x >> 31;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return (uintptr_t)x;
}

typedef struct class_info {
    uint32_t size;      /* object size */
    uint32_t recip;     /* ceil(2^32 / size): offset / size for offsets < 2^16 */
    uint16_t nslot;     /* object-sized slots in the slab (before its tail) */
    uint16_t nobj;      /* objects per slab: nslot - nhdr */
    uint16_t align;     /* lowest set bit of size: every object's alignment */
    uint8_t nhdr;       /* slots the header takes */
    uint8_t cmask;      /* colours - 1 */
    uint8_t cstep;      /* slots from one colour to the next */
    uint8_t slab_shift; /* log2 of the slab size */
    uint8_t bm_words;   /* bitmap words */
} class_info;

/* Layout: the slab is cut into object-sized slots from its start; the
 * header takes nhdr slots at slot colour * cstep, where the colour comes
 * from the slab address's bits above the slab size. Slabs that follow one
 * another thus put their headers at different offsets, so the headers of
 * a class do not all fall into the few cache sets that one fixed offset in
 * a 4 KiB-aligned span maps to. The colour step is a cache line (at least
 * one slot). Header slots, and slots past the last, are set in the bitmap
 * once and for all. */
#define LOWBIT(s)             ((s) & (~(s) + 1u))
#define SLAB_BYTES(sh)        (1u << (sh))
#define NSLOT(s, sh)          ((SLAB_BYTES(sh) - AK_SLAB_TAIL) / (s))
#define BM_WORDS(s, sh)       ((NSLOT(s, sh) + BM_BITS - 1) / BM_BITS)
#define HDR_BYTES(s, sh)      (offsetof(slab_hdr, bitmap) + BM_WORDS(s, sh) * sizeof(size_t))
#define NHDR(s, sh)           ((HDR_BYTES(s, sh) + (s)-1) / (s))
#define CSTEP(s)              ((s) >= 64u ? 1u : 64u / (s))
#define COLOURS_FIT(n, s, sh) (((n)-1u) * CSTEP(s) + NHDR(s, sh) <= NSLOT(s, sh))
#define COLOURS(s, sh)                                                                             \
    (COLOURS_FIT(16u, s, sh)  ? 16u                                                                \
     : COLOURS_FIT(8u, s, sh) ? 8u                                                                 \
     : COLOURS_FIT(4u, s, sh) ? 4u                                                                 \
     : COLOURS_FIT(2u, s, sh) ? 2u                                                                 \
                              : 1u)
#define NOBJ(s, sh) (NSLOT(s, sh) - NHDR(s, sh))
#define CLASS(s, sh)                                                                               \
    {                                                                                              \
        (s), (uint32_t)(UINT32_MAX / (s) + 1u), (uint16_t)NSLOT(s, sh), (uint16_t)NOBJ(s, sh),     \
            (uint16_t)LOWBIT(s), (uint8_t)NHDR(s, sh), (uint8_t)(COLOURS(s, sh) - 1u),             \
            (uint8_t)CSTEP(s), (sh), (uint8_t)BM_WORDS(s, sh)                                      \
    }

/* Slab size 4096 << max(0, log2(size) - 8), doubled for the classes that
 * are not powers of two from 320 up (whose header takes a whole slot):
 * 9..251 objects per slab; header and tail take at most 1/8 of the slab
 * (the power-of-two classes from 256 up) and less than 1/14 for every
 * other class. */
static const class_info classes[AK_SLAB_CLASS_COUNT] = {
    CLASS(16, 12),   CLASS(32, 12),   CLASS(48, 12),   CLASS(64, 12),   CLASS(80, 12),
    CLASS(96, 12),   CLASS(112, 12),  CLASS(128, 12),  CLASS(160, 12),  CLASS(192, 12),
    CLASS(224, 12),  CLASS(256, 12),  CLASS(320, 13),  CLASS(384, 13),  CLASS(448, 13),
    CLASS(512, 13),  CLASS(640, 14),  CLASS(768, 14),  CLASS(896, 14),  CLASS(1024, 14),
    CLASS(1280, 15), CLASS(1536, 15), CLASS(1792, 15), CLASS(2048, 15), CLASS(2560, 16),
    CLASS(3072, 16), CLASS(3584, 16), CLASS(4096, 16),
};

#define MAX_BM_WORDS BM_WORDS(16u, 12u)

_Static_assert(NSLOT(16u, 12u) <= 65535u && MAX_BM_WORDS <= 255u, "in_use and hint fit");
_Static_assert(NOBJ(4096u, 16u) >= 8u && NOBJ(384u, 13u) >= 8u, "8+ objects per slab");
_Static_assert(NHDR(16u, 12u) * 16u <= 64u, "the smallest class's header fits a cache line");
/* The reciprocal division is exact for n * size < 2^32: offsets are below
 * 2^16 and sizes below 2^13. */
_Static_assert(SLAB_BYTES(16u) <= 65536u && AK_SLAB_MAX_SMALL <= 8192u,
               "reciprocal division range");

/* Class of a request of up to 4096 bytes with align <= 16: entry
 * (size + 15) / 16 is the smallest class >= max(size, 1). */
static const uint8_t size_class[AK_SLAB_MAX_SMALL / 16 + 1] = {
    0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  8,  9,  9,  10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13,
    13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
    17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21,
    21, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24,
    24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25, 25, 25, 25, 25,
    25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25,
    25, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26,
    26, 26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27,
    27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27,
};

/* Class of a request whose align is a power of two: the table's class,
 * moved up to the first class whose guaranteed alignment is enough (at
 * most three steps past the first class with that alignment), or LARGE. */
static inline unsigned class_for(size_t size, size_t align)
{
    if (size > AK_SLAB_MAX_SMALL || align > AK_SLAB_MAX_CLASS_ALIGN)
        return LARGE;
    unsigned c = size_class[(size + 15) >> 4];
    while (classes[c].align < align)
        c++;
    return c;
}

static inline uintptr_t slab_bytes(const class_info *ci)
{
    return (uintptr_t)1 << ci->slab_shift;
}

/* What a slab asks of the TLSF: its span less the TLSF header of the next
 * block, so that slabs placed back to back tile their spans exactly. */
static inline size_t slab_request(const class_info *ci)
{
    return (size_t)slab_bytes(ci) - AK_SLAB_TAIL;
}

/* The header's first slot in the slab at h. */
static inline unsigned hdr_slot(const class_info *ci, uintptr_t h)
{
    return (unsigned)((h >> ci->slab_shift) & ci->cmask) * ci->cstep;
}

static inline slab_hdr *hdr_of(const class_info *ci, uintptr_t h)
{
    return (slab_hdr *)(h + (size_t)hdr_slot(ci, h) * ci->size);
}

static inline uintptr_t base_of(const class_info *ci, const slab_hdr *s)
{
    return (uintptr_t)s & ~(slab_bytes(ci) - 1);
}

/* Bits of bitmap word w that are not objects: the header's slots and the
 * slots past the last. */
static size_t reserved_bits(const class_info *ci, unsigned hs, unsigned w)
{
    unsigned lo = w * BM_BITS;
    size_t m = 0;
    for (unsigned i = hs; i < hs + ci->nhdr; i++)
        if (i >= lo && i - lo < BM_BITS)
            m |= (size_t)1 << (i - lo);
    if (ci->nslot <= lo)
        m = ~(size_t)0;
    else if (ci->nslot - lo < BM_BITS)
        m |= ~(size_t)0 << (ci->nslot - lo);
    return m;
}

static inline bool bit_test(const slab_hdr *s, uint32_t idx)
{
    return (s->bitmap[idx >> BM_SHIFT] >> (idx & (BM_BITS - 1))) & 1u;
}

/* ------------------------------------------------------------------ */
/* Slab lists                                                          */
/* ------------------------------------------------------------------ */

/* The partial list is doubly linked, except that the head's prev link is
 * not kept: popping the head (when it fills) then touches no other slab's
 * header, which in a churn of random frees is a cache miss saved on most
 * allocations. Every other member's prev is exact, so removing one from
 * the middle (when it empties) is O(1). Full slabs are on no list (only
 * counted): a free into a full slab pushes it back to the head. */
static inline void partial_push(ak_slab_class *k, slab_hdr *s)
{
    s->list = LIST_PARTIAL;
    s->next = k->partial;
    if (k->partial)
        k->partial->prev = s;
    k->partial = s;
    k->partial_count++;
}

static inline void partial_remove(ak_slab_class *k, slab_hdr *s)
{
    if (s == k->partial) {
        k->partial = s->next;
    } else {
        s->prev->next = s->next;
        if (s->next)
            s->next->prev = s->prev;
    }
    s->next = s->prev = NULL;
    k->partial_count--;
}

/* ------------------------------------------------------------------ */
/* Regions: where a pointer may be read                                */
/* ------------------------------------------------------------------ */

/* The region holding p, or NULL. O(1) with one region. */
static inline const ak_region *region_of(const ak_slab *a, uintptr_t p)
{
    if (a->region_count == 1)
        return (p >= a->lo && p < a->hi) ? a->regions : NULL;
    for (const ak_region *r = a->regions; r; r = r->next)
        if (p >= r->start && p < r->end)
            return r;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Slabs from and to the TLSF                                          */
/* ------------------------------------------------------------------ */

static size_t cached_count(const ak_slab *a)
{
    size_t n = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        n += a->cls[c].empty != NULL;
    return n;
}

static void slab_release(ak_slab *a, slab_hdr *s, const class_info *ci)
{
    s->tag = 0; /* a stale header must never validate */
    ak_error e =
        ak_tlsf_dealloc(&a->tlsf, (void *)base_of(ci, s), slab_request(ci), slab_bytes(ci));
    AK_ASSERT(e == AK_OK);
    (void)e;
}

size_t ak_slab_trim(ak_slab *a)
{
    size_t n = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        slab_hdr *s = a->cls[c].empty;
        if (s) {
            a->cls[c].empty = NULL;
            slab_release(a, s, &classes[c]);
            n++;
        }
    }
    return n;
}

/* Ask the TLSF; when it is out of memory and a retry could succeed,
 * release the cached empty slabs and ask once more. */
static ak_error tlsf_alloc_pressed(ak_slab *a, size_t size, size_t align, void **out)
{
    ak_error e = ak_tlsf_alloc(&a->tlsf, size, align, out);
    /* A request that could not fit even in an empty TLSF (larger than the
     * total, or no address aligned for it in the regions' span) keeps the
     * cache: failing it must change nothing. */
    uintptr_t at;
    if (e == AK_ERR_NO_MEMORY && cached_count(a) != 0 && size <= ak_tlsf_total_bytes(&a->tlsf) &&
        ak_align_up_checked(a->lo, align, &at) && at < a->hi && a->hi - at >= size) {
        ak_slab_trim(a);
        e = ak_tlsf_alloc(&a->tlsf, size, align, out);
    }
    return e;
}

/* A partial slab for class c when its partial list is empty: the cached
 * empty slab, else a new one from the TLSF. NULL if none can be had. */
static AK_NOINLINE slab_hdr *class_refill(ak_slab *a, unsigned c)
{
    ak_slab_class *k = &a->cls[c];
    const class_info *ci = &classes[c];
    slab_hdr *s = k->empty;
    if (s) {
        k->empty = NULL;
    } else {
        void *mem;
        if (tlsf_alloc_pressed(a, slab_request(ci), slab_bytes(ci), &mem) != AK_OK)
            return NULL;
        uintptr_t h = (uintptr_t)mem;
        unsigned hs = hdr_slot(ci, h);
        s = hdr_of(ci, h);
        s->inuse = 0;
        s->hint = 0;
        s->cls = (uint8_t)c;
        s->tag = slab_tag(a, h, c);
        /* Reserved slots are marked allocated, so a search never picks them. */
        for (unsigned w = 0; w < ci->bm_words; w++)
            s->bitmap[w] = reserved_bits(ci, hs, w);
    }
    partial_push(k, s);
    return s;
}

/* ------------------------------------------------------------------ */
/* Large blocks                                                        */
/* ------------------------------------------------------------------ */

/* True if the slab span at h (of class c) lies inside region r. */
static inline bool span_in_region(const class_info *ci, uintptr_t h, uintptr_t start, uintptr_t end)
{
    return h >= start && h < end && end - h >= slab_request(ci);
}

/* The live slab of class c whose span holds p, or NULL. Reads only inside
 * region r (which holds p). */
static const slab_hdr *slab_at(const ak_slab *a, const ak_region *r, uintptr_t p, unsigned c)
{
    const class_info *ci = &classes[c];
    uintptr_t h = p & ~(slab_bytes(ci) - 1);
    if (!span_in_region(ci, h, r->start, r->end))
        return NULL;
    const slab_hdr *s = hdr_of(ci, h);
    return s->tag == slab_tag(a, h, c) ? s : NULL;
}

/* True if p lies inside a slab the allocator holds. Used to refuse a small
 * object, or a slab itself, freed as a large block. O(classes). */
static bool inside_slab(const ak_slab *a, const ak_region *r, uintptr_t p)
{
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        if (slab_at(a, r, p, c))
            return true;
    return false;
}

static AK_NOINLINE ak_error large_alloc(ak_slab *a, size_t size, size_t align, void **out)
{
    void *p;
    ak_error e = tlsf_alloc_pressed(a, size, align, &p);
    if (e != AK_OK)
        return e;
    a->large_count++;
    a->large_requested += size;
    *out = p;
    return AK_OK;
}

/* Validate a large block's pointer as far as the slab layer can: inside a
 * region and not inside a slab. The TLSF validates the rest. */
static ak_error large_locate(const ak_slab *a, const void *ptr)
{
    const ak_region *r = region_of(a, (uintptr_t)ptr);
    if (!r || inside_slab(a, r, (uintptr_t)ptr))
        return AK_ERR_NOT_ALLOCATED;
    return AK_OK;
}

static AK_NOINLINE ak_error large_dealloc(ak_slab *a, void *ptr, size_t size, size_t align)
{
    ak_error e = large_locate(a, ptr);
    if (e != AK_OK)
        return e;
    e = ak_tlsf_dealloc(&a->tlsf, ptr, size, align);
    if (e != AK_OK)
        return e;
    a->large_count--;
    a->large_requested -= size;
    return AK_OK;
}

/* ------------------------------------------------------------------ */
/* Alloc and free                                                      */
/* ------------------------------------------------------------------ */

ak_error ak_slab_alloc(ak_slab *a, size_t size, size_t align, void **out)
{
    unsigned c;
    /* align - 1 < 16 also rejects align 0 (it wraps) into the slow path. */
    if (AK_LIKELY(size <= AK_SLAB_MAX_SMALL && align - 1 < 16 && (align & (align - 1)) == 0)) {
        c = size_class[(size + 15) >> 4];
    } else {
        if (!ak_is_pow2(align))
            return AK_ERR_INVALID_PARAM;
        c = class_for(size, align);
        if (c == LARGE)
            return large_alloc(a, size, align, out);
    }
    ak_slab_class *k = &a->cls[c];
    const class_info *ci = &classes[c];
    slab_hdr *s = k->partial;
    if (AK_UNLIKELY(!s)) {
        s = class_refill(a, c);
        if (!s)
            return AK_ERR_NO_MEMORY;
    }
    /* A partial slab has a clear bit at or after the hint word. */
    unsigned w = s->hint;
    size_t word = s->bitmap[w];
    while (AK_UNLIKELY(word == ~(size_t)0))
        word = s->bitmap[++w];
    unsigned bit = ak_ffs_size(~word);
    s->bitmap[w] = word | ((size_t)1 << bit);
    s->hint = (uint8_t)w;
    unsigned char *obj = (unsigned char *)base_of(ci, s) + (size_t)(w * BM_BITS + bit) * ci->size;
    if (AK_UNLIKELY(++s->inuse == ci->nobj)) {
        /* s is the head: pop it; its successor's prev link goes stale */
        k->partial = s->next;
        k->partial_count--;
        s->list = LIST_FULL;
        k->full_count++;
    }
    k->in_use++;
    k->requested += size;
    *out = obj;
    return AK_OK;
}

/* A slab of class k just lost its last object: cache it if the class has
 * no cached slab, else give it back to the TLSF. */
static AK_NOINLINE void slab_emptied(ak_slab *a, ak_slab_class *k, slab_hdr *s,
                                     const class_info *ci)
{
    partial_remove(k, s);
    if (!k->empty) {
        s->list = LIST_EMPTY;
        k->empty = s;
    } else {
        slab_release(a, s, ci);
    }
}

/* Find the allocated object of class c at p: its slab and index.
 * Reads memory only inside the region holding p. */
static inline ak_error small_locate(const ak_slab *a, uintptr_t p, unsigned c, slab_hdr **sp,
                                    uint32_t *ip)
{
    const class_info *ci = &classes[c];
    uintptr_t h = p & ~(slab_bytes(ci) - 1);
    /* The whole span must lie in the region holding p before its header
     * (anywhere in the span) is read. */
    if (AK_LIKELY(a->region_count == 1)) {
        if (AK_UNLIKELY(!span_in_region(ci, h, a->lo, a->hi)))
            return AK_ERR_NOT_ALLOCATED;
    } else {
        const ak_region *r = region_of(a, p);
        if (!r || !span_in_region(ci, h, r->start, r->end))
            return AK_ERR_NOT_ALLOCATED;
    }
    unsigned hs = hdr_slot(ci, h);
    slab_hdr *s = (slab_hdr *)(h + (size_t)hs * ci->size);
    if (AK_UNLIKELY(s->tag != slab_tag(a, h, c)))
        return AK_ERR_NOT_ALLOCATED;
    uintptr_t off = p - h;
    uint32_t idx = (uint32_t)(((uint64_t)(uint32_t)off * ci->recip) >> 32);
    /* An object start, not a header slot nor past the last slot, allocated. */
    if (AK_UNLIKELY((uintptr_t)idx * ci->size != off || idx >= ci->nslot || idx - hs < ci->nhdr ||
                    !bit_test(s, idx)))
        return AK_ERR_NOT_ALLOCATED;
    *sp = s;
    *ip = idx;
    return AK_OK;
}

ak_error ak_slab_dealloc(ak_slab *a, void *ptr, size_t size, size_t align)
{
    unsigned c;
    if (AK_LIKELY(size <= AK_SLAB_MAX_SMALL && align - 1 < 16 && (align & (align - 1)) == 0)) {
        c = size_class[(size + 15) >> 4];
    } else {
        if (!ak_is_pow2(align))
            return AK_ERR_INVALID_PARAM;
        c = class_for(size, align);
        if (c == LARGE)
            return large_dealloc(a, ptr, size, align);
    }
    slab_hdr *s;
    uint32_t idx;
    ak_error e = small_locate(a, (uintptr_t)ptr, c, &s, &idx);
    if (AK_UNLIKELY(e != AK_OK))
        return e;
    ak_slab_class *k = &a->cls[c];
    const class_info *ci = &classes[c];
    unsigned w = idx >> BM_SHIFT;
    s->bitmap[w] &= ~((size_t)1 << (idx & (BM_BITS - 1)));
    if (w < s->hint)
        s->hint = (uint8_t)w;
    if (AK_UNLIKELY(s->inuse == ci->nobj)) {
        k->full_count--;
        partial_push(k, s);
    }
    if (AK_UNLIKELY(--s->inuse == 0))
        slab_emptied(a, k, s, ci);
    k->in_use--;
    k->requested -= size;
    return AK_OK;
}

ak_error ak_slab_resize(ak_slab *a, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(old_size, align);
    if (c == LARGE) {
        ak_error e = large_locate(a, ptr);
        if (e != AK_OK)
            return e;
        if (class_for(new_size, align) != LARGE)
            return AK_ERR_NO_MEMORY; /* it would have to move into a slab */
        e = ak_tlsf_resize(&a->tlsf, ptr, old_size, align, new_size);
        if (e != AK_OK)
            return e;
        a->large_requested = a->large_requested - old_size + new_size;
        return AK_OK;
    }
    slab_hdr *s;
    uint32_t idx;
    ak_error e = small_locate(a, (uintptr_t)ptr, c, &s, &idx);
    if (e != AK_OK)
        return e;
    if (class_for(new_size, align) != c)
        return AK_ERR_NO_MEMORY;
    a->cls[c].requested = a->cls[c].requested - old_size + new_size;
    return AK_OK;
}

size_t ak_slab_usable_size(const ak_slab *a, const void *ptr, size_t size, size_t align)
{
    if (!ak_is_pow2(align))
        return size;
    unsigned c = class_for(size, align);
    if (c == LARGE) {
        if (large_locate(a, ptr) != AK_OK)
            return size;
        return ak_tlsf_usable_size(&a->tlsf, ptr, size, align);
    }
    slab_hdr *s;
    uint32_t idx;
    if (small_locate(a, (uintptr_t)ptr, c, &s, &idx) != AK_OK)
        return size;
    return classes[c].size;
}

/* ------------------------------------------------------------------ */
/* Regions                                                             */
/* ------------------------------------------------------------------ */

/* Carve a region record from the region start, give the rest to the TLSF
 * (init for the first region), then link the record. */
static ak_error add_region(ak_slab *a, uintptr_t start, size_t size, bool first)
{
    uintptr_t end, rec;
    if (!ak_range_end(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    if (ak_region_overlaps(a->regions, start, end))
        return AK_ERR_MEMORY_OVERLAP;
    if (!ak_align_up_checked(start, _Alignof(ak_region), &rec) || rec >= end ||
        end - rec <= sizeof(ak_region))
        return AK_ERR_INVALID_PARAM;
    uintptr_t body = rec + sizeof(ak_region);
    ak_error e = first ? ak_tlsf_init(&a->tlsf, body, (size_t)(end - body))
                       : ak_tlsf_add_memory(&a->tlsf, body, (size_t)(end - body));
    if (e != AK_OK)
        return e;
    if (a->region_count == 0)
        a->salt = make_salt(a, start);
    ak_region *r = (ak_region *)rec;
    r->start = start;
    r->end = end;
    r->next = a->regions;
    a->regions = r;
    if (a->region_count == 0 || start < a->lo)
        a->lo = start;
    if (a->region_count == 0 || end > a->hi)
        a->hi = end;
    a->region_count++;
    return AK_OK;
}

/* Forget every slab, block and region: a zero-initialised allocator, so
 * that a failed init leaves a valid empty one. Field by field and byte by
 * byte: a struct assignment from {0} becomes a call to a compiler-runtime
 * routine (__aeabi_memclr) on some targets. */
static void slab_reset(ak_slab *a)
{
    unsigned char *t = (unsigned char *)&a->tlsf;
    for (size_t i = 0; i < sizeof a->tlsf; i++)
        t[i] = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class *k = &a->cls[c];
        k->partial = k->empty = NULL;
        k->in_use = k->requested = k->partial_count = k->full_count = 0;
    }
    a->regions = NULL;
    a->lo = a->hi = a->salt = 0;
    a->region_count = a->large_count = a->large_requested = 0;
}

ak_error ak_slab_init(ak_slab *a, uintptr_t start, size_t size)
{
    slab_reset(a);
    return add_region(a, start, size, true);
}

ak_error ak_slab_add_memory(ak_slab *a, uintptr_t start, size_t size)
{
    return add_region(a, start, size, a->region_count == 0);
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
    size_t used = a->large_requested;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        used += a->cls[c].requested;
    return used;
}

size_t ak_slab_available_bytes(const ak_slab *a)
{
    return ak_slab_total_bytes(a) - ak_slab_used_bytes(a);
}

size_t ak_slab_class_size(unsigned class_index)
{
    return class_index < AK_SLAB_CLASS_COUNT ? classes[class_index].size : 0;
}

int ak_slab_class_of(size_t size, size_t align)
{
    if (!ak_is_pow2(align))
        return -1;
    return (int)class_for(size, align);
}

ak_error ak_slab_class_stats(const ak_slab *a, unsigned class_index, ak_slab_class_info *out)
{
    if (class_index >= AK_SLAB_CLASS_COUNT)
        return AK_ERR_INVALID_PARAM;
    const ak_slab_class *k = &a->cls[class_index];
    const class_info *ci = &classes[class_index];
    out->object_size = ci->size;
    out->object_align = ci->align;
    out->slab_size = slab_bytes(ci);
    out->objects_per_slab = ci->nobj;
    out->objects_in_use = k->in_use;
    out->requested_bytes = k->requested;
    out->slabs_partial = k->partial_count;
    out->slabs_full = k->full_count;
    out->slabs_empty = k->empty != NULL;
    size_t slabs = out->slabs_partial + out->slabs_full + out->slabs_empty;
    out->waste_bytes = slabs * out->slab_size - k->requested;
    return AK_OK;
}

void ak_slab_stats(const ak_slab *a, ak_slab_stats_info *out)
{
    out->small_objects = out->small_requested = 0;
    out->slabs = out->slab_bytes = out->slabs_empty = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class_info ci;
        ak_slab_class_stats(a, c, &ci);
        out->small_objects += ci.objects_in_use;
        out->small_requested += ci.requested_bytes;
        out->slabs += ci.slabs_partial + ci.slabs_full + ci.slabs_empty;
        out->slab_bytes += (ci.slabs_partial + ci.slabs_full + ci.slabs_empty) * ci.slab_size;
        out->slabs_empty += ci.slabs_empty;
    }
    out->total_bytes = ak_slab_total_bytes(a);
    out->large_blocks = a->large_count;
    out->large_requested = a->large_requested;
    out->used_bytes = out->small_requested + out->large_requested;
    out->waste_bytes = out->slab_bytes - out->small_requested;
    out->tlsf_used_bytes = ak_tlsf_used_bytes(&a->tlsf);
    out->region_count = a->region_count;
}

/* ------------------------------------------------------------------ */
/* Invariant checker                                                   */
/* ------------------------------------------------------------------ */

/* One slab of class c found on list `which`. */
static const char *check_slab(const ak_slab *a, const slab_hdr *s, unsigned c, uint8_t which)
{
    const class_info *ci = &classes[c];
    uintptr_t h = base_of(ci, s);
    if (s != hdr_of(ci, h))
        return "slab: header not at its colour's slot";
    const ak_region *r = region_of(a, h);
    if (!r || !span_in_region(ci, h, r->start, r->end))
        return "slab: not inside a region";
    if (s->tag != slab_tag(a, h, c) || s->cls != c)
        return "slab: header tag or class does not match its class list";
    if (s->list != which)
        return "slab: list tag does not match the list it is on";
    if (s->inuse > ci->nobj)
        return "slab: in_use exceeds the objects per slab";
    if (s->hint >= ci->bm_words)
        return "slab: hint past the bitmap";
    if (which == LIST_PARTIAL && (s->inuse == 0 || s->inuse == ci->nobj))
        return "slab: a partial slab is empty or full";
    if (which == LIST_FULL && s->inuse != ci->nobj)
        return "slab: a full slab has free objects";
    if (which == LIST_EMPTY && s->inuse != 0)
        return "slab: the cached empty slab has objects in use";
    unsigned set = 0, hs = hdr_slot(ci, h);
    for (unsigned w = 0; w < ci->bm_words; w++) {
        size_t word = s->bitmap[w];
        size_t past = reserved_bits(ci, hs, w);
        if ((word & past) != past)
            return "slab: a header slot or a slot past the last is clear";
        if (w < s->hint && word != ~(size_t)0)
            return "slab: a word below the hint has a free object";
        set += ak_popcount64((uint64_t)(word & ~past));
    }
    if (set != s->inuse)
        return "slab: allocated bits do not match in_use";
    return NULL;
}

/* Walk the partial list of class c; counts slabs and objects in use. */
static const char *check_partial(const ak_slab *a, unsigned c, size_t limit, size_t *slabs,
                                 size_t *objects)
{
    const slab_hdr *prev = NULL;
    size_t n = 0;
    for (const slab_hdr *s = a->cls[c].partial; s; prev = s, s = s->next) {
        if (++n > limit)
            return "class: partial list longer than memory allows (cycle)";
        if (prev && s->prev != prev)
            return "class: partial list back link broken";
        const char *why = check_slab(a, s, c, LIST_PARTIAL);
        if (why)
            return why;
        *objects += s->inuse;
    }
    *slabs = n;
    return NULL;
}

/* Full slabs are on no list: they are found by walking the TLSF's blocks.
 * A used block at a slab-aligned address with a valid tag is a slab. */
typedef struct slab_walk {
    const ak_slab *a;
    const char *why;
    size_t slabs[AK_SLAB_CLASS_COUNT][4]; /* per class, per LIST_* */
    size_t objects[AK_SLAB_CLASS_COUNT];  /* in full slabs */
} slab_walk;

static void walk_block(void *ptr, size_t size, bool used, void *ctx)
{
    slab_walk *w = (slab_walk *)ctx;
    uintptr_t h = (uintptr_t)ptr;
    if (w->why || !used || !ak_is_aligned(h, SLAB_BYTES(12u)))
        return;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        const class_info *ci = &classes[c];
        if (!ak_is_aligned(h, slab_bytes(ci)) || size < slab_request(ci))
            continue;
        const slab_hdr *s = hdr_of(ci, h);
        if (s->tag != slab_tag(w->a, h, c))
            continue;
        if (s->cls != c || s->list < LIST_PARTIAL || s->list > LIST_EMPTY) {
            w->why = "slab: class or list tag of a slab is wrong";
            return;
        }
        w->slabs[c][s->list]++;
        if (s->list == LIST_FULL) {
            w->why = check_slab(w->a, s, c, LIST_FULL);
            w->objects[c] += s->inuse;
        }
        return;
    }
}

const char *ak_slab_check(const ak_slab *a)
{
    size_t nreg = 0;
    for (const ak_region *r = a->regions; r; r = r->next) {
        if (++nreg > a->region_count)
            return "regions: more records than region_count";
        if (r->start >= r->end)
            return "regions: empty or inverted record";
        if (r->start < a->lo || r->end > a->hi)
            return "regions: record outside the lo/hi span";
        if (ak_region_overlaps(r->next, r->start, r->end))
            return "regions: two records overlap";
    }
    if (nreg != a->region_count)
        return "regions: fewer records than region_count";
    const char *why = ak_tlsf_check(&a->tlsf);
    if (why)
        return why;

    slab_walk w;
    w.a = a;
    w.why = NULL;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        w.objects[c] = 0;
        for (unsigned l = 0; l < 4; l++)
            w.slabs[c][l] = 0;
    }
    ak_tlsf_walk(&a->tlsf, walk_block, &w);
    if (w.why)
        return w.why;

    size_t total = ak_tlsf_total_bytes(&a->tlsf);
    size_t slab_total = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        const ak_slab_class *k = &a->cls[c];
        const class_info *ci = &classes[c];
        size_t np, objects = w.objects[c];
        why = check_partial(a, c, total / slab_bytes(ci) + 1, &np, &objects);
        if (why)
            return why;
        if (k->empty) {
            why = check_slab(a, k->empty, c, LIST_EMPTY);
            if (why)
                return why;
        }
        if (np != k->partial_count || w.slabs[c][LIST_PARTIAL] != np)
            return "class: partial slabs in the list, the counter and the TLSF differ";
        if (w.slabs[c][LIST_FULL] != k->full_count)
            return "class: full slabs in the TLSF and the counter differ";
        if (w.slabs[c][LIST_EMPTY] != (k->empty != NULL))
            return "class: a slab tagged empty is not the cached one";
        if (objects != k->in_use)
            return "class: objects in use do not match the slabs";
        if (k->requested > k->in_use * ci->size)
            return "class: requested bytes exceed objects * class size";
        slab_total += (np + k->full_count + (k->empty != NULL)) * slab_request(ci);
    }
    if (a->large_count == 0 && a->large_requested != 0)
        return "large: requested bytes without live large blocks";
    if (ak_tlsf_used_bytes(&a->tlsf) != slab_total + a->large_requested)
        return "tlsf: used bytes != slab requests + large requested bytes";
    if (ak_slab_used_bytes(a) > total)
        return "used bytes exceed total bytes";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The byte-allocator interface                                        */
/* ------------------------------------------------------------------ */

static ak_error ops_init(void *self, uintptr_t start, size_t size)
{
    return ak_slab_init((ak_slab *)self, start, size);
}

static ak_error ops_add_memory(void *self, uintptr_t start, size_t size)
{
    return ak_slab_add_memory((ak_slab *)self, start, size);
}

static ak_error ops_alloc(void *self, size_t size, size_t align, void **out)
{
    return ak_slab_alloc((ak_slab *)self, size, align, out);
}

static ak_error ops_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    return ak_slab_dealloc((ak_slab *)self, ptr, size, align);
}

static size_t ops_total(const void *self)
{
    return ak_slab_total_bytes((const ak_slab *)self);
}

static size_t ops_used(const void *self)
{
    return ak_slab_used_bytes((const ak_slab *)self);
}

static size_t ops_available(const void *self)
{
    return ak_slab_available_bytes((const ak_slab *)self);
}

static ak_error ops_resize(void *self, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    return ak_slab_resize((ak_slab *)self, ptr, old_size, align, new_size);
}

static size_t ops_usable(const void *self, const void *ptr, size_t size, size_t align)
{
    return ak_slab_usable_size((const ak_slab *)self, ptr, size, align);
}

static const char *ops_check(const void *self)
{
    return ak_slab_check((const ak_slab *)self);
}

static const ak_byte_allocator_ops slab_ops = {
    .name = "slab",
    .init = ops_init,
    .add_memory = ops_add_memory,
    .alloc = ops_alloc,
    .dealloc = ops_dealloc,
    .total_bytes = ops_total,
    .used_bytes = ops_used,
    .available_bytes = ops_available,
    .resize = ops_resize,
    .usable_size = ops_usable,
    .check = ops_check,
};

ak_byte_allocator ak_slab_as_byte(ak_slab *a)
{
    ak_byte_allocator h = {&slab_ops, a};
    return h;
}
