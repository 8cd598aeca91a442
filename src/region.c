/* The region index: an AVL tree of region records by address, with a
 * one-entry hint (see ak_region.h). Insertion is recursive to the tree's
 * height, at most 1.44 log2(regions + 2): about 90 levels for 2^64 bytes
 * of 16-byte regions, so the stack stays small. Freestanding. */
#include "ak_region.h"

static inline size_t height_of(const ak_region *t)
{
    return t ? t->height : 0;
}

static void fix_height(ak_region *t)
{
    size_t l = height_of(t->left), r = height_of(t->right);
    t->height = (l > r ? l : r) + 1;
}

static ak_region *rotate_right(ak_region *t)
{
    ak_region *l = t->left;
    t->left = l->right;
    l->right = t;
    fix_height(t);
    fix_height(l);
    return l;
}

static ak_region *rotate_left(ak_region *t)
{
    ak_region *r = t->right;
    t->right = r->left;
    r->left = t;
    fix_height(t);
    fix_height(r);
    return r;
}

/* Restore |height(left) - height(right)| <= 1 at t after one insertion
 * below it; returns the subtree's new root. */
static ak_region *balance(ak_region *t)
{
    fix_height(t);
    size_t l = height_of(t->left), r = height_of(t->right);
    if (l > r + 1) {
        if (height_of(t->left->left) < height_of(t->left->right))
            t->left = rotate_left(t->left);
        return rotate_right(t);
    }
    if (r > l + 1) {
        if (height_of(t->right->right) < height_of(t->right->left))
            t->right = rotate_right(t->right);
        return rotate_left(t);
    }
    return t;
}

static ak_region *insert(ak_region *t, ak_region *n)
{
    if (!t)
        return n;
    if (n->start < t->start)
        t->left = insert(t->left, n);
    else
        t->right = insert(t->right, n);
    return balance(t);
}

bool ak_region_overlaps(const ak_region_index *ix, uintptr_t start, uintptr_t end)
{
    /* The records' ranges are disjoint and ordered, so at most one path
     * can meet [start, end). */
    const ak_region *t = (const ak_region *)ix->root;
    while (t) {
        if (t->end <= start)
            t = t->right;
        else if (t->start >= end)
            t = t->left;
        else
            return true;
    }
    return false;
}

void ak_region_insert(ak_region_index *ix, ak_region *r)
{
    r->left = r->right = (ak_region *)0;
    r->height = 1;
    r->next = (ak_region *)ix->list;
    ix->list = r;
    ix->root = insert((ak_region *)ix->root, r);
    ix->count++;
    ak_region_remember(ix, r);
}

ak_region *ak_region_search(const ak_region_index *ix, uintptr_t p)
{
    ak_region *t = (ak_region *)ix->root;
    while (t) {
        if (p < t->start)
            t = t->left;
        else if (p >= t->end)
            t = t->right;
        else
            return p - t->lo < t->hi - t->lo ? t : (ak_region *)0;
    }
    return (ak_region *)0;
}

/* Check the subtree at t: ordered within (lo_bound, hi_bound), heights
 * right and balanced; counts its nodes into *n (stopping past limit, so a
 * cycle cannot loop forever). */
static const char *check_tree(const ak_region *t, uintptr_t lo_bound, bool has_lo,
                              uintptr_t hi_bound, bool has_hi, size_t *n, size_t limit,
                              size_t depth)
{
    if (!t)
        return (const char *)0;
    if (++*n > limit || depth > 2 * AK_SIZE_BITS)
        return "region tree has more nodes than regions (or a cycle)";
    if ((has_lo && t->start < lo_bound) || (has_hi && t->end > hi_bound))
        return "region tree out of order or regions overlap";
    const char *why = check_tree(t->left, lo_bound, has_lo, t->start, true, n, limit, depth + 1);
    if (why)
        return why;
    why = check_tree(t->right, t->end, true, hi_bound, has_hi, n, limit, depth + 1);
    if (why)
        return why;
    size_t l = height_of(t->left), r = height_of(t->right);
    if (t->height != (l > r ? l : r) + 1)
        return "region tree height wrong";
    if (l > r + 1 || r > l + 1)
        return "region tree not balanced";
    return (const char *)0;
}

const char *ak_region_check(const ak_region_index *ix)
{
    size_t listed = 0;
    for (const ak_region *r = (const ak_region *)ix->list; r; r = r->next) {
        if (++listed > ix->count)
            return "region list longer than the region count";
        if (!(r->start <= r->lo && r->lo < r->hi && r->hi <= r->end) || r->end < r->start)
            return "region bounds inconsistent";
        if (ak_region_search(ix, r->lo) != r || ak_region_search(ix, r->hi - 1) != r)
            return "listed region not found in the tree";
    }
    if (listed != ix->count)
        return "region count wrong";
    size_t n = 0;
    const char *why = check_tree((const ak_region *)ix->root, 0, false, 0, false, &n, ix->count, 0);
    if (why)
        return why;
    if (n != ix->count)
        return "region tree and list differ";
    if (ix->last) {
        const ak_region *h = (const ak_region *)ix->last;
        if (ak_region_search(ix, h->lo) != h)
            return "region hint is not a region";
        if (ix->last_lo != h->lo || ix->last_span != h->hi - h->lo)
            return "region hint span wrong";
    } else if (ix->last_span != 0) {
        return "region hint span without a region";
    }
    return (const char *)0;
}
