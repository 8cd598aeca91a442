/* Slab: an object-caching byte allocator for small sizes over an internal
 * TLSF (see include/allockit/slab.h for the class table, slab sizes and
 * waste bounds).
 *
 * A slab is a power-of-two span from the TLSF, aligned to its size and cut
 * into object-sized slots. Its header takes one to five slots at an offset
 * (its colour) derived from the slab address and starts a cache line; what
 * alloc and free touch is in that line. It carries a tag derived from the slab address, the class
 * and a per-allocator salt (so a pointer's slab, align_down(ptr,
 * slab_size), and its header are validated with one compare), the count of
 * objects in use, a LIFO free list of slot indices threaded through the
 * free objects, a bump index below which slots have been handed out at
 * least once (so a new slab needs no O(objects) threading), the slab's list
 * links, and one allocated bit per slot (exact double-free detection; header
 * slots are never allocated).
 *
 * Each class has a list of partial slabs (allocation takes from the head),
 * full slabs (on no list but the per-class list of all slabs, which only
 * slab creation, release and the checker use), and at most one cached
 * empty slab: a slab that empties while one
 * is cached goes back to the TLSF. A free into a full slab puts it at the
 * head, so the next alloc of the class gets the object just freed (its
 * memory is the warmest). When the TLSF cannot satisfy a request, every
 * cached empty slab is released and the request retried once.
 *
 * Costs: alloc/free O(1) (free O(regions) to validate its pointer when it
 * lies in another region than the last free's); a new slab or a released
 * one costs one TLSF call. Overhead per slab: the header slots (80 bytes
 * of header on 64-bit targets, 60 on 32-bit, in whole slots) and
 * AK_SLAB_TAIL bytes; one region record (3 words) at the start
 * of each region.
 *
 * Invariants (checked by ak_slab_check): every slab carries its class's
 * tag, lies inside a region, is aligned to its size and has its header at
 * its colour's slot; partial slabs (on the list) have 0 < in_use <
 * objects, full ones in_use == objects, the cached one
 * in_use == 0; the bitmap has exactly in_use bits set, none on a header
 * slot or at or past the bump index; the free list holds exactly the slots
 * handed out and not in use, each once; per-class counters match the
 * slabs; the TLSF's used bytes equal the slabs' requests plus the
 * requested bytes of large blocks; the TLSF passes ak_tlsf_check.
 */
#include "ak_internal.h"
#include "ak_ops.h"
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

#define FREE_END 0xffffu /* end of a slab's free list */

/* Slots of the slab with the most: class 16 in 4 KiB; bitmap words for them. */
#define MAX_SLOTS    ((4096u - AK_SLAB_TAIL) / 16u)
#define MAX_BM_WORDS ((MAX_SLOTS + BM_BITS - 1) / BM_BITS)

/* What a free and an alloc touch comes first: on 64-bit targets tag,
 * counters, bitmap and partial-list links fill one cache line; the links
 * of the per-class list of all slabs (used when a slab is taken or given
 * back, and by the checker) are in the next. */
struct ak_slab_hdr {
    uintptr_t tag;  /* slab_tag(a, slab address, class) while the slab is held */
    uint16_t inuse; /* objects allocated */
    uint16_t free;  /* first slot of the free list, FREE_END if none */
    uint16_t bump;  /* slots from here on (but the header's) were never handed out */
    uint8_t cls;
    uint8_t list;                 /* LIST_* */
    size_t bitmap[MAX_BM_WORDS];  /* bit set: the object in that slot is allocated */
    struct ak_slab_hdr *next;     /* partial list */
    struct ak_slab_hdr *prev;     /* (the head's is not kept) */
    struct ak_slab_hdr *all_next; /* every slab of the class */
    struct ak_slab_hdr *all_prev;
};
typedef struct ak_slab_hdr slab_hdr;

/* The tag of a live slab: mixes the slab address with the class and
 * the allocator's salt, so a header of another class, a released slab
 * (its tag is cleared) or one left in the memory by an earlier allocator
 * over the same region (another salt) does not match. */
static inline uintptr_t slab_tag(const ak_slab *a, uintptr_t h, unsigned cls)
{
    return (h | cls) ^ a->salt; /* h is 4 KiB-aligned, cls < 32 */
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
    uint32_t hstep;     /* bytes from one colour to the next: cstep * size */
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
 * from the slab's address (see colour()). Slabs that follow one
 * another thus put their headers at different offsets, so the headers of
 * a class do not all fall into the few cache sets that one fixed offset in
 * a 4 KiB-aligned span maps to. The colour step is the least common
 * multiple of the object size and a cache line (64 / gcd(size, 64) slots),
 * so every header starts a cache line, and what a free reads of it is one
 * line. */
#define LOWBIT(s)             ((s) & (~(s) + 1u))
#define SLAB_BYTES(sh)        (1u << (sh))
#define NSLOT(s, sh)          ((SLAB_BYTES(sh) - AK_SLAB_TAIL) / (s))
#define BM_WORDS(s, sh)       ((NSLOT(s, sh) + BM_BITS - 1) / BM_BITS)
#define HDR_BYTES(s, sh)      sizeof(slab_hdr)
#define NHDR(s, sh)           ((HDR_BYTES(s, sh) + (s)-1) / (s))
#define CSTEP(s)              (64u / (LOWBIT(s) < 64u ? LOWBIT(s) : 64u))
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
        (s), (uint32_t)(UINT32_MAX / (s) + 1u), CSTEP(s) * (s), (uint16_t)NSLOT(s, sh),            \
            (uint16_t)NOBJ(s, sh), (uint16_t)LOWBIT(s), (uint8_t)NHDR(s, sh),                      \
            (uint8_t)(COLOURS(s, sh) - 1u), (uint8_t)CSTEP(s), (sh), (uint8_t)BM_WORDS(s, sh)      \
    }

/* Slab size 4096 << max(0, log2(size) - 8), doubled for the classes that
 * are not powers of two from 320 up (whose header takes a whole slot):
 * 14..250 objects per slab; header and tail take at most 1/8 of the slab
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

_Static_assert(NSLOT(16u, 12u) < FREE_END, "slot indices fit 16 bits");
_Static_assert(NSLOT(16u, 12u) <= MAX_SLOTS && NSLOT(32u, 12u) <= MAX_SLOTS &&
                   NSLOT(320u, 13u) <= MAX_SLOTS && NSLOT(4096u, 16u) <= MAX_SLOTS,
               "the bitmap covers every slab");
_Static_assert(offsetof(slab_hdr, all_next) <= 64u, "the hot part of a header is one line");
_Static_assert(NOBJ(4096u, 16u) >= 14u && NOBJ(256u, 12u) >= 14u, "14+ objects per slab");
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

/* The colour of the slab at h: the low bits of its slab number folded
 * with the next ones. The low bits alone would repeat the address bits
 * that already pick the cache set, adding no spread. */
static inline unsigned colour(const class_info *ci, uintptr_t h)
{
    uintptr_t n = h >> ci->slab_shift;
    return (unsigned)((n ^ (n >> 4)) & ci->cmask);
}

/* The header's first slot in the slab at h. */
static inline unsigned hdr_slot(const class_info *ci, uintptr_t h)
{
    return colour(ci, h) * ci->cstep;
}

static inline slab_hdr *hdr_of(const class_info *ci, uintptr_t h)
{
    return (slab_hdr *)(h + (size_t)colour(ci, h) * ci->hstep);
}

static inline uintptr_t base_of(const class_info *ci, const slab_hdr *s)
{
    return (uintptr_t)s & ~(slab_bytes(ci) - 1);
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

/* The region holding p, or NULL. O(regions). */
static const ak_region *region_of(const ak_slab *a, uintptr_t p)
{
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
    ak_slab_class *k = &a->cls[s->cls];
    s->tag = 0; /* a stale header must never validate */
    k->slab_count--;
    if (s->all_prev)
        s->all_prev->all_next = s->all_next;
    else
        k->all = s->all_next;
    if (s->all_next)
        s->all_next->all_prev = s->all_prev;
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

/* True if some region has an address aligned to align with size bytes
 * after it: else a request cannot fit even in an empty TLSF. */
static bool could_fit(const ak_slab *a, size_t size, size_t align)
{
    for (const ak_region *r = a->regions; r; r = r->next) {
        uintptr_t at;
        if (ak_align_up_checked(r->start, align, &at) && at < r->end && r->end - at >= size)
            return true;
    }
    return false;
}

/* Ask the TLSF; when it is out of memory and a retry could succeed,
 * release the cached empty slabs and ask once more. */
static ak_error tlsf_alloc_pressed(ak_slab *a, size_t size, size_t align, void **out)
{
    ak_error e = ak_tlsf_alloc(&a->tlsf, size, align, out);
    /* A request that could not fit even in an empty TLSF (larger than the
     * total, or no address aligned for it in the regions' span) keeps the
     * cache: failing it must change nothing. */
    if (e == AK_ERR_NO_MEMORY && cached_count(a) != 0 && size <= ak_tlsf_total_bytes(&a->tlsf) &&
        could_fit(a, size, align)) {
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
        s = hdr_of(ci, h);
        s->inuse = 0;
        s->free = FREE_END;
        s->bump = 0;
        s->cls = (uint8_t)c;
        s->tag = slab_tag(a, h, c);
        k->slab_count++;
        s->all_prev = NULL;
        s->all_next = k->all;
        if (k->all)
            k->all->all_prev = s;
        k->all = s;
        for (unsigned w = 0; w < ci->bm_words; w++)
            s->bitmap[w] = 0;
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

/* True if p is the start of one of this allocator's slabs. A slab is a
 * TLSF block too, so a large free of its start could pass the TLSF's
 * checks. A candidate header is read only where the TLSF confirms a used
 * block that a slab's request could have made (its own checks read no
 * payload), so a large block's bytes are looked at only when it has a
 * slab's exact shape. O(classes). */
static bool is_slab_start(const ak_slab *a, const ak_region *r, uintptr_t p)
{
    for (unsigned sh = 12; sh <= 16; sh++) {
        uintptr_t S = (uintptr_t)1 << sh;
        if ((p & (S - 1)) != 0)
            break; /* not aligned to this size, nor to larger ones */
        if (r->end - p < S - AK_SLAB_TAIL ||
            ak_tlsf_usable_size(&a->tlsf, (const void *)p, S - AK_SLAB_TAIL, S) == 0)
            continue;
        for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
            if (classes[c].slab_shift == sh && hdr_of(&classes[c], p)->tag == slab_tag(a, p, c))
                return true;
    }
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
 * region, and not a slab. The TLSF validates the rest (an interior pointer,
 * such as a small object's, fails its checks without anything being read
 * here). */
static ak_error large_locate(const ak_slab *a, const void *ptr)
{
    const ak_region *r = region_of(a, (uintptr_t)ptr);
    if (!r || is_slab_start(a, r, (uintptr_t)ptr))
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

/* c ? x : y for slab pointers, by masks: compilers turn a ?: into a
 * branch, and these conditions are unpredictable. */
static inline slab_hdr *pick(bool c, slab_hdr *x, slab_hdr *y)
{
    uintptr_t m = (uintptr_t)0 - (uintptr_t)c;
    return (slab_hdr *)(((uintptr_t)x & m) | ((uintptr_t)y & ~m));
}

_Static_assert(LIST_FULL == LIST_PARTIAL + 1, "list tags step by one");

/* The align values the class table serves directly: 1, 2, 4, 8, 16. */
static inline bool align_is_small(size_t align)
{
    return align < 32 && ((0x10116u >> align) & 1u);
}

/* Take an object from class c's head slab s (which has a free slot). */
static inline void *slab_take(ak_slab_class *k, slab_hdr *s, const class_info *ci, size_t size)
{
    /* The most recently freed slot (its memory was touched last), else
     * the next never-used one, stepping over the header. */
    uintptr_t base = (uintptr_t)s & ~(slab_bytes(ci) - 1);
    unsigned idx = s->free;
    unsigned char *obj;
    if (AK_LIKELY(idx != FREE_END)) {
        obj = (unsigned char *)base + (size_t)idx * ci->size;
        s->free = (uint16_t)(*(const uint32_t *)(const void *)obj);
    } else {
        idx = s->bump;
        if (idx == hdr_slot(ci, base))
            idx += ci->nhdr;
        s->bump = (uint16_t)(idx + 1);
        obj = (unsigned char *)base + (size_t)idx * ci->size;
    }
    s->bitmap[idx >> BM_SHIFT] |= (size_t)1 << (idx & (BM_BITS - 1));
    /* When s (the head) fills, pop it; its successor's back link goes
     * stale. Branch-free: in a churn of random frees, whether an alloc
     * fills its slab is a coin toss the predictor cannot learn. */
    unsigned n = s->inuse + 1u;
    bool full = n == ci->nobj;
    s->inuse = (uint16_t)n;
    k->partial = pick(full, s->next, s);
    k->partial_count -= full;
    s->list = (uint8_t)(LIST_PARTIAL + full);
    k->in_use++;
    k->requested += size;
    return obj;
}

/* Everything but a small request with align <= 16 and a head slab. */
static AK_NOINLINE ak_error alloc_slow(ak_slab *a, size_t size, size_t align, void **out)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(size, align);
    if (c == LARGE)
        return large_alloc(a, size, align, out);
    slab_hdr *s = a->cls[c].partial;
    if (!s && !(s = class_refill(a, c)))
        return AK_ERR_NO_MEMORY;
    *out = slab_take(&a->cls[c], s, &classes[c], size);
    return AK_OK;
}

ak_error ak_slab_alloc(ak_slab *a, size_t size, size_t align, void **out)
{
    if (AK_UNLIKELY(size > AK_SLAB_MAX_SMALL || !align_is_small(align)))
        return alloc_slow(a, size, align, out);
    unsigned c = size_class[(size + 15) >> 4];
    ak_slab_class *k = &a->cls[c];
    slab_hdr *s = k->partial;
    if (AK_UNLIKELY(!s))
        return alloc_slow(a, size, align, out);
    *out = slab_take(k, s, &classes[c], size);
    return AK_OK;
}

/* A slab of class c just lost its last object: cache it if the class has
 * no cached slab, else give it back to the TLSF. Returns AK_OK, so that a
 * free can end in a tail call to it. */
static AK_NOINLINE ak_error slab_emptied(ak_slab *a, unsigned c, slab_hdr *s)
{
    ak_slab_class *k = &a->cls[c];
    partial_remove(k, s);
    if (!k->empty) {
        s->list = LIST_EMPTY;
        k->empty = s;
    } else {
        slab_release(a, s, &classes[c]);
    }
    return AK_OK;
}

/* The allocated object of class c at p in the slab span at h (which the
 * caller has checked lies inside a region): its header, and its index in
 * *ip; NULL if p is not one. */
static inline slab_hdr *object_find(const ak_slab *a, unsigned c, uintptr_t p, uintptr_t h,
                                    uint32_t *ip)
{
    const class_info *ci = &classes[c];
    slab_hdr *s = hdr_of(ci, h);
    if (AK_UNLIKELY(s->tag != slab_tag(a, h, c)))
        return NULL;
    uintptr_t off = p - h;
    uint32_t idx = (uint32_t)(((uint64_t)(uint32_t)off * ci->recip) >> 32);
    /* An object start inside the slab, allocated (header slots never are). */
    if (AK_UNLIKELY((uintptr_t)idx * ci->size != off || idx >= ci->nslot || !bit_test(s, idx)))
        return NULL;
    *ip = idx;
    return s;
}

/* Free object idx of slab s, class c. */
static inline ak_error slab_put(ak_slab *a, unsigned c, slab_hdr *s, uint32_t idx, size_t size)
{
    ak_slab_class *k = &a->cls[c];
    const class_info *ci = &classes[c];
    s->bitmap[idx >> BM_SHIFT] &= ~((size_t)1 << (idx & (BM_BITS - 1)));
    /* The free list is LIFO through the objects: the next alloc of this
     * slab gets the object just freed, whose memory is the warmest. */
    *(uint32_t *)(void *)(base_of(ci, s) + (size_t)idx * ci->size) = s->free;
    s->free = (uint16_t)idx;
    unsigned n = s->inuse;
    /* A full slab goes back to the head of the partial list. Branch-free
     * (see slab_take); the head's back link is written either way, with
     * its own value when nothing moves. */
    bool was_full = n == ci->nobj;
    slab_hdr *head = k->partial;
    if (head)
        head->prev = pick(was_full, s, head->prev);
    s->next = pick(was_full, head, s->next);
    k->partial = pick(was_full, s, head);
    k->partial_count += was_full;
    s->list = (uint8_t)(s->list - was_full); /* LIST_FULL - 1 == LIST_PARTIAL */
    s->inuse = (uint16_t)--n;
    k->in_use--;
    k->requested -= size;
    if (AK_UNLIKELY(n == 0))
        return slab_emptied(a, c, s);
    return AK_OK;
}

/* The slab span of class c holding p, if it lies in a region: the last
 * region a free resolved (a->lo, a->hi) is tried first. */
static inline bool span_known(const ak_slab *a, const class_info *ci, uintptr_t h)
{
    return span_in_region(ci, h, a->lo, a->hi);
}

/* Everything but a small free with align <= 16 inside the region hint. */
static AK_NOINLINE ak_error dealloc_slow(ak_slab *a, void *ptr, size_t size, size_t align)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(size, align);
    if (c == LARGE)
        return large_dealloc(a, ptr, size, align);
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t h = p & ~(slab_bytes(&classes[c]) - 1);
    if (!span_known(a, &classes[c], h)) {
        const ak_region *r = region_of(a, p);
        if (!r || !span_in_region(&classes[c], h, r->start, r->end))
            return AK_ERR_NOT_ALLOCATED;
        a->lo = r->start; /* frees tend to stay in one region */
        a->hi = r->end;
    }
    uint32_t idx;
    slab_hdr *s = object_find(a, c, p, h, &idx);
    if (!s)
        return AK_ERR_NOT_ALLOCATED;
    return slab_put(a, c, s, idx, size);
}

ak_error ak_slab_dealloc(ak_slab *a, void *ptr, size_t size, size_t align)
{
    if (AK_UNLIKELY(size > AK_SLAB_MAX_SMALL || !align_is_small(align)))
        return dealloc_slow(a, ptr, size, align);
    unsigned c = size_class[(size + 15) >> 4];
    const class_info *ci = &classes[c];
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t h = p & ~(slab_bytes(ci) - 1);
    if (AK_UNLIKELY(!span_known(a, ci, h)))
        return dealloc_slow(a, ptr, size, align);
    uint32_t idx;
    slab_hdr *s = object_find(a, c, p, h, &idx);
    if (AK_UNLIKELY(!s))
        return AK_ERR_NOT_ALLOCATED;
    return slab_put(a, c, s, idx, size);
}

/* As object_find, for a pointer not yet known to be in a region. */
static ak_error small_locate(const ak_slab *a, uintptr_t p, unsigned c, slab_hdr **sp, uint32_t *ip)
{
    const class_info *ci = &classes[c];
    uintptr_t h = p & ~(slab_bytes(ci) - 1);
    const ak_region *r = region_of(a, p);
    if (!r || !span_in_region(ci, h, r->start, r->end))
        return AK_ERR_NOT_ALLOCATED;
    *sp = object_find(a, c, p, h, ip);
    return *sp ? AK_OK : AK_ERR_NOT_ALLOCATED;
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
    if (a->region_count == 0) {
        a->lo = start;
        a->hi = end;
    }
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
        k->partial = k->empty = k->all = NULL;
        k->in_use = k->requested = k->partial_count = k->slab_count = 0;
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
    out->slabs_full = k->slab_count - k->partial_count - (k->empty != NULL);
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
    unsigned hs = hdr_slot(ci, h);
    if (s->bump > ci->nslot || (s->bump > hs && s->bump < hs + ci->nhdr))
        return "slab: bump index past the slots or inside the header";
    if (which == LIST_PARTIAL && (s->inuse == 0 || s->inuse == ci->nobj))
        return "slab: a partial slab is empty or full";
    if (which == LIST_FULL && s->inuse != ci->nobj)
        return "slab: a full slab has free objects";
    if (which == LIST_EMPTY && s->inuse != 0)
        return "slab: the cached empty slab has objects in use";
    /* Allocated bits: only on object slots below bump, in_use of them. */
    unsigned set = 0;
    for (unsigned w = 0; w < ci->bm_words; w++)
        set += ak_popcount64((uint64_t)s->bitmap[w]);
    if (set != s->inuse)
        return "slab: allocated bits do not match in_use";
    for (unsigned i = 0; i < ci->bm_words * BM_BITS; i++)
        if (bit_test(s, i) && (i >= s->bump || (i >= hs && i < hs + ci->nhdr)))
            return "slab: allocated bit on a header slot or a never-used slot";
    /* The free list: every slot handed out once and not allocated now. */
    unsigned used_once = s->bump - (s->bump > hs ? ci->nhdr : 0u);
    unsigned expect = used_once - s->inuse, n = 0;
    if (s->inuse > used_once)
        return "slab: more objects in use than slots handed out";
    for (unsigned i = s->free; i != FREE_END; n++) {
        if (n >= expect)
            return "slab: free list longer than the slots freed (a cycle)";
        if (i >= s->bump || (i >= hs && i < hs + ci->nhdr))
            return "slab: free list holds a header slot or a never-used slot";
        if (bit_test(s, i))
            return "slab: free list holds an allocated object";
        i = *(const uint32_t *)(const void *)(h + (size_t)i * ci->size);
    }
    if (n != expect)
        return "slab: free list shorter than the slots freed";
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

/* Walk the list of every slab of class c: each slab's own invariants, and
 * how many are on each list. Full slabs are on no other list. */
static const char *check_all(const ak_slab *a, unsigned c, size_t limit, size_t count[4],
                             size_t *objects)
{
    const slab_hdr *prev = NULL;
    size_t n = 0;
    for (const slab_hdr *s = a->cls[c].all; s; prev = s, s = s->all_next) {
        if (++n > limit)
            return "class: slab list longer than memory allows (cycle)";
        if (s->all_prev != prev)
            return "class: slab list back link broken";
        if (s->list < LIST_PARTIAL || s->list > LIST_EMPTY)
            return "slab: list tag out of range";
        const char *why = check_slab(a, s, c, s->list);
        if (why)
            return why;
        count[s->list]++;
        if (s->list == LIST_FULL)
            *objects += s->inuse;
    }
    return NULL;
}

const char *ak_slab_check(const ak_slab *a)
{
    size_t nreg = 0;
    bool hint_found = false;
    for (const ak_region *r = a->regions; r; r = r->next) {
        if (++nreg > a->region_count)
            return "regions: more records than region_count";
        if (r->start >= r->end)
            return "regions: empty or inverted record";
        if (r->start == a->lo && r->end == a->hi)
            hint_found = true;
        if (ak_region_overlaps(r->next, r->start, r->end))
            return "regions: two records overlap";
    }
    if (nreg != a->region_count)
        return "regions: fewer records than region_count";
    if (!hint_found && (a->lo != 0 || a->hi != 0 || nreg != 0))
        return "regions: the region hint is not a region";
    const char *why = ak_tlsf_check(&a->tlsf);
    if (why)
        return why;
    size_t total = ak_tlsf_total_bytes(&a->tlsf);
    size_t slab_total = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        const ak_slab_class *k = &a->cls[c];
        const class_info *ci = &classes[c];
        size_t limit = total / slab_bytes(ci) + 1;
        size_t count[4] = {0, 0, 0, 0}, np, objects = 0;
        why = check_all(a, c, limit, count, &objects);
        if (!why)
            why = check_partial(a, c, limit, &np, &objects);
        if (why)
            return why;
        if (k->empty && (k->empty->list != LIST_EMPTY || k->empty->cls != c))
            return "class: the cached slab is not tagged empty";
        if (np != k->partial_count || count[LIST_PARTIAL] != np)
            return "class: partial slabs on the list, on the all-list and the counter differ";
        if (count[LIST_EMPTY] != (k->empty != NULL))
            return "class: a slab tagged empty is not the cached one";
        if (count[LIST_PARTIAL] + count[LIST_FULL] + count[LIST_EMPTY] != k->slab_count)
            return "class: slab counter and the all-list differ";
        if (objects != k->in_use)
            return "class: objects in use do not match the slabs";
        if (k->requested > k->in_use * ci->size)
            return "class: requested bytes exceed objects * class size";
        slab_total += k->slab_count * slab_request(ci);
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

AK_DEFINE_BYTE_ALLOCATOR(ak_slab, "slab")
