/* TLSF: two-level segregated fit (see include/allockit/tlsf.h for the
 * manual: constants, overheads, bounds).
 *
 * alloc and free are O(1): one mapping by fls, at most three find-first-set,
 * a constant number of list operations and header writes; no loop depends
 * on the heap's size or state. Overhead: 8 bytes per used block; one record
 * and one sentinel per region; about 9.3 KiB per allocator object (64-bit)
 * plus the magazines. Small blocks freed go to a per-class ring of recent
 * frees (marked cached in their headers), which the next allocations of
 * the class take first; a full ring frees its oldest block for real.
 *
 * Block layout. A block is addressed by its header word h (a uint64_t);
 * its payload starts at h + 8 and is AK_TLSF_ALIGN-aligned; the next block's
 * header is at h + size. The word just below a header (the last
 * pointer-sized word of the previous block's space) is the "prev-physical"
 * link: it is only valid when the previous block is free, which is why a
 * used block's payload may overlap it.
 *
 *   used:  [ header ][ payload ..................................... ]
 *   free:  [ header ][ next_free ][ prev_free ] ...... [ link to h ]
 *
 * Header word, 64 bits on every target (so the layout and the tag strength
 * do not depend on the pointer size):
 *   bit 0       this block is free
 *   bit 1       the previous physical block is free
 *   bit 2       a used block held by a magazine (see tlsf.h): used to its
 *               neighbours, free to its callers
 *   bits 3..43  block size (header included), a multiple of AK_TLSF_ALIGN
 *               (bit 3 on 64-bit targets is always zero)
 *   bits 44..49 slack: block size - 8 - requested size, for used blocks,
 *               so used_bytes stays exact whatever size free is given
 *   bits 50..63 tag: hash of the header's address and a per-allocator salt;
 *               free and resize accept a pointer only if its header and the
 *               next header carry the right tags
 * Each region: [ record | first block ... | sentinel header ]. The sentinel
 * is a zero-size used block, so the last real block always has a successor
 * and merging never looks past the region.
 *
 * Invariants (checked by ak_tlsf_check):
 *  - every region walks from its first block to its sentinel; sizes sum to
 *    the span; every header has its tag; no block is smaller than the
 *    minimum; no two physically adjacent blocks are both free;
 *  - a block's prev-free bit equals its predecessor's free bit, and then
 *    the prev-physical link points at the predecessor;
 *  - a free block is in exactly the list its size maps to; lists are
 *    doubly linked (but for the head's back link, which is unused); a
 *    bitmap bit is set iff its list (or level) is non-empty;
 *  - a used block is no bigger than alloc would have made it for its
 *    requested size (so its slack fits), and the counters match the blocks.
 */
#include <allockit/tlsf.h>

#include "ak_internal.h"
#include "ak_ops.h"

/* ---- constants ---- */

/* A cache prefetch hint; define AK_PREFETCH(addr) to nothing to turn it
 * off, or to your compiler's form. */
#ifndef AK_PREFETCH
#if defined(__GNUC__) || defined(__clang__)
#define AK_PREFETCH(addr) __builtin_prefetch((addr), 1, 3)
#else
#define AK_PREFETCH(addr) ((void)(addr))
#endif
#endif

#define ALIGN       AK_TLSF_ALIGN
#define ALIGN_LOG2  AK_TLSF_ALIGN_LOG2
#define SL_LOG2     AK_TLSF_SL_LOG2
#define SL_COUNT    AK_TLSF_SL_COUNT
#define FL_SHIFT    AK_TLSF_FL_SHIFT
#define FL_COUNT    AK_TLSF_FL_COUNT
#define SMALL_BLOCK AK_TLSF_SMALL_BLOCK
#define MIN_BLOCK   AK_TLSF_MIN_BLOCK
#define MAX_BLOCK   AK_TLSF_MAX_BLOCK
#define HDR         ((size_t)AK_TLSF_BLOCK_OVERHEAD)
#define PTR_SIZE    sizeof(uintptr_t)
#define PTR_BITS    (sizeof(uintptr_t) * CHAR_BIT)

/* Bit k set for each power of two k <= ALIGN: `align` is a valid
 * alignment the plain (unaligned) path serves iff align <= ALIGN and bit
 * align is set: one shift and test instead of a power-of-two check. */
#define SMALL_ALIGNS                                                                               \
    ((uint32_t)((1u << 1) | (1u << 2) | (1u << 4) | (1u << 8) | (ALIGN >= 16 ? 1u << 16 : 0u)))

#define F_FREE      ((uint64_t)1)
#define F_PREV_FREE ((uint64_t)2)
#define F_CACHED    ((uint64_t)4) /* a used block held by a magazine */
#define MAG         AK_TLSF_MAGAZINE
#define SIZE_MASK   ((((uint64_t)1 << 44) - 1) & ~(uint64_t)(ALIGN - 1))
#define SLACK_SHIFT 44
#define SLACK_MAX   63u
#define TAG_SHIFT   50
#define TAG_BITS    14
#define TAG_MASK    (~(uint64_t)0 << TAG_SHIFT)

_Static_assert(sizeof(uint64_t) == AK_TLSF_BLOCK_OVERHEAD, "the header is one 64-bit word");
_Static_assert(ALIGN == 2 * sizeof(void *), "granule is two pointers");
_Static_assert(ALIGN >= HDR && ALIGN % HDR == 0, "header words stay 8-byte aligned");
_Static_assert(SMALL_BLOCK / SL_COUNT == ALIGN, "first level 0 has one list per granule");
_Static_assert(ALIGN <= 16, "SMALL_ALIGNS covers every alignment up to ALIGN");
_Static_assert(SL_COUNT <= 32, "second-level bitmaps are 32 bits");
_Static_assert(FL_COUNT <= sizeof(uintptr_t) * CHAR_BIT, "first-level bitmap fits a word");
_Static_assert(MIN_BLOCK >= HDR + 3 * PTR_SIZE, "a free block holds two links and a back link");
_Static_assert((uint64_t)MAX_BLOCK <= SIZE_MASK, "the size field holds the largest block");
/* The largest block maps into the last first level: FL_COUNT is exactly
 * fls(MAX_BLOCK) - FL_SHIFT + 2. */
_Static_assert((MAX_BLOCK >> (FL_COUNT + FL_SHIFT - 2)) == 1, "FL_COUNT covers MAX_BLOCK");
/* A used block is at most MIN_BLOCK - ALIGN bigger than its need (a smaller
 * leftover is not split off), and need exceeds size + 8 by at most
 * max(ALIGN - 1, MIN_BLOCK - 8): so the slack fits its 6 bits. */
_Static_assert((MIN_BLOCK - ALIGN) + (MIN_BLOCK - HDR) <= SLACK_MAX, "slack fits 6 bits");
_Static_assert(AK_TLSF_MAX_ALIGN <= MAX_BLOCK && AK_IS_POW2(AK_TLSF_MAX_ALIGN), "max align");
_Static_assert(TAG_SHIFT == SLACK_SHIFT + 6, "slack and tag fields are adjacent");

/* The record at the start of each region. `base` is the shared region list
 * node (first member, so list nodes are these records). */
typedef struct tlsf_region {
    ak_region_list base;
    uintptr_t first; /* header of the first block */
    uintptr_t span;  /* sentinel - first: the sum of all block sizes */
} tlsf_region;

_Static_assert(sizeof(tlsf_region) == 5 * sizeof(void *), "region record is five words");

/* ---- block helpers ---- */

static inline uint64_t hdr_get(uintptr_t b)
{
    return *(const uint64_t *)b;
}

static inline void hdr_set(uintptr_t b, uint64_t w)
{
    *(uint64_t *)b = w;
}

static inline size_t hdr_size(uint64_t w)
{
    return (size_t)(w & SIZE_MASK);
}

static inline size_t hdr_slack(uint64_t w)
{
    return (size_t)((w >> SLACK_SHIFT) & SLACK_MAX);
}

/* The prev-physical link of block b (valid only if b's predecessor is free). */
static inline uintptr_t *link_prev_phys(uintptr_t b)
{
    return (uintptr_t *)(b - PTR_SIZE);
}

static inline uintptr_t *link_next_free(uintptr_t b)
{
    return (uintptr_t *)(b + HDR);
}

static inline uintptr_t *link_prev_free(uintptr_t b)
{
    return (uintptr_t *)(b + HDR + PTR_SIZE);
}

/* The tag of a header at address b: high bits of a multiplicative hash of
 * the address mixed with the allocator's salt. */
static inline uint64_t tag_of(const ak_tlsf *a, uintptr_t b)
{
    uintptr_t h = (b ^ a->salt) * (uintptr_t)0x9e3779b97f4a7c15ull;
    return (uint64_t)(h >> (PTR_BITS - TAG_BITS)) << TAG_SHIFT;
}

/* Is align one of the alignments every payload has anyway (1..ALIGN)? */
static inline bool small_align(size_t align)
{
    return align <= ALIGN && ((SMALL_ALIGNS >> align) & 1u) != 0;
}

/* Block size that holds `size` requested bytes; size <= AK_TLSF_MAX_ALLOC. */
static inline size_t block_need(size_t size)
{
    size_t need = (size + HDR + ALIGN - 1) & ~(ALIGN - 1);
    return need < MIN_BLOCK ? MIN_BLOCK : need;
}

/* Could a used block of size bs have been made for `size` requested bytes? */
static inline bool block_fits_request(size_t bs, size_t size)
{
    return size <= bs - HDR && bs - block_need(size) < MIN_BLOCK;
}

/* Bytes from payload address p (ALIGN-aligned) to the first address
 * aligned to `align` that leaves either no gap or one big enough to be a
 * free block. A wrap at the top of the address space gives a huge gap,
 * which no block fits. */
static inline size_t aligned_gap(uintptr_t p, size_t align)
{
    uintptr_t ap = ak_align_up(p, align);
    if (ap != p && ap - p < MIN_BLOCK)
        ap = ak_align_up(p + MIN_BLOCK, align);
    return ap - p;
}

/* Mark the successor n of a block as having a free (with link) or a used
 * predecessor. */
static inline void next_set_prev_free(uintptr_t n, uintptr_t b)
{
    *link_prev_phys(n) = b;
    hdr_set(n, hdr_get(n) | F_PREV_FREE);
}

static inline void next_set_prev_used(uintptr_t n)
{
    hdr_set(n, hdr_get(n) & ~F_PREV_FREE);
}

/* ---- size classes ---- */

/* The list a block of `size` bytes belongs to. */
static inline void mapping_insert(size_t size, unsigned *fl, unsigned *sl)
{
    if (size < SMALL_BLOCK) {
        *fl = 0;
        *sl = (unsigned)(size >> ALIGN_LOG2);
    } else {
        unsigned t = ak_fls_size(size);
        *sl = (unsigned)(size >> (t - SL_LOG2)) ^ SL_COUNT;
        *fl = t - (FL_SHIFT - 1);
    }
}

/* The first list whose every block holds `size` bytes: the list of `size`
 * rounded up to the next list boundary. Done on the indices, so it cannot
 * overflow; *fl may come out as FL_COUNT (no such list). */
static inline void mapping_search(size_t size, unsigned *fl, unsigned *sl)
{
    mapping_insert(size, fl, sl);
    if (size >= SMALL_BLOCK) {
        size_t below = ((size_t)1 << (ak_fls_size(size) - SL_LOG2)) - 1;
        if (size & below) {
            if (++*sl == SL_COUNT) {
                *sl = 0;
                ++*fl;
            }
        }
    }
}

/* ---- free lists ----
 * Doubly linked, newest first, one per class; the bitmaps mirror which
 * lists are non-empty. A list's head is the block heads[fl][sl] names, and
 * its prev link is left unspecified: taking the head (what alloc does)
 * then needs no write to the next block, which is usually cold. The
 * callers keep free_blocks and free_bytes. */

static inline void list_insert_at(ak_tlsf *a, uintptr_t b, unsigned fl, unsigned sl)
{
    uintptr_t head = a->heads[fl][sl];
    *link_next_free(b) = head;
    if (head)
        *link_prev_free(head) = b;
    a->heads[fl][sl] = b;
    a->fl_bitmap |= (uintptr_t)1 << fl;
    a->sl_bitmap[fl] |= (uint32_t)1 << sl;
}

/* List [fl][sl] became empty. */
static inline void list_clear_bit(ak_tlsf *a, unsigned fl, unsigned sl)
{
    a->sl_bitmap[fl] &= ~((uint32_t)1 << sl);
    if (!a->sl_bitmap[fl])
        a->fl_bitmap &= ~((uintptr_t)1 << fl);
}

/* The list whose head pointer is *head became empty; its indices come
 * from the pointer, so callers need not keep them live. */
static inline void list_clear_head_bit(ak_tlsf *a, const uintptr_t *head)
{
    size_t i = (size_t)(head - &a->heads[0][0]);
    list_clear_bit(a, (unsigned)(i / SL_COUNT), (unsigned)(i % SL_COUNT));
}

static inline void list_remove_at(ak_tlsf *a, uintptr_t b, unsigned fl, unsigned sl)
{
    uintptr_t next = *link_next_free(b);
    if (a->heads[fl][sl] == b) {
        a->heads[fl][sl] = next;
        if (!next)
            list_clear_bit(a, fl, sl);
    } else {
        uintptr_t prev = *link_prev_free(b);
        *link_next_free(prev) = next;
        if (next)
            *link_prev_free(next) = prev;
    }
}

/* Put nb where b is in list [fl][sl]: for a block that changed address or
 * size but not class, cheaper than a removal and an insertion (no bitmap
 * work). nb's links may not overlap b's. */
static inline void list_replace(ak_tlsf *a, uintptr_t b, uintptr_t nb, unsigned fl, unsigned sl)
{
    uintptr_t next = *link_next_free(b);
    *link_next_free(nb) = next;
    if (next)
        *link_prev_free(next) = nb;
    if (a->heads[fl][sl] == b) {
        a->heads[fl][sl] = nb;
    } else {
        uintptr_t prev = *link_prev_free(b);
        *link_prev_free(nb) = prev;
        *link_next_free(prev) = nb;
    }
}

static inline void list_insert(ak_tlsf *a, uintptr_t b, size_t size)
{
    unsigned fl, sl;
    mapping_insert(size, &fl, &sl);
    list_insert_at(a, b, fl, sl);
    a->free_blocks++;
    a->free_bytes += size;
}

static inline void list_remove(ak_tlsf *a, uintptr_t b, size_t size)
{
    unsigned fl, sl;
    mapping_insert(size, &fl, &sl);
    list_remove_at(a, b, fl, sl);
    a->free_blocks--;
    a->free_bytes -= size;
}

/* A free block of at least `need` bytes (left on its list [*flp][*slp]),
 * or 0, in O(1). Good fit first: any head of the rounded-up class fits.
 * Failing that, two single candidates that may hold `need` exactly: the
 * head of need's own class, and the first block of the largest region when
 * it is free. The last makes "the largest request that fitted at the start
 * fits again once everything is freed" hold however many regions share a
 * class: that block is then the whole region. */
static AK_COLD uintptr_t find_block_exact(const ak_tlsf *a, size_t need, unsigned *flp,
                                          unsigned *slp)
{
    unsigned fl, sl;
    mapping_insert(need, &fl, &sl);
    uintptr_t b = a->heads[fl][sl];
    if (b && hdr_size(hdr_get(b)) >= need) {
        *flp = fl;
        *slp = sl;
        return b;
    }
    const tlsf_region *big = (const tlsf_region *)a->big_region;
    if (big) {
        uint64_t w = hdr_get(big->first);
        if ((w & F_FREE) && hdr_size(w) >= need) {
            mapping_insert(hdr_size(w), flp, slp);
            return big->first;
        }
    }
    return 0;
}

static inline uintptr_t find_block(const ak_tlsf *a, size_t need, unsigned *flp, unsigned *slp)
{
    unsigned fl, sl;
    mapping_search(need, &fl, &sl);
    if (AK_LIKELY(fl < FL_COUNT)) {
        uint32_t slmap = a->sl_bitmap[fl] & (~(uint32_t)0 << sl);
        if (!slmap) {
            uintptr_t flmap = a->fl_bitmap & (~(uintptr_t)0 << (fl + 1));
            if (AK_UNLIKELY(!flmap))
                return find_block_exact(a, need, flp, slp);
            fl = ak_ffs_size(flmap);
            slmap = a->sl_bitmap[fl];
        }
        sl = ak_ffs32(slmap);
        *flp = fl;
        *slp = sl;
        return a->heads[fl][sl];
    }
    return find_block_exact(a, need, flp, slp);
}

/* ---- regions ---- */

static inline tlsf_region *region_list(const ak_tlsf *a)
{
    return (tlsf_region *)a->regions;
}

/* The region whose blocks (first header to sentinel, exclusive) contain
 * address b, or NULL. */
static AK_NOINLINE tlsf_region *region_of_list(const ak_tlsf *a, uintptr_t b)
{
    for (tlsf_region *r = region_list(a); r; r = (tlsf_region *)r->base.next)
        if (b - r->first < r->span)
            return r;
    return (tlsf_region *)0;
}

/* The region found last (a->hint) is tried with one compare, inline; the
 * list walk is out of line. */
static inline tlsf_region *region_of(const ak_tlsf *a, uintptr_t b)
{
    tlsf_region *r = (tlsf_region *)a->hint;
    if (AK_LIKELY(r != (tlsf_region *)0) && AK_LIKELY(b - r->first < r->span))
        return r;
    return region_of_list(a, b);
}

/* Where the record, the first block and the sentinel of [start, start+size)
 * go. */
static ak_error region_layout(uintptr_t start, size_t size, uintptr_t *end, uintptr_t *rec,
                              uintptr_t *first, uintptr_t *span)
{
    if (!ak_range_end(start, size, end))
        return AK_ERR_INVALID_PARAM;
    /* With this much room none of the rounding below can pass the end. */
    if (size < AK_TLSF_REGION_OVERHEAD + MIN_BLOCK)
        return AK_ERR_INVALID_PARAM;
    uintptr_t r = ak_align_up(start, PTR_SIZE);
    uintptr_t f = ak_align_up(r + sizeof(tlsf_region) + HDR, ALIGN) - HDR;
    uintptr_t s = ak_align_down(*end, ALIGN) - HDR;
    if (s <= f || s - f < MIN_BLOCK)
        return AK_ERR_INVALID_PARAM;
    if (s - f > MAX_BLOCK)
        s = f + MAX_BLOCK;
    *rec = r;
    *first = f;
    *span = s - f;
    return AK_OK;
}

static void region_install(ak_tlsf *a, uintptr_t start, uintptr_t end, uintptr_t rec,
                           uintptr_t first, uintptr_t span)
{
    tlsf_region *r = (tlsf_region *)rec;
    r->base.next = (ak_region_list *)a->regions;
    r->base.start = start;
    r->base.end = end;
    r->first = first;
    r->span = span;
    a->regions = r;
    a->region_count++;
    if (!a->big_region || span > ((const tlsf_region *)a->big_region)->span)
        a->big_region = r;

    uintptr_t sentinel = first + span;
    hdr_set(first, (uint64_t)span | F_FREE | tag_of(a, first));
    hdr_set(sentinel, F_PREV_FREE | tag_of(a, sentinel));
    *link_prev_phys(sentinel) = first;
    list_insert(a, first, span);
    a->total_bytes += span - HDR;
}

/* ---- public API ---- */

/* Zero the object field by field. Not a struct assignment or a plain loop:
 * compilers turn those into memset, which on Arm EABI becomes
 * __aeabi_memclr, a symbol bare-metal images may lack. */
static void allocator_clear(ak_tlsf *a)
{
    volatile uintptr_t *heads = &a->heads[0][0];
    for (size_t i = 0; i < (size_t)FL_COUNT * SL_COUNT; i++)
        heads[i] = 0;
    volatile uint32_t *sl = a->sl_bitmap;
    for (size_t i = 0; i < FL_COUNT; i++)
        sl[i] = 0;
    a->fl_bitmap = 0;
    a->salt = 0;
    a->regions = (void *)0;
    a->hint = (void *)0;
    a->big_region = (void *)0;
    a->total_bytes = a->used_bytes = a->peak_used_bytes = a->free_bytes = 0;
    a->used_blocks = a->free_blocks = a->region_count = a->failed_allocs = 0;
    a->generation = 0;
#if MAG
    a->mag_off = 0;
    for (size_t j = 0; j < AK_TLSF_MAG_CLASSES; j++)
        a->mag_head[j] = a->mag_n[j] = 0;
#endif
}

ak_error ak_tlsf_init(ak_tlsf *a, uintptr_t start, size_t size)
{
    uintptr_t end, rec, first, span;
    ak_error e = region_layout(start, size, &end, &rec, &first, &span);
    if (e != AK_OK)
        return e;
    /* A new salt per init (and per object), so headers left in memory by an
     * earlier life of this allocator or another one do not pass as blocks. */
    uintptr_t generation = a->generation + 1;
    allocator_clear(a);
    a->generation = generation;
    uint64_t seed = (uint64_t)generation * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)a;
    seed ^= seed >> 29;
    seed *= 0xbf58476d1ce4e5b9ull;
    a->salt = (uintptr_t)(seed ^ (seed >> 32));
    region_install(a, start, end, rec, first, span);
    return AK_OK;
}

ak_error ak_tlsf_add_memory(ak_tlsf *a, uintptr_t start, size_t size)
{
    uintptr_t end, rec, first, span;
    ak_error e = region_layout(start, size, &end, &rec, &first, &span);
    if (e != AK_OK)
        return e;
    if (ak_region_list_overlaps((const ak_region_list *)a->regions, start, end))
        return AK_ERR_MEMORY_OVERLAP;
    region_install(a, start, end, rec, first, span);
    return AK_OK;
}

/* The end of every successful alloc: b's header (used, bsize bytes, with
 * `bits`: its tag and prev-free flag) and the counters. */
static inline void *alloc_finish(ak_tlsf *a, uintptr_t b, size_t bsize, uint64_t bits, size_t size)
{
    AK_ASSERT(bsize - HDR - size <= SLACK_MAX);
    hdr_set(b, (uint64_t)bsize | bits | (uint64_t)(bsize - HDR - size) << SLACK_SHIFT);
    a->used_blocks++;
    a->used_bytes += size;
    if (a->used_bytes > a->peak_used_bytes)
        a->peak_used_bytes = a->used_bytes;
    return (void *)(b + HDR);
}

static AK_COLD ak_error alloc_no_memory(ak_tlsf *a)
{
    a->failed_allocs++;
    return AK_ERR_NO_MEMORY;
}

static AK_NOINLINE ak_error alloc_slow(ak_tlsf *a, size_t size, size_t align, void **out);

/* No block serves the request: if the magazines hold blocks and the
 * request could fit in an empty allocator, return them to the lists and
 * search once more (they are empty then, so this recurses at most once). */
static AK_COLD ak_error alloc_failed(ak_tlsf *a, size_t size, size_t align, void **out)
{
    if (size <= a->total_bytes && ak_tlsf_flush(a) != 0)
        return alloc_slow(a, size, align, out);
    return alloc_no_memory(a);
}

/* alloc for alignments above ALIGN, for every invalid argument, and for a
 * plain alloc that the good fit cannot serve (this tries the exact-fit
 * candidates too): out of line, so the plain path keeps few registers
 * live. With align <= ALIGN the gap is always 0 (payloads are
 * ALIGN-aligned). */
static AK_NOINLINE ak_error alloc_slow(ak_tlsf *a, size_t size, size_t align, void **out)
{
    if (!ak_is_pow2(align) || size > AK_TLSF_MAX_ALLOC || align > AK_TLSF_MAX_ALIGN)
        return AK_ERR_INVALID_PARAM;
    size_t need = block_need(size);
    unsigned fl, sl;
    uintptr_t b;
    size_t bsize = 0;
    uint64_t prev_flag = 0; /* a free block's predecessor is always used */
    /* First the good fit for the size alone: it serves when its block
     * happens to have room at the alignment (a freed aligned block of the
     * same size does). Otherwise a block with room at any alignment: the
     * front gap is 0 or a free block of its own, so at most MIN_BLOCK +
     * align - ALIGN (payloads are ALIGN-aligned). */
    size_t gap = 0;
    b = find_block(a, need, &fl, &sl);
    if (b) {
        bsize = hdr_size(hdr_get(b));
        gap = aligned_gap(b + HDR, align);
        if (gap > bsize - need)
            b = 0;
    }
    if (!b) {
        size_t want;
        if (align <= ALIGN || ak_add_overflows(need, align - ALIGN, &want) ||
            ak_add_overflows(want, MIN_BLOCK, &want) || want > MAX_BLOCK)
            return alloc_failed(a, size, align, out);
        b = find_block(a, want, &fl, &sl);
        if (!b)
            return alloc_failed(a, size, align, out);
        bsize = hdr_size(hdr_get(b));
        gap = aligned_gap(b + HDR, align);
    }
    list_remove_at(a, b, fl, sl);
    a->free_blocks--;
    a->free_bytes -= bsize;
    if (gap) {
        hdr_set(b, (uint64_t)gap | F_FREE | tag_of(a, b));
        list_insert(a, b, gap);
        uintptr_t nb = b + gap;
        *link_prev_phys(nb) = b;
        b = nb;
        bsize -= gap;
        prev_flag = F_PREV_FREE;
    }
    size_t rest = bsize - need;
    if (rest >= MIN_BLOCK) {
        uintptr_t r = b + need;
        hdr_set(r, (uint64_t)rest | F_FREE | tag_of(a, r));
        *link_prev_phys(r + rest) = r;
        list_insert(a, r, rest);
        bsize = need;
    } else {
        next_set_prev_used(b + bsize);
    }
    *out = alloc_finish(a, b, bsize, prev_flag | tag_of(a, b), size);
    return AK_OK;
}

/* The rest of a plain alloc that splits the free block b, the head of the
 * list *head, after need bytes: the tail stays free. The tail takes b's
 * place in the list when it stays in the same class (carving from a big
 * block), else b is popped and the tail pushed on its own list. Out of
 * line and entered by a tail call with everything else recomputed from
 * its six arguments: the exact-class pop, the usual case under churn, then
 * needs no saved registers. */
static AK_NOINLINE ak_error alloc_split(ak_tlsf *a, uintptr_t *head, uintptr_t b, size_t need,
                                        size_t size, void **out)
{
    uint64_t w = hdr_get(b);
    uintptr_t next = *link_next_free(b);
    size_t rest = hdr_size(w) - need;
    uintptr_t r = b + need;
    unsigned rfl, rsl;
    mapping_insert(rest, &rfl, &rsl);
    hdr_set(r, (uint64_t)rest | F_FREE | tag_of(a, r));
    *link_prev_phys(r + rest) = r; /* its successor already has prev-free set */
    if (&a->heads[rfl][rsl] == head) {
        *link_next_free(r) = next;
        if (next)
            *link_prev_free(next) = r;
        *head = r;
    } else {
        *head = next;
        if (!next)
            list_clear_head_bit(a, head);
        list_insert_at(a, r, rfl, rsl);
    }
    a->free_bytes -= need;
    *out = alloc_finish(a, b, need, w & TAG_MASK, size);
    return AK_OK;
}

ak_error ak_tlsf_alloc(ak_tlsf *a, size_t size, size_t align, void **out)
{
    if (AK_UNLIKELY(!small_align(align) || size > AK_TLSF_MAX_ALLOC))
        return alloc_slow(a, size, align, out);
    size_t need = block_need(size);
    /* The good fit by the bitmaps; when it finds nothing, the slow path
     * tries the exact-fit candidates (and counts the failure). Below
     * SMALL_BLOCK the classes are exact, so the search class is a shift. */
    unsigned fl, sl;
    if (AK_LIKELY(need < SMALL_BLOCK)) {
#if MAG
        /* The newest block of the class's magazine: exactly need bytes. */
        unsigned j = (unsigned)(need >> ALIGN_LOG2), n = a->mag_n[j];
        if (AK_LIKELY(n != 0)) {
            n--;
            uintptr_t b = a->mag[j][(a->mag_head[j] + n) & (MAG - 1u)];
            a->mag_n[j] = (unsigned char)n;
            uint64_t w = hdr_get(b);
            *out = alloc_finish(a, b, need, w & (F_PREV_FREE | TAG_MASK), size);
            return AK_OK;
        }
#endif
        fl = 0;
        sl = (unsigned)(need >> ALIGN_LOG2);
    } else {
        mapping_search(need, &fl, &sl);
        if (AK_UNLIKELY(fl >= FL_COUNT))
            return alloc_slow(a, size, align, out);
    }
    uint32_t slmap = a->sl_bitmap[fl] & (~(uint32_t)0 << sl);
    if (!slmap) {
        uintptr_t flmap = a->fl_bitmap & (~(uintptr_t)0 << (fl + 1));
        if (AK_UNLIKELY(!flmap))
            return alloc_slow(a, size, align, out);
        fl = ak_ffs_size(flmap);
        slmap = a->sl_bitmap[fl];
    }
    sl = ak_ffs32(slmap);
    uintptr_t *head = &a->heads[fl][sl];
    uintptr_t b = *head;
    AK_ASSERT(b != 0);
    /* The split point or the successor (whose header is written next) is
     * at or just past b + need: load it alongside b's header. */
    AK_PREFETCH((const void *)(b + need));
    uint64_t w = hdr_get(b);
    uintptr_t next = *link_next_free(b);
    size_t bsize = hdr_size(w);
    size_t rest = bsize - need;
    if (rest >= MIN_BLOCK)
        return alloc_split(a, head, b, need, size, out);
    *head = next;
    if (!next)
        list_clear_head_bit(a, head);
    a->free_blocks--;
    a->free_bytes -= bsize;
    next_set_prev_used(b + bsize);
    /* A free block's predecessor is always used: no prev-free flag. */
    *out = alloc_finish(a, b, bsize, w & TAG_MASK, size);
    return AK_OK;
}

/* The checks shared by dealloc, resize and usable_size: on AK_OK, *bp is
 * the header of a used block that `size` and `align` can belong to, *wp
 * its header word, *wnp its successor's, and *rp its region. Reads only
 * inside the region found for the pointer. */
static AK_ALWAYS_INLINE ak_error block_validate(const ak_tlsf *a, const void *ptr, size_t size,
                                                size_t align, uintptr_t *bp, uint64_t *wp,
                                                uint64_t *wnp, tlsf_region **rp)
{
    if (AK_UNLIKELY(!small_align(align))) {
        if (!ak_is_pow2(align))
            return AK_ERR_INVALID_PARAM;
    }
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t b = p - HDR;
    tlsf_region *r = region_of(a, b);
    if (AK_UNLIKELY(!r || (p & (ALIGN - 1)) != 0))
        return AK_ERR_NOT_ALLOCATED;
    uint64_t w = hdr_get(b);
    if (AK_UNLIKELY((w & (TAG_MASK | F_FREE | F_CACHED)) != tag_of(a, b)))
        return AK_ERR_NOT_ALLOCATED; /* free, or not a block header */
    if (w & F_PREV_FREE)
        AK_PREFETCH((const void *)*link_prev_phys(b)); /* merged into below */
    size_t bs = hdr_size(w);
    if (AK_UNLIKELY(bs < MIN_BLOCK || bs > r->span - (b - r->first)))
        return AK_ERR_NOT_ALLOCATED;
    uintptr_t n = b + bs;
    uint64_t wn = hdr_get(n);
    if (AK_UNLIKELY((wn & (TAG_MASK | F_PREV_FREE)) != tag_of(a, n)))
        return AK_ERR_NOT_ALLOCATED;
    /* The exact requested size (the usual case) or any size alloc could
     * have made this block for. */
    if ((AK_UNLIKELY(size != bs - HDR - hdr_slack(w)) && !block_fits_request(bs, size)) ||
        AK_UNLIKELY((p & (align - 1)) != 0))
        return AK_ERR_INVALID_PARAM;
    *bp = b;
    *wp = w;
    *wnp = wn;
    *rp = r;
    return AK_OK;
}

/* dealloc of a block with a free neighbour: merge, O(1). Inline: out of
 * line it saves 3 instructions per free when nothing merges but costs
 * about 20 per free that merges. `account`: take the block off the used
 * counters (false for a magazine's block, which left them when cached). */
static inline ak_error dealloc_merge(ak_tlsf *a, const tlsf_region *r, uintptr_t b, uint64_t w,
                                     uint64_t wn, bool account)
{
    size_t bs = hdr_size(w);
    uintptr_t n = b + bs;
    uintptr_t pb = 0;
    uint64_t pw = 0;
    if (w & F_PREV_FREE) {
        /* The link sits in a free block, out of the caller's reach; still,
         * never follow it outside the region or to a block that does not
         * end here. */
        pb = *link_prev_phys(b);
        if (pb - r->first >= b - r->first || ((pb ^ b) & (ALIGN - 1)) != 0)
            return AK_ERR_NOT_ALLOCATED;
        pw = hdr_get(pb);
        if (pb + hdr_size(pw) != b || !(pw & F_FREE))
            return AK_ERR_NOT_ALLOCATED;
    }
    a->hint = (void *)r;
    if (account) {
        a->used_bytes -= bs - HDR - hdr_slack(w);
        a->used_blocks--;
    }
    a->free_bytes += bs;
    unsigned fl, sl, mfl, msl;
    if (pb) {
        /* Merge into the free predecessor, which stays where it is (and in
         * its list if the class does not change). */
        size_t ms = hdr_size(pw) + bs;
        hdr_set(b, 0); /* an absorbed header must never pass as a block */
        if (wn & F_FREE) {
            size_t ns = hdr_size(wn);
            list_remove(a, n, ns);
            a->free_bytes += ns; /* still free, now inside pb */
            hdr_set(n, 0);
            ms += ns;
        }
        mapping_insert(hdr_size(pw), &fl, &sl);
        mapping_insert(ms, &mfl, &msl);
        if (mfl != fl || msl != sl) {
            list_remove_at(a, pb, fl, sl);
            list_insert_at(a, pb, mfl, msl);
        }
        hdr_set(pb, (uint64_t)ms | F_FREE | (pw & TAG_MASK));
        next_set_prev_free(pb + ms, pb);
        return AK_OK;
    }
    /* Absorb the free successor; b takes its list place if the class
     * stays. */
    size_t ns = hdr_size(wn);
    size_t ms = bs + ns;
    mapping_insert(ns, &fl, &sl);
    mapping_insert(ms, &mfl, &msl);
    if (mfl == fl && msl == sl) {
        list_replace(a, n, b, fl, sl);
    } else {
        list_remove_at(a, n, fl, sl);
        list_insert_at(a, b, mfl, msl);
    }
    hdr_set(n, 0);
    hdr_set(b, (uint64_t)ms | F_FREE | (w & TAG_MASK));
    next_set_prev_free(b + ms, b);
    return AK_OK;
}

/* The used block b (header w, successor header wn) in r goes on the free
 * lists, merged with free neighbours; `account` as for dealloc_merge. */
static inline ak_error release_block(ak_tlsf *a, tlsf_region *r, uintptr_t b, uint64_t w,
                                     uint64_t wn, bool account)
{
    if ((w & F_PREV_FREE) || (wn & F_FREE))
        return dealloc_merge(a, r, b, w, wn, account);
    size_t bs = hdr_size(w);
    a->hint = r;
    if (account) {
        a->used_bytes -= bs - HDR - hdr_slack(w);
        a->used_blocks--;
    }
    a->free_bytes += bs;
    if (AK_LIKELY(bs < SMALL_BLOCK)) {
        list_insert_at(a, b, 0, (unsigned)(bs >> ALIGN_LOG2)); /* classes are exact here */
    } else {
        unsigned fl, sl;
        mapping_insert(bs, &fl, &sl);
        list_insert_at(a, b, fl, sl);
    }
    a->free_blocks++;
    hdr_set(b, (uint64_t)bs | F_FREE | (w & TAG_MASK));
    next_set_prev_free(b + bs, b);
    return AK_OK;
}

#if MAG
/* The oldest block of magazine j goes to the free lists. */
static void mag_release_oldest(ak_tlsf *a, unsigned j)
{
    unsigned h = a->mag_head[j];
    uintptr_t b = a->mag[j][h];
    a->mag_head[j] = (unsigned char)((h + 1u) & (MAG - 1u));
    a->mag_n[j]--;
    uint64_t w = hdr_get(b) & ~F_CACHED;
    hdr_set(b, w);
    tlsf_region *r = region_of(a, b);
    ak_error e = release_block(a, r, b, w, hdr_get(b + hdr_size(w)), false);
    AK_ASSERT(e == AK_OK);
    (void)e;
}

/* Put the used block b (header w, size bs < SMALL_BLOCK) of region r into
 * its class's magazine, which has room: marked cached, off the used
 * counters. */
static inline ak_error mag_put(ak_tlsf *a, tlsf_region *r, uintptr_t b, uint64_t w, unsigned j)
{
    unsigned n = a->mag_n[j];
    a->mag[j][(a->mag_head[j] + n) & (MAG - 1u)] = b;
    a->mag_n[j] = (unsigned char)(n + 1u);
    hdr_set(b, w | F_CACHED);
    a->hint = r;
    a->used_bytes -= hdr_size(w) - HDR - hdr_slack(w);
    a->used_blocks--;
    return AK_OK;
}

/* As mag_put into a full magazine: the oldest block goes to the lists
 * first (one ordinary free: the call stays O(1)). */
static AK_NOINLINE ak_error mag_put_full(ak_tlsf *a, tlsf_region *r, uintptr_t b, unsigned j)
{
    mag_release_oldest(a, j);
    /* The release may have merged with b's neighbours: b's own header is
     * untouched (b is used), its flags are read again. */
    return mag_put(a, r, b, hdr_get(b), j);
}
#endif

#if MAG
/* A free that the magazine does not take (a block too big for one, a full
 * magazine, magazines off): out of line, so the magazine path of free
 * saves no registers. */
static AK_NOINLINE ak_error dealloc_rest(ak_tlsf *a, tlsf_region *r, uintptr_t b, uint64_t w,
                                         uint64_t wn)
{
    size_t bs = hdr_size(w);
    if (bs < SMALL_BLOCK && a->mag_off < MAG)
        return mag_put_full(a, r, b, (unsigned)(bs >> ALIGN_LOG2));
    return release_block(a, r, b, w, wn, true);
}
#endif

size_t ak_tlsf_flush(ak_tlsf *a)
{
    size_t n = 0;
#if MAG
    for (unsigned j = 0; j < AK_TLSF_MAG_CLASSES; j++)
        while (a->mag_n[j]) {
            mag_release_oldest(a, j);
            n++;
        }
#else
    (void)a;
#endif
    return n;
}

unsigned ak_tlsf_set_magazine(ak_tlsf *a, unsigned cap)
{
#if MAG
    unsigned old = MAG - a->mag_off;
    ak_tlsf_flush(a);
    a->mag_off = cap < MAG ? MAG - cap : 0;
    return old;
#else
    (void)a;
    (void)cap;
    return 0;
#endif
}

ak_error ak_tlsf_dealloc(ak_tlsf *a, void *ptr, size_t size, size_t align)
{
    /* The successor's header is needed next and usually sits where the
     * claimed size says: start loading it alongside this block's header
     * instead of after it: at ptr - 8 + block_need(size), computed without
     * the MIN_BLOCK clamp (tiny requests land near enough). A prefetch
     * never faults, whatever the address. */
    uintptr_t succ = (((uintptr_t)ptr + size + HDR + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1)) - HDR;
    AK_PREFETCH((const void *)succ);
    uintptr_t b;
    uint64_t w, wn;
    tlsf_region *r;
    ak_error e = block_validate(a, ptr, size, align, &b, &w, &wn, &r);
    if (AK_UNLIKELY(e != AK_OK))
        return e;
#if MAG
    size_t bs = hdr_size(w);
    unsigned j = (unsigned)(bs >> ALIGN_LOG2);
    if (AK_LIKELY(bs < SMALL_BLOCK && a->mag_n[j] + a->mag_off < MAG))
        return mag_put(a, r, b, w, j);
    return dealloc_rest(a, r, b, w, wn);
#else
    return release_block(a, r, b, w, wn, true);
#endif
}

ak_error ak_tlsf_resize(ak_tlsf *a, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    uintptr_t b;
    uint64_t w, wn;
    tlsf_region *r;
    ak_error e = block_validate(a, ptr, old_size, align, &b, &w, &wn, &r);
    if (e != AK_OK)
        return e;
    a->hint = r;
    if (new_size > AK_TLSF_MAX_ALLOC)
        return AK_ERR_NO_MEMORY;
    size_t need = block_need(new_size);
    size_t bs = hdr_size(w);
    size_t old_req = bs - HDR - hdr_slack(w);
    uintptr_t n = b + bs;
    if (need <= bs) {
        /* Shrink: split the tail off if it makes a block, merged with a
         * free successor. */
        size_t rest = bs - need;
        if (rest >= MIN_BLOCK) {
            uintptr_t t = b + need;
            if (wn & F_FREE) {
                size_t ns = hdr_size(wn);
                list_remove(a, n, ns);
                hdr_set(n, 0);
                rest += ns;
                n = t + rest;
            }
            hdr_set(t, (uint64_t)rest | F_FREE | tag_of(a, t));
            next_set_prev_free(n, t);
            list_insert(a, t, rest);
            bs = need;
        }
    } else {
        /* Grow into a free successor. */
        if (!(wn & F_FREE))
            return AK_ERR_NO_MEMORY;
        size_t ns = hdr_size(wn);
        if (ns < need - bs)
            return AK_ERR_NO_MEMORY;
        list_remove(a, n, ns);
        hdr_set(n, 0);
        size_t total = bs + ns;
        uintptr_t nn = b + total;
        size_t rest = total - need;
        if (rest >= MIN_BLOCK) {
            uintptr_t t = b + need;
            hdr_set(t, (uint64_t)rest | F_FREE | tag_of(a, t));
            *link_prev_phys(nn) = t; /* nn already has prev-free set */
            list_insert(a, t, rest);
            bs = need;
        } else {
            next_set_prev_used(nn);
            bs = total;
        }
    }
    AK_ASSERT(bs - HDR - new_size <= SLACK_MAX);
    hdr_set(b, (uint64_t)bs | (w & F_PREV_FREE) | (uint64_t)(bs - HDR - new_size) << SLACK_SHIFT |
                   tag_of(a, b));
    a->used_bytes = a->used_bytes - old_req + new_size;
    if (a->used_bytes > a->peak_used_bytes)
        a->peak_used_bytes = a->used_bytes;
    return AK_OK;
}

size_t ak_tlsf_usable_size(const ak_tlsf *a, const void *ptr, size_t size, size_t align)
{
    uintptr_t b;
    uint64_t w, wn;
    tlsf_region *r;
    if (block_validate(a, ptr, size, align, &b, &w, &wn, &r) != AK_OK)
        return 0;
    return hdr_size(w) - HDR;
}

size_t ak_tlsf_total_bytes(const ak_tlsf *a)
{
    return a->total_bytes;
}

size_t ak_tlsf_used_bytes(const ak_tlsf *a)
{
    return a->used_bytes;
}

size_t ak_tlsf_available_bytes(const ak_tlsf *a)
{
    return a->total_bytes - a->used_bytes;
}

void ak_tlsf_stats(const ak_tlsf *a, struct ak_tlsf_stats *out)
{
    out->total_bytes = a->total_bytes;
    out->used_bytes = a->used_bytes;
    out->peak_used_bytes = a->peak_used_bytes;
    out->free_bytes = a->free_bytes;
    out->used_blocks = a->used_blocks;
    out->free_blocks = a->free_blocks;
    out->region_count = a->region_count;
    out->failed_allocs = a->failed_allocs;
    out->cached_blocks = out->cached_bytes = 0;
#if MAG
    for (unsigned j = 0; j < AK_TLSF_MAG_CLASSES; j++) {
        out->cached_blocks += a->mag_n[j];
        out->cached_bytes += (size_t)a->mag_n[j] * ((size_t)j << ALIGN_LOG2);
    }
#endif
    out->largest_free = 0;
    if (a->fl_bitmap) {
        /* The largest block is in the highest non-empty list. */
        unsigned fl = ak_fls_size(a->fl_bitmap);
        unsigned sl = ak_fls32(a->sl_bitmap[fl]);
        size_t best = 0;
        for (uintptr_t b = a->heads[fl][sl]; b; b = *link_next_free(b)) {
            size_t s = hdr_size(hdr_get(b));
            if (s > best)
                best = s;
        }
        out->largest_free = best - HDR;
    }
}

/* ---- invariant checker and walker ---- */

/* Walk one region's blocks, checking them; adds to the running sums. */
static const char *check_region(const ak_tlsf *a, const tlsf_region *r, size_t *used_bytes,
                                size_t *used_blocks, size_t *free_bytes, size_t *free_blocks,
                                size_t *cached_blocks)
{
    uintptr_t rec = (uintptr_t)r;
    if (rec < r->base.start || r->first < rec + sizeof(tlsf_region) ||
        ((r->first + HDR) & (ALIGN - 1)) != 0 || r->span < MIN_BLOCK || r->span > MAX_BLOCK ||
        r->first + r->span + HDR > r->base.end || r->first + r->span < r->first)
        return "region record inconsistent with its bounds";
    uintptr_t end = r->first + r->span;
    uintptr_t b = r->first, prev = 0;
    bool prev_free = false;
    while (b < end) {
        uint64_t w = hdr_get(b);
        if ((w & TAG_MASK) != tag_of(a, b))
            return "block header tag wrong";
        size_t bs = hdr_size(w);
        if (bs < MIN_BLOCK || bs > end - b)
            return "block size out of range";
        if (((w & F_PREV_FREE) != 0) != prev_free)
            return "prev-free flag disagrees with the previous block";
        if (prev_free && *link_prev_phys(b) != prev)
            return "prev-physical link wrong";
        if (w & F_FREE) {
            if (prev_free)
                return "two adjacent free blocks";
            if (hdr_slack(w) != 0 || (w & F_CACHED))
                return "free block with slack or cached bits";
            *free_bytes += bs;
            ++*free_blocks;
        } else if (w & F_CACHED) {
            if (MAG == 0 || bs >= SMALL_BLOCK)
                return "cached block without a magazine for its size";
            ++*cached_blocks;
        } else {
            size_t slack = hdr_slack(w);
            if (slack > bs - HDR || !block_fits_request(bs, bs - HDR - slack))
                return "used block size does not fit its request";
            *used_bytes += bs - HDR - slack;
            ++*used_blocks;
        }
        prev_free = (w & F_FREE) != 0;
        prev = b;
        b += bs;
    }
    if (b != end)
        return "block sizes do not sum to the region";
    uint64_t s = hdr_get(end);
    if ((s & TAG_MASK) != tag_of(a, end) || hdr_size(s) != 0 || (s & F_FREE))
        return "sentinel header wrong";
    if (((s & F_PREV_FREE) != 0) != prev_free || (prev_free && *link_prev_phys(end) != prev))
        return "sentinel prev-free flag or link wrong";
    return (const char *)0;
}

/* Region membership without the hint (the checker trusts nothing). */
static const tlsf_region *region_of_slow(const ak_tlsf *a, uintptr_t b)
{
    for (const tlsf_region *r = region_list(a); r; r = (const tlsf_region *)r->base.next)
        if (b - r->first < r->span)
            return r;
    return (const tlsf_region *)0;
}

const char *ak_tlsf_check(const ak_tlsf *a)
{
    size_t used_bytes = 0, used_blocks = 0, free_bytes = 0, free_blocks = 0, cached = 0;
    size_t regions = 0, total = 0;
    for (const tlsf_region *r = region_list(a); r; r = (const tlsf_region *)r->base.next) {
        if (++regions > a->region_count)
            return "region list longer than the region count";
        const char *why =
            check_region(a, r, &used_bytes, &used_blocks, &free_bytes, &free_blocks, &cached);
        if (why)
            return why;
        total += r->span - HDR;
    }
    if (regions != a->region_count)
        return "region count wrong";
    if (a->hint && !region_of_slow(a, ((const tlsf_region *)a->hint)->first))
        return "hint is not a region";
    if (regions != 0) {
        const tlsf_region *big = (const tlsf_region *)a->big_region;
        if (!big || region_of_slow(a, big->first) != big)
            return "largest-region pointer is not a region";
        for (const tlsf_region *r = region_list(a); r; r = (const tlsf_region *)r->base.next)
            if (r->span > big->span)
                return "largest-region pointer is not the largest region";
    } else if (a->big_region) {
        return "largest-region pointer without regions";
    }
    if (a->fl_bitmap >> (FL_COUNT - 1) >> 1)
        return "first-level bitmap has bits beyond the last level";
    size_t listed = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        if (((a->fl_bitmap >> fl) & 1) != (a->sl_bitmap[fl] != 0))
            return "first-level bitmap disagrees with second-level bitmap";
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            uintptr_t b = a->heads[fl][sl];
            if (((a->sl_bitmap[fl] >> sl) & 1) != (b != 0))
                return "second-level bitmap disagrees with its list";
            uintptr_t prev = 0;
            for (; b; b = *link_next_free(b)) {
                if (++listed > free_blocks)
                    return "more blocks in the lists than free blocks (or a cycle)";
                if (!region_of_slow(a, b) || ((b + HDR) & (ALIGN - 1)) != 0)
                    return "listed block outside every region";
                uint64_t w = hdr_get(b);
                if ((w & (TAG_MASK | F_FREE)) != (tag_of(a, b) | F_FREE))
                    return "listed block is not a free block";
                unsigned f, s;
                mapping_insert(hdr_size(w), &f, &s);
                if (f != fl || s != sl)
                    return "free block in the wrong list";
                if (prev && *link_prev_free(b) != prev)
                    return "free-list back link wrong";
                prev = b;
            }
        }
    }
    if (listed != free_blocks)
        return "free block missing from the lists";
    if (free_blocks != a->free_blocks || free_bytes != a->free_bytes)
        return "free block counters wrong";
    if (used_blocks != a->used_blocks || used_bytes != a->used_bytes)
        return "used counters wrong";
    if (total != a->total_bytes)
        return "total_bytes wrong";
    if (a->peak_used_bytes < a->used_bytes)
        return "peak below current use";
#if MAG
    /* Magazines: each entry a block of its class marked cached, none
     * twice; as many entries as blocks marked cached. */
    size_t entries = 0;
    for (unsigned j = 0; j < AK_TLSF_MAG_CLASSES; j++) {
        unsigned n = a->mag_n[j];
        if (a->mag_off > MAG || n + a->mag_off > MAG || a->mag_head[j] >= MAG)
            return "magazine count or start out of range";
        for (unsigned i = 0; i < n; i++) {
            uintptr_t b = a->mag[j][(a->mag_head[j] + i) & (MAG - 1u)];
            if (!region_of_slow(a, b) || ((b + HDR) & (ALIGN - 1)) != 0)
                return "magazine block outside every region";
            uint64_t w = hdr_get(b);
            if ((w & (TAG_MASK | F_FREE | F_CACHED)) != (tag_of(a, b) | F_CACHED) ||
                hdr_size(w) != (size_t)j << ALIGN_LOG2)
                return "magazine block not a cached block of its class";
            for (unsigned i2 = 0; i2 < i; i2++)
                if (a->mag[j][(a->mag_head[j] + i2) & (MAG - 1u)] == b)
                    return "magazine holds a block twice";
        }
        entries += n;
    }
    if (entries != cached)
        return "blocks marked cached and magazine entries differ";
#else
    if (cached != 0)
        return "block marked cached without magazines";
#endif
    return (const char *)0;
}

void ak_tlsf_walk(const ak_tlsf *a, ak_tlsf_walker fn, void *ctx)
{
    for (const tlsf_region *r = region_list(a); r; r = (const tlsf_region *)r->base.next) {
        uintptr_t end = r->first + r->span;
        for (uintptr_t b = r->first; b < end;) {
            uint64_t w = hdr_get(b);
            size_t bs = hdr_size(w);
            if (bs < MIN_BLOCK || bs > end - b)
                break; /* corrupt: ak_tlsf_check says where */
            fn((void *)(b + HDR), bs - HDR, (w & (F_FREE | F_CACHED)) == 0, ctx);
            b += bs;
        }
    }
}

/* ---- the byte-allocator interface ---- */

AK_DEFINE_BYTE_ALLOCATOR(ak_tlsf, "tlsf")
