/* Buddy: a binary buddy byte allocator (see include/allockit/buddy.h).
 *
 * alloc, free and resize are O(orders): one find-first-set on the mask of
 * non-empty free lists, then at most one split or merge per order, each an
 * O(1) doubly-linked list operation plus a few bit operations. Finding the
 * region of a pointer is the shared region index (ak_region.h): O(1) for
 * the region used last, else O(log regions).
 * Bookkeeping: an 11-word record, a table of one word per order and 3 bits
 * per 16-byte granule at the head of each region (about 3/128 of it); no
 * header in front of any block. used_bytes counts every live block at its
 * whole size, so a free needs no size beyond the block's order.
 * The cache hooks, for a layer over the allocator, check a block as a free
 * does and mark it in its first two words; they only read the allocator,
 * so they need no lock (see region_find_shared).
 *
 * The state of a region is a binary tree of blocks per maximal carved
 * block: a node (k, p) is the aligned 2^k bytes at p. Two bits per node
 * describe the tree:
 *   A (allocated)  set iff the node is a block, allocated, of exactly this
 *                  order: a free checks its (pointer, order) with this one
 *                  bit.
 *   S (split)      set iff the node is in the tree and split into its two
 *                  halves (orders >= 5 only: 16-byte nodes cannot split).
 * The leaves of the tree are the blocks. A leaf is free iff its A bit is
 * clear; free leaves are exactly the members of the free lists. A node's
 * A and S bits are adjacent, so a buddy's state is one word read.
 *
 * Invariants (checked by ak_buddy_check):
 *   - bit k of `nonempty` is set iff free_head[k] is not NULL;
 *   - the free list of order k holds exactly the free leaves of order k,
 *     linked both ways, each aligned to 2^k and inside its region's span;
 *   - no free leaf has a free buddy leaf of the same order (merging is
 *     eager);
 *   - A bits are set only at allocated leaves, S bits only on split nodes;
 *   - the leaves tile [lo, hi) of every region; total_bytes, used_bytes
 *     (the allocated leaves' sizes summed) and live_blocks agree with the
 *     regions;
 *   - each record and order table is consistent, and the region index is
 *     sound (ak_region_check).
 */
#include <allockit/buddy.h>

#include "ak_internal.h"
#include "ak_ops.h"
#include "ak_region.h"

/* ---- constants ---- */

#define MIN_SHIFT  AK_BUDDY_MIN_SHIFT
#define MIN_BLOCK  AK_BUDDY_MIN_BLOCK
#define WORD_BITS  AK_SIZE_BITS
#define WORD_SHIFT (sizeof(size_t) == 8 ? 6u : 5u)
#define WORD_MASK  ((size_t)WORD_BITS - 1)
#define TOP_SHIFT  (AK_SIZE_BITS - 1) /* largest order a size_t can express */

/* Rare paths (splits, merges, bad frees) live out of line so that the
 * common alloc and free stay short and need few saved registers. */
#define AK_BUDDY_INLINE   AK_ALWAYS_INLINE
#define AK_BUDDY_SLOW     AK_COLD
#define AK_BUDDY_NOINLINE AK_NOINLINE

/* A free block's links, written into the block itself. The head of a
 * list has no predecessor and its prev is left unspecified: taking the
 * head then never writes to the next block, which is often cold. */
typedef struct ak_buddy_block {
    struct ak_buddy_block *next;
    struct ak_buddy_block *prev; /* the predecessor; unspecified at the head */
} buddy_block;

/* The record at the head of every region, followed by its table of order
 * bases and its bitmap. */
typedef struct ak_buddy_region {
    ak_region head;   /* index links; start/end as given, lo/hi the block area (16-aligned) */
    size_t granules;  /* (hi - lo) / 16 */
    size_t map_words; /* words in map (sized for the region before its head) */
    size_t *map;      /* the bitmap, right after base[] */
    size_t base[];    /* base[k - 4]: map bit of node 0 of order k */
} buddy_region;

_Static_assert(sizeof(buddy_block) <= MIN_BLOCK, "a free block must hold its links");
_Static_assert(sizeof(buddy_region) == AK_BUDDY_REGION_RECORD_BYTES, "record size as documented");
_Static_assert((WORD_BITS & (WORD_BITS - 1)) == 0, "word bits a power of two");
_Static_assert(AK_BUDDY_ORDERS == AK_SIZE_BITS, "one order slot per bit of size_t");

/* ---- bitmap helpers ---- */

static inline bool bit_get(const size_t *map, size_t i)
{
    return (map[i >> WORD_SHIFT] >> (i & WORD_MASK)) & 1u;
}

static inline void bit_set(size_t *map, size_t i)
{
    map[i >> WORD_SHIFT] |= (size_t)1 << (i & WORD_MASK);
}

static inline void bit_clear(size_t *map, size_t i)
{
    map[i >> WORD_SHIFT] &= ~((size_t)1 << (i & WORD_MASK));
}

/* Zero n words. The stores are volatile so that no compiler turns the
 * loop into a memset call: some bare-metal ABIs name that call differently
 * (__aeabi_memclr4 on Arm EABI), and the core links against none. */
static void words_clear(size_t *w, size_t n)
{
    volatile size_t *v = w;
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
}

/* Set bits in [from, to) of map. */
static size_t bit_count(const size_t *map, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to;) {
        if ((i & WORD_MASK) == 0 && to - i >= WORD_BITS) {
            n += ak_popcount64((uint64_t)map[i >> WORD_SHIFT]);
            i += WORD_BITS;
        } else {
            n += bit_get(map, i);
            i++;
        }
    }
    return n;
}

/* ---- node addressing ----
 * A node (k, p) lies inside the span when lo <= p and p + 2^k <= hi. Its
 * index among the nodes of order k is i = (p - lo) >> k: distinct for
 * distinct aligned p even though lo is only 16-aligned, and below
 * c_k = (hi - lo) >> k, the node count of order k.
 * Map layout, for g granules (g = c_4) and h = g / 2 (base[] in the record
 * keeps each order's start, so finding a node's bits is a load and a shift):
 *   order 4:   the A bit of node i at bit i; the area is g rounded up to
 *              even (P bits), so the pairs below never straddle a word;
 *   order k>4: the pair (A, S) of node i at bits base_k + 2i and + 1, with
 *              base_k = P + 4 * (h - (h >> (k - 5)) + (k - 5)).
 * Order k owns 4 * (ceil(c_k / 2) + 1) bits up to base_{k+1} (c_k is
 * h >> (k - 5)), room for its c_k pairs. For the top order K <= fls(g) + 4
 * the map ends by P + 4 * (h + fls(g)) bits: about 3 bits per granule. */

/* Bits a map needs for g granules (g >= 1). */
static inline size_t map_bits(size_t g)
{
    return ((g + 1) & ~(size_t)1) + 4 * ((g >> 1) + ak_fls_size(g));
}

/* base_k of the layout above: the map bit of node 0 of order k. */
static inline size_t order_base(size_t g, unsigned k)
{
    if (k == MIN_SHIFT)
        return 0;
    size_t h = g >> 1;
    unsigned j = k - MIN_SHIFT - 1;
    return ((g + 1) & ~(size_t)1) + 4 * (h - (h >> j) + j);
}

/* Entries of base[]: orders 4 .. fls(g) + 4, the highest a node can have. */
static inline size_t base_entries(size_t g)
{
    return ak_fls_size(g) + 1;
}

/* The A bit of node (k, p); its S bit (k > 4) is the next one. Nodes of
 * order 4 take one bit each, the others two. */
static inline size_t node_bit(const buddy_region *r, unsigned k, uintptr_t p)
{
    size_t i = (size_t)(p - r->head.lo) >> k;
    return r->base[k - MIN_SHIFT] + (i << (k > MIN_SHIFT));
}

/* The A bit (bit 0) and S bit (bit 1) of a node, from one word: the pair
 * starts at an even bit, so it never straddles two words. */
static inline unsigned node_pair(const size_t *map, size_t i)
{
    return (unsigned)(map[i >> WORD_SHIFT] >> (i & WORD_MASK)) & 3u;
}

/* Node of 2^k bytes at p (aligned) lies wholly in the span. */
static inline bool node_in_span(const buddy_region *r, uintptr_t p, size_t bs)
{
    return p >= r->head.lo && p < r->head.hi && r->head.hi - p >= bs;
}

/* Is the node (k, p), k > MIN_SHIFT, split? */
static inline bool node_split(const buddy_region *r, unsigned k, uintptr_t p)
{
    return bit_get(r->map, node_bit(r, k, p) + 1);
}

/* Is the node (k, p) an allocated block of order k? */
static inline bool node_allocated(const buddy_region *r, unsigned k, uintptr_t p)
{
    return bit_get(r->map, node_bit(r, k, p));
}

/* Is the node (k, p), whose parent is split, a free block? Not allocated
 * and (above order 4) not split itself: one word read. */
static inline bool node_free_leaf(const buddy_region *r, unsigned k, uintptr_t p)
{
    size_t i = node_bit(r, k, p);
    if (k == MIN_SHIFT)
        return !bit_get(r->map, i);
    return node_pair(r->map, i) == 0;
}

/* Order of the highest node that starts at p (p != 0) inside [p, hi): the
 * carved block at p if p starts one, else the largest aligned node. */
static inline unsigned top_order(uintptr_t p, uintptr_t hi)
{
    unsigned a = ak_ffs_size((size_t)p);
    unsigned b = ak_fls_size((size_t)(hi - p));
    return a < b ? a : b;
}

/* ---- regions ---- */

/* The region of a pointer for a call that may run without the lock (the
 * cache hooks): the hint's three words in the index can be rewritten by a
 * call made under the lock at the same time, so they are not read; the
 * record the hint names and its bounds, set once when the region was
 * added, are. Else the tree, which only init and add_memory change. */
static const buddy_region *region_find_shared(const ak_buddy *a, uintptr_t p)
{
    const buddy_region *r = *(const buddy_region *const volatile *)&a->regions.last;
    if (r && p - r->head.lo < r->head.hi - r->head.lo)
        return r;
    return (const buddy_region *)ak_region_search(&a->regions, p);
}

/* Where a region's parts go; see the layout in the header comment. */
typedef struct region_layout {
    uintptr_t record; /* record address (size_t-aligned) */
    uintptr_t end;    /* user's end (exclusive) */
    uintptr_t lo, hi; /* block area */
    size_t map_words;
    size_t base_entries;
} region_layout;

static bool layout_region(uintptr_t start, size_t size, region_layout *l)
{
    uintptr_t rec, head_end, lo;
    size_t map_bytes;
    if (!ak_range_end(start, size, &l->end))
        return false;
    if (!ak_align_up_checked(start, _Alignof(buddy_region), &rec))
        return false;
    uintptr_t hi = ak_align_down(l->end, MIN_BLOCK);
    /* Less than one granule from the record to the end: no block can fit,
     * and n0 would be 0, which map_bits cannot take (fls of 0). */
    if (rec >= hi || hi - rec < MIN_BLOCK)
        return false;
    size_t n0 = (size_t)(hi - rec) >> MIN_SHIFT;
    /* 1 <= n0 < SIZE_MAX / 16, so map_bits(n0) < 3.1 * n0 + 300 cannot
     * wrap. */
    size_t words = (map_bits(n0) + WORD_MASK) >> WORD_SHIFT;
    size_t table = base_entries(n0);
    if (ak_mul_overflows(words + table, sizeof(size_t), &map_bytes) ||
        ak_add_overflows(rec, sizeof(buddy_region), &head_end) ||
        ak_add_overflows(head_end, map_bytes, &head_end) ||
        !ak_align_up_checked(head_end, MIN_BLOCK, &lo) || lo >= hi)
        return false;
    l->record = rec;
    l->lo = lo;
    l->hi = hi;
    l->map_words = words;
    l->base_entries = table;
    return true;
}

/* ---- free lists ---- */

static inline void list_push(ak_buddy *a, unsigned k, uintptr_t p)
{
    buddy_block *b = (buddy_block *)p;
    buddy_block *h = a->free_head[k];
    b->next = h;
    if (h)
        h->prev = b;
    a->free_head[k] = b;
    a->nonempty |= (size_t)1 << k;
}

/* Make b the only member of the empty list k (a split's upper half: every
 * list between the order asked for and the one split from is empty). */
static inline void list_push_empty(ak_buddy *a, unsigned k, uintptr_t p)
{
    buddy_block *b = (buddy_block *)p;
    AK_ASSERT(a->free_head[k] == 0);
    b->next = (buddy_block *)0;
    a->free_head[k] = b;
}

/* Take the head of the non-empty list k. */
static inline buddy_block *list_pop(ak_buddy *a, unsigned k)
{
    buddy_block *b = a->free_head[k];
    buddy_block *n = b->next;
    a->free_head[k] = n;
    if (!n)
        a->nonempty &= ~((size_t)1 << k);
    return b;
}

/* Take b out of list k, wherever it is. */
static inline void list_remove(ak_buddy *a, unsigned k, buddy_block *b)
{
    buddy_block *n = b->next;
    if (a->free_head[k] == b) {
        a->free_head[k] = n;
        if (!n)
            a->nonempty &= ~((size_t)1 << k);
    } else {
        b->prev->next = n;
        if (n)
            n->prev = b->prev;
    }
}

/* ---- size classes ---- */

/* The order of a block for (size, align): ceil(log2(max(size, align, 16))),
 * by one find-last-set ((need - 1) | 15 has its top bit at k - 1, and is
 * all ones when need is 0). False if that exceeds the largest power of two
 * in size_t. */
static inline bool order_for(size_t size, size_t align, unsigned *k)
{
    size_t need = size > align ? size : align;
    unsigned o = ak_fls_size((need - 1) | (MIN_BLOCK - 1)) + 1;
    *k = o;
    return o <= TOP_SHIFT;
}

/* Why the block at p (inside r's span) is not an allocated block of the
 * order asked for: if some allocated block starts at p, the size or align
 * named the wrong size class; otherwise p is free, inside a block, or not
 * 16-aligned. Only bad frees get here, so the O(orders) walk is fine. */
static AK_BUDDY_SLOW ak_error classify_bad_free(const buddy_region *r, uintptr_t p)
{
    if (p & (MIN_BLOCK - 1))
        return AK_ERR_NOT_ALLOCATED;
    /* Descend from the highest node at p: if a block starts at p, this
     * reaches it (the nodes above it at p are split); if p is inside a
     * block, the nodes at p are outside the tree and have no bits set. */
    unsigned k = top_order(p, r->head.hi);
    while (k > MIN_SHIFT && node_split(r, k, p))
        k--;
    return node_allocated(r, k, p) ? AK_ERR_INVALID_PARAM : AK_ERR_NOT_ALLOCATED;
}

/* The order of a block for (size, align), if alloc would take them. */
static AK_BUDDY_INLINE bool request_order(size_t size, size_t align, unsigned *k)
{
    return ak_is_pow2(align) && order_for(size, align, k);
}

/* Checks shared by resize, usable_size and cache: p must be the start of
 * an allocated block of order k in r, the region whose block area holds p
 * (NULL: none does). Reads only r's bounds and map. */
static ak_error locate_block(const buddy_region *r, uintptr_t p, unsigned k)
{
    if (!r)
        return AK_ERR_NOT_ALLOCATED;
    size_t bs = (size_t)1 << k;
    if ((p & (bs - 1)) || r->head.hi - p < bs || !node_allocated(r, k, p))
        return classify_bad_free(r, p);
    return AK_OK;
}

/* ---- public API ---- */

/* Set up the region laid out as l over [start, l->end) and carve it. */
static void region_install(ak_buddy *a, uintptr_t start, const region_layout *l)
{
    buddy_region *r = (buddy_region *)l->record;
    r->head.start = start;
    r->head.end = l->end;
    r->head.lo = l->lo;
    r->head.hi = l->hi;
    r->granules = (size_t)(l->hi - l->lo) >> MIN_SHIFT;
    r->map_words = l->map_words;
    r->map = r->base + l->base_entries;
    for (unsigned k = MIN_SHIFT; k < MIN_SHIFT + l->base_entries; k++)
        r->base[k - MIN_SHIFT] = order_base(r->granules, k);
    words_clear(r->map, l->map_words);
    ak_region_insert(&a->regions, &r->head);
    a->total_bytes += (size_t)(l->hi - l->lo);
    a->bookkeeping_bytes += (size_t)(l->lo - start);
    a->trimmed_bytes += (size_t)(l->end - l->hi);

    /* Carve into maximal aligned blocks: at each position take the largest
     * block its alignment and the remaining length allow. */
    for (uintptr_t p = l->lo; p < l->hi;) {
        unsigned k = top_order(p, l->hi);
        list_push(a, k, p);
        p += (uintptr_t)1 << k;
    }
}

ak_error ak_buddy_add_memory(ak_buddy *a, uintptr_t start, size_t size)
{
    region_layout l;
    uintptr_t end;
    if (!ak_range_end(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    if (ak_region_overlaps(&a->regions, start, end))
        return AK_ERR_MEMORY_OVERLAP;
    if (!layout_region(start, size, &l))
        return AK_ERR_INVALID_PARAM;
    region_install(a, start, &l);
    return AK_OK;
}

/* Inits in this program so far, mixed into every new salt. */
static uintptr_t buddy_inits;

/* The salt of the cache marks for a new life of the allocator at a: mixed
 * from the old salt (whatever the object held), a count of inits in this
 * program (so an object zeroed between inits does not repeat it) and the
 * object's address, so marks left in memory by an earlier life, or by
 * another allocator, do not pass for this one's. */
static uintptr_t next_salt(uintptr_t old, const ak_buddy *a)
{
    uint64_t x =
        ((uint64_t)old + 0x9e3779b97f4a7c15ull * (uint64_t)++buddy_inits) ^ (uint64_t)(uintptr_t)a;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (uintptr_t)(x ^ (x >> 31)) | 1; /* odd: p -> p * salt is one-to-one */
}

ak_error ak_buddy_init(ak_buddy *a, uintptr_t start, size_t size)
{
    region_layout l;
    if (!layout_region(start, size, &l))
        return AK_ERR_INVALID_PARAM; /* before the reset: bad input changes nothing */
    /* Field by field, not by struct assignment: see words_clear. */
    struct ak_buddy_block *volatile *heads = a->free_head;
    for (unsigned k = 0; k < AK_BUDDY_ORDERS; k++)
        heads[k] = (struct ak_buddy_block *)0;
    a->nonempty = 0;
    ak_region_index_clear(&a->regions);
    a->total_bytes = a->used_bytes = a->peak_used_bytes = a->live_blocks = 0;
    a->bookkeeping_bytes = a->trimmed_bytes = a->failed_allocs = 0;
    a->salt = next_salt(a->salt, a);
    region_install(a, start, &l);
    return AK_OK;
}

/* Split the block (j, p), p at offset off in r, down to order k < j; the
 * upper halves go on the lists k..j-1, which are all empty (j was the
 * first non-empty order >= k). Out of line: most allocations find a block
 * of their own order. */
static AK_BUDDY_NOINLINE void split_block(ak_buddy *a, const buddy_region *r, uintptr_t p,
                                          size_t off, unsigned j, unsigned k)
{
    size_t *map = r->map; /* locals: see free_in */
    const size_t *base = r->base;
    a->nonempty |= ((size_t)1 << j) - ((size_t)1 << k);
    do {
        bit_set(map, base[j - MIN_SHIFT] + ((off >> j) << 1) + 1);
        j--;
        list_push_empty(a, j, p + ((uintptr_t)1 << j));
    } while (j > k);
}

/* Take the head p of the non-empty list j, which lies in r (block area
 * from lo), split it down to order k <= j and hand it out. */
static AK_BUDDY_INLINE ak_error alloc_from(ak_buddy *a, const buddy_region *r, uintptr_t lo,
                                           unsigned j, unsigned k, void **out)
{
    uintptr_t p = (uintptr_t)list_pop(a, j);
    size_t off = (size_t)(p - lo);
    if (j > k)
        split_block(a, r, p, off, j, k);
    bit_set(r->map, r->base[k - MIN_SHIFT] + ((off >> k) << (k > MIN_SHIFT)));
    size_t used = a->used_bytes + ((size_t)1 << k);
    a->used_bytes = used;
    a->live_blocks++;
    if (used > a->peak_used_bytes)
        a->peak_used_bytes = used;
    *out = (void *)p;
    return AK_OK;
}

/* alloc when the list of order k is empty (a split) or its head lies
 * outside the region used last. */
static AK_BUDDY_NOINLINE ak_error alloc_slow(ak_buddy *a, unsigned k, void **out)
{
    size_t fit = a->nonempty & ((size_t)-1 << k);
    if (!fit) {
        a->failed_allocs++;
        return AK_ERR_NO_MEMORY;
    }
    unsigned j = ak_ffs_size(fit);
    ak_region *r = ak_region_find(&a->regions, (uintptr_t)a->free_head[j]);
    AK_ASSERT(r != 0);
    if (r != a->regions.last)
        ak_region_remember(&a->regions, r);
    return alloc_from(a, (const buddy_region *)r, r->lo, j, k, out);
}

ak_error ak_buddy_alloc(ak_buddy *a, size_t size, size_t align, void **out)
{
    unsigned k;
    if (AK_UNLIKELY(!out || !request_order(size, align, &k)))
        return AK_ERR_INVALID_PARAM;
    /* The common case, the head of list k in the region used last, calls
     * nothing and needs neither the mask of lists nor a search. An empty
     * list (p == 0) fails the span test too: every block area starts
     * above its region's record, so lo > 0, and ends below 2^N, so 0 - lo
     * (2^N - lo) is never below the span. */
    uintptr_t p = (uintptr_t)a->free_head[k];
    if (AK_UNLIKELY(!ak_region_in_last(&a->regions, p)))
        return alloc_slow(a, k, out);
    return alloc_from(a, (const buddy_region *)a->regions.last, a->regions.last_lo, k, k, out);
}

/* Is the buddy b of the block (k, p) a free leaf of order k? basek is
 * base[k - 4]. A buddy inside the span has a split parent (ours), so it
 * is a free leaf iff its A bit (and S bit, above order 4) are clear: one
 * word read. The span test is one compare: the block itself fits, so
 * span >= 2^k, and b - lo wraps above span when b < lo. */
static inline bool buddy_is_free(const size_t *map, uintptr_t lo, size_t span, uintptr_t p,
                                 unsigned k, size_t basek)
{
    size_t bs = (size_t)1 << k;
    size_t boff = (size_t)((p ^ bs) - lo);
    if (boff > span - bs)
        return false;
    unsigned wide = k > MIN_SHIFT; /* two bits per node, else one */
    size_t bb = basek + ((boff >> k) << wide);
    return ((map[bb >> WORD_SHIFT] >> (bb & WORD_MASK)) & ((2u << wide) - 1)) == 0;
}

/* Free the block (k, p), whose A bit is already clear and whose buddy is a
 * free leaf: merge upwards while the buddy is a free leaf of the same
 * order, then list the result. Out of line: most frees do not merge. */
static AK_BUDDY_NOINLINE ak_error merge_block(ak_buddy *a, const buddy_region *r, uintptr_t lo,
                                              size_t span, uintptr_t p, unsigned k)
{
    size_t *map = r->map; /* locals: see free_in */
    const size_t *base = r->base;
    size_t basek;
    do {
        size_t bs = (size_t)1 << k;
        list_remove(a, k, (buddy_block *)(p ^ bs));
        p &= ~(uintptr_t)bs;
        k++;
        basek = base[k - MIN_SHIFT];
        bit_clear(map, basek + ((size_t)((p - lo) >> k) << 1) + 1);
    } while (buddy_is_free(map, lo, span, p, k, basek));
    list_push(a, k, p);
    return AK_OK;
}

/* Free the block (k, p) in r, whose block area [lo, lo + span) holds p:
 * the checks of locate_block, then the release. Its calls are tail calls,
 * so a free that does not merge calls nothing. */
static AK_BUDDY_INLINE ak_error free_in(ak_buddy *a, const buddy_region *r, uintptr_t lo,
                                        size_t span, uintptr_t p, unsigned k)
{
    size_t bs = (size_t)1 << k;
    size_t off = (size_t)(p - lo);
    if (AK_UNLIKELY((p & (bs - 1)) || span - off < bs))
        return classify_bad_free(r, p);
    /* Region fields in locals: the stores below could alias them as far
     * as the compiler knows, and would force reloads. */
    size_t *map = r->map;
    size_t basek = r->base[k - MIN_SHIFT];
    size_t bit = basek + ((off >> k) << (k > MIN_SHIFT));
    if (AK_UNLIKELY(!bit_get(map, bit)))
        return classify_bad_free(r, p);
    /* The counters on both sides of the bitmap store: adjacent, gcc would
     * pair them into vector operations that cost more than they save. */
    a->used_bytes -= bs;
    bit_clear(map, bit);
    a->live_blocks--;
    if (AK_UNLIKELY(buddy_is_free(map, lo, span, p, k, basek)))
        return merge_block(a, r, lo, span, p, k);
    list_push(a, k, p);
    return AK_OK;
}

/* dealloc of a pointer outside the region used last: found by the tree,
 * the region becomes the one used last once the free succeeds. */
static AK_BUDDY_NOINLINE ak_error free_elsewhere(ak_buddy *a, uintptr_t p, unsigned k)
{
    ak_region *r = ak_region_search(&a->regions, p);
    if (!r)
        return AK_ERR_NOT_ALLOCATED;
    ak_error e = free_in(a, (const buddy_region *)r, r->lo, (size_t)(r->hi - r->lo), p, k);
    if (e == AK_OK)
        ak_region_remember(&a->regions, r);
    return e;
}

ak_error ak_buddy_dealloc(ak_buddy *a, void *ptr, size_t size, size_t align)
{
    uintptr_t p = (uintptr_t)ptr;
    unsigned k;
    if (AK_UNLIKELY(!request_order(size, align, &k)))
        return AK_ERR_INVALID_PARAM;
    if (AK_UNLIKELY(!ak_region_in_last(&a->regions, p)))
        return free_elsewhere(a, p, k);
    return free_in(a, (const buddy_region *)a->regions.last, a->regions.last_lo,
                   a->regions.last_span, p, k);
}

ak_error ak_buddy_resize(ak_buddy *a, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    unsigned k, nk;
    uintptr_t p = (uintptr_t)ptr;
    if (!request_order(old_size, align, &k))
        return AK_ERR_INVALID_PARAM;
    ak_region *found = ak_region_find(&a->regions, p);
    const buddy_region *r = (const buddy_region *)found;
    ak_error e = locate_block(r, p, k);
    if (e != AK_OK)
        return e;
    if (!order_for(new_size, align, &nk))
        return AK_ERR_NO_MEMORY;
    if (nk > k) {
        /* Grow: at every order from k up, p must be the lower buddy and the
         * upper one a free leaf. Check all before changing anything. p is
         * aligned to 2^nk, so p + 2^j (j < nk) does not wrap. */
        if (p & (((size_t)1 << nk) - 1))
            return AK_ERR_NO_MEMORY;
        for (unsigned j = k; j < nk; j++) {
            size_t bs = (size_t)1 << j;
            uintptr_t b = p + bs;
            if (!node_in_span(r, b, bs) || !node_free_leaf(r, j, b))
                return AK_ERR_NO_MEMORY;
        }
        bit_clear(r->map, node_bit(r, k, p));
        for (unsigned j = k; j < nk; j++) {
            list_remove(a, j, (buddy_block *)(p + ((uintptr_t)1 << j)));
            bit_clear(r->map, node_bit(r, j + 1, p) + 1);
        }
        bit_set(r->map, node_bit(r, nk, p));
    } else if (nk < k) {
        /* Shrink: split off upper halves (their buddies, our lower halves,
         * stay in use, so they cannot merge). */
        bit_clear(r->map, node_bit(r, k, p));
        for (unsigned j = k; j > nk; j--) {
            bit_set(r->map, node_bit(r, j, p) + 1);
            list_push(a, j - 1, p + ((uintptr_t)1 << (j - 1)));
        }
        bit_set(r->map, node_bit(r, nk, p));
    }
    if (found != a->regions.last)
        ak_region_remember(&a->regions, found);
    /* No wrap: used_bytes holds the old block's size, and the new block
     * lies in a region. */
    a->used_bytes = a->used_bytes - ((size_t)1 << k) + ((size_t)1 << nk);
    if (a->used_bytes > a->peak_used_bytes)
        a->peak_used_bytes = a->used_bytes;
    return AK_OK;
}

size_t ak_buddy_usable_size(const ak_buddy *a, const void *ptr, size_t size, size_t align)
{
    unsigned k;
    uintptr_t p = (uintptr_t)ptr;
    if (!request_order(size, align, &k) ||
        locate_block((const buddy_region *)ak_region_find(&a->regions, p), p, k) != AK_OK)
        return 0;
    return (size_t)1 << k;
}

/* ---- cache hooks ---- */

/* The mark of a cached block at p: two words, p times the salt (odd, new
 * at every init, mixed from the object's address) and its complement:
 * the form core.h publishes (ak_byte_cache_key), so a layer can write it
 * inline. */
static inline uintptr_t cache_mark(const ak_buddy *a, uintptr_t p)
{
    return p * a->salt;
}

const uintptr_t *ak_buddy_cache_key(const ak_buddy *a)
{
    return &a->salt;
}

ak_error ak_buddy_cache(ak_buddy *a, void *ptr, size_t size, size_t align)
{
    unsigned k;
    uintptr_t p = (uintptr_t)ptr;
    if (!request_order(size, align, &k))
        return AK_ERR_INVALID_PARAM;
    ak_error e = locate_block(region_find_shared(a, p), p, k);
    uintptr_t *w = (uintptr_t *)ptr;
    uintptr_t m = cache_mark(a, p);
    /* A block of another order at p that is itself cached: to the layer's
     * callers p is not allocated at all, whatever size they name. */
    if (e == AK_ERR_INVALID_PARAM && w[0] == m && w[1] == ~m)
        return AK_ERR_NOT_ALLOCATED;
    if (e != AK_OK)
        return e;
    if (w[0] == m && w[1] == ~m)
        return AK_ERR_NOT_ALLOCATED;
    w[0] = m;
    w[1] = ~m;
    return AK_OK;
}

void ak_buddy_uncache(ak_buddy *a, void *ptr, size_t size, size_t align)
{
    (void)a;
    (void)size;
    (void)align;
    uintptr_t *w = (uintptr_t *)ptr;
    w[0] = 0;
    w[1] = 0;
}

size_t ak_buddy_total_bytes(const ak_buddy *a)
{
    return a->total_bytes;
}

size_t ak_buddy_used_bytes(const ak_buddy *a)
{
    return a->used_bytes;
}

size_t ak_buddy_available_bytes(const ak_buddy *a)
{
    return a->total_bytes - a->used_bytes;
}

size_t ak_buddy_region_overhead(uintptr_t start, size_t size)
{
    region_layout l;
    if (!layout_region(start, size, &l))
        return SIZE_MAX;
    return size - (size_t)(l.hi - l.lo);
}

/* ---- diagnostics ---- */

/* Free blocks on the list of order k. */
static size_t list_length(const ak_buddy *a, unsigned k)
{
    size_t n = 0;
    for (const buddy_block *b = a->free_head[k]; b; b = b->next)
        n++;
    return n;
}

void ak_buddy_stats(const ak_buddy *a, struct ak_byte_stats *out)
{
    size_t free_blocks = 0;
    for (unsigned k = MIN_SHIFT; k < AK_BUDDY_ORDERS; k++)
        free_blocks += list_length(a, k);
    out->total_bytes = a->total_bytes;
    out->used_bytes = a->used_bytes;
    out->free_bytes = a->total_bytes - a->used_bytes;
    out->largest_free = a->nonempty ? (size_t)1 << ak_fls_size(a->nonempty) : 0;
    out->used_blocks = a->live_blocks;
    out->free_blocks = free_blocks;
    out->region_count = a->regions.count;
    out->failed_allocs = a->failed_allocs;
}

void ak_buddy_order_stats(const ak_buddy *a, struct ak_buddy_order_stats *out)
{
    for (unsigned k = 0; k < AK_BUDDY_ORDERS; k++)
        out->free_blocks[k] = list_length(a, k);
    out->peak_used_bytes = a->peak_used_bytes;
    out->bookkeeping_bytes = a->bookkeeping_bytes;
    out->trimmed_bytes = a->trimmed_bytes;
}

/* The leaf starting at p, which must start one: descend from the highest
 * node at p while split. Adds the split nodes passed to *splits. */
static unsigned leaf_order_at(const buddy_region *r, uintptr_t p, size_t *splits)
{
    unsigned k = top_order(p, r->head.hi);
    while (k > MIN_SHIFT && node_split(r, k, p)) {
        k--;
        (*splits)++;
    }
    return k;
}

/* Set A and S bits in r's whole map (padding included, which must be
 * clear). Pairs start at an even bit, so within the pair area A bits are
 * the even ones and S bits the odd ones. */
static void count_map_bits(const buddy_region *r, size_t *a_bits, size_t *s_bits)
{
    const size_t even = (size_t)0x5555555555555555ull;
    size_t pairs = (r->granules + 1) & ~(size_t)1;
    *a_bits = bit_count(r->map, 0, pairs);
    *s_bits = 0;
    for (size_t w = pairs >> WORD_SHIFT; w < r->map_words; w++) {
        size_t x = r->map[w];
        if (w == pairs >> WORD_SHIFT)
            x &= ~(size_t)0 << (pairs & WORD_MASK);
        *a_bits += ak_popcount64((uint64_t)(x & even));
        *s_bits += ak_popcount64((uint64_t)(x & ~even));
    }
}

/* The regions, newest first. */
static inline const buddy_region *first_region(const ak_buddy *a)
{
    return (const buddy_region *)ak_region_first(&a->regions);
}

static inline const buddy_region *next_region(const buddy_region *r)
{
    return (const buddy_region *)r->head.next;
}

void ak_buddy_walk(const ak_buddy *a, ak_walker fn, void *ctx)
{
    size_t splits = 0;
    for (const buddy_region *r = first_region(a); r; r = next_region(r)) {
        for (uintptr_t p = r->head.lo; p < r->head.hi;) {
            size_t bs = (size_t)1 << leaf_order_at(r, p, &splits);
            fn(p, bs, node_allocated(r, ak_ffs_size(bs), p), ctx);
            p += bs;
        }
    }
}

/* NULL if r's record and order table are consistent: the record in front
 * of its block area, the table and map between the two. */
static const char *check_record(const buddy_region *r)
{
    uintptr_t rec = (uintptr_t)r;
    const ak_region *h = &r->head;
    if (h->start > rec || rec >= h->lo || ((h->lo | h->hi) & (MIN_BLOCK - 1)) ||
        r->granules != (size_t)(h->hi - h->lo) >> MIN_SHIFT ||
        r->map_words < (map_bits(r->granules) + WORD_MASK) >> WORD_SHIFT ||
        r->map < r->base + base_entries(r->granules) || (uintptr_t)(r->map + r->map_words) > h->lo)
        return "region record inconsistent";
    for (unsigned k = MIN_SHIFT; k < MIN_SHIFT + base_entries(r->granules); k++)
        if (r->base[k - MIN_SHIFT] != order_base(r->granules, k))
            return "region order table inconsistent";
    return (const char *)0;
}

const char *ak_buddy_check(const ak_buddy *a)
{
    size_t free_leaves[AK_BUDDY_ORDERS];
    words_clear(free_leaves, AK_BUDDY_ORDERS); /* not `= {0}`: see words_clear */
    size_t total = 0, used_leaves = 0, used_block_bytes = 0;
    size_t bookkeeping = 0, trimmed = 0;

    for (unsigned k = 0; k < AK_BUDDY_ORDERS; k++) {
        if (((a->nonempty >> k) & 1u) != (a->free_head[k] != 0))
            return "non-empty mask disagrees with the free lists";
        if (k < MIN_SHIFT && a->free_head[k])
            return "free list below the minimum order";
    }
    /* The index first: it bounds the region walk below (no cycle, the
     * count of regions), and every record's lo < hi. */
    const char *why = ak_region_check(&a->regions);
    if (why)
        return why;

    for (const buddy_region *r = first_region(a); r; r = next_region(r)) {
        if ((why = check_record(r)) != (const char *)0)
            return why;
        bookkeeping += (size_t)(r->head.lo - r->head.start);
        trimmed += (size_t)(r->head.end - r->head.hi);

        /* Tile the span with leaves; count allocated leaves and splits. */
        size_t splits = 0, used_here = 0;
        for (uintptr_t p = r->head.lo; p < r->head.hi;) {
            unsigned k = leaf_order_at(r, p, &splits);
            size_t bs = (size_t)1 << k;
            if (node_allocated(r, k, p)) {
                used_here++;
                used_block_bytes += bs;
            } else {
                free_leaves[k]++;
            }
            total += bs;
            p += bs;
        }
        used_leaves += used_here;
        size_t a_bits, s_bits;
        count_map_bits(r, &a_bits, &s_bits);
        if (a_bits != used_here)
            return "allocated bit set on a node that is no allocated block";
        if (s_bits != splits)
            return "split bit set on a node outside the block tree";
    }
    if (total != a->total_bytes)
        return "total_bytes disagrees with the regions";
    if (bookkeeping != a->bookkeeping_bytes || trimmed != a->trimmed_bytes)
        return "bookkeeping or trimmed bytes disagree with the regions";
    if (used_leaves != a->live_blocks)
        return "live_blocks disagrees with the allocated bits";
    if (used_block_bytes != a->used_bytes)
        return "used_bytes disagrees with the allocated blocks' sizes";
    if (a->peak_used_bytes < a->used_bytes)
        return "peak_used_bytes below used_bytes";

    for (unsigned k = MIN_SHIFT; k < AK_BUDDY_ORDERS; k++) {
        size_t bs = (size_t)1 << k, n = 0;
        const buddy_block *prev = 0;
        for (const buddy_block *b = a->free_head[k]; b; prev = b, b = b->next) {
            if (++n > free_leaves[k])
                return "free list longer than the free blocks of its order";
            if (prev && b->prev != prev)
                return "free list back link broken";
            uintptr_t p = (uintptr_t)b;
            const buddy_region *r = (const buddy_region *)ak_region_search(&a->regions, p);
            if (!r)
                return "free block outside every region";
            if ((p & (bs - 1)) || r->head.hi - p < bs)
                return "free block misaligned or crossing its region's end";
            if (node_allocated(r, k, p))
                return "free block marked allocated";
            if (k > MIN_SHIFT && node_split(r, k, p))
                return "free block marked split";
            if (k < TOP_SHIFT) {
                uintptr_t parent = p & ~(uintptr_t)bs;
                if (node_in_span(r, parent, bs << 1) && !node_split(r, k + 1, parent))
                    return "free block is not a block of its order";
            }
            uintptr_t bud = p ^ bs;
            if (node_in_span(r, bud, bs) && node_free_leaf(r, k, bud))
                return "two free buddies left unmerged";
        }
        if (n != free_leaves[k])
            return "free list shorter than the free blocks of its order";
    }
    return (const char *)0;
}

/* ---- the byte-allocator interface ---- */

AK_DEFINE_BYTE_ALLOCATOR_FULL(ak_buddy, "buddy")
