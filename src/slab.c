/* Slab: an object-caching byte allocator for small sizes over an internal
 * TLSF (see include/allockit/slab.h for the class table, slab sizes and
 * waste bounds).
 *
 * A slab is a power-of-two span from the TLSF, aligned to its size and cut
 * into object-sized slots; it holds nothing but objects. Its metadata is a
 * 64-byte descriptor in a table at the head of its region: one slot per
 * 4 KiB frame of the region, the slab's in the slot of its first frame, so
 * a pointer's descriptor is found with a mask (its slab, align_down(ptr,
 * slab_size)), a subtract, a shift and an index. The descriptors of all
 * live slabs sit side by side, so they stay in cache where headers inside
 * the slabs (one line per slab, scattered) did not. A descriptor holds the
 * class (+1; 0 in every slot that is not a slab's first frame, so a
 * pointer into anything else, a released slab or a slab of another class
 * does not validate), the count of objects in use, the partial-list links
 * and an allocated bitmap with one bit per granule (slab size / 256): a
 * set bit marks the start of an object allocated to a caller. That gives
 * exact double-free detection, and the free slots themselves (an alloc
 * from the slabs takes a clear bit among the slot starts, which a table
 * per class gives, starting in the word of the last free), so nothing is
 * ever written into or read from an object's memory and a new slab needs
 * no O(objects) threading.
 *
 * Each class has a magazine (see slab.h): a LIFO of up to
 * AK_SLAB_MAGAZINE freed objects with their bitmap words; allocs take from
 * it first, and the slab bitmaps are searched only while it is empty (its
 * objects have clear bits). Each class has a list of partial slabs
 * (allocation from the slabs takes from the head),
 * full slabs (on no list, only counted; the checker finds them in the
 * tables), and at most one cached empty slab: a slab that empties while
 * one is cached goes back to the TLSF. A free into a full slab puts it at
 * the head, so the next alloc of the class gets the object just freed (its
 * memory is the warmest); in a churn that is most frees, so these list
 * moves were the common path before the magazines took it. When the TLSF
 * cannot satisfy a request, the magazines are flushed, every cached empty
 * slab is released and the request retried once.
 *
 * Costs: alloc/free O(1), no division (an object's bit is its offset
 * shifted by the granule's log); frees of up to 256 bytes, whose slabs are
 * one frame, take a path with every class constant a literal. A free into
 * a full magazine returns half of it to the slabs (O(AK_SLAB_MAGAZINE));
 * a free resolves its pointer in the frame table of the region the last
 * free resolved, and walks the region list (O(regions)) only when that
 * fails. A new slab or a released one costs one TLSF call. Overhead:
 * AK_SLAB_TAIL bytes per slab and, per region, a 64-byte record plus the
 * frame table: 64 bytes per 4 KiB frame, 1/64 of the region, counted out
 * of total_bytes. Adding a region is O(frames) (the table's class bytes
 * are cleared).
 *
 * Invariants (checked by ak_slab_check): every magazine entry is a slot
 * start of a live slab of its class, not marked allocated, and appears
 * once; every region's frames cover it;
 * every descriptor with a class names its own frame, lies inside its
 * region, is aligned to its size, and no other slab starts inside it;
 * partial slabs (on the list) have 0 < in_use < objects, full ones in_use
 * == objects, the cached one in_use == 0; the bitmap has in_use bits set,
 * less the slab's magazine objects, all at slot starts; per-class counters
 * match the slabs (held = the slabs' in_use summed); the TLSF's used bytes are the slabs'
 * requests plus the large blocks' requested bytes, each rounded up to its
 * block's usable size; the TLSF passes ak_tlsf_check.
 */
#include "ak_internal.h"
#include "ak_ops.h"
#include <allockit/slab.h>

/* ------------------------------------------------------------------ */
/* Slab descriptors and class table                                    */
/* ------------------------------------------------------------------ */

enum { LIST_PARTIAL = 1, LIST_FULL = 2, LIST_EMPTY = 3 };

#define LARGE    AK_SLAB_CLASS_COUNT
#define BM_BITS  AK_SIZE_BITS
#define BM_SHIFT (sizeof(size_t) == 8 ? 6u : 5u)

/* Frames: every region is cut into 4 KiB frames from its start rounded
 * down; each frame has one descriptor slot in the region's table. */
#define FRAME_SHIFT 12u
#define FRAME_BYTES ((uintptr_t)1 << FRAME_SHIFT)
#define DESC_BYTES  64u
#define DESC_SHIFT  6u
#define FAST_MAX    256u /* the largest object size ak_slab_dealloc's fast path serves */

/* Granules: every slab is cut into 256 granules of slab_size / 256 bytes
 * (16 B in a 4 KiB slab up to 256 B in a 64 KiB one), and every class size
 * is a multiple of its slab's granule, so each object starts on a granule
 * and the allocated bitmap has one bit per granule: a pointer's bit is its
 * offset shifted, with no division. */
#define GRANULES     256u
#define MAX_BM_WORDS (GRANULES / BM_BITS)

/* A slab's descriptor, in the table slot of its first frame: what an
 * alloc and a free touch is this one line (64 bytes on 64- and 32-bit
 * targets). */
struct ak_slab_hdr {
    struct ak_slab_hdr *next;    /* partial list */
    struct ak_slab_hdr *prev;    /* (the head's is not kept) */
    uintptr_t base;              /* the slab's first byte */
    uint16_t inuse;              /* objects allocated */
    uint8_t cls1;                /* class + 1 on a slab's first frame, else 0 */
    uint8_t list;                /* LIST_* */
    uint8_t hint;                /* bitmap word of the last free: an alloc looks there first */
    size_t bitmap[MAX_BM_WORDS]; /* bit g set: an object allocated to a caller starts at
                                    granule g (clear at granules that start no slot) */
};
typedef struct ak_slab_hdr slab_hdr;

_Static_assert(sizeof(slab_hdr) <= DESC_BYTES, "a descriptor fits its slot");
_Static_assert((MAX_BM_WORDS & (MAX_BM_WORDS - 1u)) == 0, "the bitmap search wraps by a mask");
_Static_assert(sizeof(intptr_t) >= sizeof(int32_t), "masks sign-extend");
_Static_assert(AK_SLAB_MAX_SMALL <= UINT16_MAX, "class sizes fit 16 bits");

/* The record at the head of each region: the shared region record, the
 * frames and their descriptor table (which follows the record). */
typedef struct slab_region {
    ak_region_list r;
    uintptr_t fbase;    /* first frame: the region start rounded down to a frame */
    size_t nframes;     /* frames up to the region end */
    unsigned char *tbl; /* DESC_BYTES per frame */
} slab_region;

static inline slab_hdr *desc_at(unsigned char *tbl, size_t frame)
{
    return (slab_hdr *)(void *)(tbl + (frame << DESC_SHIFT));
}

typedef struct class_info {
    uint16_t size;  /* object size */
    uint16_t nobj;  /* objects per slab */
    uint16_t align; /* lowest set bit of size: every object's alignment */
    uint16_t gmask; /* granule - 1 */
    int32_t mask;   /* ~(slab size - 1), sign-extended to a uintptr_t */
    uint8_t gshift; /* log2 of the granule: slab size / 256 */
    uint8_t q;      /* granules per object, 1..16 */
    uint8_t cls1;   /* class + 1, as in its slabs' descriptors */
} class_info;

/* Layout: the slab is cut into object-sized slots from its start; its
 * metadata lives outside it, in the region's descriptor table, so that
 * the descriptors of all live slabs sit densely together and stay in
 * cache, and the object memory holds only objects. */
#define LOWBIT(s)      ((s) & (~(s) + 1u))
#define SLAB_BYTES(sh) (1u << (sh))
#define NSLOT(s, sh)   ((SLAB_BYTES(sh) - AK_SLAB_TAIL) / (s))
#define CLASS(i, s, sh)                                                                            \
    {                                                                                              \
        (uint16_t)(s), (uint16_t)NSLOT(s, sh), (uint16_t)LOWBIT(s),                                \
            (uint16_t)((1u << ((sh)-8u)) - 1u), -(int32_t)SLAB_BYTES(sh), (uint8_t)((sh)-8u),      \
            (uint8_t)((s) >> ((sh)-8u)), (uint8_t)((i) + 1u)                                       \
    }

/* Slab size 4096 << max(0, log2(size) - 8), doubled for the classes that
 * are not powers of two from 320 up: 15..255 objects per slab; the tail
 * and the slack after the last slot take at most 1/8 of the slab. */
static const class_info classes[AK_SLAB_CLASS_COUNT] = {
    CLASS(0, 16, 12),    CLASS(1, 32, 12),    CLASS(2, 48, 12),    CLASS(3, 64, 12),
    CLASS(4, 80, 12),    CLASS(5, 96, 12),    CLASS(6, 112, 12),   CLASS(7, 128, 12),
    CLASS(8, 160, 12),   CLASS(9, 192, 12),   CLASS(10, 224, 12),  CLASS(11, 256, 12),
    CLASS(12, 320, 13),  CLASS(13, 384, 13),  CLASS(14, 448, 13),  CLASS(15, 512, 13),
    CLASS(16, 640, 14),  CLASS(17, 768, 14),  CLASS(18, 896, 14),  CLASS(19, 1024, 14),
    CLASS(20, 1280, 15), CLASS(21, 1536, 15), CLASS(22, 1792, 15), CLASS(23, 2048, 15),
    CLASS(24, 2560, 16), CLASS(25, 3072, 16), CLASS(26, 3584, 16), CLASS(27, 4096, 16),
};

_Static_assert(NSLOT(16u, 12u) <= UINT16_MAX, "object counts fit 16 bits");
/* Class sizes are multiples of their granule (the sizes not listed are
 * powers of two or multiples of 16 in 4 KiB slabs), 1..16 granules. */
_Static_assert(320u % 32u == 0 && 384u % 32u == 0 && 448u % 32u == 0 && 640u % 64u == 0 &&
                   768u % 64u == 0 && 896u % 64u == 0 && 1280u % 128u == 0 && 1536u % 128u == 0 &&
                   1792u % 128u == 0 && 2560u % 256u == 0 && 3072u % 256u == 0 && 3584u % 256u == 0,
               "class sizes are whole granules");
_Static_assert(4096u / (65536u / GRANULES) <= 16u && 256u / (4096u / GRANULES) <= 16u,
               "at most 16 granules per object");
_Static_assert(NSLOT(4096u, 16u) >= 14u && NSLOT(256u, 12u) >= 14u, "14+ objects per slab");

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

static inline uintptr_t slab_mask(const class_info *ci)
{
    return (uintptr_t)(intptr_t)ci->mask;
}

static inline uintptr_t slab_bytes(const class_info *ci)
{
    return (uintptr_t)0 - slab_mask(ci);
}

/* What a slab asks of the TLSF: its span less the TLSF header of the next
 * block, so that slabs placed back to back tile their spans exactly. */
static inline size_t slab_request(const class_info *ci)
{
    return (size_t)slab_bytes(ci) - AK_SLAB_TAIL;
}

static inline bool bit_test(const slab_hdr *s, uint32_t g)
{
    return (s->bitmap[g >> BM_SHIFT] >> (g & (BM_BITS - 1))) & 1u;
}

/* Bits at every q-th position from 0, for q = 1..16. */
static const uint64_t every_qth[17] = {
    0,
    0xffffffffffffffffull,
    0x5555555555555555ull,
    0x9249249249249249ull,
    0x1111111111111111ull,
    0x1084210842108421ull,
    0x1041041041041041ull,
    0x8102040810204081ull,
    0x0101010101010101ull,
    0x8040201008040201ull,
    0x1004010040100401ull,
    0x0080100200400801ull,
    0x1001001001001001ull,
    0x0010008004002001ull,
    0x0100040010004001ull,
    0x1000200040008001ull,
    0x0001000100010001ull,
};

/* The granules of bitmap word w that start a slot of class ci: multiples
 * of q up to the last slot's. Computed (with two divisions); the checker
 * holds slot_mask to it. */
static size_t slot_bits_ref(const class_info *ci, unsigned w)
{
    const unsigned q = ci->q;
    const size_t first = (size_t)w * BM_BITS;
    const size_t last = (size_t)(ci->nobj - 1u) * q;
    if (first > last)
        return 0;
    size_t m = (size_t)(every_qth[q] << ((q - first % q) % q));
    if (last - first < BM_BITS - 1u)
        m &= ((size_t)2 << (last - first)) - 1u;
    return m;
}

/* slot_bits_ref of every class as a table (the allocation path reads it
 * instead of dividing): bit g of row c is set iff granule g starts one of
 * class c's slots. 256 bits per class as four 64-bit words. */
static const uint64_t slot_mask[AK_SLAB_CLASS_COUNT][4] = {
    {0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull,
     0x7fffffffffffffffull}, /* 16 */
    {0x5555555555555555ull, 0x5555555555555555ull, 0x5555555555555555ull,
     0x1555555555555555ull}, /* 32 */
    {0x9249249249249249ull, 0x4924924924924924ull, 0x2492492492492492ull,
     0x1249249249249249ull}, /* 48 */
    {0x1111111111111111ull, 0x1111111111111111ull, 0x1111111111111111ull,
     0x0111111111111111ull}, /* 64 */
    {0x1084210842108421ull, 0x2108421084210842ull, 0x4210842108421084ull,
     0x0421084210842108ull}, /* 80 */
    {0x1041041041041041ull, 0x4104104104104104ull, 0x0410410410410410ull,
     0x0041041041041041ull}, /* 96 */
    {0x8102040810204081ull, 0x4081020408102040ull, 0x2040810204081020ull,
     0x0020408102040810ull}, /* 112 */
    {0x0101010101010101ull, 0x0101010101010101ull, 0x0101010101010101ull,
     0x0001010101010101ull}, /* 128 */
    {0x1004010040100401ull, 0x0100401004010040ull, 0x4010040100401004ull,
     0x0001004010040100ull}, /* 160 */
    {0x1001001001001001ull, 0x0100100100100100ull, 0x0010010010010010ull,
     0x0001001001001001ull}, /* 192 */
    {0x0100040010004001ull, 0x4001000400100040ull, 0x0040010004001000ull,
     0x0000400100040010ull}, /* 224 */
    {0x0001000100010001ull, 0x0001000100010001ull, 0x0001000100010001ull,
     0x0000000100010001ull}, /* 256 */
    {0x1004010040100401ull, 0x0100401004010040ull, 0x4010040100401004ull,
     0x0001004010040100ull}, /* 320 */
    {0x1001001001001001ull, 0x0100100100100100ull, 0x0010010010010010ull,
     0x0001001001001001ull}, /* 384 */
    {0x0100040010004001ull, 0x4001000400100040ull, 0x0040010004001000ull,
     0x0000400100040010ull}, /* 448 */
    {0x0001000100010001ull, 0x0001000100010001ull, 0x0001000100010001ull,
     0x0000000100010001ull}, /* 512 */
    {0x1004010040100401ull, 0x0100401004010040ull, 0x4010040100401004ull,
     0x0001004010040100ull}, /* 640 */
    {0x1001001001001001ull, 0x0100100100100100ull, 0x0010010010010010ull,
     0x0001001001001001ull}, /* 768 */
    {0x0100040010004001ull, 0x4001000400100040ull, 0x0040010004001000ull,
     0x0000400100040010ull}, /* 896 */
    {0x0001000100010001ull, 0x0001000100010001ull, 0x0001000100010001ull,
     0x0000000100010001ull}, /* 1024 */
    {0x1004010040100401ull, 0x0100401004010040ull, 0x4010040100401004ull,
     0x0001004010040100ull}, /* 1280 */
    {0x1001001001001001ull, 0x0100100100100100ull, 0x0010010010010010ull,
     0x0001001001001001ull}, /* 1536 */
    {0x0100040010004001ull, 0x4001000400100040ull, 0x0040010004001000ull,
     0x0000400100040010ull}, /* 1792 */
    {0x0001000100010001ull, 0x0001000100010001ull, 0x0001000100010001ull,
     0x0000000100010001ull}, /* 2048 */
    {0x1004010040100401ull, 0x0100401004010040ull, 0x4010040100401004ull,
     0x0001004010040100ull}, /* 2560 */
    {0x1001001001001001ull, 0x0100100100100100ull, 0x0010010010010010ull,
     0x0001001001001001ull}, /* 3072 */
    {0x0100040010004001ull, 0x4001000400100040ull, 0x0040010004001000ull,
     0x0000400100040010ull}, /* 3584 */
    {0x0001000100010001ull, 0x0001000100010001ull, 0x0001000100010001ull,
     0x0000000100010001ull}, /* 4096 */
};

_Static_assert(GRANULES == 256u, "slot_mask rows hold 256 granules");

static inline size_t slot_bits(const class_info *ci, unsigned w)
{
    const uint64_t *row = slot_mask[ci->cls1 - 1u];
    if (sizeof(size_t) == sizeof(uint64_t))
        return (size_t)row[w];
    return (size_t)(row[w >> 1] >> (32u * (w & 1u))); /* 32-bit words */
}

/* ------------------------------------------------------------------ */
/* Slab lists                                                          */
/* ------------------------------------------------------------------ */

/* The partial list is doubly linked, except that the head's prev link is
 * not kept: popping the head (when it fills) then touches no other
 * descriptor. Every other member's prev is exact, so removing one from the
 * middle (when it empties) is O(1). Full slabs are on no list (only
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
static const slab_region *region_of(const ak_slab *a, uintptr_t p)
{
    for (const ak_region_list *r = a->regions; r; r = r->next)
        if (p >= r->start && p < r->end)
            return (const slab_region *)(const void *)r;
    return NULL;
}

/* The descriptor slot of the frame at h (frame-aligned) in region r, or
 * NULL when h is not one of r's frames. */
static inline slab_hdr *frame_desc(const slab_region *r, uintptr_t h)
{
    if (h < r->fbase || ((h - r->fbase) >> FRAME_SHIFT) >= r->nframes)
        return NULL;
    return desc_at(r->tbl, (h - r->fbase) >> FRAME_SHIFT);
}

/* ------------------------------------------------------------------ */
/* Slabs from and to the TLSF                                          */
/* ------------------------------------------------------------------ */

/* True if memory pressure could free something: a cached empty slab, or
 * a magazine whose objects may be the last ones of their slabs. */
static bool has_cache(const ak_slab *a)
{
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        if (a->cls[c].empty || a->cls[c].mag_n)
            return true;
    return false;
}

static void slab_release(ak_slab *a, slab_hdr *s, const class_info *ci)
{
    ak_slab_class *k = &a->cls[s->cls1 - 1u];
    s->cls1 = 0; /* a stale descriptor must never validate */
    s->list = 0;
    k->slab_count--;
    ak_error e = ak_tlsf_dealloc(&a->tlsf, (void *)s->base, slab_request(ci), slab_bytes(ci));
    AK_ASSERT(e == AK_OK);
    (void)e;
}

size_t ak_slab_trim(ak_slab *a)
{
    size_t held = 0, n = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        held += a->cls[c].slab_count;
    ak_slab_flush(a);
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++)
        held -= a->cls[c].slab_count; /* released by the flush */
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        slab_hdr *s = a->cls[c].empty;
        if (s) {
            a->cls[c].empty = NULL;
            slab_release(a, s, &classes[c]);
            n++;
        }
    }
    return held + n;
}

size_t ak_slab_flush(ak_slab *a);

/* True if some region has an address aligned to align with size bytes
 * after it: else a request cannot fit even in an empty TLSF. */
static bool could_fit(const ak_slab *a, size_t size, size_t align)
{
    for (const ak_region_list *r = a->regions; r; r = r->next) {
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
    if (e == AK_ERR_NO_MEMORY && has_cache(a) && size <= ak_tlsf_total_bytes(&a->tlsf) &&
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
        const slab_region *r = region_of(a, h);
        AK_ASSERT(r != NULL);
        s = frame_desc(r, h);
        AK_ASSERT(s != NULL);
        s->base = h;
        s->inuse = 0;
        s->hint = 0;
        s->cls1 = (uint8_t)(c + 1u);
        s->next = s->prev = NULL;
        k->slab_count++;
        for (unsigned w = 0; w < MAX_BM_WORDS; w++)
            s->bitmap[w] = 0;
    }
    partial_push(k, s);
    return s;
}

/* ------------------------------------------------------------------ */
/* Large blocks                                                        */
/* ------------------------------------------------------------------ */

/* True if p is the start of one of this allocator's slabs: exact, from
 * the descriptor of p's frame. O(1). */
static bool is_slab_start(const slab_region *r, uintptr_t p)
{
    if ((p & (FRAME_BYTES - 1)) != 0)
        return false;
    const slab_hdr *s = frame_desc(r, p);
    return s && s->cls1 != 0 && s->base == p;
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
    const slab_region *r = region_of(a, (uintptr_t)ptr);
    if (!r || is_slab_start(r, (uintptr_t)ptr))
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

/* The align values the class table serves directly: 1, 2, 4, 8, 16. */
static inline bool align_is_small(size_t align)
{
    return align < 32 && ((0x10116u >> align) & 1u);
}

/* The head slab s of class c just lost its last free object: off the
 * partial list. */
static inline void slab_filled(ak_slab_class *k, slab_hdr *s)
{
    k->partial = s->next;
    k->partial_count--;
    s->list = LIST_FULL;
}

/* Take an object from class c's head slab s (which has a free slot): the
 * lowest free slot of the first bitmap word with one, from the word of the
 * last free on. The object's memory is not read (no free list runs
 * through it), so a cold object costs the allocation nothing. */
static inline void *slab_take(ak_slab_class *k, slab_hdr *s, const class_info *ci, size_t size)
{
    /* in_use < objects (the magazine is empty, so in_use counts the set
     * bits): some slot's bit is clear. Look first in the word of the last
     * free, so the search seldom loops. */
    unsigned w = s->hint;
    size_t m;
    while ((m = slot_bits(ci, w) & ~s->bitmap[w]) == 0)
        w = (w + 1u) & (MAX_BM_WORDS - 1u);
    s->bitmap[w] |= m & (0 - m);
    s->hint = (uint8_t)w;
    size_t g = (size_t)w * BM_BITS + ak_ffs_size(m);
    unsigned n = s->inuse + 1u;
    s->inuse = (uint16_t)n;
    k->held++;
    k->requested += size;
    if (n == ci->nobj) /* in a churn, most allocs fill the head slab */
        slab_filled(k, s);
    return (void *)(s->base + (g << ci->gshift));
}

/* The descriptor whose bitmap holds the word at w (descriptors are
 * DESC_BYTES-aligned in their table). */
static inline slab_hdr *desc_of_word(size_t *w)
{
    return (slab_hdr *)(void *)((uintptr_t)w & ~(uintptr_t)(DESC_BYTES - 1u));
}

/* The newest object of class c's magazine (k->mag_n > 0) for a caller:
 * its bit set again (its slab counted it all along). */
static inline void *mag_take(ak_slab *a, size_t c, size_t n, size_t size)
{
    ak_slab_class *k = &a->cls[c];
    n--;
    *a->mag_word[c][n] |= a->mag_bit[c][n];
    k->mag_n = (unsigned)n; /* held is unchanged: the slab counted it all along */
    k->requested += size;
    return a->mag_p[c][n];
}

/* An object of class c from its slabs, whose magazine is empty: from the
 * head slab, refilling the class if it has none. The slab bitmaps are
 * searched only while the magazine is empty: magazine objects have clear
 * bits, so a search could otherwise hand one out. */
static AK_NOINLINE ak_error slabs_alloc(ak_slab *a, unsigned c, size_t size, void **out)
{
    ak_slab_class *k = &a->cls[c];
    slab_hdr *s = k->partial;
    if (!s && !(s = class_refill(a, c)))
        return AK_ERR_NO_MEMORY;
    *out = slab_take(k, s, &classes[c], size);
    return AK_OK;
}

/* Everything but a small request with align <= 16. */
static AK_NOINLINE ak_error alloc_slow(ak_slab *a, size_t size, size_t align, void **out)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(size, align);
    if (c == LARGE)
        return large_alloc(a, size, align, out);
    ak_slab_class *k = &a->cls[c];
    unsigned n = k->mag_n;
    if (n == 0)
        return slabs_alloc(a, c, size, out);
    *out = mag_take(a, c, n, size);
    return AK_OK;
}

ak_error ak_slab_alloc(ak_slab *a, size_t size, size_t align, void **out)
{
    if (AK_UNLIKELY(size > AK_SLAB_MAX_SMALL || !align_is_small(align)))
        return alloc_slow(a, size, align, out);
    size_t c = size_class[(size + 15) >> 4];
    ak_slab_class *k = &a->cls[c];
    size_t n = k->mag_n;
    if (AK_UNLIKELY(n == 0))
        return slabs_alloc(a, (unsigned)c, size, out);
    *out = mag_take(a, c, n, size);
    return AK_OK;
}

/* A slab of class c just lost its last object: cache it if the class has
 * no cached slab, else give it back to the TLSF. */
static AK_NOINLINE void slab_emptied(ak_slab *a, unsigned c, slab_hdr *s)
{
    ak_slab_class *k = &a->cls[c];
    partial_remove(k, s);
    if (!k->empty) {
        s->list = LIST_EMPTY;
        k->empty = s;
    } else {
        slab_release(a, s, &classes[c]);
    }
}

/* A free into the full slab s: back to the head of the partial list, so
 * the next alloc of the class gets the object just freed. */
static inline void slab_unfilled(ak_slab_class *k, slab_hdr *s)
{
    slab_hdr *head = k->partial;
    if (head)
        head->prev = s;
    s->next = head;
    k->partial = s;
    k->partial_count++;
    s->list = LIST_PARTIAL;
}

/* An object of slab s (class c) whose allocated bit, in bitmap word w, is
 * already clear goes back to the slab: its count, and the lists when the
 * slab was full or is now empty. */
static void slab_return(ak_slab *a, unsigned c, slab_hdr *s, unsigned w)
{
    ak_slab_class *k = &a->cls[c];
    unsigned n = s->inuse;
    k->held--;
    s->hint = (uint8_t)w;
    if (n == classes[c].nobj)
        slab_unfilled(k, s);
    s->inuse = (uint16_t)--n;
    if (n == 0)
        slab_emptied(a, c, s);
}

/* Return the oldest `count` magazine entries of class c to their slabs;
 * the rest move down. */
static void mag_drain(ak_slab *a, unsigned c, unsigned count)
{
    ak_slab_class *k = &a->cls[c];
    for (unsigned i = 0; i < count; i++) {
        slab_hdr *s = desc_of_word(a->mag_word[c][i]);
        slab_return(a, c, s, (unsigned)(a->mag_word[c][i] - s->bitmap));
    }
    for (unsigned i = count; i < k->mag_n; i++) {
        a->mag_p[c][i - count] = a->mag_p[c][i];
        a->mag_word[c][i - count] = a->mag_word[c][i];
        a->mag_bit[c][i - count] = a->mag_bit[c][i];
    }
    k->mag_n -= count;
}

size_t ak_slab_flush(ak_slab *a)
{
    size_t n = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        n += a->cls[c].mag_n;
        mag_drain(a, c, a->cls[c].mag_n);
    }
    return n;
}

/* The allocated object of class c at p, whose slab span h has descriptor
 * slot s: its granule in *gp; false if p is not one. A set bit marks an
 * allocated object's start, so the bit test alone rules out interior
 * pointers, the tail and free slots once p is on a granule. */
static inline bool object_find(const slab_hdr *s, size_t c, uintptr_t p, uintptr_t h, uint32_t *gp)
{
    const class_info *ci = &classes[c];
    uintptr_t off = p - h;
    if (AK_UNLIKELY(s->cls1 != ci->cls1 || (off & ci->gmask) != 0))
        return false;
    uint32_t g = (uint32_t)(off >> ci->gshift);
    if (AK_UNLIKELY(!bit_test(s, g)))
        return false;
    *gp = g;
    return true;
}

/* Put the object at ptr, whose allocated bit (`bit` of `*word`) is
 * already clear (a second free of it is caught from there on), into the
 * magazine, which has room. */
static inline ak_error mag_put(ak_slab *a, unsigned c, size_t *word, size_t bit, void *ptr,
                               size_t size)
{
    ak_slab_class *k = &a->cls[c];
    unsigned n = k->mag_n++;
    a->mag_p[c][n] = ptr;
    a->mag_word[c][n] = word;
    a->mag_bit[c][n] = bit;
    k->requested -= size;
    return AK_OK;
}

/* As mag_put when the magazine is full: its older half goes back to the
 * slabs first (the object's slab still counts it, so it is not released).
 * Apart, so that the free fast path calls nothing. */
static AK_NOINLINE ak_error mag_put_full(ak_slab *a, unsigned c, size_t *word, size_t bit,
                                         void *ptr, size_t size)
{
    mag_drain(a, c, AK_SLAB_MAGAZINE / 2u);
    return mag_put(a, c, word, bit, ptr, size);
}

static inline ak_error object_put(ak_slab *a, unsigned c, slab_hdr *s, uint32_t g, void *ptr,
                                  size_t size)
{
    ak_slab_class *k = &a->cls[c];
    size_t *word = &s->bitmap[g >> BM_SHIFT];
    size_t bit = (size_t)1 << (g & (BM_BITS - 1));
    *word &= ~bit;
    if (AK_UNLIKELY(k->mag_n == AK_SLAB_MAGAZINE))
        return mag_put_full(a, c, word, bit, ptr, size);
    return mag_put(a, c, word, bit, ptr, size);
}

/* The descriptor slot of slab span h of class c, with the region of p
 * found (and remembered as the hint) from the region list; NULL if h is
 * not a slab span inside a region. */
static slab_hdr *span_lookup(ak_slab *a, uintptr_t p, uintptr_t h, const class_info *ci)
{
    const slab_region *r = region_of(a, p);
    if (!r || h < r->r.start || r->r.end - h < slab_request(ci))
        return NULL;
    a->fbase = r->fbase; /* frees tend to stay in one region */
    a->nframes = r->nframes;
    a->tbl = r->tbl;
    return frame_desc(r, h);
}

/* A small free of class c that the region hint does not resolve: the
 * region list, then the same checks. */
static AK_NOINLINE ak_error dealloc_class(ak_slab *a, void *ptr, size_t size, unsigned c)
{
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t h = p & slab_mask(&classes[c]);
    slab_hdr *s = span_lookup(a, p, h, &classes[c]);
    uint32_t idx;
    if (!s || !object_find(s, c, p, h, &idx))
        return AK_ERR_NOT_ALLOCATED;
    return object_put(a, c, s, idx, ptr, size);
}

/* A free of class c (any slab shape): the hint region's frame table,
 * then the region list. */
static ak_error dealloc_hinted(ak_slab *a, void *ptr, size_t size, unsigned c)
{
    const class_info *ci = &classes[c];
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t h = p & slab_mask(ci);
    size_t frame = (h - a->fbase) >> FRAME_SHIFT;
    uint32_t g;
    if (frame >= a->nframes || !object_find(desc_at(a->tbl, frame), c, p, h, &g))
        return dealloc_class(a, ptr, size, c);
    return object_put(a, c, desc_at(a->tbl, frame), g, ptr, size);
}

/* Everything but a free of up to FAST_MAX bytes with align <= 16. */
static AK_NOINLINE ak_error dealloc_slow(ak_slab *a, void *ptr, size_t size, size_t align)
{
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    unsigned c = class_for(size, align);
    if (c == LARGE)
        return large_dealloc(a, ptr, size, align);
    return dealloc_hinted(a, ptr, size, c);
}

/* The fast path's ways out, taking only what it still holds (the class
 * is found again from the size: these are small frees with align <= 16),
 * so that it needs no saved registers. */
static AK_NOINLINE ak_error dealloc_small_miss(ak_slab *a, void *ptr, size_t size)
{
    return dealloc_class(a, ptr, size, size_class[(size + 15) >> 4]);
}

static AK_NOINLINE ak_error dealloc_small_full(ak_slab *a, void *ptr, size_t size, size_t *word,
                                               size_t bit)
{
    return mag_put_full(a, size_class[(size + 15) >> 4], word, bit, ptr, size);
}

/* Frees of objects up to FAST_MAX bytes (classes 16..256, whose slabs are
 * one 4 KiB frame with 16-byte granules, as the checker confirms) take
 * the path below, where every class constant is a literal; larger ones go
 * through dealloc_slow. */
ak_error ak_slab_dealloc(ak_slab *a, void *ptr, size_t size, size_t align)
{
    if (AK_UNLIKELY(size > FAST_MAX || !align_is_small(align)))
        return dealloc_slow(a, ptr, size, align);
    uintptr_t p = (uintptr_t)ptr;
    /* The hint region's frame table: one subtract, shift and compare. A
     * miss (another region, or a bad pointer) is judged out of line. The
     * slab is the frame itself. */
    size_t frame = (p - a->fbase) >> FRAME_SHIFT;
    if (AK_UNLIKELY(frame >= a->nframes))
        return dealloc_small_miss(a, ptr, size);
    slab_hdr *s = desc_at(a->tbl, frame);
    /* A slab of this class, p on a granule, an allocated object's start
     * there (a set bit: not a free slot, an interior granule or the tail).
     * object_find and object_put, written out for this one slab shape. */
    size_t c = size_class[(size + 15) >> 4];
    if (AK_UNLIKELY(s->cls1 != c + 1u || (p & 15u) != 0))
        return dealloc_small_miss(a, ptr, size);
    /* The granule's bit: word (p >> 4) / BM_BITS mod MAX_BM_WORDS, bit
     * (p >> 4) mod BM_BITS. */
    size_t *word = &s->bitmap[(p >> (4u + BM_SHIFT)) & (MAX_BM_WORDS - 1u)];
    size_t bit = (size_t)1 << ((p >> 4) & (BM_BITS - 1u));
    size_t v = *word;
    if (AK_UNLIKELY(!(v & bit)))
        return dealloc_small_miss(a, ptr, size);
    *word = v ^ bit; /* the bit is set */
    ak_slab_class *k = &a->cls[c];
    size_t n = k->mag_n;
    if (AK_UNLIKELY(n == AK_SLAB_MAGAZINE))
        return dealloc_small_full(a, ptr, size, word, bit);
    a->mag_p[c][n] = ptr;
    a->mag_word[c][n] = word;
    a->mag_bit[c][n] = bit;
    k->mag_n = (unsigned)n + 1u;
    k->requested -= size;
    return AK_OK;
}

/* As object_find, for a pointer not yet known to be in a region. */
static ak_error small_locate(const ak_slab *a, uintptr_t p, unsigned c, slab_hdr **sp, uint32_t *ip)
{
    const class_info *ci = &classes[c];
    uintptr_t h = p & slab_mask(ci);
    const slab_region *r = region_of(a, p);
    if (!r || h < r->r.start || r->r.end - h < slab_request(ci))
        return AK_ERR_NOT_ALLOCATED;
    slab_hdr *s = frame_desc(r, h);
    if (!s || !object_find(s, c, p, h, ip))
        return AK_ERR_NOT_ALLOCATED;
    *sp = s;
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

/* Carve the region record and the frame descriptor table from the region
 * start, give the rest to the TLSF (init for the first region), then link
 * the record. The table has one DESC_BYTES slot per 4 KiB frame from the
 * region start rounded down to a frame to its end: 1/64 of the region. */
static ak_error add_region(ak_slab *a, uintptr_t start, size_t size, bool first)
{
    uintptr_t end, rec;
    if (!ak_range_end(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    if (ak_region_list_overlaps(a->regions, start, end))
        return AK_ERR_MEMORY_OVERLAP;
    if (!ak_align_up_checked(start, DESC_BYTES, &rec) || rec >= end || end - rec <= DESC_BYTES)
        return AK_ERR_INVALID_PARAM;
    _Static_assert(sizeof(slab_region) <= DESC_BYTES, "the region record fits a slot");
    uintptr_t fbase = start & ~(FRAME_BYTES - 1);
    uintptr_t span = end - fbase;
    size_t nframes = (size_t)(span >> FRAME_SHIFT) + ((span & (FRAME_BYTES - 1)) != 0);
    uintptr_t tbl = rec + DESC_BYTES;
    if ((end - tbl) >> DESC_SHIFT <= nframes)
        return AK_ERR_INVALID_PARAM; /* no room after the table */
    uintptr_t body = tbl + ((uintptr_t)nframes << DESC_SHIFT);
    ak_error e = first ? ak_tlsf_init(&a->tlsf, body, (size_t)(end - body))
                       : ak_tlsf_add_memory(&a->tlsf, body, (size_t)(end - body));
    if (e != AK_OK)
        return e;
    for (size_t f = 0; f < nframes; f++) {
        slab_hdr *s = desc_at((unsigned char *)tbl, f);
        s->cls1 = 0;
        s->list = 0;
    }
    slab_region *r = (slab_region *)rec;
    r->r.start = start;
    r->r.end = end;
    r->r.next = a->regions;
    r->fbase = fbase;
    r->nframes = nframes;
    r->tbl = (unsigned char *)tbl;
    a->regions = &r->r;
    a->fbase = fbase;
    a->nframes = nframes;
    a->tbl = r->tbl;
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
        k->held = k->requested = k->partial_count = k->slab_count = 0;
        k->mag_n = 0;
    }
    a->regions = NULL;
    a->tbl = NULL;
    a->fbase = 0;
    a->nframes = 0;
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
    out->objects_in_use = k->held - k->mag_n;
    out->objects_cached = k->mag_n;
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
    out->slabs = out->slab_bytes = out->slabs_empty = out->small_cached = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        ak_slab_class_info ci;
        ak_slab_class_stats(a, c, &ci);
        out->small_objects += ci.objects_in_use;
        out->small_requested += ci.requested_bytes;
        out->slabs += ci.slabs_partial + ci.slabs_full + ci.slabs_empty;
        out->slab_bytes += (ci.slabs_partial + ci.slabs_full + ci.slabs_empty) * ci.slab_size;
        out->slabs_empty += ci.slabs_empty;
        out->small_cached += ci.objects_cached;
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

/* Entries of class c's magazine whose slab is s. */
static unsigned mag_count(const ak_slab *a, unsigned c, const slab_hdr *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < a->cls[c].mag_n && i < AK_SLAB_MAGAZINE; i++)
        n += desc_of_word(a->mag_word[c][i]) == s;
    return n;
}

/* One slab of class c, descriptor s in region r, holding `cached` objects
 * of the class's magazine. */
static const char *check_slab(const slab_region *r, const slab_hdr *s, unsigned c, unsigned cached)
{
    const class_info *ci = &classes[c];
    uintptr_t h = s->base;
    if ((h & (slab_bytes(ci) - 1)) != 0)
        return "slab: not aligned to its size";
    if (h < r->r.start || h >= r->r.end || r->r.end - h < slab_request(ci))
        return "slab: not inside its region";
    if (frame_desc(r, h) != s)
        return "slab: descriptor not in its first frame's slot";
    for (uintptr_t f = FRAME_BYTES; f < slab_bytes(ci); f += FRAME_BYTES)
        if (frame_desc(r, h + f)->cls1 != 0)
            return "slab: another slab's descriptor inside its span";
    if (s->list < LIST_PARTIAL || s->list > LIST_EMPTY)
        return "slab: list tag out of range";
    if (s->inuse > ci->nobj)
        return "slab: in_use exceeds the objects per slab";
    if (s->list == LIST_PARTIAL && (s->inuse == 0 || s->inuse == ci->nobj))
        return "slab: a partial slab is empty or full";
    if (s->list == LIST_FULL && s->inuse != ci->nobj)
        return "slab: a full slab has free objects";
    if (s->list == LIST_EMPTY && s->inuse != 0)
        return "slab: the cached empty slab has objects in use";
    /* Allocated bits: only at slot starts, one per object in use that is
     * not in the magazine. */
    unsigned set = 0;
    for (unsigned w = 0; w < MAX_BM_WORDS; w++) {
        if (s->bitmap[w] & ~slot_bits(ci, w))
            return "slab: an allocated bit at a granule that starts no slot";
        set += ak_popcount64((uint64_t)s->bitmap[w]);
    }
    if (cached > s->inuse || set + cached != s->inuse)
        return "slab: allocated bits and magazine objects do not match in_use";
    if (s->hint >= MAX_BM_WORDS)
        return "slab: search hint past the bitmap";
    return NULL;
}

/* Class c's magazine: within bounds, each entry an unallocated object
 * slot of a slab of the class (named by its descriptor), no entry twice.
 * That the slab is live is checked from the tables (mag_seen). */
static const char *check_magazine(const ak_slab *a, unsigned c)
{
    const ak_slab_class *k = &a->cls[c];
    const class_info *ci = &classes[c];
    if (k->mag_n > AK_SLAB_MAGAZINE)
        return "magazine: count above AK_SLAB_MAGAZINE";
    for (unsigned i = 0; i < k->mag_n; i++) {
        uintptr_t p = (uintptr_t)a->mag_p[c][i];
        const slab_region *r = region_of(a, p);
        const slab_hdr *s = r ? frame_desc(r, p & slab_mask(ci)) : NULL;
        if (!s || s->cls1 != c + 1u || s->base != (p & slab_mask(ci)))
            return "magazine: an object outside the slabs of its class";
        uintptr_t off = p - s->base;
        uint32_t g = (uint32_t)(off >> ci->gshift);
        if ((off & (((uintptr_t)1 << ci->gshift) - 1u)) != 0 ||
            !((slot_bits(ci, g >> BM_SHIFT) >> (g & (BM_BITS - 1))) & 1u))
            return "magazine: an object that is not a slot start";
        if (a->mag_word[c][i] != &s->bitmap[g >> BM_SHIFT] ||
            a->mag_bit[c][i] != (size_t)1 << (g & (BM_BITS - 1)))
            return "magazine: an entry's bit is not its object's";
        if (bit_test(s, g))
            return "magazine: an object marked allocated";
        for (unsigned j = 0; j < i; j++)
            if (a->mag_p[c][j] == a->mag_p[c][i])
                return "magazine: an object twice";
    }
    return NULL;
}

/* Walk the partial list of class c; counts slabs. */
static const char *check_partial(const ak_slab *a, unsigned c, size_t limit, size_t *slabs)
{
    const slab_hdr *prev = NULL;
    size_t n = 0;
    for (const slab_hdr *s = a->cls[c].partial; s; prev = s, s = s->next) {
        if (++n > limit)
            return "class: partial list longer than memory allows (cycle)";
        if (prev && s->prev != prev)
            return "class: partial list back link broken";
        if (s->cls1 != c + 1u || s->list != LIST_PARTIAL)
            return "class: partial list holds a slab not tagged partial of its class";
    }
    *slabs = n;
    return NULL;
}

const char *ak_slab_check(const ak_slab *a)
{
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        if (classes[c].cls1 != c + 1u)
            return "classes: a class's index is not its place in the table";
        if (c <= size_class[FAST_MAX / 16u] && slab_bytes(&classes[c]) != FRAME_BYTES)
            return "classes: a class of the free fast path has slabs other than one frame";
        for (unsigned w = 0; w < MAX_BM_WORDS; w++)
            if (slot_bits(&classes[c], w) != slot_bits_ref(&classes[c], w))
                return "classes: slot_mask differs from the slot positions";
    }
    size_t nreg = 0;
    bool hint_found = false;
    for (const ak_region_list *g = a->regions; g; g = g->next) {
        const slab_region *r = (const slab_region *)(const void *)g;
        if (++nreg > a->region_count)
            return "regions: more records than region_count";
        if (g->start >= g->end)
            return "regions: empty or inverted record";
        if (r->fbase != (g->start & ~(FRAME_BYTES - 1)) ||
            (r->nframes - 1) != ((g->end - 1 - r->fbase) >> FRAME_SHIFT))
            return "regions: frames do not cover the region";
        if (r->fbase == a->fbase && r->nframes == a->nframes && r->tbl == a->tbl)
            hint_found = true;
        if (ak_region_list_overlaps(g->next, g->start, g->end))
            return "regions: two records overlap";
    }
    if (nreg != a->region_count)
        return "regions: fewer records than region_count";
    if (!hint_found && (a->nframes != 0 || nreg != 0))
        return "regions: the region hint is not a region";
    const char *why = ak_tlsf_check(&a->tlsf);
    if (why)
        return why;
    size_t total = ak_tlsf_total_bytes(&a->tlsf);
    /* Every slab, found from the frame tables. */
    size_t count[AK_SLAB_CLASS_COUNT][4], objects[AK_SLAB_CLASS_COUNT];
    unsigned mag_seen[AK_SLAB_CLASS_COUNT];
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        why = check_magazine(a, c);
        if (why)
            return why;
        objects[c] = 0;
        mag_seen[c] = 0;
        for (unsigned l = 0; l < 4; l++)
            count[c][l] = 0;
    }
    for (const ak_region_list *g = a->regions; g; g = g->next) {
        const slab_region *r = (const slab_region *)(const void *)g;
        for (size_t f = 0; f < r->nframes; f++) {
            const slab_hdr *s = desc_at(r->tbl, f);
            if (s->cls1 == 0)
                continue;
            if (s->cls1 > AK_SLAB_CLASS_COUNT)
                return "slab: class out of range";
            unsigned c = s->cls1 - 1u;
            if (s->base != r->fbase + ((uintptr_t)f << FRAME_SHIFT))
                return "slab: descriptor does not name its frame";
            why = check_slab(r, s, c, mag_count(a, c, s));
            if (why)
                return why;
            count[c][s->list]++;
            objects[c] += s->inuse;
            mag_seen[c] += mag_count(a, c, s);
        }
    }
    size_t slab_total = 0, tlsf_blocks = 0;
    for (unsigned c = 0; c < AK_SLAB_CLASS_COUNT; c++) {
        const ak_slab_class *k = &a->cls[c];
        const class_info *ci = &classes[c];
        size_t limit = total / slab_bytes(ci) + 1, np;
        why = check_partial(a, c, limit, &np);
        if (why)
            return why;
        if (k->empty && (k->empty->list != LIST_EMPTY || k->empty->cls1 != c + 1u))
            return "class: the cached slab is not tagged empty";
        if (np != k->partial_count || count[c][LIST_PARTIAL] != np)
            return "class: partial slabs on the list, in the tables and the counter differ";
        if (count[c][LIST_EMPTY] != (k->empty != NULL))
            return "class: a slab tagged empty is not the cached one";
        if (count[c][LIST_PARTIAL] + count[c][LIST_FULL] + count[c][LIST_EMPTY] != k->slab_count)
            return "class: slab counter and the tables differ";
        if (mag_seen[c] != k->mag_n)
            return "class: a magazine object's slab is not one of the class's slabs";
        if (objects[c] != k->held || k->mag_n > k->held)
            return "class: objects in use and in the magazine do not match the slabs";
        if (k->requested > (k->held - k->mag_n) * ci->size)
            return "class: requested bytes exceed objects * class size";
        slab_total += k->slab_count * slab_request(ci);
        tlsf_blocks += k->slab_count;
    }
    if (a->large_count == 0 && a->large_requested != 0)
        return "large: requested bytes without live large blocks";
    /* The TLSF counts each of its blocks at its usable size: at least what
     * was asked of it, and less than 2 * AK_TLSF_MIN_BLOCK more. */
    size_t tlsf_used = ak_tlsf_used_bytes(&a->tlsf), asked = slab_total + a->large_requested;
    tlsf_blocks += a->large_count;
    if (tlsf_used < asked || tlsf_used - asked > tlsf_blocks * (2 * AK_TLSF_MIN_BLOCK - 1))
        return "tlsf: used bytes do not match the slabs and large blocks";
    if (ak_slab_used_bytes(a) > total)
        return "used bytes exceed total bytes";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The byte-allocator interface                                        */
/* ------------------------------------------------------------------ */

AK_DEFINE_BYTE_ALLOCATOR(ak_slab, "slab")
