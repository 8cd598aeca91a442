/* Hierarchical bitmap: free-unit search and run search over a fixed,
 * caller-owned array, plus the managed-range records of the page and ID
 * allocators. See hbitmap.h for the layout and the bounds:
 *   next free / next in-use: O(levels); set n units: O(n/64 + levels);
 *   run search: O(levels) for one unit; otherwise a walk over the run
 *   class bits (one word per 64 level-0 words) testing only words where a
 *   long enough run starts; worst case O(nbits/64) word tests;
 *   the run-by-run walk: O(1) per run that ends in its first word, else
 *   O(levels).
 * Invariants (ak_hb_check): any[l], full[l] and dirty[l] bits equal their
 * definition from level l-1; the run classes of every word that is not
 * pending (dirty) are right; every bit past the end is 0.
 */
#include "hbitmap.h"

#define ONES AK_HB_ONES

/* ---- small word helpers ---- */

/* Set bits [lo, hi) of the bit array a, whose words are `stride` words
 * apart, to v. O((hi-lo)/64 + 1). */
static void bits_fill_strided(uint64_t *a, size_t stride, size_t lo, size_t hi, bool v)
{
    if (lo >= hi)
        return;
    size_t wl = lo >> 6, wh = (hi - 1) >> 6;
    uint64_t ml = ONES << (lo & 63);
    uint64_t mh = ONES >> (63 - ((hi - 1) & 63));
    if (wl == wh)
        ml &= mh;
    a[wl * stride] = v ? (a[wl * stride] | ml) : (a[wl * stride] & ~ml);
    if (wl == wh)
        return;
    for (size_t i = wl + 1; i < wh; i++)
        a[i * stride] = v ? ONES : 0;
    a[wh * stride] = v ? (a[wh * stride] | mh) : (a[wh * stride] & ~mh);
}

static void bits_fill(uint64_t *a, size_t lo, size_t hi, bool v)
{
    bits_fill_strided(a, 1, lo, hi, v);
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

static size_t storage_words(const ak_hb_geom *g)
{
    size_t total = g->words[0];
    for (size_t l = 1; l < g->levels; l++)
        total += 3 * g->words[l];
    return total + (g->levels > 1 ? AK_HB_CLASS_ARRAYS * g->words[1] : 0);
}

/* dirty[l] for l >= 2: mark level-1 word k (whose dirty[1] word was
 * clear) upwards, until a word that already shows it. */
static void dirty_climb(const ak_hb_geom *g, uint64_t *w, size_t k)
{
    for (size_t l = 2; l < g->levels; l++) {
        uint64_t *d = &w[g->dirty[l] + (k >> 6)];
        uint64_t old = *d;
        *d = old | (uint64_t)1 << (k & 63);
        if (old)
            return;
        k >>= 6;
    }
}

void ak_hb_finish_free(const ak_hb_geom *g, uint64_t *w, size_t idx, unsigned left)
{
    if (left & AK_HB_LEFT_DIRTY)
        dirty_climb(g, w, idx >> 6);
    bool set_any = left & AK_HB_LEFT_ANY, set_full = left & AK_HB_LEFT_FULL;
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

void ak_hb_finish_use(const ak_hb_geom *g, uint64_t *w, size_t idx, unsigned left)
{
    if (left & AK_HB_LEFT_DIRTY)
        dirty_climb(g, w, idx >> 6);
    bool clr_any = left & AK_HB_LEFT_ANY, clr_full = left & AK_HB_LEFT_FULL;
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

void ak_hb_clear(const ak_hb_geom *g, uint64_t *w)
{
    size_t total = storage_words(g);
    for (size_t i = 0; i < total; i++)
        w[i] = 0;
}

/* ---- searching for one unit ---- */

size_t ak_hb_next_free(const ak_hb_geom *g, const uint64_t *w, size_t from)
{
    if (from >= g->nbits)
        return AK_HB_NONE;
    if (from == 0)
        return ak_hb_first_free(g, w);
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

/* ---- run classes ---- */

/* The class bits of a word lo followed by hi: bit c-1 (c = 1..6) set iff
 * a run of 2^c set bits starts in lo, continuing into hi if need be
 * (run-length doubling on 128 bits); bit 6+c (c = 0..5) set iff the lowest
 * 2^c bits of lo are set. */
static unsigned word_classes(uint64_t lo, uint64_t hi)
{
    if (lo == ONES)
        return (1u << AK_HB_CLASS_ARRAYS) - 1;
    if (lo == 0)
        return 0;
    /* lowest 2^c bits free for c <= fls(trailing ones), when any */
    unsigned m = 0, low_free = ak_ffs64(~lo);
    if (low_free)
        m = ((2u << (low_free >= 32 ? 5 : ak_fls32(low_free))) - 1) << 6;
    for (unsigned c = 1, h = 1; c <= AK_HB_CLASSES; c++, h *= 2) {
        lo &= (lo >> h) | (hi << (64 - h));
        hi &= hi >> h;
        if (!lo)
            break;
        m |= 1u << (c - 1);
    }
    return m;
}

/* Class array number i (cls[i+1] for i < 6, pfx[i-6] after). The arrays
 * are interleaved: the twelve words covering level-0 words 64j..64j+63
 * are adjacent, so updating one word's classes touches one place; array i
 * is read with a stride of AK_HB_CLASS_ARRAYS words. */
static inline uint64_t *class_array(const ak_hb_geom *g, uint64_t *w, unsigned i)
{
    return w + g->cls + i;
}

/* Bring the class bits of level-0 word k up to date. */
static void update_classes(const ak_hb_geom *g, uint64_t *w, size_t k)
{
    uint64_t hi = k + 1 < g->words[0] ? w[k + 1] : 0;
    unsigned m = word_classes(w[k], hi);
    uint64_t *cw = w + g->cls + (k >> 6) * AK_HB_CLASS_ARRAYS, b = (uint64_t)1 << (k & 63);
    for (unsigned i = 0; i < AK_HB_CLASS_ARRAYS; i++)
        cw[i] = ((m >> i) & 1u) ? (cw[i] | b) : (cw[i] & ~b);
}

/* Clear the dirty words under bit-word idx of dirty[l], updating the
 * classes of each dirty level-0 word and of the word before it. Words are
 * visited in increasing order; *done is the last word updated, so that
 * neighbours are not updated twice. */
static void clean_block(const ak_hb_geom *g, uint64_t *w, size_t l, size_t idx, size_t *done)
{
    uint64_t m = w[g->dirty[l] + idx];
    w[g->dirty[l] + idx] = 0;
    while (m) {
        size_t child = (idx << 6) + ak_ffs64(m);
        m &= m - 1;
        if (l > 1) {
            clean_block(g, w, l - 1, child, done);
        } else {
            /* The word before depends on this one only through a run
             * reaching its top bit. */
            if (child > 0 && *done != child - 1 && (w[child - 1] >> 63))
                update_classes(g, w, child - 1);
            update_classes(g, w, child);
            *done = child;
        }
    }
}

static void clean_dirty(const ak_hb_geom *g, uint64_t *w)
{
    size_t done = AK_HB_NONE;
    if (g->levels > 1 && w[g->dirty[g->levels - 1]] != 0)
        clean_block(g, w, g->levels - 1, 0, &done);
}

/* After a run [a..b] of level-0 words changed (inside ones entirely):
 * bring the classes of the edge words, and of the word before, up to date
 * now; the inside words' classes are set by the caller. */
static void update_edges(const ak_hb_geom *g, uint64_t *w, size_t a, size_t b)
{
    if (a > 0 && (w[a - 1] >> 63))
        update_classes(g, w, a - 1);
    update_classes(g, w, a);
    if (b != a)
        update_classes(g, w, b);
}

/* ---- marking runs ---- */

/* At each level the changed child words are [a, b]. Freeing: each of them
 * now has a free unit (any = 1), and the ones strictly inside are entirely
 * free (full = 1), only the two edges need a look. Using is the mirror
 * image. The "strictly inside is uniform" property carries up a level,
 * since an inside word at level l covers only inside bits. The run classes
 * of inside words are known (all or none) and set here, those of the edge
 * words computed. */
void ak_hb_set_free(const ak_hb_geom *g, uint64_t *w, size_t start, size_t n)
{
    size_t a = start >> 6, b = (start + n - 1) >> 6;
    if (a == b) { /* within one word: like a single unit */
        ak_hb_free_mask(g, w, a, (ONES >> (64 - n)) << (start & 63));
        return;
    }
    bits_fill(w, start, start + n, true);
    if (g->levels > 1) {
        for (unsigned i = 0; i < AK_HB_CLASS_ARRAYS && b > a + 1; i++)
            bits_fill_strided(class_array(g, w, i), AK_HB_CLASS_ARRAYS, a + 1, b, true);
        update_edges(g, w, a, b);
    }
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
    size_t a = start >> 6, b = (start + n - 1) >> 6;
    if (a == b) { /* within one word: like a single unit */
        ak_hb_use_mask(g, w, a, (ONES >> (64 - n)) << (start & 63));
        return;
    }
    bits_fill(w, start, start + n, false);
    if (g->levels > 1) {
        for (unsigned i = 0; i < AK_HB_CLASS_ARRAYS && b > a + 1; i++)
            bits_fill_strided(class_array(g, w, i), AK_HB_CLASS_ARRAYS, a + 1, b, false);
        update_edges(g, w, a, b);
    }
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

/* Start positions p = phase (mod align) within a word, align < 64 (64 is a
 * multiple of align, so every word has the same pattern). */
static uint64_t allowed_starts(size_t align, size_t phase)
{
    uint64_t allowed = 1;
    for (size_t s = align; s < 64; s *= 2)
        allowed |= allowed << s;
    return allowed << phase;
}

/* One-word bitmaps (nbits <= 64): test the word directly. */
static size_t find_one_word(const uint64_t *w, size_t nbits, size_t from, size_t n, size_t align,
                            size_t phase)
{
    uint64_t lo = w[0] & (ONES << from);
    for (size_t i = from + ((phase - from) & (align - 1)); i < nbits && n <= nbits - i;
         i += align) {
        uint64_t want = n == 64 ? ONES : (((uint64_t)1 << n) - 1) << i;
        if ((lo & want) == want)
            return i;
        if (align >= 64)
            break;
    }
    return AK_HB_NONE;
}

size_t ak_hb_find(const ak_hb_geom *g, uint64_t *w, size_t from, size_t n, size_t align,
                  size_t phase)
{
    const size_t nbits = g->nbits;
    if (n == 0 || n > nbits || from >= nbits)
        return AK_HB_NONE;
    if (n == 1 && align == 1)
        return ak_hb_next_free(g, w, from);
    if (g->levels == 1)
        return find_one_word(w, nbits, from, n, align, phase);

    const size_t nw = g->words[0], last = nw - 1, last_fw = (nw - 1) >> 6;
    /* align >= 64: one candidate per alignment step, at bit `off` of words
     * k = kq (mod stride). Otherwise every word may hold candidates. */
    const bool sparse = align >= 64;
    const size_t stride = sparse ? align >> 6 : 1;
    const size_t kq = sparse ? phase >> 6 : 0;
    const unsigned off = (unsigned)(phase & 63);
    const uint64_t allowed = sparse ? 0 : allowed_starts(align, phase);
    const uint64_t nmask = n >= 64 ? ONES : ((uint64_t)1 << n) - 1;
    /* The filter: words where a start is possible. c: the class of n. */
    const unsigned c = n >= 64 ? AK_HB_CLASSES : ak_fls_size(n);
    const uint64_t *filter;
    size_t fs = AK_HB_CLASS_ARRAYS; /* stride between the filter's words */
    if (sparse && off == 0)         /* starts at bit 0: the word's low bits must be free */
        filter = n >= 64 ? w + g->full[1] : class_array(g, w, 6 + c);
    else
        filter = c == 0 ? w + g->any[1] : class_array(g, w, c - 1);
    if (filter == w + g->full[1] || filter == w + g->any[1])
        fs = 1; /* these are always up to date */
    else
        clean_dirty(g, w);
    /* Within a filter word, the bits of the candidate words (stride <= 64
     * divides 64, so the pattern repeats in every filter word). */
    const uint64_t smask =
        sparse && stride <= 64 ? allowed_starts(stride, kq & (stride - 1)) : ONES;
    /* No candidate below the first free unit: jump there through any[]. */
    size_t low = ak_hb_next_free(g, w, from);
    if (low == AK_HB_NONE)
        return AK_HB_NONE;
    size_t k = low >> 6;
    for (;;) {
        if (sparse && stride > 64) {
            /* Far apart: round up to a candidate word, test its bit. */
            size_t d = (kq - k) & (stride - 1);
            if (d >= nw - k)
                return AK_HB_NONE;
            k += d;
            if (!((filter[(k >> 6) * fs] >> (k & 63)) & 1u)) {
                k++;
                continue;
            }
        } else {
            if (k >= nw)
                return AK_HB_NONE;
            size_t fw = k >> 6;
            uint64_t m = filter[fw * fs] & smask & (ONES << (k & 63));
            while (!m) {
                if (++fw > last_fw)
                    return AK_HB_NONE;
                m = filter[fw * fs] & smask;
            }
            k = (fw << 6) + ak_ffs64(m);
            if (k >= nw)
                return AK_HB_NONE;
        }
        /* Word k may hold a start: test it exactly. */
        uint64_t lo = w[k], hi = k < last ? w[k + 1] : 0;
        if (k == low >> 6)
            lo &= ONES << (low & 63);
        if (n < 64) {
            if (!sparse) {
                uint64_t m = (n == 1 ? lo : runs_of(lo, hi, n)) & allowed;
                if (m)
                    return (k << 6) + ak_ffs64(m); /* padding bits are 0: never past the end */
            } else {
                uint64_t bits = off ? (lo >> off) | (hi << (64 - off)) : lo;
                if ((bits & nmask) == nmask)
                    return (k << 6) + off;
            }
            k++;
            continue;
        }
        /* n >= 64: a run starting in word k covers its bit 63, so it starts
         * in the free top part of the word; check it to its end. */
        size_t s;
        if (sparse) {
            s = (k << 6) + off;
            if (s < low || !((lo >> off) & 1u)) {
                k++;
                continue;
            }
        } else {
            uint64_t used = ~lo;
            s = used ? (k << 6) + ak_fls64(used) + 1 : k << 6;
            if (s < low)
                s = low;
            size_t delta = (phase - s) & (align - 1);
            if (delta >= nbits - s)
                return AK_HB_NONE;
            s += delta;
        }
        if (s >= nbits || n > nbits - s)
            return AK_HB_NONE;
        size_t j = ak_hb_next_used(g, w, s);
        if (j - s >= n)
            return s;
        low = j + 1; /* j < s + n <= nbits */
        k = low >> 6;
    }
}

/* ---- whole-bitmap operations ---- */

/* Recompute every summary word and class from level 0, and clear dirty[].
 * O(storage words). */
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
            w[g->dirty[l] + i] = 0;
        }
    }
    if (g->levels > 1)
        for (size_t k = 0; k < g->words[0]; k++)
            update_classes(g, w, k);
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

size_t ak_hb_count_all_free(const ak_hb_geom *g, const uint64_t *w)
{
    if (g->levels == 1)
        return ak_popcount64(w[0]);
    size_t count = 0;
    for (size_t j = 0; j < g->words[1]; j++)
        for (uint64_t m = w[g->any[1] + j]; m; m &= m - 1)
            count += ak_popcount64(w[(j << 6) + ak_ffs64(m)]);
    return count;
}

size_t ak_hb_run_end(const ak_hb_geom *g, const uint64_t *w, size_t i, size_t end)
{
    /* next_free gives AK_HB_NONE and next_used nbits past the last unit:
     * both are at least end. */
    size_t e = ak_hb_is_free(w, i) ? ak_hb_next_used(g, w, i) : ak_hb_next_free(g, w, i);
    return e < end ? e : end;
}

/* Level 1 and the classes, group by group (a group: the 64 level-0 words
 * under one level-1 summary word). Groups that are entirely in use or
 * entirely free, with nothing pending, are verified by one reduction. */
static const char *check_level1(const ak_hb_geom *g, const uint64_t *w)
{
    const size_t nw = g->words[0];
    const uint64_t *d1 = w + g->dirty[1];
    if ((nw & 63) && (d1[(nw - 1) >> 6] >> (nw & 63)))
        return "hbitmap: a dirty bit past the last word";
    for (size_t j = 0; j < g->words[1]; j++) {
        const uint64_t *l0 = w + (j << 6);
        const uint64_t *cw = w + g->cls + j * AK_HB_CLASS_ARRAYS;
        const uint64_t any = w[g->any[1] + j], full = w[g->full[1] + j], dirty = d1[j];
        const size_t children = nw - (j << 6) < 64 ? nw - (j << 6) : 64;
        if (children == 64 && (any == 0 || full == ONES) && dirty == 0) {
            /* Uniform group: every word 0 (any == 0) or ONES (full all
             * set), and so every class bit the same. */
            const uint64_t want = any == 0 ? 0 : ONES;
            uint64_t diff = 0;
            for (size_t k = 0; k < 64; k++)
                diff |= l0[k] ^ want;
            if (diff)
                return any == 0 ? "hbitmap: a has-free summary bit disagrees with the level below"
                                : "hbitmap: an all-free summary bit disagrees with the level below";
            if (any != 0 && any != ONES)
                return "hbitmap: a has-free summary bit disagrees with the level below";
            if (full != 0 && full != ONES)
                return "hbitmap: an all-free summary bit disagrees with the level below";
            if (any == 0 && full != 0)
                return "hbitmap: an all-free summary bit disagrees with the level below";
            for (unsigned i = 0; i < AK_HB_CLASS_ARRAYS; i++)
                if (cw[i] != want)
                    return "hbitmap: a run class disagrees with level 0";
            continue;
        }
        uint64_t a = 0, f = 0;
        for (size_t k = 0; k < children; k++) {
            const size_t word = (j << 6) + k;
            a |= (uint64_t)(l0[k] != 0) << k;
            f |= (uint64_t)(l0[k] == ONES) << k;
            /* Classes of a word whose word or next word is dirty may be
             * stale until the next run search. */
            bool pending = ((dirty >> k) & 1u) ||
                           (word + 1 < nw && ((d1[(word + 1) >> 6] >> ((word + 1) & 63)) & 1u));
            if (pending)
                continue;
            unsigned have = 0;
            for (unsigned i = 0; i < AK_HB_CLASS_ARRAYS; i++)
                have |= (unsigned)((cw[i] >> k) & 1u) << i;
            if (have != word_classes(l0[k], word + 1 < nw ? l0[k + 1] : 0))
                return "hbitmap: a run class disagrees with level 0";
        }
        if (any != a)
            return "hbitmap: a has-free summary bit disagrees with the level below";
        if (full != f)
            return "hbitmap: an all-free summary bit disagrees with the level below";
        for (unsigned i = 0; i < AK_HB_CLASS_ARRAYS && children < 64; i++)
            if (cw[i] >> children)
                return "hbitmap: a run class bit past the last word";
    }
    return (const char *)0;
}

const char *ak_hb_check(const ak_hb_geom *g, const uint64_t *w)
{
    if (g->nbits & 63) {
        if (w[g->words[0] - 1] >> (g->nbits & 63))
            return "hbitmap: a unit past the end is marked free";
    }
    if (g->levels > 1) {
        const char *why = check_level1(g, w);
        if (why)
            return why;
    }
    for (size_t l = 2; l < g->levels; l++) {
        const uint64_t *ca = w + g->any[l - 1], *cf = w + g->full[l - 1];
        const uint64_t *cd = w + g->dirty[l - 1];
        size_t children = g->words[l - 1];
        for (size_t i = 0; i < g->words[l]; i++) {
            uint64_t a = 0, f = 0, d = 0;
            for (size_t j = 0; j < 64 && (i << 6) + j < children; j++) {
                a |= (uint64_t)(ca[(i << 6) + j] != 0) << j;
                f |= (uint64_t)(cf[(i << 6) + j] == ONES) << j;
                d |= (uint64_t)(cd[(i << 6) + j] != 0) << j;
            }
            if (w[g->any[l] + i] != a)
                return "hbitmap: a has-free summary bit disagrees with the level below";
            if (w[g->full[l] + i] != f)
                return "hbitmap: an all-free summary bit disagrees with the level below";
            if (w[g->dirty[l] + i] != d)
                return "hbitmap: a dirty summary bit disagrees with the level below";
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

const char *ak_hb_ranges_check(const uintptr_t *r, size_t n, size_t max, unsigned shift,
                               uintptr_t base, size_t cap, size_t total, const ak_hb_geom *g,
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
    const uintptr_t lowest = ak_hb_unit_first(r[0], shift);
    if ((lowest & ~(uintptr_t)63) != base)
        return "ranges: the base is not the first managed unit rounded down to 64";
    size_t sum = 0;
    uintptr_t prev_unit_end = base; /* units from base to lowest: in use */
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
        size_t gap0 = (size_t)(prev_unit_end - base), gap1 = (size_t)(uf - base);
        if (gap1 > gap0) {
            size_t f = ak_hb_next_free(g, w, gap0);
            if (f != AK_HB_NONE && f < gap1)
                return "ranges: a unit outside every range is marked free";
        }
        sum += (size_t)(ue - uf);
        prev_unit_end = ue;
    }
    if (ak_hb_next_free(g, w, (size_t)(prev_unit_end - base)) != AK_HB_NONE)
        return "ranges: a unit past the last range is marked free";
    if (sum != total)
        return "ranges: the total does not match the records";
    return (const char *)0;
}

void ak_hb_ranges_walk(const uintptr_t *r, size_t n, unsigned shift, uintptr_t base,
                       const ak_hb_geom *g, const uint64_t *w, ak_walker fn, void *ctx)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)(ak_hb_unit_first(r[2 * k], shift) - base);
        const size_t end = (size_t)(ak_hb_unit_end(r[2 * k + 1], shift) - base);
        while (i < end) {
            size_t e = ak_hb_run_end(g, w, i, end);
            fn((base + i) << shift, e - i, !ak_hb_is_free(w, i), ctx);
            i = e;
        }
    }
}

static void runs_add(uintptr_t start, size_t size, bool used, void *ctx)
{
    ak_hb_runs *t = (ak_hb_runs *)ctx;
    (void)start;
    if (used) {
        t->used_runs++;
        return;
    }
    t->free_runs++;
    if (size > t->largest_free)
        t->largest_free = size;
}

void ak_hb_ranges_runs(const uintptr_t *r, size_t n, unsigned shift, uintptr_t base,
                       const ak_hb_geom *g, const uint64_t *w, ak_hb_runs *out)
{
    out->used_runs = out->free_runs = out->largest_free = 0;
    ak_hb_ranges_walk(r, n, shift, base, g, w, runs_add, out);
}
