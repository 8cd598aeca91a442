/* Hierarchical bitmap: free-unit search and run search over a fixed,
 * caller-owned array, plus the managed-range records of the page and ID
 * allocators. See hbitmap.h for the layout and the bounds:
 *   next free / next in-use: O(levels); set n units: O(n/64 + levels);
 *   run search: O(levels) for one unit, worst case O(nbits/64) words.
 * Invariants (ak_hb_check): any[l] and full[l] bits equal their definition
 * from level l-1, and every bit past the end is 0.
 */
#include "hbitmap.h"

#define ONES (~(uint64_t)0)

/* ---- small word helpers ---- */

/* Set bits [lo, hi) of the bit array a to v. O((hi-lo)/64 + 1). */
static void bits_fill(uint64_t *a, size_t lo, size_t hi, bool v)
{
    if (lo >= hi)
        return;
    size_t wl = lo >> 6, wh = (hi - 1) >> 6;
    uint64_t ml = ONES << (lo & 63);
    uint64_t mh = ONES >> (63 - ((hi - 1) & 63));
    if (wl == wh) {
        ml &= mh;
        a[wl] = v ? (a[wl] | ml) : (a[wl] & ~ml);
        return;
    }
    a[wl] = v ? (a[wl] | ml) : (a[wl] & ~ml);
    for (size_t i = wl + 1; i < wh; i++)
        a[i] = v ? ONES : 0;
    a[wh] = v ? (a[wh] | mh) : (a[wh] & ~mh);
}

static inline void bit_put(uint64_t *a, size_t i, bool v)
{
    uint64_t m = (uint64_t)1 << (i & 63);
    a[i >> 6] = v ? (a[i >> 6] | m) : (a[i >> 6] & ~m);
}

/* Bits strictly above position b (0..63). */
static inline uint64_t mask_above(size_t b)
{
    return b >= 63 ? 0 : ONES << (b + 1);
}

void ak_hb_clear(const ak_hb_geom *g, uint64_t *w)
{
    size_t total = g->words[0];
    for (size_t l = 1; l < g->levels; l++)
        total += 2 * g->words[l];
    for (size_t i = 0; i < total; i++)
        w[i] = 0;
}

/* ---- searching for one unit ---- */

/* Lowest free unit overall: one find-first-set per level, top down. */
static size_t first_free(const ak_hb_geom *g, const uint64_t *w)
{
    size_t idx = 0;
    for (size_t l = g->levels - 1; l > 0; l--) {
        uint64_t m = w[g->any[l] + idx];
        if (!m)
            return AK_HB_NONE; /* only the top word can be empty here */
        idx = (idx << 6) + ak_ffs64(m);
    }
    uint64_t m = w[idx];
    return m ? (idx << 6) + ak_ffs64(m) : AK_HB_NONE;
}

size_t ak_hb_next_free(const ak_hb_geom *g, const uint64_t *w, size_t from)
{
    if (from >= g->nbits)
        return AK_HB_NONE;
    if (from == 0)
        return first_free(g, w);
    size_t idx = from >> 6;
    uint64_t m = w[idx] & (ONES << (from & 63));
    if (m)
        return (idx << 6) + ak_ffs64(m);
    /* Climb until a later block with a free unit shows up in any[l]. */
    size_t l;
    for (l = 1; l < g->levels; l++) {
        size_t wi = idx >> 6;
        m = w[g->any[l] + wi] & mask_above(idx & 63);
        if (m) {
            idx = (wi << 6) + ak_ffs64(m);
            break;
        }
        idx = wi;
    }
    if (l == g->levels)
        return AK_HB_NONE;
    /* idx is a word of level l-1 with a set bit: descend. */
    for (size_t k = l - 1; k > 0; k--)
        idx = (idx << 6) + ak_ffs64(w[g->any[k] + idx]);
    return (idx << 6) + ak_ffs64(w[idx]);
}

size_t ak_hb_next_used(const ak_hb_geom *g, const uint64_t *w, size_t from)
{
    const size_t n = g->nbits;
    if (from >= n)
        return n;
    size_t idx = from >> 6;
    uint64_t m = ~w[idx] & (ONES << (from & 63));
    size_t r;
    if (m) {
        r = (idx << 6) + ak_ffs64(m);
        return r < n ? r : n;
    }
    /* Climb until a later block that is not entirely free shows in full[l]. */
    size_t l;
    for (l = 1; l < g->levels; l++) {
        size_t wi = idx >> 6;
        m = ~w[g->full[l] + wi] & mask_above(idx & 63);
        if (m) {
            idx = (wi << 6) + ak_ffs64(m);
            break;
        }
        idx = wi;
    }
    if (l == g->levels)
        return n;
    /* A "not full" bit may be padding past the last real word: then every
     * real unit from `from` on is free. */
    for (size_t k = l - 1; k > 0; k--) {
        if (idx >= g->words[k])
            return n;
        idx = (idx << 6) + ak_ffs64(~w[g->full[k] + idx]);
    }
    if (idx >= g->words[0])
        return n;
    r = (idx << 6) + ak_ffs64(~w[idx]);
    return r < n ? r : n;
}

/* ---- marking ---- */

/* One unit: climb only while a summary bit actually changes. */
static void free_one(const ak_hb_geom *g, uint64_t *w, size_t i)
{
    size_t idx = i >> 6;
    uint64_t old = w[idx], now = old | ((uint64_t)1 << (i & 63));
    w[idx] = now;
    bool set_any = old == 0, set_full = now == ONES;
    for (size_t l = 1; l < g->levels && (set_any || set_full); l++) {
        size_t wi = idx >> 6;
        uint64_t b = (uint64_t)1 << (idx & 63);
        if (set_any) {
            uint64_t *a = &w[g->any[l] + wi];
            set_any = *a == 0;
            *a |= b;
        }
        if (set_full) {
            uint64_t *f = &w[g->full[l] + wi];
            *f |= b;
            set_full = *f == ONES;
        }
        idx = wi;
    }
}

static void use_one(const ak_hb_geom *g, uint64_t *w, size_t i)
{
    size_t idx = i >> 6;
    uint64_t old = w[idx], now = old & ~((uint64_t)1 << (i & 63));
    w[idx] = now;
    bool clr_any = now == 0, clr_full = old == ONES;
    for (size_t l = 1; l < g->levels && (clr_any || clr_full); l++) {
        size_t wi = idx >> 6;
        uint64_t b = (uint64_t)1 << (idx & 63);
        if (clr_any) {
            uint64_t *a = &w[g->any[l] + wi];
            *a &= ~b;
            clr_any = *a == 0;
        }
        if (clr_full) {
            uint64_t *f = &w[g->full[l] + wi];
            clr_full = *f == ONES;
            *f &= ~b;
        }
        idx = wi;
    }
}

/* For a run, at each level the changed child words are [a, b]. Freeing:
 * each of them now has a free unit (any = 1), and the ones strictly inside
 * are entirely free (full = 1), only the two edges need a look. Using is
 * the mirror image. The "strictly inside is uniform" property carries up
 * a level, since an inside word at level l covers only inside bits. */
void ak_hb_set_free(const ak_hb_geom *g, uint64_t *w, size_t start, size_t n)
{
    if (n == 1) {
        free_one(g, w, start);
        return;
    }
    bits_fill(w, start, start + n, true);
    size_t a = start >> 6, b = (start + n - 1) >> 6;
    for (size_t l = 1; l < g->levels; l++) {
        uint64_t *any = w + g->any[l], *full = w + g->full[l];
        const uint64_t *child_full = w + g->full[l - 1];
        bits_fill(any, a, b + 1, true);
        if (b > a + 1)
            bits_fill(full, a + 1, b, true);
        bit_put(full, a, child_full[a] == ONES);
        if (b != a)
            bit_put(full, b, child_full[b] == ONES);
        a >>= 6;
        b >>= 6;
    }
}

void ak_hb_set_used(const ak_hb_geom *g, uint64_t *w, size_t start, size_t n)
{
    if (n == 1) {
        use_one(g, w, start);
        return;
    }
    bits_fill(w, start, start + n, false);
    size_t a = start >> 6, b = (start + n - 1) >> 6;
    for (size_t l = 1; l < g->levels; l++) {
        uint64_t *any = w + g->any[l], *full = w + g->full[l];
        const uint64_t *child_any = w + g->any[l - 1];
        bits_fill(full, a, b + 1, false);
        if (b > a + 1)
            bits_fill(any, a + 1, b, false);
        bit_put(any, a, child_any[a] != 0);
        if (b != a)
            bit_put(any, b, child_any[b] != 0);
        a >>= 6;
        b >>= 6;
    }
}

/* ---- run search ---- */

/* Bit p of the result is set iff bits p..p+n-1 of the 128-bit value
 * hi:lo are all set (1 <= n <= 63): a run-length test by doubling, so
 * runs that cross into the next word are found too. O(log n). */
static uint64_t runs_of(uint64_t lo, uint64_t hi, size_t n)
{
    size_t have = 1; /* bit p of hi:lo set iff `have` ones start at p */
    while (have * 2 <= n) {
        lo &= (lo >> have) | (hi << (64 - have));
        hi &= hi >> have;
        have *= 2;
    }
    if (have < n) {
        size_t s = n - have; /* 1 <= s < have: the two windows overlap */
        lo &= (lo >> s) | (hi << (64 - s));
    }
    return lo;
}

/* n < 64 and align < 64: every word with a free unit is tested in one go
 * for runs starting in it at an allowed phase. */
static size_t find_in_words(const ak_hb_geom *g, const uint64_t *w, size_t from, size_t n,
                            size_t align, size_t phase)
{
    /* Allowed start positions within a word: phase, phase+align, ...
     * (64 is a multiple of align, so every word has the same pattern). */
    uint64_t allowed = 1;
    for (size_t s = align; s < 64; s *= 2)
        allowed |= allowed << s;
    allowed <<= phase;
    const size_t last = g->words[0] - 1;
    size_t pos = from;
    for (;;) {
        size_t i = ak_hb_next_free(g, w, pos);
        if (i == AK_HB_NONE)
            return AK_HB_NONE;
        size_t k = i >> 6;
        uint64_t lo = w[k] & (ONES << (i & 63));
        uint64_t hi = k < last ? w[k + 1] : 0;
        uint64_t m = (n == 1 ? lo : runs_of(lo, hi, n)) & allowed;
        if (m)
            return (k << 6) + ak_ffs64(m); /* padding bits are 0: never past the end */
        if (k == last)
            return AK_HB_NONE;
        pos = (k + 1) << 6;
    }
}

/* n >= 64 or align >= 64: test candidate starts one at a time, choosing
 * only starts that can succeed. */
static size_t find_by_candidates(const ak_hb_geom *g, const uint64_t *w, size_t from, size_t n,
                                 size_t align, size_t phase)
{
    const size_t nbits = g->nbits;
    size_t pos = from;
    for (;;) {
        size_t s = ak_hb_next_free(g, w, pos);
        if (s == AK_HB_NONE)
            return AK_HB_NONE;
        if (n >= 64) {
            /* A run of 64 or more that starts in word k covers bit 63 of
             * it, so it starts in the word's free top part. */
            size_t k = s >> 6;
            uint64_t used = ~w[k];
            if (used) {
                size_t top = ak_fls64(used);
                if (top == 63) {
                    pos = (k + 1) << 6;
                    continue;
                }
                size_t first = (k << 6) + top + 1;
                if (s < first)
                    s = first;
            }
        }
        size_t delta = (phase - s) & (align - 1);
        if (delta >= nbits - s)
            return AK_HB_NONE;
        size_t c = s + delta;
        if (n > nbits - c)
            return AK_HB_NONE;
        size_t j = ak_hb_next_used(g, w, c);
        if (j - c >= n)
            return c;
        pos = j + 1; /* j < c + n <= nbits */
    }
}

size_t ak_hb_find(const ak_hb_geom *g, const uint64_t *w, size_t from, size_t n, size_t align,
                  size_t phase)
{
    if (n == 0 || n > g->nbits || from >= g->nbits)
        return AK_HB_NONE;
    if (n == 1 && align == 1)
        return ak_hb_next_free(g, w, from);
    if (n < 64 && align < 64)
        return find_in_words(g, w, from, n, align, phase);
    return find_by_candidates(g, w, from, n, align, phase);
}

/* ---- whole-bitmap operations ---- */

/* Recompute every summary word from level 0 up. O(storage words). */
static void rebuild(const ak_hb_geom *g, uint64_t *w)
{
    for (size_t l = 1; l < g->levels; l++) {
        const uint64_t *ca = w + g->any[l - 1], *cf = w + g->full[l - 1];
        size_t children = g->words[l - 1];
        for (size_t i = 0; i < g->words[l]; i++) {
            uint64_t a = 0, f = 0;
            for (size_t j = 0; j < 64 && (i << 6) + j < children; j++) {
                a |= (uint64_t)(ca[(i << 6) + j] != 0) << j;
                f |= (uint64_t)(cf[(i << 6) + j] == ONES) << j;
            }
            w[g->any[l] + i] = a;
            w[g->full[l] + i] = f;
        }
    }
}

void ak_hb_shift_up(const ak_hb_geom *g, uint64_t *w, size_t k)
{
    if (k == 0)
        return;
    const size_t q = k >> 6, r = k & 63, nw = g->words[0];
    for (size_t d = nw; d-- > 0;) {
        uint64_t v = 0;
        if (d >= q) {
            v = w[d - q] << r;
            if (r && d > q)
                v |= w[d - q - 1] >> (64 - r);
        }
        w[d] = v;
    }
    rebuild(g, w);
}

size_t ak_hb_count_free(const uint64_t *w, size_t start, size_t n)
{
    size_t count = 0;
    while (n) {
        size_t off = start & 63;
        size_t take = 64 - off < n ? 64 - off : n;
        uint64_t m = take == 64 ? ONES : (((uint64_t)1 << take) - 1) << off;
        count += ak_popcount64(w[start >> 6] & m);
        start += take;
        n -= take;
    }
    return count;
}

const char *ak_hb_check(const ak_hb_geom *g, const uint64_t *w)
{
    if (g->nbits & 63) {
        if (w[g->words[0] - 1] >> (g->nbits & 63))
            return "hbitmap: a unit past the end is marked free";
    }
    for (size_t l = 1; l < g->levels; l++) {
        const uint64_t *ca = w + g->any[l - 1], *cf = w + g->full[l - 1];
        size_t children = g->words[l - 1];
        for (size_t i = 0; i < g->words[l]; i++) {
            uint64_t a = 0, f = 0;
            for (size_t j = 0; j < 64 && (i << 6) + j < children; j++) {
                a |= (uint64_t)(ca[(i << 6) + j] != 0) << j;
                f |= (uint64_t)(cf[(i << 6) + j] == ONES) << j;
            }
            if (w[g->any[l] + i] != a)
                return "hbitmap: a has-free summary bit disagrees with the level below";
            if (w[g->full[l] + i] != f)
                return "hbitmap: an all-free summary bit disagrees with the level below";
        }
    }
    return (const char *)0;
}

/* ---- managed-range records ---- */

ak_error ak_hb_ranges_plan(const uintptr_t *r, size_t n, size_t max, uintptr_t start, size_t size,
                           unsigned shift, size_t cap, ak_hb_add_plan *plan)
{
    uintptr_t end;
    if (!ak_range_end(start, size, &end))
        return AK_ERR_INVALID_PARAM;
    /* pos: the first record that starts after `start`. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[2 * mid] <= start)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t pos = lo;
    bool prev = pos > 0, next = pos < n;
    if ((prev && r[2 * pos - 1] > start) || (next && r[2 * pos] < end))
        return AK_ERR_MEMORY_OVERLAP;
    plan->merge_prev = prev && r[2 * pos - 1] == start;
    plan->merge_next = next && r[2 * pos] == end;
    plan->start = plan->merge_prev ? r[2 * pos - 2] : start;
    plan->end = plan->merge_next ? r[2 * pos + 1] : end;
    plan->pos = plan->merge_prev ? pos - 1 : pos;
    /* New units: those of the merged record minus those its parts had. */
    uintptr_t nf = plan->merge_prev ? ak_hb_unit_end(r[2 * pos - 1], shift)
                                    : ak_hb_unit_first(plan->start, shift);
    uintptr_t ne =
        plan->merge_next ? ak_hb_unit_first(r[2 * pos], shift) : ak_hb_unit_end(plan->end, shift);
    if (ne <= nf)
        return AK_ERR_INVALID_PARAM;
    plan->new_first = nf;
    plan->new_end = ne;
    /* The window: lowest managed unit to highest, at most cap units. */
    uintptr_t lowest = ak_hb_unit_first(plan->start, shift);
    uintptr_t highest = ak_hb_unit_end(plan->end, shift);
    if (n > 0) {
        uintptr_t l0 = ak_hb_unit_first(r[0], shift);
        uintptr_t h0 = ak_hb_unit_end(r[2 * n - 1], shift);
        if (l0 < lowest)
            lowest = l0;
        if (h0 > highest)
            highest = h0;
    }
    if (highest - lowest > cap)
        return AK_ERR_INVALID_PARAM;
    plan->lowest = lowest;
    if (!plan->merge_prev && !plan->merge_next && n >= max)
        return AK_ERR_NO_MEMORY;
    return AK_OK;
}

void ak_hb_ranges_commit(uintptr_t *r, size_t *n, const ak_hb_add_plan *plan)
{
    size_t pos = plan->pos;
    if (plan->merge_prev && plan->merge_next) {
        /* Records pos and pos+1 become one. */
        for (size_t i = pos + 1; i + 1 < *n; i++) {
            r[2 * i] = r[2 * i + 2];
            r[2 * i + 1] = r[2 * i + 3];
        }
        (*n)--;
    } else if (!plan->merge_prev && !plan->merge_next) {
        for (size_t i = *n; i > pos; i--) {
            r[2 * i] = r[2 * i - 2];
            r[2 * i + 1] = r[2 * i - 1];
        }
        (*n)++;
    }
    r[2 * pos] = plan->start;
    r[2 * pos + 1] = plan->end;
}

size_t ak_hb_ranges_find(const uintptr_t *r, size_t n, uintptr_t unit, size_t count, unsigned shift)
{
    /* The last record whose first unit is <= unit. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ak_hb_unit_first(r[2 * mid], shift) <= unit)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return n;
    size_t i = lo - 1;
    uintptr_t end = ak_hb_unit_end(r[2 * i + 1], shift);
    if (unit >= end || count > end - unit)
        return n;
    return i;
}

const char *ak_hb_ranges_check(const uintptr_t *r, size_t n, size_t max, unsigned shift,
                               uintptr_t lowest, size_t cap, size_t total, const ak_hb_geom *g,
                               const uint64_t *w)
{
    if (n > max)
        return "ranges: more records than room";
    if (n == 0) {
        if (total != 0)
            return "ranges: no record but a non-zero total";
        if (ak_hb_next_free(g, w, 0) != AK_HB_NONE)
            return "ranges: a free unit with no managed range";
        return (const char *)0;
    }
    if (ak_hb_unit_first(r[0], shift) != lowest)
        return "ranges: the base is not the first managed unit";
    size_t sum = 0;
    uintptr_t prev_unit_end = lowest; /* units below lowest do not exist */
    for (size_t i = 0; i < n; i++) {
        uintptr_t s = r[2 * i], e = r[2 * i + 1];
        if (e <= s)
            return "ranges: an empty or inverted record";
        if (i > 0 && r[2 * i - 1] >= s)
            return "ranges: records unsorted, overlapping or adjacent";
        uintptr_t uf = ak_hb_unit_first(s, shift), ue = ak_hb_unit_end(e, shift);
        if (ue <= uf)
            return "ranges: a record that holds no whole unit";
        if (ue - lowest > cap)
            return "ranges: a record outside the capacity window";
        /* The gap before this record must hold no free unit. */
        size_t gap0 = (size_t)(prev_unit_end - lowest), gap1 = (size_t)(uf - lowest);
        if (gap1 > gap0) {
            size_t f = ak_hb_next_free(g, w, gap0);
            if (f != AK_HB_NONE && f < gap1)
                return "ranges: a unit outside every range is marked free";
        }
        sum += (size_t)(ue - uf);
        prev_unit_end = ue;
    }
    if (ak_hb_next_free(g, w, (size_t)(prev_unit_end - lowest)) != AK_HB_NONE)
        return "ranges: a unit past the last range is marked free";
    if (sum != total)
        return "ranges: the total does not match the records";
    return (const char *)0;
}
