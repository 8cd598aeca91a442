/* The walker and the statistics of a byte allocator checked against each
 * other and against the live blocks a test knows of: every block once, in
 * address order within its region, none overlapping another; every live
 * block once, as a used block at its pointer with its usable size; the
 * used and free blocks' counts and sizes, and the largest free block,
 * equal to what the stats say. Shared by the allocators' own tests and
 * the conformance suite. Hosted (qsort, malloc). */
#ifndef AK_WALK_CHECK_H
#define AK_WALK_CHECK_H

#include <allockit/core.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct wc_block {
    uintptr_t start;
    size_t size;
    bool used;
} wc_block;

/* What a walk reported, in the order it came. */
typedef struct wc_walk {
    wc_block *v;
    size_t n, cap;
    bool out_of_memory;
} wc_walk;

static inline void wc_collect(uintptr_t start, size_t size, bool used, void *ctx)
{
    wc_walk *w = (wc_walk *)ctx;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 1024;
        wc_block *v = (wc_block *)realloc(w->v, cap * sizeof *v);
        if (!v) {
            w->out_of_memory = true;
            return;
        }
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n].start = start;
    w->v[w->n].size = size;
    w->v[w->n].used = used;
    w->n++;
}

static inline void wc_reset(wc_walk *w)
{
    w->n = 0;
    w->out_of_memory = false;
}

static inline void wc_free(wc_walk *w)
{
    free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

/* True if two walks reported the same blocks in the same order. */
static inline bool wc_equal(const wc_walk *x, const wc_walk *y)
{
    if (x->out_of_memory || y->out_of_memory || x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].start != y->v[i].start || x->v[i].size != y->v[i].size ||
            x->v[i].used != y->v[i].used)
            return false;
    return true;
}

static inline int wc_by_start(const void *x, const void *y)
{
    uintptr_t a = ((const wc_block *)x)->start, b = ((const wc_block *)y)->start;
    return a < b ? -1 : a > b;
}

/* Whether the used blocks of a walk are exactly the live ones (every
 * allocator), or may include more (a cache layer, whose walk is its
 * backend's and shows the blocks it holds as used). */
enum { WC_EXACT = 0, WC_LAYER = 1 };

/* NULL if the walk w, the stats st and the live blocks (live[i].start, of
 * usable size live[i].size; `used` ignored) agree, else what does not.
 * `live` is sorted in place. Where the blocks lie: wc_check_regions. */
static inline const char *wc_check(const wc_walk *w, const struct ak_byte_stats *st, wc_block *live,
                                   size_t nlive, int mode)
{
    if (w->out_of_memory)
        return "walk_check: out of host memory";
    size_t used_n = 0, free_n = 0, used_sum = 0, free_sum = 0, largest = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wc_block *b = &w->v[i];
        if (b->size == 0)
            return "walk: a block of size 0";
        if (b->start + b->size < b->start)
            return "walk: a block wraps around the address space";
        if (b->used) {
            used_n++;
            used_sum += b->size;
        } else {
            free_n++;
            free_sum += b->size;
            if (b->size > largest)
                largest = b->size;
        }
    }
    if (free_n != st->free_blocks)
        return "stats: free_blocks is not the walk's count of free blocks";
    if (free_sum != st->free_bytes)
        return "stats: free_bytes is not the walk's free blocks' sizes summed";
    if (largest != st->largest_free)
        return "stats: largest_free is not the walk's largest free block";
    if (mode == WC_EXACT) {
        if (used_n != st->used_blocks)
            return "stats: used_blocks is not the walk's count of used blocks";
        if (used_sum != st->used_bytes)
            return "stats: used_bytes is not the walk's used blocks' sizes summed";
    } else if (used_n < st->used_blocks || used_sum < st->used_bytes) {
        return "stats: more used blocks or bytes than the walk shows";
    }
    if (st->used_bytes > st->total_bytes || st->free_bytes > st->total_bytes - st->used_bytes)
        return "stats: used and free bytes exceed total_bytes";

    /* Sorted by address: no two blocks overlap, and the live blocks are
     * the used ones. */
    wc_block *s = (wc_block *)malloc((w->n ? w->n : 1) * sizeof *s);
    if (!s)
        return "walk_check: out of host memory";
    for (size_t i = 0; i < w->n; i++)
        s[i] = w->v[i];
    qsort(s, w->n, sizeof *s, wc_by_start);
    qsort(live, nlive, sizeof *live, wc_by_start);
    const char *why = NULL;
    for (size_t i = 1; i < w->n && !why; i++)
        if (s[i - 1].start + s[i - 1].size > s[i].start)
            why = "walk: two blocks overlap, or one is reported twice";
    size_t j = 0;
    for (size_t i = 0; i < nlive && !why; i++) {
        while (j < w->n && s[j].start < live[i].start)
            j++;
        if (j == w->n || s[j].start != live[i].start || !s[j].used)
            why = "walk: a live block is missing, or reported free";
        else if (s[j].size != live[i].size && (mode == WC_EXACT || s[j].size < live[i].size))
            why = "walk: a live block's size is not its usable size";
    }
    if (!why && mode == WC_EXACT && nlive != used_n)
        why = "walk: a used block that is not live";
    free(s);
    if (why)
        return why;
    return NULL;
}

/* NULL if every block of the walk lies inside one of the n regions
 * (regions[i].start, .size: the memory, IDs or pages handed to
 * init/add_memory, in the walk's units of address), the blocks of a
 * region come together and in rising address order, and no region is
 * walked twice; else what is wrong. */
static inline const char *wc_check_regions(const wc_walk *w, const wc_block *regions, size_t n)
{
    size_t cur = n; /* the region of the block before */
    bool *done = (bool *)calloc(n ? n : 1, sizeof *done);
    if (!done)
        return "walk_check: out of host memory";
    const char *why = NULL;
    for (size_t i = 0; i < w->n && !why; i++) {
        const wc_block *b = &w->v[i];
        size_t r = 0;
        while (r < n &&
               !(b->start >= regions[r].start && b->start - regions[r].start < regions[r].size &&
                 b->size <= regions[r].size - (b->start - regions[r].start)))
            r++;
        if (r == n)
            why = "walk: a block outside every region";
        else if (r != cur && done[r])
            why = "walk: a region's blocks are not together";
        else if (r == cur && b->start <= w->v[i - 1].start)
            why = "walk: blocks out of address order within a region";
        if (!why && r != cur) {
            done[r] = true;
            cur = r;
        }
    }
    free(done);
    return why;
}

/* What the runs of a page or ID walk add up to. */
typedef struct wc_runs {
    size_t used_runs, free_runs, largest_free, used_units, free_units;
} wc_runs;

/* A page or ID walk against a model of `span` units, unit i at address
 * first + i * unit, managed[i] if some region holds it, taken[i] if it is
 * allocated (regions in the model never touch). NULL if the walk is
 * exactly the maximal runs of managed units in one state, in address
 * order, else what differs; *out gets the model's figures. */
static inline const char *wc_check_runs(const wc_walk *w, const unsigned char *managed,
                                        const unsigned char *taken, size_t span, uintptr_t first,
                                        size_t unit, wc_runs *out)
{
    out->used_runs = out->free_runs = out->largest_free = out->used_units = out->free_units = 0;
    if (w->out_of_memory)
        return "walk_check: out of host memory";
    size_t k = 0;
    for (size_t i = 0; i < span;) {
        if (!managed[i]) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < span && managed[j] && !taken[j] == !taken[i])
            j++;
        if (k == w->n)
            return "walk: a run of the model is missing";
        const wc_block *b = &w->v[k++];
        if (b->start != first + i * unit || b->size != j - i || b->used != !!taken[i])
            return "walk: a run differs from the model's";
        if (taken[i]) {
            out->used_runs++;
            out->used_units += j - i;
        } else {
            out->free_runs++;
            out->free_units += j - i;
            if (j - i > out->largest_free)
                out->largest_free = j - i;
        }
        i = j;
    }
    return k == w->n ? NULL : "walk: a run the model does not have";
}

#endif /* AK_WALK_CHECK_H */
