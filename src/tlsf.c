/* TLSF: two-level segregated fit. include/allockit/tlsf.h is the manual
 * (constants, overheads, the fragmentation bound, what bad input does);
 * this file tells the algorithm top-down: the block header, the size
 * classes, the free lists, the blocks' steps (take, split, carve_tail,
 * make_free, and the three merges), the regions, then alloc, the checks
 * every free makes, free, resize, the cache hooks, and the checker.
 *
 * A plain alloc cuts its block from the end of the free block it found
 * (carve_tail): the free block keeps its address, its tag and usually
 * its list place, so the split touches no list. An aligned alloc cuts
 * from the front, where the aligned address is, leaving the gap free.
 *
 * Bounds: alloc is one mapping, at most three find-first-set, one list
 * removal and at most two insertions (two only for an aligned request);
 * free is the checks, at most two list removals (the merges) and one
 * insertion. Nothing loops over blocks, lists or regions, except the
 * region lookup of a pointer outside the region of the last free (the
 * region index's tree: O(log regions)).
 *
 * Block layout. A block is named by its payload address p, ALIGN-aligned
 * (the pointer its user holds); its header is the 64-bit word just below
 * p, and the next block's payload is at p + size. The pointer-sized word
 * just below a header is the prev-physical link: it is the last word of
 * the previous block, valid only when that block is free (a used block's
 * payload covers it).
 *
 *   used:  [ header ][ payload ..................................... ]
 *   free:  [ header ][ next_free ][ back ] ........... [ link to h ]
 *
 * `back` is the address of the word that points at the block: the
 * previous block's next_free, or the list's head. A block leaves its list
 * through it without knowing which list that is.
 *
 * Header word, 64 bits on every target:
 *   bits 0..17   tag: the top 18 bits of (h * salt), multiply-shift
 *                hashing with a random odd salt that is new on every init
 *   bit 18       this block is free
 *   bit 19       the previous block is free (so the link below is valid)
 *   bits 20..63  block size, header included, a multiple of ALIGN
 * (size on top: reading it is one shift, and every mask fits an
 * immediate operand).
 * A header absorbed by a merge is overwritten with HDR_ABSORBED, which
 * reads as free, so an old pointer to it is refused as a double free.
 * Each region is [ record | first block ... | sentinel ]. The sentinel is
 * a used block of size 0, so every block has a successor and no merge
 * looks past the region.
 *
 * Invariants (ak_tlsf_check):
 *  - each region walks from its first block to its sentinel, the sizes
 *    summing to its span; every header has its tag; no block is smaller
 *    than MIN_BLOCK; no two adjacent blocks are free;
 *  - a block's prev-free bit is its predecessor's free bit, and then the
 *    link below its header points at the predecessor;
 *  - a free block is on exactly the list its size maps to, and its back
 *    link points at the word that points at it; a bitmap bit is set iff
 *    its list (or level) is non-empty;
 *  - used_bytes is the used blocks' usable sizes summed, total_bytes the
 *    regions' spans less one header each, and the largest-region pointer
 *    names a region of the largest span.
 */
#include <allockit/tlsf.h>

#include "ak_internal.h"
#include "ak_ops.h"
#include "ak_region.h"

/* ---- constants ---- */

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

#define TAG_BITS     18
#define TAG_MASK     (((uint64_t)1 << TAG_BITS) - 1)
#define F_FREE       ((uint64_t)1 << TAG_BITS)
#define F_PREV_FREE  (F_FREE << 1)
#define SIZE_SHIFT   20
#define HDR_ABSORBED F_FREE /* what a header absorbed by a merge becomes */

_Static_assert(sizeof(uint64_t) == AK_TLSF_BLOCK_OVERHEAD, "the header is one 64-bit word");
_Static_assert(ALIGN == 2 * sizeof(void *), "the granule is two pointers");
_Static_assert(ALIGN % HDR == 0, "headers stay 8-byte aligned");
_Static_assert(SMALL_BLOCK / SL_COUNT == ALIGN, "level 0 has one list per granule");
_Static_assert(SL_COUNT <= 32, "second-level bitmaps are 32 bits");
_Static_assert(FL_COUNT < PTR_BITS, "the first-level bitmap fits a word, with a bit to spare");
_Static_assert(MIN_BLOCK >= HDR + 3 * PTR_SIZE, "a free block holds two links and a back link");
_Static_assert(((uint64_t)MAX_BLOCK >> (64 - SIZE_SHIFT)) == 0, "the size field holds MAX_BLOCK");
_Static_assert((MAX_BLOCK >> (FL_COUNT + FL_SHIFT - 2)) == 1, "the last level holds MAX_BLOCK");
_Static_assert(AK_IS_POW2(AK_TLSF_MAX_ALIGN) && AK_TLSF_MAX_ALIGN <= MAX_BLOCK, "max align");
_Static_assert(TAG_BITS + 2 <= SIZE_SHIFT && TAG_BITS <= PTR_BITS, "tag, flags, size: no overlap");
_Static_assert(sizeof(ak_region) == 8 * sizeof(void *), "AK_TLSF_REGION_OVERHEAD counts 8 words");
/* What every free reads of the object (the region hint, the salt,
 * used_bytes) comes first, within one 64-byte cache line. */
_Static_assert(offsetof(ak_tlsf, used_bytes_) + sizeof(size_t) <= 64, "hot fields in one line");

/* ---- the block header ----
 * A block is named by its payload address p; its header is the word below
 * it. */

static inline uint64_t hdr_get(uintptr_t p)
{
    return *(const uint64_t *)(p - HDR);
}

static inline void hdr_set(uintptr_t p, uint64_t w)
{
    *(uint64_t *)(p - HDR) = w;
}

static inline size_t hdr_size(uint64_t w)
{
    return (size_t)(w >> SIZE_SHIFT);
}

/* The size field of a header word for a block of `size` bytes. */
static inline uint64_t size_field(size_t size)
{
    return (uint64_t)size << SIZE_SHIFT;
}

/* The link below p's header to p's predecessor (valid only if it is free). */
static inline uintptr_t *link_prev_phys(uintptr_t p)
{
    return (uintptr_t *)(p - HDR - PTR_SIZE);
}

static inline uintptr_t *link_next_free(uintptr_t p)
{
    return (uintptr_t *)p;
}

/* The back link: the address of the word that points at p. */
static inline uintptr_t *link_back(uintptr_t p)
{
    return (uintptr_t *)(p + PTR_SIZE);
}

/* The tag of block p's header: the top TAG_BITS bits of p * salt
 * (multiply-shift hashing). */
static inline uint64_t tag_of(const ak_tlsf *a, uintptr_t p)
{
    return (uint64_t)((p * a->salt_) >> (PTR_BITS - TAG_BITS));
}

/* ---- size classes ----
 * A list is named by one index, i = fl * SL_COUNT + sl. */

#define LIST_COUNT (FL_COUNT * SL_COUNT)

/* The block size that serves a request of `size` bytes (size <=
 * AK_TLSF_MAX_ALLOC): header added, rounded to the granule, at least
 * MIN_BLOCK. */
static inline size_t adjust_request_size(size_t size)
{
    size_t need = (size + HDR + ALIGN - 1) & ~(ALIGN - 1);
    return need < MIN_BLOCK ? MIN_BLOCK : need;
}

/* The list of a block of `size` bytes (size >= 1): below SMALL_BLOCK,
 * fl 0 and sl = size / ALIGN; above, fl = fls(size) - FL_SHIFT + 1 and sl
 * = the SL_LOG2 bits below the top one. As one index: size >> (t -
 * SL_LOG2) with t = fls(size) is SL_COUNT + sl, and (t - FL_SHIFT) *
 * SL_COUNT counts the levels in between. */
static inline size_t mapping_insert(size_t size)
{
    if (size < SMALL_BLOCK)
        return size >> ALIGN_LOG2;
    unsigned t = ak_fls_size(size);
    return (size_t)(t - FL_SHIFT) * SL_COUNT + (size >> (t - SL_LOG2));
}

/* The first list of which every block holds `size` bytes (a multiple of
 * ALIGN): below SMALL_BLOCK, size's own list (those are exact); above,
 * the list after that of size - 1, which is size's own list when size is
 * the smallest of it and the next one otherwise. LIST_COUNT when no list
 * holds only blocks that big. */
static inline size_t mapping_search(size_t size)
{
    if (size < SMALL_BLOCK)
        return size >> ALIGN_LOG2;
    return mapping_insert(size - 1) + 1;
}

/* Keeps t >= SL_LOG2 in same_list where a block may be smaller than
 * 2^SL_LOG2 bytes (32-bit targets); 0 where none is. */
#define SAME_LIST_FLOOR (MIN_BLOCK >= ((size_t)1 << SL_LOG2) ? 0 : ((size_t)1 << SL_LOG2))

/* Do blocks of x and y bytes (y <= x, both at least MIN_BLOCK) share a
 * list? With t the top bit of x, they do when they agree above bit
 * t - SL_LOG2; in level 0, where lists are one granule wide, that shift
 * is below ALIGN_LOG2, so two different sizes never agree. Cheaper than
 * two mappings. */
static inline bool same_list(size_t x, size_t y)
{
    return ((x ^ y) >> (ak_fls_size(x | SAME_LIST_FLOOR) - SL_LOG2)) == 0;
}

/* ---- free lists ----
 * One doubly linked list per class, newest first, its first block in
 * heads_; the bitmaps say which lists are non-empty. */

static inline void list_insert(ak_tlsf *a, uintptr_t b, size_t i)
{
    uintptr_t head = a->heads_[i];
    /* The head's store between b's two links keeps compilers from pairing
     * those into one vector store, which costs more instructions. */
    *link_next_free(b) = head;
    a->heads_[i] = b;
    *link_back(b) = (uintptr_t)&a->heads_[i];
    if (head) {
        *link_back(head) = (uintptr_t)link_next_free(b);
    } else {
        a->fl_bitmap_ |= (uintptr_t)1 << (i / SL_COUNT);
        a->sl_bitmap_[i / SL_COUNT] |= (uint32_t)1 << (i % SL_COUNT);
    }
}

/* List i became empty. */
static inline void list_emptied(ak_tlsf *a, size_t i)
{
    size_t fl = i / SL_COUNT;
    a->sl_bitmap_[fl] &= ~((uint32_t)1 << (i % SL_COUNT));
    if (!a->sl_bitmap_[fl])
        a->fl_bitmap_ &= ~((uintptr_t)1 << fl);
}

/* Take b, the first block of list i, off it. */
static inline void list_pop(ak_tlsf *a, uintptr_t b, size_t i)
{
    uintptr_t next = *link_next_free(b);
    AK_ASSERT(a->heads_[i] == b);
    a->heads_[i] = next;
    if (next)
        *link_back(next) = (uintptr_t)&a->heads_[i];
    else
        list_emptied(a, i);
}

/* Take b off its list. */
static inline void list_remove(ak_tlsf *a, uintptr_t b)
{
    uintptr_t next = *link_next_free(b), *back = (uintptr_t *)*link_back(b);
    AK_ASSERT(*back == b);
    *back = next;
    if (next)
        *link_back(next) = (uintptr_t)back;
    else if ((uintptr_t)back - (uintptr_t)a->heads_ < sizeof a->heads_)
        list_emptied(a, (size_t)(back - a->heads_)); /* b was first and last */
}

/* The free block `from` becomes the free block `to` of `size` bytes: the
 * same block grown or shrunk, a block that absorbed it, or the rest of it
 * after a split. When `same` says both sizes share a list (the usual case
 * when a large block changes by a little), `to` takes from's place in it:
 * no bitmap work. Reads only from's links, before it writes to's. */
static inline void list_move(ak_tlsf *a, uintptr_t from, uintptr_t to, size_t size, bool same)
{
    if (!same) {
        list_remove(a, from);
        list_insert(a, to, mapping_insert(size));
        return;
    }
    if (from == to)
        return;
    uintptr_t next = *link_next_free(from), back = *link_back(from);
    *link_next_free(to) = next;
    *link_back(to) = back;
    *(uintptr_t *)back = to;
    if (next)
        *link_back(next) = (uintptr_t)link_next_free(to);
}

/* The first non-empty list at or after list *i, by the bitmaps: stored
 * in *i; false if there is none. *i may be LIST_COUNT: sl_bitmap_ has a
 * spare entry past the last level, always zero, for it. */
static inline bool find_suitable_block(const ak_tlsf *a, size_t *i)
{
    size_t fl = *i / SL_COUNT;
    uint32_t sl_map = a->sl_bitmap_[fl] & (~(uint32_t)0 << (*i % SL_COUNT));
    if (!sl_map) {
        uintptr_t fl_map = a->fl_bitmap_ & (~(uintptr_t)0 << (fl + 1));
        if (!fl_map)
            return false;
        fl = ak_ffs_size(fl_map);
        sl_map = a->sl_bitmap_[fl];
    }
    *i = fl * SL_COUNT + ak_ffs32(sl_map);
    return true;
}

/* When the good fit finds nothing, two single blocks that may still hold
 * `need` bytes: the first of need's own list, and the first block of the
 * largest region if it is free (all of the region once everything there
 * is free, whatever list order the regions' blocks are in). They make the
 * promise "what fitted after the regions were added fits again once
 * everything is freed" hold. O(1). */
static AK_NOINLINE uintptr_t find_exact_block(const ak_tlsf *a, size_t need)
{
    uintptr_t b = a->heads_[mapping_insert(need)];
    if (b && hdr_size(hdr_get(b)) >= need)
        return b;
    const ak_region *big = (const ak_region *)a->largest_region_;
    if (big) {
        uint64_t w = hdr_get(big->lo);
        if ((w & F_FREE) && hdr_size(w) >= need)
            return big->lo;
    }
    return 0;
}

/* A free block of at least `need` bytes (<= MAX_BLOCK), or 0: the good
 * fit, then the exact-fit candidates. */
static uintptr_t find_block(const ak_tlsf *a, size_t need)
{
    size_t i = mapping_search(need);
    if (find_suitable_block(a, &i))
        return a->heads_[i];
    return find_exact_block(a, need);
}

/* ---- blocks: take, split, merge, mark ----
 * The area steps below work on a free area that starts at block b and is
 * listed as the free block `from` of from_size bytes: from is b itself,
 * or the block in front of b when an aligned alloc leaves a gap there. */

/* Block b takes all of the area, `total` bytes, once from has left its
 * list: the block after the area learns that its predecessor is used.
 * Returns b's size. */
static inline size_t block_take(uintptr_t b, size_t total)
{
    uintptr_t n = b + total;
    hdr_set(n, hdr_get(n) & ~F_PREV_FREE);
    return total;
}

/* The last `rest` bytes of a free area, from t, become a free block of
 * their own, not yet on a list: its header, and the link of the block
 * after it (which already has its prev-free bit: the area was free). */
static inline void block_rest(ak_tlsf *a, uintptr_t t, size_t rest)
{
    hdr_set(t, size_field(rest) | F_FREE | tag_of(a, t));
    *link_prev_phys(t + rest) = t;
}

/* Block b takes the first `need` bytes of the area; the rest (at least
 * MIN_BLOCK bytes) becomes the free block t = b + need, which takes from's
 * place on the lists (list_move). from is b or a block in front of it, so
 * t's header does not overlap its links. Returns b's size. */
static inline size_t block_split(ak_tlsf *a, uintptr_t b, uintptr_t from, size_t from_size,
                                 size_t total, size_t need)
{
    size_t rest = total - need;
    uintptr_t t = b + need;
    block_rest(a, t, rest);
    list_move(a, from, t, rest, same_list(from_size, rest));
    return need;
}

/* Block b takes `need` bytes of the area: split off the rest when it can
 * be a block, else all of it. */
static inline size_t block_carve(ak_tlsf *a, uintptr_t b, uintptr_t from, size_t from_size,
                                 size_t total, size_t need)
{
    if (total - need >= MIN_BLOCK)
        return block_split(a, b, from, from_size, total, need);
    list_remove(a, from);
    return block_take(b, total);
}

/* b, with its free header word w, becomes a used block of bs bytes: the
 * header (prev-free bit and tag kept) and used_bytes. Returns the payload. */
static inline void *block_make_used(ak_tlsf *a, uintptr_t b, uint64_t w, size_t bs)
{
    hdr_set(b, size_field(bs) | (w & (F_PREV_FREE | TAG_MASK)));
    a->used_bytes_ += bs - HDR;
    return (void *)b;
}

/* The plain alloc's split: a used block of `need` bytes is cut from the
 * end of the free block b (bs bytes, header w), and b stays free in front
 * of it with its address and its tag. Three header writes and a link;
 * the caller moves b to another list if its new size needs one
 * (carve_relist). Returns the new block. */
static inline uintptr_t block_carve_tail(ak_tlsf *a, uintptr_t b, uint64_t w, size_t bs,
                                         size_t need)
{
    uintptr_t u = b + (bs - need);
    hdr_set(b, w - size_field(need));
    hdr_set(u, size_field(need) | F_PREV_FREE | tag_of(a, u));
    *link_prev_phys(u) = b;
    hdr_set(u + need, hdr_get(u + need) & ~F_PREV_FREE);
    a->used_bytes_ += need - HDR;
    return u;
}

/* The free block b shrank to `rest` bytes, which map to another list.
 * Out of line: a large block usually stays in its list. */
static AK_NOINLINE ak_error carve_relist(ak_tlsf *a, uintptr_t b, size_t rest)
{
    list_remove(a, b);
    list_insert(a, b, mapping_insert(rest));
    return AK_OK;
}

/* The used block b of bs bytes (header w), whose neighbours are used (its
 * successor's header is wn), becomes a free block: its header, its
 * successor's prev-free bit and link, its list. */
static inline void block_make_free(ak_tlsf *a, uintptr_t b, size_t bs, uint64_t w, uint64_t wn)
{
    uintptr_t n = b + bs;
    hdr_set(b, w | F_FREE);
    hdr_set(n, wn | F_PREV_FREE);
    *link_prev_phys(n) = b;
    list_insert(a, b, mapping_insert(bs));
}

/* The free block b keeps its place but grows from from_size to size
 * bytes: it moves to its new list only when the class changes. */
static inline void list_resize(ak_tlsf *a, uintptr_t b, size_t from_size, size_t size)
{
    if (!same_list(size, from_size)) {
        list_remove(a, b);
        list_insert(a, b, mapping_insert(size));
    }
}

/* Merging, case by case. b is the used block being freed (bs bytes,
 * header w, neither flag set), wn the header of its successor n = b + bs,
 * pb its predecessor when that is free (header pw). The merged block
 * keeps the list place of the free neighbour it grows from when its class
 * stays the same; a header it absorbs becomes HDR_ABSORBED. Sizes are on
 * top of the header word, so growing a header is one add. */

/* b absorbs its free successor n and takes n's list place. */
static inline void merge_next(ak_tlsf *a, uintptr_t b, size_t bs, uint64_t w, uint64_t wn)
{
    uintptr_t n = b + bs;
    size_t ns = hdr_size(wn), ms = bs + ns;
    hdr_set(b, (w | F_FREE) + size_field(ns));
    hdr_set(n, HDR_ABSORBED);
    *link_prev_phys(b + ms) = b;
    list_move(a, n, b, ms, same_list(ms, ns));
}

/* The free predecessor pb absorbs b. */
static inline void merge_prev(ak_tlsf *a, uintptr_t b, size_t bs, uint64_t wn, uintptr_t pb,
                              uint64_t pw)
{
    uintptr_t n = b + bs;
    size_t ps = hdr_size(pw);
    *link_prev_phys(n) = pb;
    hdr_set(pb, pw + size_field(bs));
    hdr_set(b, HDR_ABSORBED);
    hdr_set(n, wn | F_PREV_FREE);
    list_resize(a, pb, ps, ps + bs);
}

/* The free predecessor pb absorbs b and b's free successor n. */
static inline void merge_both(ak_tlsf *a, uintptr_t b, size_t bs, uint64_t wn, uintptr_t pb,
                              uint64_t pw)
{
    uintptr_t n = b + bs;
    size_t ps = hdr_size(pw), grow = bs + hdr_size(wn);
    list_remove(a, n);
    hdr_set(pb, pw + size_field(grow));
    hdr_set(b, HDR_ABSORBED);
    hdr_set(n, HDR_ABSORBED);
    *link_prev_phys(pb + ps + grow) = pb;
    list_resize(a, pb, ps, ps + grow);
}

/* ---- regions ---- */

/* Where the record, the first block and the sentinel of the region
 * [start, start+size) go: the record at *rec, the blocks' payloads in
 * [*lo, *hi), the sentinel at *hi (its header just below). */
static ak_error region_layout(uintptr_t start, size_t size, uintptr_t *end, uintptr_t *rec,
                              uintptr_t *lo, uintptr_t *hi)
{
    if (!ak_range_end(start, size, end))
        return AK_ERR_INVALID_PARAM;
    /* With this much room none of the rounding below can pass the end,
     * and at least MIN_BLOCK bytes are left for the first block. */
    if (size < AK_TLSF_REGION_OVERHEAD + MIN_BLOCK)
        return AK_ERR_INVALID_PARAM;
    uintptr_t r = ak_align_up(start, PTR_SIZE);
    uintptr_t f = ak_align_up(r + sizeof(ak_region) + HDR, ALIGN);
    uintptr_t s = ak_align_down(*end, ALIGN);
    if (s - f > MAX_BLOCK)
        s = f + MAX_BLOCK;
    *rec = r;
    *lo = f;
    *hi = s;
    return AK_OK;
}

/* Record the region and make its blocks area one free block. */
static void region_install(ak_tlsf *a, uintptr_t start, uintptr_t end, uintptr_t rec, uintptr_t lo,
                           uintptr_t hi)
{
    ak_region *r = (ak_region *)rec;
    r->start = start;
    r->end = end;
    r->lo = lo;
    r->hi = hi;
    ak_region_insert(&a->regions_, r);
    const ak_region *big = (const ak_region *)a->largest_region_;
    if (!big || hi - lo > big->hi - big->lo)
        a->largest_region_ = r;
    /* The blocks area starts as one used block and is freed: the sentinel
     * after it is a used block of size 0. */
    block_make_free(a, lo, hi - lo, size_field(hi - lo) | tag_of(a, lo), tag_of(a, hi));
    a->total_bytes_ += hi - lo - HDR;
}

/* ---- init and add_memory ---- */

/* Inits in this program so far: mixed into every salt, so that two inits
 * of one object never share one, even when the object was zeroed in
 * between. Not atomic: two threads initialising two objects at once may
 * read the same count, and the objects' addresses still tell them apart. */
static uintptr_t init_count;

/* A 64-bit finaliser (splitmix64's): every input bit moves every output
 * bit. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Empty the object. Field by field, the heads through a volatile
 * pointer: compilers turn a struct assignment or a plain loop into
 * memset, which on Arm EABI becomes __aeabi_memclr, a symbol bare-metal
 * images may lack. */
static void allocator_clear(ak_tlsf *a)
{
    volatile uintptr_t *heads = a->heads_;
    for (size_t i = 0; i <= LIST_COUNT; i++)
        heads[i] = 0;
    volatile uint32_t *sl = a->sl_bitmap_;
    for (size_t i = 0; i <= FL_COUNT; i++)
        sl[i] = 0;
    a->fl_bitmap_ = 0;
    ak_region_index_clear(&a->regions_);
    a->largest_region_ = (void *)0;
    a->total_bytes_ = a->used_bytes_ = a->failed_ = 0;
}

/* New salts for the tags and the cache mark: from the init count, the
 * object's address and the region's. */
static void salts_new(ak_tlsf *a, uintptr_t start)
{
    uint64_t seed = mix64((uint64_t)++init_count * 0x9e3779b97f4a7c15ull ^ (uintptr_t)a);
    a->salt_ = (uintptr_t)seed | 1; /* odd: b -> b * salt is one-to-one */
    a->mark_key_ = (uintptr_t)mix64(seed ^ (uint64_t)start) | 1;
}

ak_error ak_tlsf_init(ak_tlsf *a, uintptr_t start, size_t size)
{
    uintptr_t end, rec, lo, hi;
    ak_error e = region_layout(start, size, &end, &rec, &lo, &hi);
    if (e != AK_OK)
        return e;
    allocator_clear(a);
    salts_new(a, start);
    region_install(a, start, end, rec, lo, hi);
    return AK_OK;
}

ak_error ak_tlsf_add_memory(ak_tlsf *a, uintptr_t start, size_t size)
{
    uintptr_t end, rec, lo, hi;
    ak_error e = region_layout(start, size, &end, &rec, &lo, &hi);
    if (e != AK_OK)
        return e;
    if (ak_region_overlaps(&a->regions_, start, end))
        return AK_ERR_MEMORY_OVERLAP;
    if (a->salt_ == 0) /* a zero-initialised object (a salt is odd) */
        salts_new(a, start);
    region_install(a, start, end, rec, lo, hi);
    return AK_OK;
}

/* ---- alloc ---- */

/* Is align one of the alignments every payload has anyway (1..ALIGN)? */
static inline bool small_align(size_t align)
{
    return align - 1 < ALIGN && (align & (align - 1)) == 0;
}

/* Bytes from payload address p (ALIGN-aligned) to the first address
 * aligned to `align` that leaves no gap or one that can be a free block.
 * A wrap at the top of the address space gives a gap no block holds. */
static inline size_t aligned_gap(uintptr_t p, size_t align)
{
    uintptr_t ap = ak_align_up(p, align);
    if (ap != p && ap - p < MIN_BLOCK)
        ap = ak_align_up(p + MIN_BLOCK, align);
    return ap - p;
}

static AK_COLD ak_error alloc_no_memory(ak_tlsf *a)
{
    a->failed_++;
    return AK_ERR_NO_MEMORY;
}

/* Every alloc that the plain path does not serve: bad arguments,
 * alignments above ALIGN, and requests the good fit cannot serve (this
 * tries the exact-fit candidates too). An aligned request first takes the
 * good fit for its size alone, which serves when its block has room at the
 * alignment (a freed aligned block of that size does); otherwise a block
 * with room at any alignment: a gap of 0, or one that becomes a free block
 * of its own (at most MIN_BLOCK + align - ALIGN bytes). */
static AK_NOINLINE ak_error alloc_slow(ak_tlsf *a, size_t size, size_t align, void **out)
{
    if (!out || !ak_is_pow2(align) || size > AK_TLSF_MAX_ALLOC || align > AK_TLSF_MAX_ALIGN)
        return AK_ERR_INVALID_PARAM;
    size_t need = adjust_request_size(size);
    size_t gap = 0;
    uintptr_t b = find_block(a, need);
    if (b) {
        gap = aligned_gap(b, align);
        if (gap > hdr_size(hdr_get(b)) - need)
            b = 0;
    }
    if (!b) {
        size_t want;
        if (align <= ALIGN || ak_add_overflows(need, align - ALIGN + MIN_BLOCK, &want) ||
            want > MAX_BLOCK)
            return alloc_no_memory(a);
        b = find_block(a, want);
        if (!b)
            return alloc_no_memory(a);
        gap = aligned_gap(b, align);
    }
    uint64_t w = hdr_get(b);
    size_t bs = hdr_size(w);
    if (!gap) {
        *out = block_make_used(a, b, w, block_carve(a, b, b, bs, bs, need));
        return AK_OK;
    }
    /* The gap in front stays a free block, and the block starts after it:
     * carved first (b's list place may go to the rest behind it), then
     * the gap is listed as a block of its own. */
    uintptr_t nb = b + gap;
    size_t nbs = block_carve(a, nb, b, bs, bs - gap, need);
    hdr_set(b, size_field(gap) | F_FREE | (w & TAG_MASK));
    list_insert(a, b, mapping_insert(gap));
    *link_prev_phys(nb) = b;
    *out = block_make_used(a, nb, F_PREV_FREE | tag_of(a, nb), nbs);
    return AK_OK;
}

/* The plain path when the good fit found nothing: the exact-fit
 * candidates, or AK_ERR_NO_MEMORY. */
static AK_NOINLINE ak_error alloc_exact(ak_tlsf *a, size_t need, void **out)
{
    uintptr_t b = find_exact_block(a, need);
    if (!b)
        return alloc_no_memory(a);
    uint64_t w = hdr_get(b);
    size_t bs = hdr_size(w);
    *out = block_make_used(a, b, w, block_carve(a, b, b, bs, bs, need));
    return AK_OK;
}

/* The plain path: the good fit's list (its first block when it has one,
 * else the bitmaps' next list), that block split from its end or taken
 * whole. */
ak_error ak_tlsf_alloc(ak_tlsf *a, size_t size, size_t align, void **out)
{
    if (AK_UNLIKELY(!small_align(align) || !out))
        return alloc_slow(a, size, align, out);
    /* The small lists are exact: the search list is the size's own, and
     * its first block, if any, is the one to take. */
    size_t need, i;
    uintptr_t b = 0;
    if (size < SMALL_BLOCK - HDR) {
        need = adjust_request_size(size);
        i = need >> ALIGN_LOG2;
        b = a->heads_[i];
    } else {
        if (AK_UNLIKELY(size > AK_TLSF_MAX_ALLOC))
            return alloc_slow(a, size, align, out);
        need = (size + HDR + ALIGN - 1) & ~(ALIGN - 1);
        i = mapping_search(need);
    }
    if (!b) {
        if (AK_UNLIKELY(!find_suitable_block(a, &i)))
            return alloc_exact(a, need, out);
        b = a->heads_[i];
    }
    uint64_t w = hdr_get(b);
    size_t bs = hdr_size(w);
    AK_ASSERT(b != 0 && (w & F_FREE) && bs >= need);
    if (bs - need >= MIN_BLOCK) {
        *out = (void *)block_carve_tail(a, b, w, bs, need);
        if (AK_UNLIKELY(!same_list(bs, bs - need)))
            return carve_relist(a, b, bs - need);
        return AK_OK;
    }
    *out = block_make_used(a, b, w, block_take(b, bs));
    list_pop(a, b, i);
    return AK_OK;
}

/* ---- the checks of a pointer given back ---- */

/* How a check finds the pointer's region: through the hint, then the
 * tree, moving the hint there (LOOKUP_REMEMBER: dealloc, resize); the
 * same without moving it (LOOKUP_HINT: usable_size, which may not write);
 * through the tree alone (LOOKUP_TREE: the cache hooks, which may run
 * alongside calls that move the hint). dealloc's fast path tries the
 * hint alone, with the checks written out (ak_tlsf_dealloc). */
typedef enum lookup { LOOKUP_REMEMBER, LOOKUP_HINT, LOOKUP_TREE } lookup;

static AK_NOINLINE const ak_region *region_search_remember(ak_tlsf *a, uintptr_t b)
{
    ak_region *r = ak_region_search(&a->regions_, b);
    if (r)
        ak_region_remember(&a->regions_, r);
    return r;
}

/* The end of the block area (the sentinel) of the region holding block
 * p, in *hi; false if p is in no region. For the hint, straight from the
 * index: no record is read. */
static AK_ALWAYS_INLINE bool region_end(const ak_tlsf *a, uintptr_t p, lookup how, uintptr_t *hi)
{
    const ak_region_index *ix = &a->regions_;
    if (how != LOOKUP_TREE && AK_LIKELY(ak_region_in_last(ix, p))) {
        *hi = ix->last_lo + ix->last_span;
        return true;
    }
    const ak_region *r = how == LOOKUP_REMEMBER
                             ? region_search_remember((ak_tlsf *)a, p) /* a is not const */
                             : ak_region_search(ix, p);
    if (!r)
        return false;
    *hi = r->hi;
    return true;
}

/* A block that passed the checks. */
typedef struct live_block {
    uintptr_t b; /* the block */
    size_t bs;   /* its size */
    uint64_t w;  /* its header word */
    uint64_t wn; /* its successor's header word */
} live_block;

/* Is the granule-aligned address p a live block, for a request of
 * `size` bytes? It must lie in a region (nothing outside is read); its
 * header must say used, with a size that ends inside the region; the
 * header there must say its predecessor is used; both headers must carry
 * their tags. Then `size` must fit the block. Reads two headers only. */
static AK_ALWAYS_INLINE ak_error block_find(const ak_tlsf *a, uintptr_t p, size_t size, lookup how,
                                            live_block *lb)
{
    uintptr_t hi;
    if (AK_UNLIKELY(!region_end(a, p, how, &hi)))
        return AK_ERR_NOT_ALLOCATED;
    uint64_t w = hdr_get(p);
    size_t bs = hdr_size(w) & ~(ALIGN - 1); /* keeps the next header aligned, whatever w is */
    if (AK_UNLIKELY(bs - 1 >= hi - p))      /* 0, or past the sentinel */
        return AK_ERR_NOT_ALLOCATED;
    uintptr_t n = p + bs;
    uint64_t wn = hdr_get(n);
    if (AK_UNLIKELY((((w ^ tag_of(a, p)) & (TAG_MASK | F_FREE)) |
                     ((wn ^ tag_of(a, n)) & (TAG_MASK | F_PREV_FREE))) != 0))
        return AK_ERR_NOT_ALLOCATED; /* free, absorbed, or not a header */
    size_t usable = bs - HDR;
    if (AK_UNLIKELY(size > usable))
        return AK_ERR_INVALID_PARAM;
    lb->b = p;
    lb->bs = bs;
    lb->w = w;
    lb->wn = wn;
    return AK_OK;
}

/* One test for everything about align (a power of two that ptr has) and
 * for ptr being granule-aligned (so that its header is readable). */
static AK_ALWAYS_INLINE bool align_ok(uintptr_t p, size_t align)
{
    return ((p & ((align - 1) | (ALIGN - 1))) | (align & (align - 1))) == 0;
}

/* The answer for a pointer or align that failed align_ok, in the
 * contract's order: a bad align, then a pointer that is no block, then a
 * pointer without the alignment. */
static AK_COLD ak_error block_refuse(const ak_tlsf *a, const void *ptr, size_t size, size_t align)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    if (p & (ALIGN - 1))
        return AK_ERR_NOT_ALLOCATED;
    live_block lb;
    ak_error e = block_find(a, p, size, LOOKUP_TREE, &lb);
    return e != AK_OK ? e : AK_ERR_INVALID_PARAM;
}

/* The checks of dealloc, resize, usable_size and cache: on AK_OK, *lb is
 * the live block at ptr, which `size` and `align` fit. */
static AK_ALWAYS_INLINE ak_error block_check(const ak_tlsf *a, const void *ptr, size_t size,
                                             size_t align, lookup how, live_block *lb)
{
    if (AK_UNLIKELY(!align_ok((uintptr_t)ptr, align)))
        return block_refuse(a, ptr, size, align);
    return block_find(a, (uintptr_t)ptr, size, how, lb);
}

/* Before following the link pb to a free predecessor of block b: it
 * must point inside the region (its blocks start at lo), before b, at a
 * header (granule-aligned like b's), and the header there must say free
 * with a size that ends at b. The link lies in free memory, out of every
 * caller's reach; this keeps a stray write there from sending a merge
 * outside the region. On true, *pw is the predecessor's header word. */
static inline bool prev_link_ok(uintptr_t lo, uintptr_t b, uintptr_t pb, uint64_t *pw)
{
    uintptr_t dist = b - pb;
    if (dist - 1 >= b - lo || (dist & (ALIGN - 1)) != 0)
        return false;
    *pw = hdr_get(pb);
    /* Free, its own predecessor used (no two free blocks are adjacent),
     * and dist bytes long: one compare above the tag. */
    return (*pw >> TAG_BITS) == (((uint64_t)dist << (SIZE_SHIFT - TAG_BITS)) | 1);
}

/* ---- dealloc ---- */

/* The bits of ak_tlsf_dealloc's combined header test: a free neighbour,
 * and everything that makes the pointer no live block. */
#define X_MERGE F_PREV_FREE
#define X_BAD   ((TAG_MASK | F_FREE | (F_PREV_FREE << 1)) & ~X_MERGE)
_Static_assert((F_FREE << 1) == F_PREV_FREE, "the shift lines up the two free bits");

/* The free of a block whose two headers, combined into x as in
 * ak_tlsf_dealloc, do not both say "used" with their tags: a block with a
 * free neighbour, in the region the index looked up last (the checks left
 * it there), is merged; anything else is refused. Out of line, entered by
 * a tail call: the free of a block between used ones then needs no saved
 * registers. */
static AK_NOINLINE ak_error dealloc_merge(ak_tlsf *a, uintptr_t b, size_t bs, uint64_t w,
                                          uint64_t wn, uint64_t x)
{
    if (AK_UNLIKELY((x & X_BAD) != 0))
        return AK_ERR_NOT_ALLOCATED;
    if (!(w & F_PREV_FREE)) {
        a->used_bytes_ -= bs - HDR;
        merge_next(a, b, bs, w, wn);
        return AK_OK;
    }
    uintptr_t pb = *link_prev_phys(b);
    uint64_t pw;
    if (AK_UNLIKELY(!prev_link_ok(a->regions_.last_lo, b, pb, &pw)))
        return AK_ERR_NOT_ALLOCATED;
    a->used_bytes_ -= bs - HDR;
    if (wn & F_FREE)
        merge_both(a, b, bs, wn, pb, pw);
    else
        merge_prev(a, b, bs, wn, pb, pw);
    return AK_OK;
}

/* The free of a block that passed the checks. */
static AK_ALWAYS_INLINE ak_error block_free(ak_tlsf *a, const live_block *lb)
{
    if (((lb->w >> 1) | lb->wn) & F_FREE) /* a free neighbour: F_PREV_FREE is F_FREE << 1 */
        return dealloc_merge(a, lb->b, lb->bs, lb->w, lb->wn, X_MERGE);
    a->used_bytes_ -= lb->bs - HDR;
    block_make_free(a, lb->b, lb->bs, lb->w, lb->wn);
    return AK_OK;
}

/* Every free the fast path leaves: a pointer outside the last region
 * used, and every refusal (which this works out again, in order). */
static AK_NOINLINE ak_error dealloc_slow(ak_tlsf *a, void *ptr, size_t size, size_t align)
{
    live_block lb = {0, 0, 0, 0}; /* filled on AK_OK; zeroed for the compiler */
    ak_error e = block_check(a, ptr, size, align, LOOKUP_REMEMBER, &lb);
    if (e != AK_OK)
        return e;
    return block_free(a, &lb);
}

/* The fast path: the checks of block_check for a pointer in the last
 * region used, arranged so that a good free passes them with few
 * branches. The tags and the four flags of the two headers are one test:
 * x is both headers xor their tags, the successor's shifted up a bit, so
 * that its free bit lands on the block's prev-free bit. Then bit 19 of x
 * says "a free neighbour" and every other bit up to bit 20 says "not a
 * live block" (a tag bit wrong, the block free, or its successor saying
 * the block is free). */
ak_error ak_tlsf_dealloc(ak_tlsf *a, void *ptr, size_t size, size_t align)
{
    uintptr_t p = (uintptr_t)ptr, d = p - a->regions_.last_lo, span = a->regions_.last_span;
    if (AK_UNLIKELY(d >= span || (p & (ALIGN - 1)) != 0 || ((p | align) & (align - 1)) != 0))
        return dealloc_slow(a, ptr, size, align); /* another region, or a bad pointer or align */
    uint64_t w = hdr_get(p);
    size_t bs = hdr_size(w) & ~(ALIGN - 1);
    if (AK_UNLIKELY(bs - 1 >= span - d || size > bs - HDR))
        return dealloc_slow(a, ptr, size, align);
    uintptr_t n = p + bs;
    uint64_t wn = hdr_get(n);
    uint64_t x = (w ^ tag_of(a, p)) | ((wn ^ tag_of(a, n)) << 1);
    if (AK_UNLIKELY((x & (X_BAD | X_MERGE)) != 0))
        return dealloc_merge(a, p, bs, w, wn, x);
    a->used_bytes_ -= bs - HDR;
    block_make_free(a, p, bs, w, wn);
    return AK_OK;
}

/* ---- resize ---- */

ak_error ak_tlsf_resize(ak_tlsf *a, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    live_block lb = {0, 0, 0, 0}; /* filled on AK_OK; zeroed for the compiler */
    ak_error e = block_check(a, ptr, old_size, align, LOOKUP_REMEMBER, &lb);
    if (e != AK_OK)
        return e;
    if (new_size > AK_TLSF_MAX_ALLOC)
        return AK_ERR_NO_MEMORY;
    uintptr_t b = lb.b;
    size_t old_bs = hdr_size(lb.w), bs = old_bs;
    size_t need = adjust_request_size(new_size);
    if (need > bs) {
        /* Grow into the free successor: b carves what it needs from the
         * two, the rest stays free in the successor's list place. */
        size_t ns = hdr_size(lb.wn);
        if (!(lb.wn & F_FREE) || ns < need - bs)
            return AK_ERR_NO_MEMORY;
        uintptr_t n = b + bs;
        list_remove(a, n);
        hdr_set(n, HDR_ABSORBED);
        size_t total = bs + ns;
        if (total - need >= MIN_BLOCK) {
            block_rest(a, b + need, total - need);
            list_insert(a, b + need, mapping_insert(total - need));
            bs = need;
        } else {
            bs = block_take(b, total);
        }
    } else if (bs - need >= MIN_BLOCK) {
        /* Shrink: the tail is freed as a used block of its own would be,
         * merging with a free successor. */
        uintptr_t t = b + need;
        uint64_t wt = size_field(bs - need) | tag_of(a, t);
        hdr_set(t, wt);
        if (lb.wn & F_FREE)
            merge_next(a, t, bs - need, wt, lb.wn);
        else
            block_make_free(a, t, bs - need, wt, lb.wn);
        bs = need;
    }
    hdr_set(b, size_field(bs) | (lb.w & (F_PREV_FREE | TAG_MASK)));
    a->used_bytes_ = a->used_bytes_ - old_bs + bs;
    return AK_OK;
}

/* ---- queries ---- */

size_t ak_tlsf_usable_size(const ak_tlsf *a, const void *ptr, size_t size, size_t align)
{
    live_block lb = {0, 0, 0, 0}; /* filled on AK_OK; zeroed for the compiler */
    if (block_check(a, ptr, size, align, LOOKUP_HINT, &lb) != AK_OK)
        return 0;
    return hdr_size(lb.w) - HDR;
}

size_t ak_tlsf_total_bytes(const ak_tlsf *a)
{
    return a->total_bytes_;
}

size_t ak_tlsf_used_bytes(const ak_tlsf *a)
{
    return a->used_bytes_;
}

size_t ak_tlsf_available_bytes(const ak_tlsf *a)
{
    return a->total_bytes_ - a->used_bytes_;
}

/* ---- the cache hooks ----
 * The mark is two words, p * mark_key_ and its complement: a function of
 * the block's address and of the init (mark_key_ is new on each), so a
 * block handed out after a re-init never looks cached. */

static inline uintptr_t mark_of(const ak_tlsf *a, uintptr_t p)
{
    return p * a->mark_key_;
}

ak_error ak_tlsf_cache(ak_tlsf *a, void *ptr, size_t size, size_t align)
{
    live_block lb = {0, 0, 0, 0}; /* filled on AK_OK; zeroed for the compiler */
    ak_error e = block_check(a, ptr, size, align, LOOKUP_TREE, &lb);
    uintptr_t *m = (uintptr_t *)ptr, k = mark_of(a, (uintptr_t)ptr);
    /* A live block at ptr that the size or align does not fit, but which
     * is itself cached: to the layer's callers ptr is not allocated at
     * all, whatever they name (size 0 and align 1 fit every block). */
    if (e == AK_ERR_INVALID_PARAM && block_check(a, ptr, 0, 1, LOOKUP_TREE, &lb) == AK_OK &&
        m[0] == k && m[1] == ~k)
        return AK_ERR_NOT_ALLOCATED;
    if (e != AK_OK)
        return e;
    if (m[0] == k && m[1] == ~k)
        return AK_ERR_NOT_ALLOCATED;
    m[0] = k;
    m[1] = ~k;
    return AK_OK;
}

const uintptr_t *ak_tlsf_cache_key(const ak_tlsf *a)
{
    return &a->mark_key_;
}

void ak_tlsf_uncache(ak_tlsf *a, void *ptr, size_t size, size_t align)
{
    (void)a;
    (void)size;
    (void)align;
    uintptr_t *m = (uintptr_t *)ptr;
    /* Two equal words are never a mark; written, not copied, so that the
     * next cache reads defined memory (valgrind) even on a fresh block. */
    m[0] = 0;
    m[1] = 0;
}

/* ---- walker, statistics ---- */

void ak_tlsf_walk(const ak_tlsf *a, ak_walker fn, void *ctx)
{
    for (const ak_region *r = ak_region_first(&a->regions_); r; r = r->next) {
        for (uintptr_t b = r->lo; b < r->hi;) {
            uint64_t w = hdr_get(b);
            size_t bs = hdr_size(w);
            if (bs < MIN_BLOCK || bs > r->hi - b)
                break; /* corrupt: ak_tlsf_check says where */
            fn(b, bs - HDR, !(w & F_FREE), ctx);
            b += bs;
        }
    }
}

typedef struct stats_sum {
    size_t used_blocks, free_blocks, free_bytes, largest;
} stats_sum;

static void stats_add(uintptr_t start, size_t size, bool used, void *ctx)
{
    (void)start;
    stats_sum *s = (stats_sum *)ctx;
    if (used) {
        s->used_blocks++;
        return;
    }
    s->free_blocks++;
    s->free_bytes += size;
    if (size > s->largest)
        s->largest = size;
}

void ak_tlsf_stats(const ak_tlsf *a, struct ak_byte_stats *out)
{
    stats_sum s = {0, 0, 0, 0};
    ak_tlsf_walk(a, stats_add, &s);
    out->total_bytes = a->total_bytes_;
    out->used_bytes = a->used_bytes_;
    out->free_bytes = s.free_bytes;
    out->largest_free = s.largest;
    out->used_blocks = s.used_blocks;
    out->free_blocks = s.free_blocks;
    out->region_count = a->regions_.count;
    out->failed_allocs = a->failed_;
}

/* ---- the invariant checker ---- */

/* Walk one region's blocks, checking each; adds to the running sums. */
static const char *check_region(const ak_tlsf *a, const ak_region *r, size_t *used_bytes,
                                size_t *free_blocks)
{
    uintptr_t rec = (uintptr_t)r;
    if (rec < r->start || r->lo < rec + sizeof(ak_region) + HDR || (r->lo & (ALIGN - 1)) != 0 ||
        (r->hi & (ALIGN - 1)) != 0 || r->hi - r->lo < MIN_BLOCK || r->hi - r->lo > MAX_BLOCK ||
        r->hi > r->end)
        return "region record inconsistent with its bounds";
    uintptr_t b = r->lo, prev = 0;
    bool prev_free = false;
    while (b < r->hi) {
        uint64_t w = hdr_get(b);
        if ((w & TAG_MASK) != tag_of(a, b))
            return "block header tag wrong";
        size_t bs = hdr_size(w);
        if (bs < MIN_BLOCK || bs > r->hi - b)
            return "block size out of range";
        if ((bs & (ALIGN - 1)) != 0)
            return "block size not a multiple of the granule";
        if (((w & F_PREV_FREE) != 0) != prev_free)
            return "prev-free bit disagrees with the previous block";
        if (prev_free && *link_prev_phys(b) != prev)
            return "prev-physical link wrong";
        if (w & F_FREE) {
            if (prev_free)
                return "two adjacent free blocks";
            ++*free_blocks;
        } else {
            *used_bytes += bs - HDR;
        }
        prev_free = (w & F_FREE) != 0;
        prev = b;
        b += bs;
    }
    uint64_t s = hdr_get(r->hi);
    if ((s & ~F_PREV_FREE) != tag_of(a, r->hi))
        return "sentinel header wrong";
    if (((s & F_PREV_FREE) != 0) != prev_free || (prev_free && *link_prev_phys(r->hi) != prev))
        return "sentinel prev-free bit or link wrong";
    return (const char *)0;
}

/* Every list: its blocks free, in a region, in the right class, each
 * back link pointing at the word that points at the block; the bitmaps
 * agree. *listed counts them, stopping past
 * `limit` (the free blocks the walk found) so a cycle cannot loop. */
static const char *check_lists(const ak_tlsf *a, size_t limit, size_t *listed)
{
    if ((a->fl_bitmap_ >> FL_COUNT) != 0 || a->sl_bitmap_[FL_COUNT] != 0)
        return "bitmap bits beyond the last level";
    if (a->heads_[LIST_COUNT] != 0)
        return "list head beyond the last list";
    for (unsigned i = 0; i < LIST_COUNT; i++) {
        unsigned fl = i / SL_COUNT, sl = i % SL_COUNT;
        if (sl == 0 && ((a->fl_bitmap_ >> fl) & 1) != (a->sl_bitmap_[fl] != 0))
            return "first-level bitmap disagrees with the second-level bitmap";
        uintptr_t b = a->heads_[i];
        if (((a->sl_bitmap_[fl] >> sl) & 1) != (b != 0))
            return "second-level bitmap disagrees with its list";
        uintptr_t back = (uintptr_t)&a->heads_[i]; /* the word that points at b */
        for (; b; back = (uintptr_t)link_next_free(b), b = *link_next_free(b)) {
            if (++*listed > limit)
                return "more blocks on the lists than free blocks (or a cycle)";
            const ak_region *r = ak_region_search(&a->regions_, b);
            if (!r || (b & (ALIGN - 1)) != 0 || r->hi - b < MIN_BLOCK)
                return "listed block outside every region";
            uint64_t w = hdr_get(b);
            if ((w & (TAG_MASK | F_FREE)) != (tag_of(a, b) | F_FREE))
                return "listed block is not a free block";
            if (mapping_insert(hdr_size(w)) != i)
                return "free block on the wrong list";
            if (*link_back(b) != back)
                return "free-list back link wrong";
        }
    }
    return (const char *)0;
}

const char *ak_tlsf_check(const ak_tlsf *a)
{
    const char *why = ak_region_check(&a->regions_);
    if (why)
        return why;
    size_t used_bytes = 0, free_blocks = 0, total = 0;
    const ak_region *big = (const ak_region *)a->largest_region_;
    for (const ak_region *r = ak_region_first(&a->regions_); r; r = r->next) {
        why = check_region(a, r, &used_bytes, &free_blocks);
        if (why)
            return why;
        total += r->hi - r->lo - HDR;
        if (!big || r->hi - r->lo > big->hi - big->lo)
            return "largest-region pointer is not a largest region";
    }
    if (big && ak_region_search(&a->regions_, big->lo) != big)
        return "largest-region pointer is not a region";
    if (!big != (a->regions_.count == 0))
        return "largest-region pointer without regions, or none with them";
    size_t listed = 0;
    why = check_lists(a, free_blocks, &listed);
    if (why)
        return why;
    if (listed != free_blocks)
        return "free block missing from the lists";
    if (used_bytes != a->used_bytes_)
        return "used_bytes is not the usable sizes of the used blocks";
    if (total != a->total_bytes_)
        return "total_bytes wrong";
    return (const char *)0;
}

/* ---- the byte-allocator interface ---- */

AK_DEFINE_BYTE_ALLOCATOR_FULL(ak_tlsf, "tlsf")
