/* Shadow models of the byte, page and ID interfaces (see model.h).
 *
 * Byte model: the regions are carved from one host arena split into eight
 * slots with gaps between them; slot 7 is never given to the allocator and
 * serves as "foreign" memory. Two bitmaps with one bit per arena byte
 * record which bytes belong to a live block and where live blocks start,
 * so overlap, bounds and "is this a live start" are O(size) and O(1).
 * Page model: one state byte per page of an address window (the page
 * allocator never touches its memory, so the addresses are made up).
 * ID model: one state byte per ID of a window of IDs; "lowest first" is
 * checked exactly with a run-length scan, O(window) per allocation. */
#include "model.h"

#include "testlib.h"
#include <stdarg.h>

void (*ak_model_on_fail)(const char *msg);

#define NSLOTS       8
#define FOREIGN_SLOT (NSLOTS - 1)
#define FREED_RING   64
#define TOP_BIT      ((size_t)1 << (sizeof(size_t) * 8 - 1))

/* ------------------------------------------------------------------ */
/* decision source                                                     */
/* ------------------------------------------------------------------ */

uint64_t ak_src_below(ak_src *s, uint64_t n)
{
    if (s->rng)
        return ak_rng_below(s->rng, n);
    unsigned bytes = n <= 0x100 ? 1 : n <= 0x10000 ? 2 : n <= 0x100000000ull ? 4 : 8;
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v <<= 8;
        if (s->pos < s->len)
            v |= s->data[s->pos++];
    }
    return v % n;
}

int ak_src_done(const ak_src *s)
{
    return !s->rng && s->pos >= s->len;
}

/* Power of two 2^k with k uniform in [lo, hi]. */
static size_t src_pow2(ak_src *s, unsigned lo, unsigned hi)
{
    return (size_t)1 << (lo + (unsigned)ak_src_below(s, hi - lo + 1));
}

/* Log-uniform in [lo, hi], lo >= 1. */
static size_t src_log(ak_src *s, size_t lo, size_t hi)
{
    unsigned lb = 0, hb = 0;
    while (((size_t)2 << lb) <= lo && lb < sizeof(size_t) * 8 - 1)
        lb++;
    while (((size_t)2 << hb) <= hi && hb < sizeof(size_t) * 8 - 1)
        hb++;
    size_t base = (size_t)1 << (lb + (unsigned)ak_src_below(s, hb - lb + 1));
    size_t v = base + (size_t)ak_src_below(s, base);
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return v;
}

/* ------------------------------------------------------------------ */
/* failure reporting                                                   */
/* ------------------------------------------------------------------ */

static void model_fail(const char *who, unsigned long long op, const char *fmt, ...)
{
    char msg[768];
    int n = snprintf(msg, sizeof msg, "%s: op %llu: ", who, op);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (ak_model_on_fail)
        ak_model_on_fail(msg);
    fprintf(stderr, "%s\n", msg);
    abort();
}

static int err_in(ak_error e, unsigned mask)
{
    return (mask >> (unsigned)e) & 1u;
}
#define E(x) (1u << (unsigned)(x))

/* ------------------------------------------------------------------ */
/* block contents                                                      */
/* ------------------------------------------------------------------ */

static inline unsigned char pattern_byte(uint64_t h, size_t i)
{
    uint64_t x = h + (uint64_t)i * 0x9d;
    return (unsigned char)(x ^ (x >> 9) ^ ((uint64_t)i >> 3));
}

static uint64_t tag_hash(uint64_t tag)
{
    uint64_t t = tag;
    return ak_splitmix64(&t);
}

/* The sampled byte ranges of a block: [0,64), [n-64,n), four words. */
static void sparse_ranges(size_t n, uint64_t h, size_t off[6], size_t len[6])
{
    off[0] = 0;
    len[0] = 64;
    off[1] = n - 64;
    len[1] = 64;
    for (int i = 0; i < 4; i++) {
        off[2 + i] = (size_t)((h >> (i * 13)) % (n - 8));
        len[2 + i] = 8;
    }
}

void ak_block_fill(void *p, size_t n, uint64_t tag)
{
    unsigned char *b = p;
    uint64_t h = tag_hash(tag);
    if (n <= 256) {
        for (size_t i = 0; i < n; i++)
            b[i] = pattern_byte(h, i);
        return;
    }
    size_t off[6], len[6];
    sparse_ranges(n, h, off, len);
    for (int r = 0; r < 6; r++)
        for (size_t i = off[r]; i < off[r] + len[r]; i++)
            b[i] = pattern_byte(h, i);
}

size_t ak_block_verify(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *b = p;
    uint64_t h = tag_hash(tag);
    if (n <= 256) {
        for (size_t i = 0; i < n; i++)
            if (b[i] != pattern_byte(h, i))
                return i;
        return (size_t)-1;
    }
    size_t off[6], len[6];
    sparse_ranges(n, h, off, len);
    for (int r = 0; r < 6; r++)
        for (size_t i = off[r]; i < off[r] + len[r]; i++)
            if (b[i] != pattern_byte(h, i))
                return i;
    return (size_t)-1;
}

/* ------------------------------------------------------------------ */
/* bit helpers (one bit per arena byte)                                */
/* ------------------------------------------------------------------ */

static int bit_get(const uint8_t *bm, size_t i)
{
    return (bm[i >> 3] >> (i & 7)) & 1;
}

static void bits_set(uint8_t *bm, size_t i, size_t n, int v)
{
    while (n && (i & 7)) {
        if (v)
            bm[i >> 3] |= (uint8_t)(1u << (i & 7));
        else
            bm[i >> 3] &= (uint8_t) ~(1u << (i & 7));
        i++;
        n--;
    }
    if (n >= 8) {
        memset(bm + (i >> 3), v ? 0xff : 0, n >> 3);
        i += n & ~(size_t)7;
        n &= 7;
    }
    while (n) {
        if (v)
            bm[i >> 3] |= (uint8_t)(1u << (i & 7));
        else
            bm[i >> 3] &= (uint8_t) ~(1u << (i & 7));
        i++;
        n--;
    }
}

/* Index of the first set bit in [i, i+n), or (size_t)-1. */
static size_t bits_first_set(const uint8_t *bm, size_t i, size_t n)
{
    size_t end = i + n;
    while (i < end && (i & 7)) {
        if (bit_get(bm, i))
            return i;
        i++;
    }
    while (i + 8 <= end) {
        if (bm[i >> 3])
            for (size_t k = i; k < i + 8; k++)
                if (bit_get(bm, k))
                    return k;
        i += 8;
    }
    for (; i < end; i++)
        if (bit_get(bm, i))
            return i;
    return (size_t)-1;
}

/* ------------------------------------------------------------------ */
/* byte model                                                          */
/* ------------------------------------------------------------------ */

typedef struct live_block {
    uintptr_t p;
    size_t size, align;
    size_t span;   /* bytes it owns: max(size, usable_size, 1) */
    size_t usable; /* usable_size when allocated */
    uint64_t tag;
} live_block;

struct ak_byte_model {
    const ak_byte_contender *c;
    void *obj;
    ak_byte_allocator h;
    ak_byte_model_cfg cfg;
    unsigned char *arena;
    uint8_t *occ;    /* byte belongs to a live block (size-0 blocks own one byte) */
    uint8_t *starts; /* a live block starts here */
    struct {
        size_t off, size;
        int added;
    } slot[NSLOTS];
    size_t given;   /* sum of the sizes of the regions given */
    size_t total;   /* total_bytes after the last region was added */
    size_t largest; /* largest request (align 1) that fitted after init */
    live_block *live;
    size_t nlive;
    live_block freed[FREED_RING];
    unsigned nfreed;
    size_t used;        /* requested bytes of the live blocks */
    size_t used_usable; /* their usable sizes */
    uint64_t next_tag;
    ak_model_counts n;
};

#define BFAIL(m, ...) model_fail((m)->c->name, (m)->n.ops, __VA_ARGS__)

static size_t arena_off(const ak_byte_model *m, uintptr_t p)
{
    return (size_t)(p - (uintptr_t)m->arena);
}

/* Index of the added region holding [p, p+len), or -1. */
static int byte_region_of(const ak_byte_model *m, uintptr_t p, size_t len)
{
    uintptr_t a = (uintptr_t)m->arena;
    if (p < a || p - a >= m->cfg.arena_size)
        return -1;
    size_t off = (size_t)(p - a);
    for (int i = 0; i < NSLOTS; i++) {
        if (!m->slot[i].added)
            continue;
        if (off >= m->slot[i].off && off - m->slot[i].off <= m->slot[i].size &&
            len <= m->slot[i].size - (off - m->slot[i].off))
            return i;
    }
    return -1;
}

static void byte_check_stats(ak_byte_model *m)
{
    size_t used = ak_byte_used_bytes(m->h);
    size_t total = ak_byte_total_bytes(m->h);
    size_t avail = ak_byte_available_bytes(m->h);
    /* Each block counts at its usable size (core.h). */
    if (used != m->used_usable)
        BFAIL(m, "used_bytes %zu, model %zu requested, %zu usable", used, m->used, m->used_usable);
    if (total != m->total)
        BFAIL(m, "total_bytes changed from %zu to %zu without add_memory", m->total, total);
    if (avail != total - used)
        BFAIL(m, "available_bytes %zu != total %zu - used %zu", avail, total, used);
}

static void byte_check_invariants(ak_byte_model *m, const char *after)
{
    const char *why = ak_byte_check(m->h);
    if (why)
        BFAIL(m, "after %s: check: %s", after, why);
}

static void byte_verify(ak_byte_model *m, const live_block *b, const char *when)
{
    size_t bad = ak_block_verify((const void *)b->p, b->size, b->tag);
    if (bad != (size_t)-1)
        BFAIL(m, "%s: block %p (size %zu, align %zu) corrupted at offset %zu", when, (void *)b->p,
              b->size, b->align, bad);
}

static void byte_mark(ak_byte_model *m, uintptr_t p, size_t span, int v)
{
    size_t off = arena_off(m, p);
    bits_set(m->occ, off, span, v);
    bits_set(m->starts, off, 1, v);
}

/* Check and record a block the allocator just returned. */
static void byte_accept(ak_byte_model *m, void *ptr, size_t size, size_t align)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!ptr)
        BFAIL(m, "alloc(%zu, %zu) returned AK_OK and NULL", size, align);
    if (!ak_is_aligned(p, align))
        BFAIL(m, "alloc(%zu, %zu) returned %p, not aligned", size, align, ptr);
    if (byte_region_of(m, p, size ? size : 1) < 0)
        BFAIL(m, "alloc(%zu, %zu) returned %p, outside every region given", size, align, ptr);
    size_t usable = ak_byte_usable_size(m->h, ptr, size, align);
    if (usable < size)
        BFAIL(m, "usable_size %zu < size %zu", usable, size);
    if (usable > size && byte_region_of(m, p, usable) < 0)
        BFAIL(m, "usable_size %zu of %p runs past its region", usable, ptr);
    /* The whole usable span is the block's: nothing live may overlap it. */
    size_t span = usable ? usable : 1;
    size_t off = arena_off(m, p);
    size_t hit = bits_first_set(m->occ, off, span);
    if (hit != (size_t)-1)
        BFAIL(m, "alloc(%zu, %zu) returned %p (usable %zu), which overlaps a live block at byte %p",
              size, align, ptr, usable, (void *)(m->arena + hit));
    byte_mark(m, p, span, 1);
    live_block *b = &m->live[m->nlive++];
    b->p = p;
    b->size = size;
    b->align = align;
    b->span = span;
    b->usable = usable;
    b->tag = m->next_tag++;
    ak_block_fill(ptr, size, b->tag);
    /* Write the slack too: if usable_size overstates the block, this lands
     * on the allocator's bookkeeping or a neighbour and a check finds it. */
    size_t slack = usable - size;
    if (slack <= 4096) {
        memset((unsigned char *)ptr + size, 0xee, slack);
    } else {
        memset((unsigned char *)ptr + size, 0xee, 64);
        memset((unsigned char *)ptr + usable - 64, 0xee, 64);
    }
    m->used += size;
    m->used_usable += usable;
}

static void byte_free_at(ak_byte_model *m, size_t i)
{
    live_block b = m->live[i];
    byte_verify(m, &b, "before free");
    ak_error e = ak_byte_dealloc(m->h, (void *)b.p, b.size, b.align);
    if (e != AK_OK)
        BFAIL(m, "dealloc(%p, %zu, %zu) of a live block gave %s", (void *)b.p, b.size, b.align,
              ak_error_name(e));
    byte_mark(m, b.p, b.span, 0);
    m->used -= b.size;
    m->used_usable -= b.usable;
    m->live[i] = m->live[--m->nlive];
    m->freed[m->nfreed++ % FREED_RING] = b;
    m->n.frees++;
}

static size_t byte_pick_size(ak_byte_model *m, ak_src *s)
{
    unsigned k = (unsigned)ak_src_below(s, 100);
    if (k < 3)
        return 0;
    if (k < 70)
        return src_log(s, 1, 256);
    if (k < 97)
        return src_log(s, 257, m->cfg.max_size);
    return src_log(s, m->cfg.max_size, m->cfg.arena_size / 16);
}

static size_t byte_pick_align(ak_src *s)
{
    unsigned k = (unsigned)ak_src_below(s, 100);
    if (k < 80)
        return src_pow2(s, 0, 4);
    if (k < 98)
        return src_pow2(s, 5, 12);
    return src_pow2(s, 13, 16);
}

static void byte_op_alloc(ak_byte_model *m, ak_src *s)
{
    size_t size = byte_pick_size(m, s), align = byte_pick_align(s);
    if (m->nlive >= m->cfg.max_live) {
        byte_free_at(m, (size_t)ak_src_below(s, m->nlive));
        return;
    }
    void *p = NULL;
    ak_error e = ak_byte_alloc(m->h, size, align, &p);
    if (e == AK_OK) {
        byte_accept(m, p, size, align);
        m->n.ok++;
    } else if (e == AK_ERR_NO_MEMORY) {
        m->n.no_memory++;
    } else {
        BFAIL(m, "alloc(%zu, %zu) gave %s", size, align, ak_error_name(e));
    }
}

static void byte_op_resize(ak_byte_model *m, ak_src *s)
{
    if (!m->nlive)
        return;
    size_t i = (size_t)ak_src_below(s, m->nlive);
    live_block *b = &m->live[i];
    size_t new_size = ak_src_below(s, 2) ? b->size + src_log(s, 1, 4096) : b->size / 2;
    byte_verify(m, b, "before resize");
    ak_error e = ak_byte_resize(m->h, (void *)b->p, b->size, b->align, new_size);
    if (e == AK_ERR_NO_MEMORY) {
        byte_verify(m, b, "after a refused resize");
        return;
    }
    if (e != AK_OK)
        BFAIL(m, "resize(%p, %zu -> %zu) gave %s", (void *)b->p, b->size, new_size,
              ak_error_name(e));
    /* In place: the first min(old, new) bytes keep their values. */
    size_t keep = b->size < new_size ? b->size : new_size;
    if (keep <= 256 && b->size <= 256) {
        size_t bad = ak_block_verify((const void *)b->p, keep, b->tag);
        if (bad != (size_t)-1)
            BFAIL(m, "resize %zu -> %zu lost byte %zu", b->size, new_size, bad);
    }
    live_block nb = *b;
    byte_mark(m, b->p, b->span, 0);
    m->used -= b->size;
    m->used_usable -= b->usable;
    m->live[i] = m->live[--m->nlive];
    byte_accept(m, (void *)nb.p, new_size, nb.align);
    m->n.ok++;
}

/* Regions are added in a random order, so some lie below the first. */
static void byte_op_add_region(ak_byte_model *m, ak_src *s)
{
    int from = (int)ak_src_below(s, FOREIGN_SLOT);
    for (int j = 0; j < FOREIGN_SLOT; j++) {
        int i = (from + j) % FOREIGN_SLOT;
        if (m->slot[i].added)
            continue;
        uintptr_t start = (uintptr_t)(m->arena + m->slot[i].off);
        ak_error e = ak_byte_add_memory(m->h, start, m->slot[i].size);
        if (e != AK_OK)
            BFAIL(m, "add_memory of a fresh region [%p, +%zu) gave %s", (void *)start,
                  m->slot[i].size, ak_error_name(e));
        m->slot[i].added = 1;
        m->given += m->slot[i].size;
        size_t total = ak_byte_total_bytes(m->h);
        if (total <= m->total || total > m->given)
            BFAIL(m, "total_bytes %zu after add_memory (before %zu, given %zu)", total, m->total,
                  m->given);
        m->total = total;
        m->n.regions++;
        byte_check_invariants(m, "add_memory");
        return;
    }
}

/* One deliberately bad call. */
static void byte_op_bad(ak_byte_model *m, ak_src *s)
{
    size_t used0 = ak_byte_used_bytes(m->h), total0 = ak_byte_total_bytes(m->h);
    size_t avail0 = ak_byte_available_bytes(m->h);
    unsigned mask = 0;
    ak_error e;
    char what[160];
    void *p = NULL;
    unsigned kind = (unsigned)ak_src_below(s, 16);
    uintptr_t foreign = (uintptr_t)(m->arena + m->slot[FOREIGN_SLOT].off);
    switch (kind) {
    case 0: { /* double free of a recently freed block that is not live again */
        unsigned n = m->nfreed < FREED_RING ? m->nfreed : FREED_RING;
        if (!n)
            return;
        live_block b = m->freed[(unsigned)ak_src_below(s, n)];
        size_t off = arena_off(m, b.p);
        if (bit_get(m->starts, off))
            return;
        mask = bit_get(m->occ, off) ? E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM)
                                    : E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "double free of %p (size %zu, align %zu)", (void *)b.p, b.size,
                 b.align);
        e = ak_byte_dealloc(m->h, (void *)b.p, b.size, b.align);
        break;
    }
    case 1: { /* foreign pointer: never-given memory, a gap, or the stack */
        uintptr_t q;
        unsigned w = (unsigned)ak_src_below(s, 3);
        if (w == 0)
            q = foreign + (uintptr_t)ak_src_below(s, 64) * 16;
        else if (w == 1)
            q = (uintptr_t)(m->arena + m->slot[0].off + m->slot[0].size + 16);
        else
            q = (uintptr_t)&q;
        size_t size = src_log(s, 1, 256), align = src_pow2(s, 0, 4);
        q = ak_align_down(q, align);
        mask = E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "free of foreign pointer %p", (void *)q);
        e = ak_byte_dealloc(m->h, (void *)q, size, align);
        break;
    }
    case 2: { /* interior pointer of a live block */
        if (!m->nlive)
            return;
        live_block *b = &m->live[ak_src_below(s, m->nlive)];
        if (b->size < 2)
            return;
        size_t k = 1 + (size_t)ak_src_below(s, b->size - 1);
        if (b->size > 16 && ak_src_below(s, 2))
            k = (k + 7) & ~(size_t)7; /* word-aligned interiors look most plausible */
        if (k >= b->size)
            k = b->size - 1;
        size_t size = ak_src_below(s, 2) ? b->size - k : src_log(s, 1, 64);
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "free of interior pointer %p+%zu (block size %zu)",
                 (void *)b->p, k, b->size);
        e = ak_byte_dealloc(m->h, (void *)(b->p + k), size, 1);
        break;
    }
    case 3: { /* wrong (too large) size for a live block */
        if (!m->nlive)
            return;
        live_block *b = &m->live[ak_src_below(s, m->nlive)];
        size_t usable = ak_byte_usable_size(m->h, (void *)b->p, b->size, b->align);
        size_t wrong = ak_src_below(s, 4) ? usable * 2 + 4096 + (size_t)ak_src_below(s, 4096)
                                          : SIZE_MAX - (size_t)ak_src_below(s, 64);
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "free of %p (size %zu) with size %zu", (void *)b->p, b->size,
                 wrong);
        e = ak_byte_dealloc(m->h, (void *)b->p, wrong, b->align);
        break;
    }
    case 4: { /* dealloc with an alignment that is not a power of two */
        if (!m->nlive)
            return;
        live_block *b = &m->live[ak_src_below(s, m->nlive)];
        static const size_t bad_aligns[] = {0, 3, 24, 100, SIZE_MAX};
        size_t al = bad_aligns[ak_src_below(s, 5)];
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "free of %p with align %zu", (void *)b->p, al);
        e = ak_byte_dealloc(m->h, (void *)b->p, b->size, al);
        break;
    }
    case 5: { /* alloc with an alignment that is not a power of two */
        static const size_t bad_aligns[] = {0, 3, 6, 12, 48, 4097, SIZE_MAX, TOP_BIT | 1};
        size_t al = bad_aligns[ak_src_below(s, 8)];
        size_t size = src_log(s, 1, 4096);
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "alloc(%zu, align %zu)", size, al);
        e = ak_byte_alloc(m->h, size, al, &p);
        break;
    }
    case 6: { /* alloc with a power-of-two alignment near the top bit */
        size_t al = TOP_BIT >> ak_src_below(s, 3);
        size_t size = ak_src_below(s, 2) ? src_log(s, 1, 4096) : 0;
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        snprintf(what, sizeof what, "alloc(%zu, align %zu)", size, al);
        e = ak_byte_alloc(m->h, size, al, &p);
        break;
    }
    case 7: { /* sizes near SIZE_MAX, or just above what is managed */
        size_t size;
        unsigned w = (unsigned)ak_src_below(s, 4);
        if (w == 0)
            size = SIZE_MAX - (size_t)ak_src_below(s, 4096);
        else if (w == 1)
            size = TOP_BIT + (size_t)ak_src_below(s, 4096);
        else if (w == 2)
            size = SIZE_MAX - src_pow2(s, 0, 16) + 1;
        else
            size = m->given + 1 + (size_t)ak_src_below(s, 4096);
        size_t al = src_pow2(s, 0, 12);
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        snprintf(what, sizeof what, "alloc(%zu, align %zu)", size, al);
        e = ak_byte_alloc(m->h, size, al, &p);
        break;
    }
    case 8: { /* add_memory overlapping a region already given */
        int r = (int)ak_src_below(s, FOREIGN_SLOT);
        if (!m->slot[r].added)
            r = 0;
        size_t off = m->slot[r].off, size = m->slot[r].size;
        unsigned w = (unsigned)ak_src_below(s, 4);
        if (w == 1) { /* strictly inside */
            off += size / 4;
            size /= 2;
        } else if (w == 2) { /* covers its tail and the gap after it */
            off += size / 2;
            size = size / 2 + 512;
        } else if (w == 3) { /* covers it and the gap before it */
            off -= 256;
            size += 512;
        }
        mask = E(AK_ERR_MEMORY_OVERLAP);
        snprintf(what, sizeof what, "add_memory(%p, %zu) overlapping region %d",
                 (void *)(m->arena + off), size, r);
        e = ak_byte_add_memory(m->h, (uintptr_t)(m->arena + off), size);
        break;
    }
    case 9: { /* a region that wraps around the address space */
        size_t size = 4096 + (size_t)ak_src_below(s, 1 << 20);
        uintptr_t start = UINTPTR_MAX - (uintptr_t)ak_src_below(s, 4096);
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "add_memory(%p, %zu) that wraps", (void *)start, size);
        e = ak_byte_add_memory(m->h, start, size);
        break;
    }
    case 10: { /* a region too small to hold anything */
        size_t size = (size_t)ak_src_below(s, 4);
        uintptr_t start = foreign + 4096 + (uintptr_t)ak_src_below(s, 64);
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "add_memory(%p, %zu) too small", (void *)start, size);
        e = ak_byte_add_memory(m->h, start, size);
        break;
    }
    case 11: /* NULL */
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "free of NULL");
        e = ak_byte_dealloc(m->h, NULL, (size_t)ak_src_below(s, 64), 1);
        break;
    case 12: { /* the right block, with an alignment its address does not have */
        if (!m->nlive)
            return;
        live_block *b = &m->live[ak_src_below(s, m->nlive)];
        size_t al = 1;
        while (ak_is_aligned(b->p, al) && al < ((size_t)1 << 24))
            al <<= 1;
        if (ak_is_aligned(b->p, al))
            return;
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "free of %p (align %zu) with align %zu", (void *)b->p, b->align,
                 al);
        e = ak_byte_dealloc(m->h, (void *)b->p, b->size, al);
        break;
    }
    case 13: { /* resize of a pointer that is not a live block */
        unsigned n = m->nfreed < FREED_RING ? m->nfreed : FREED_RING;
        uintptr_t q = foreign + 256;
        size_t size = src_log(s, 1, (size_t)1 << 20);
        if (n && ak_src_below(s, 2)) {
            live_block b = m->freed[(unsigned)ak_src_below(s, n)];
            if (bit_get(m->starts, arena_off(m, b.p)))
                return;
            q = b.p;
            size = b.size;
        }
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        snprintf(what, sizeof what, "resize of %p, not a live block", (void *)q);
        e = ak_byte_resize(m->h, (void *)q, size, 1, size + 64);
        break;
    }
    case 14: { /* usable_size of a pointer that is not a live block: answers, changes nothing */
        size_t size = src_log(s, 1, (size_t)1 << 20);
        uintptr_t q = foreign + 512;
        unsigned n = m->nfreed < FREED_RING ? m->nfreed : FREED_RING;
        if (n && ak_src_below(s, 2)) {
            live_block b = m->freed[(unsigned)ak_src_below(s, n)];
            if (bit_get(m->starts, arena_off(m, b.p)))
                return;
            q = b.p;
            size = b.size;
        }
        mask = E(AK_OK);
        snprintf(what, sizeof what, "usable_size of %p, not a live block", (void *)q);
        (void)ak_byte_usable_size(m->h, (void *)q, size, 1);
        e = AK_OK;
        break;
    }
    default: { /* dealloc of a live block's address offset by its size: a neighbour or free */
        if (!m->nlive)
            return;
        live_block *b = &m->live[ak_src_below(s, m->nlive)];
        uintptr_t q = b->p + (b->size ? b->size : 1);
        size_t off = arena_off(m, q);
        if (off >= m->cfg.arena_size || bit_get(m->starts, off))
            return;
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "free of %p just past a live block", (void *)q);
        e = ak_byte_dealloc(m->h, (void *)q, b->size, 1);
        break;
    }
    }
    m->n.bad_calls++;
    if (!err_in(e, mask))
        BFAIL(m, "bad call %s gave %s", what, ak_error_name(e));
    if (ak_byte_used_bytes(m->h) != used0 || ak_byte_total_bytes(m->h) != total0 ||
        ak_byte_available_bytes(m->h) != avail0)
        BFAIL(m, "bad call %s changed the statistics (used %zu->%zu total %zu->%zu)", what, used0,
              ak_byte_used_bytes(m->h), total0, ak_byte_total_bytes(m->h));
    byte_check_invariants(m, what);
    /* Nothing lost: a few live blocks still hold their contents. */
    for (int k = 0; k < 3 && m->nlive; k++)
        byte_verify(m, &m->live[ak_src_below(s, m->nlive)], what);
}

ak_byte_model *ak_byte_model_new(const ak_byte_contender *c, const ak_byte_model_cfg *cfg,
                                 ak_src *src)
{
    ak_byte_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->c = c;
    m->cfg = *cfg;
    if (m->cfg.check_every == 0)
        m->cfg.check_every = 1;
    m->obj = calloc(1, c->obj_size);
    m->arena = malloc(cfg->arena_size);
    m->occ = calloc(1, cfg->arena_size / 8 + 1);
    m->starts = calloc(1, cfg->arena_size / 8 + 1);
    m->live = calloc(cfg->max_live + 1, sizeof *m->live);
    if (!m->obj || !m->arena || !m->occ || !m->starts || !m->live) {
        ak_byte_model_free(m);
        return NULL;
    }
    memset(m->arena, 0xa5, cfg->arena_size);
    m->h = c->make(m->obj);
    /* Slots: a 1 KiB gap first, odd start offsets, sizes not multiples of
     * anything, so every region has edges to trim. */
    size_t slot_span = cfg->arena_size / NSLOTS;
    for (int i = 0; i < NSLOTS; i++) {
        m->slot[i].off = (size_t)i * slot_span + 1024 + (size_t)ak_src_below(src, 64);
        m->slot[i].size = slot_span - 2048 - (size_t)ak_src_below(src, 512);
    }
    uintptr_t start = (uintptr_t)(m->arena + m->slot[0].off);
    ak_error e = ak_byte_init(m->h, start, m->slot[0].size);
    if (e != AK_OK)
        BFAIL(m, "init(%p, %zu) gave %s", (void *)start, m->slot[0].size, ak_error_name(e));
    m->slot[0].added = 1;
    m->given = m->slot[0].size;
    m->total = ak_byte_total_bytes(m->h);
    if (m->total == 0 || m->total > m->given)
        BFAIL(m, "total_bytes %zu after init with %zu bytes", m->total, m->given);
    byte_check_stats(m);
    byte_check_invariants(m, "init");
    /* The largest request that fits now must fit again once all is freed. */
    size_t lo = 0, hi = m->given;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        void *p;
        if (ak_byte_alloc(m->h, mid, 1, &p) == AK_OK) {
            if (ak_byte_dealloc(m->h, p, mid, 1) != AK_OK)
                BFAIL(m, "dealloc of a block of %zu gave an error", mid);
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    m->largest = lo;
    if (lo == 0)
        BFAIL(m, "nothing but size 0 fits in a fresh region of %zu bytes", m->given);
    byte_check_stats(m);
    return m;
}

void ak_byte_model_step(ak_byte_model *m, ak_src *s)
{
    m->n.ops++;
    unsigned k = (unsigned)ak_src_below(s, 1000);
    /* One stretch of 4096 ops in four mostly allocates, to run into
     * exhaustion and fragmentation; the rest keep the heap level. */
    unsigned alloc_share = ((m->n.ops >> 12) & 3) == 3 ? 800 : 470;
    if (k < alloc_share)
        byte_op_alloc(m, s);
    else if (k < 900) {
        if (m->nlive)
            byte_free_at(m, (size_t)ak_src_below(s, m->nlive));
    } else if (k < 930)
        byte_op_resize(m, s);
    else if (k < 932)
        byte_op_add_region(m, s);
    else if (k < 946)
        byte_op_alloc(m, s);
    else if (k < 960) {
        if (m->nlive)
            byte_free_at(m, (size_t)ak_src_below(s, m->nlive));
    } else if (k < 961)
        ak_byte_model_drain(m);
    else if (m->c->bad_calls)
        byte_op_bad(m, s);
    byte_check_stats(m);
    if (m->n.ops % m->cfg.check_every == 0)
        byte_check_invariants(m, "an operation");
}

void ak_byte_model_drain(ak_byte_model *m)
{
    while (m->nlive)
        byte_free_at(m, m->nlive - 1);
    byte_check_stats(m);
    if (m->used != 0 || ak_byte_used_bytes(m->h) != 0)
        BFAIL(m, "used_bytes %zu after freeing everything", ak_byte_used_bytes(m->h));
    byte_check_invariants(m, "freeing everything");
    void *p;
    ak_error e = ak_byte_alloc(m->h, m->largest, 1, &p);
    if (e != AK_OK)
        BFAIL(m, "after freeing everything, alloc(%zu) (fitted after init) gave %s", m->largest,
              ak_error_name(e));
    if (byte_region_of(m, (uintptr_t)p, m->largest) < 0)
        BFAIL(m, "largest block %p outside the regions", p);
    e = ak_byte_dealloc(m->h, p, m->largest, 1);
    if (e != AK_OK)
        BFAIL(m, "dealloc of the largest block gave %s", ak_error_name(e));
    byte_check_stats(m);
}

void ak_byte_model_free(ak_byte_model *m)
{
    if (!m)
        return;
    free(m->obj);
    free(m->arena);
    free(m->occ);
    free(m->starts);
    free(m->live);
    free(m);
}

ak_model_counts ak_byte_model_counts(const ak_byte_model *m)
{
    return m->n;
}

/* ------------------------------------------------------------------ */
/* page model                                                          */
/* ------------------------------------------------------------------ */

#define PAGE   4096u
#define PSLOTS 6
enum { P_NONE = 0, P_FREE = 1, P_USED = 2 };

typedef struct page_run {
    size_t first, n; /* page indexes in the window */
} page_run;

struct ak_page_model {
    const ak_page_contender *c;
    void *obj;
    ak_page_allocator h;
    uintptr_t base; /* address of window page 0 */
    size_t npages;
    uint8_t *state;
    struct {
        size_t first, n; /* the whole pages it manages */
        uintptr_t start; /* what is passed (edges unaligned) */
        size_t size;
        int added;
    } slot[PSLOTS];
    page_run *runs;
    size_t nruns, max_runs;
    size_t total, used;
    ak_model_counts n;
};

#define PFAIL(m, ...) model_fail((m)->c->name, (m)->n.ops, __VA_ARGS__)

static uintptr_t page_addr(const ak_page_model *m, size_t idx)
{
    return m->base + (uintptr_t)idx * PAGE;
}

static void page_check_stats(ak_page_model *m)
{
    size_t t = ak_page_total_pages(m->h), u = ak_page_used_pages(m->h);
    size_t a = ak_page_available_pages(m->h);
    if (t != m->total)
        PFAIL(m, "total_pages %zu, model %zu", t, m->total);
    if (u != m->used)
        PFAIL(m, "used_pages %zu, model %zu", u, m->used);
    if (a != t - u)
        PFAIL(m, "available_pages %zu != %zu - %zu", a, t, u);
}

static void page_check_invariants(ak_page_model *m, const char *after)
{
    const char *why = ak_page_check(m->h);
    if (why)
        PFAIL(m, "after %s: check: %s", after, why);
}

/* State of [first, first+n): P_FREE if all free, P_USED if all used and
 * managed, P_NONE if any page is unmanaged, 3 if mixed. */
static int shadow_range_state(const uint8_t *state, size_t units, size_t first, size_t n)
{
    if (first >= units || n > units - first)
        return P_NONE;
    int st = state[first];
    for (size_t i = first; i < first + n; i++) {
        if (state[i] == P_NONE)
            return P_NONE;
        if (state[i] != st)
            st = 3;
    }
    return st;
}

/* Mark [first, first+n) used in a shadow and remember it as a live run
 * (shared by the page and ID models). */
static void shadow_record(uint8_t *state, page_run *runs, size_t *nruns, size_t *used, size_t first,
                          size_t n)
{
    memset(state + first, P_USED, n);
    *used += n;
    runs[*nruns].first = first;
    runs[*nruns].n = n;
    (*nruns)++;
}

static int page_range_state(const ak_page_model *m, size_t first, size_t n)
{
    return shadow_range_state(m->state, m->npages, first, n);
}

static void page_record(ak_page_model *m, size_t first, size_t n)
{
    shadow_record(m->state, m->runs, &m->nruns, &m->used, first, n);
}

static void page_accept(ak_page_model *m, uintptr_t addr, size_t n, size_t align, const char *op)
{
    if (!ak_is_aligned(addr, align) || !ak_is_aligned(addr, PAGE))
        PFAIL(m, "%s(%zu, align %zu) returned %#lx, not aligned", op, n, align,
              (unsigned long)addr);
    if (addr < m->base || (addr - m->base) / PAGE + n > m->npages)
        PFAIL(m, "%s(%zu) returned %#lx outside every region", op, n, (unsigned long)addr);
    size_t first = (size_t)((addr - m->base) / PAGE);
    int st = page_range_state(m, first, n);
    if (st != P_FREE)
        PFAIL(m, "%s(%zu) returned %#lx whose pages are %s", op, n, (unsigned long)addr,
              st == P_NONE ? "not all managed" : "not all free");
    page_record(m, first, n);
}

/* Is there an aligned run of n free pages in one region? */
static int page_run_exists(const ak_page_model *m, size_t n, size_t align)
{
    size_t run = 0;
    for (size_t i = 0; i < m->npages; i++) {
        if (m->state[i] != P_FREE) {
            run = 0;
            continue;
        }
        run++;
        if (run >= n && ak_is_aligned(page_addr(m, i + 1 - n), align))
            return 1;
    }
    return 0;
}

static size_t page_pick_count(ak_src *s)
{
    unsigned k = (unsigned)ak_src_below(s, 100);
    if (k < 60)
        return 1 + (size_t)ak_src_below(s, 8);
    if (k < 92)
        return src_log(s, 9, 256);
    return src_log(s, 257, 4096);
}

static size_t page_pick_align(ak_src *s)
{
    unsigned k = (unsigned)ak_src_below(s, 100);
    if (k < 70)
        return PAGE;
    if (k < 99)
        return src_pow2(s, 13, 22);
    return (size_t)1 << 30;
}

static void page_op_alloc(ak_page_model *m, ak_src *s)
{
    if (m->nruns >= m->max_runs)
        return;
    size_t n = page_pick_count(s), align = page_pick_align(s);
    uintptr_t out = 0;
    ak_error e = ak_page_alloc_pages(m->h, n, align, &out);
    if (e == AK_OK) {
        page_accept(m, out, n, align, "alloc_pages");
        m->n.ok++;
    } else if (e == AK_ERR_NO_MEMORY) {
        if (page_run_exists(m, n, align))
            PFAIL(m, "alloc_pages(%zu, align %zu) gave AK_ERR_NO_MEMORY but such a run is free", n,
                  align);
        m->n.no_memory++;
    } else {
        PFAIL(m, "alloc_pages(%zu, align %zu) gave %s", n, align, ak_error_name(e));
    }
}

static void page_op_alloc_at(ak_page_model *m, ak_src *s)
{
    if (m->nruns >= m->max_runs)
        return;
    size_t n = page_pick_count(s), align = ak_src_below(s, 4) ? PAGE : src_pow2(s, 13, 20);
    size_t idx = (size_t)ak_src_below(s, m->npages);
    uintptr_t base = ak_align_down(page_addr(m, idx), align);
    if (base < m->base)
        base = m->base;
    if (!ak_is_aligned(base, align))
        return;
    size_t first = (size_t)((base - m->base) / PAGE);
    int st = page_range_state(m, first, n);
    uintptr_t out = 0;
    ak_error e = ak_page_alloc_pages_at(m->h, base, n, align, &out);
    if (st == P_FREE) {
        if (e != AK_OK)
            PFAIL(m, "alloc_pages_at(%#lx, %zu) of free pages gave %s", (unsigned long)base, n,
                  ak_error_name(e));
        if (out != base)
            PFAIL(m, "alloc_pages_at(%#lx) returned %#lx", (unsigned long)base, (unsigned long)out);
        page_accept(m, out, n, align, "alloc_pages_at");
        m->n.ok++;
    } else if (st == P_NONE) {
        if (e != AK_ERR_NO_MEMORY && e != AK_ERR_INVALID_PARAM)
            PFAIL(m, "alloc_pages_at(%#lx, %zu) over unmanaged pages gave %s", (unsigned long)base,
                  n, ak_error_name(e));
        m->n.no_memory++;
    } else {
        if (e != AK_ERR_NO_MEMORY)
            PFAIL(m, "alloc_pages_at(%#lx, %zu) over used pages gave %s", (unsigned long)base, n,
                  ak_error_name(e));
        m->n.no_memory++;
    }
}

static void page_op_free(ak_page_model *m, ak_src *s)
{
    if (!m->nruns)
        return;
    size_t i = (size_t)ak_src_below(s, m->nruns);
    page_run r = m->runs[i];
    size_t lo = 0, n = r.n;
    if (r.n > 1 && ak_src_below(s, 4) == 0) { /* free a piece of it */
        lo = (size_t)ak_src_below(s, r.n);
        n = 1 + (size_t)ak_src_below(s, r.n - lo);
    }
    ak_error e = ak_page_dealloc_pages(m->h, page_addr(m, r.first + lo), n);
    if (e != AK_OK)
        PFAIL(m, "dealloc_pages(%#lx, %zu) of allocated pages gave %s",
              (unsigned long)page_addr(m, r.first + lo), n, ak_error_name(e));
    memset(m->state + r.first + lo, P_FREE, n);
    m->used -= n;
    m->runs[i] = m->runs[--m->nruns];
    if (lo)
        page_record(m, r.first, lo), m->used -= lo;
    if (lo + n < r.n)
        page_record(m, r.first + lo + n, r.n - lo - n), m->used -= r.n - lo - n;
    m->n.frees++;
}

static void page_add_slot(ak_page_model *m, int i, int first_one)
{
    ak_error e = first_one ? ak_page_init(m->h, m->slot[i].start, m->slot[i].size)
                           : ak_page_add_memory(m->h, m->slot[i].start, m->slot[i].size);
    if (e != AK_OK)
        PFAIL(m, "%s(%#lx, %zu) gave %s", first_one ? "init" : "add_memory",
              (unsigned long)m->slot[i].start, m->slot[i].size, ak_error_name(e));
    m->slot[i].added = 1;
    memset(m->state + m->slot[i].first, P_FREE, m->slot[i].n);
    m->total += m->slot[i].n;
    m->n.regions++;
    page_check_stats(m);
    page_check_invariants(m, first_one ? "init" : "add_memory");
}

static void page_op_bad(ak_page_model *m, ak_src *s)
{
    size_t t0 = ak_page_total_pages(m->h), u0 = ak_page_used_pages(m->h);
    size_t a0 = ak_page_available_pages(m->h);
    unsigned mask;
    ak_error e;
    uintptr_t out = 0;
    char what[160];
    unsigned kind = (unsigned)ak_src_below(s, 13);
    switch (kind) {
    case 0: { /* free pages that are free (or partly free) */
        size_t idx = (size_t)ak_src_below(s, m->npages);
        size_t n = 1 + (size_t)ak_src_below(s, 16);
        int st = page_range_state(m, idx, n);
        if (st == P_USED)
            return;
        mask = st == P_NONE ? E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM)
                            : E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "dealloc_pages(%#lx, %zu) of pages not all allocated",
                 (unsigned long)page_addr(m, idx), n);
        e = ak_page_dealloc_pages(m->h, page_addr(m, idx), n);
        break;
    }
    case 1: { /* an allocation and one page more */
        if (!m->nruns)
            return;
        page_run r = m->runs[ak_src_below(s, m->nruns)];
        int st = page_range_state(m, r.first, r.n + 1);
        if (st == P_USED)
            return;
        mask = st == P_NONE ? E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM)
                            : E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "dealloc_pages(%#lx, %zu) one page too many",
                 (unsigned long)page_addr(m, r.first), r.n + 1);
        e = ak_page_dealloc_pages(m->h, page_addr(m, r.first), r.n + 1);
        break;
    }
    case 2: { /* unaligned address */
        if (!m->nruns)
            return;
        page_run r = m->runs[ak_src_below(s, m->nruns)];
        uintptr_t pos = page_addr(m, r.first) + 1 + (uintptr_t)ak_src_below(s, PAGE - 1);
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "dealloc_pages(%#lx, 1) unaligned", (unsigned long)pos);
        e = ak_page_dealloc_pages(m->h, pos, 1);
        break;
    }
    case 3: { /* zero counts */
        unsigned w = (unsigned)ak_src_below(s, 3);
        mask = E(AK_ERR_INVALID_PARAM);
        if (w == 0) {
            snprintf(what, sizeof what, "alloc_pages(0)");
            e = ak_page_alloc_pages(m->h, 0, PAGE, &out);
        } else if (w == 1) {
            snprintf(what, sizeof what, "alloc_pages_at(base, 0)");
            e = ak_page_alloc_pages_at(m->h, page_addr(m, m->slot[0].first), 0, PAGE, &out);
        } else {
            uintptr_t pos = m->nruns ? page_addr(m, m->runs[0].first) : m->base;
            snprintf(what, sizeof what, "dealloc_pages(%#lx, 0)", (unsigned long)pos);
            e = ak_page_dealloc_pages(m->h, pos, 0);
        }
        break;
    }
    case 4: { /* bad alignments */
        static const size_t aligns[] = {0,       1,       2048, 3 * PAGE, 5 * PAGE, (size_t)1 << 31,
                                        TOP_BIT, SIZE_MAX};
        size_t al = aligns[ak_src_below(s, 8)];
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "alloc_pages(1, align %zu)", al);
        if (ak_src_below(s, 2))
            e = ak_page_alloc_pages(m->h, 1, al, &out);
        else
            e = ak_page_alloc_pages_at(m->h, page_addr(m, m->slot[0].first), 1, al, &out);
        break;
    }
    case 5: { /* huge counts */
        static const size_t counts[] = {SIZE_MAX, SIZE_MAX / PAGE + 1, TOP_BIT, 0};
        size_t n = counts[ak_src_below(s, 4)];
        if (n == 0)
            n = m->total - m->used + 1;
        mask = E(AK_ERR_NO_MEMORY) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "alloc_pages(%zu)", n);
        if (ak_src_below(s, 2))
            e = ak_page_alloc_pages(m->h, n, PAGE, &out);
        else
            e = ak_page_alloc_pages_at(m->h, page_addr(m, m->slot[0].first), n, PAGE, &out);
        break;
    }
    case 6: { /* dealloc outside the window, or wrapping the address space */
        uintptr_t pos = ak_src_below(s, 2) ? m->base - 16 * PAGE : ak_align_down(UINTPTR_MAX, PAGE);
        size_t n = 2 + (size_t)ak_src_below(s, 4);
        mask = E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "dealloc_pages(%#lx, %zu) outside", (unsigned long)pos, n);
        e = ak_page_dealloc_pages(m->h, pos, n);
        if (ak_src_below(s, 2) == 0 && err_in(e, mask)) {
            snprintf(what, sizeof what, "dealloc_pages(%#lx, SIZE_MAX)", (unsigned long)m->base);
            e = ak_page_dealloc_pages(m->h, page_addr(m, m->slot[0].first), SIZE_MAX);
        }
        break;
    }
    case 7: { /* add_memory overlapping */
        int r = (int)ak_src_below(s, PSLOTS);
        if (!m->slot[r].added)
            r = 0;
        uintptr_t start = m->slot[r].start;
        size_t size = m->slot[r].size;
        unsigned w = (unsigned)ak_src_below(s, 3);
        if (w == 1) {
            start = page_addr(m, m->slot[r].first + m->slot[r].n - 1);
            size = 64 * PAGE;
        } else if (w == 2 && m->slot[r].first >= 8) {
            start = page_addr(m, m->slot[r].first) - 8 * PAGE;
            size = 9 * PAGE;
        }
        mask = E(AK_ERR_MEMORY_OVERLAP);
        snprintf(what, sizeof what, "add_memory(%#lx, %zu) overlapping", (unsigned long)start,
                 size);
        e = ak_page_add_memory(m->h, start, size);
        break;
    }
    case 8: { /* wrapping or too small region */
        uintptr_t start;
        size_t size;
        if (ak_src_below(s, 2)) {
            start = UINTPTR_MAX - (uintptr_t)ak_src_below(s, 8) * PAGE;
            size = 64 * PAGE;
        } else {
            /* less than one whole page, placed after the window */
            start = m->base + (uintptr_t)m->npages * PAGE + 1 + (uintptr_t)ak_src_below(s, 100);
            size = (size_t)ak_src_below(s, PAGE);
        }
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "add_memory(%#lx, %zu) wrapping or too small",
                 (unsigned long)start, size);
        e = ak_page_add_memory(m->h, start, size);
        break;
    }
    case 9: { /* alloc_pages_at with a base that is not aligned as asked */
        size_t al = src_pow2(s, 13, 20);
        uintptr_t base = ak_align_up(page_addr(m, m->slot[0].first), al) + PAGE;
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        snprintf(what, sizeof what, "alloc_pages_at(%#lx, 1, align %zu) misaligned",
                 (unsigned long)base, al);
        e = ak_page_alloc_pages_at(m->h, base, 1, al, &out);
        break;
    }
    case 10: { /* alloc_pages_at of used pages */
        if (!m->nruns)
            return;
        page_run r = m->runs[ak_src_below(s, m->nruns)];
        size_t lo = r.first > 2 ? r.first - 2 : 0;
        mask = E(AK_ERR_NO_MEMORY);
        if (page_range_state(m, lo, r.first + 1 - lo) == P_NONE)
            mask |= E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "alloc_pages_at(%#lx, %zu) over used pages",
                 (unsigned long)page_addr(m, lo), r.first + 1 - lo);
        e = ak_page_alloc_pages_at(m->h, page_addr(m, lo), r.first + 1 - lo, PAGE, &out);
        break;
    }
    case 11: { /* alloc_pages_at unaligned base address */
        uintptr_t base = page_addr(m, m->slot[0].first) + 1 + (uintptr_t)ak_src_below(s, 4000);
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        snprintf(what, sizeof what, "alloc_pages_at(%#lx) unaligned", (unsigned long)base);
        e = ak_page_alloc_pages_at(m->h, base, 1, PAGE, &out);
        break;
    }
    default: { /* alloc_pages_at near the top of the address space */
        uintptr_t base = ak_align_down(UINTPTR_MAX, PAGE) - (uintptr_t)ak_src_below(s, 4) * PAGE;
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        snprintf(what, sizeof what, "alloc_pages_at(%#lx, 16) at the top", (unsigned long)base);
        e = ak_page_alloc_pages_at(m->h, base, 16, PAGE, &out);
        break;
    }
    }
    m->n.bad_calls++;
    if (!err_in(e, mask))
        PFAIL(m, "bad call %s gave %s", what, ak_error_name(e));
    if (ak_page_total_pages(m->h) != t0 || ak_page_used_pages(m->h) != u0 ||
        ak_page_available_pages(m->h) != a0)
        PFAIL(m, "bad call %s changed the statistics", what);
    page_check_invariants(m, what);
}

ak_page_model *ak_page_model_new(const ak_page_contender *c, size_t window_pages, ak_src *src)
{
    ak_page_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->c = c;
    if (window_pages > c->capacity_pages)
        window_pages = c->capacity_pages;
    m->npages = window_pages;
    m->base = (uintptr_t)1 << 30;
    m->obj = calloc(1, c->obj_size);
    m->state = calloc(1, m->npages);
    m->max_runs = 4096;
    m->runs = calloc(m->max_runs + 2, sizeof *m->runs);
    if (!m->obj || !m->state || !m->runs) {
        ak_page_model_free(m);
        return NULL;
    }
    if (!c->make(m->obj, &m->h))
        PFAIL(m, "setting up the allocator failed");
    if (ak_page_page_size(m->h) != PAGE)
        PFAIL(m, "page_size %zu", ak_page_page_size(m->h));
    /* Slots in increasing address order with gaps of >= 8 pages; the
     * first may start at page 0 (1 GiB aligned) so 1 GiB alignment can
     * succeed. Edges are unaligned by a random amount and trimmed. */
    size_t span = m->npages / PSLOTS;
    for (int i = 0; i < PSLOTS; i++) {
        size_t lead = (i == 0 && ak_src_below(src, 2)) ? 0 : 8 + (size_t)ak_src_below(src, 8);
        size_t first = (size_t)i * span + lead;
        size_t n = span - lead - 8 - (size_t)ak_src_below(src, 8);
        size_t pre = (lead && ak_src_below(src, 2)) ? 1 + (size_t)ak_src_below(src, PAGE - 1) : 0;
        size_t post = ak_src_below(src, 2) ? (size_t)ak_src_below(src, PAGE) : 0;
        m->slot[i].first = first;
        m->slot[i].n = n;
        m->slot[i].start = page_addr(m, first) - pre;
        m->slot[i].size = n * PAGE + pre + post;
    }
    page_add_slot(m, 0, 1);
    return m;
}

void ak_page_model_step(ak_page_model *m, ak_src *s)
{
    m->n.ops++;
    /* Bad calls are 3% here (4% in the byte model): each is followed by
     * the check, and a page allocator's check walks its whole bitmap,
     * whatever the window used. */
    unsigned k = (unsigned)ak_src_below(s, 1000);
    if (k < 380)
        page_op_alloc(m, s);
    else if (k < 500)
        page_op_alloc_at(m, s);
    else if (k < 966)
        page_op_free(m, s);
    else if (k < 969) {
        int from = (int)ak_src_below(s, PSLOTS); /* random order: some go below */
        for (int j = 0; j < PSLOTS; j++)
            if (!m->slot[(from + j) % PSLOTS].added) {
                page_add_slot(m, (from + j) % PSLOTS, 0);
                break;
            }
    } else if (k < 970)
        ak_page_model_drain(m);
    else
        page_op_bad(m, s);
    page_check_stats(m);
    if (m->n.ops % 256 == 0)
        page_check_invariants(m, "an operation");
}

void ak_page_model_drain(ak_page_model *m)
{
    while (m->nruns) {
        page_run r = m->runs[--m->nruns];
        ak_error e = ak_page_dealloc_pages(m->h, page_addr(m, r.first), r.n);
        if (e != AK_OK)
            PFAIL(m, "dealloc_pages(%#lx, %zu) gave %s", (unsigned long)page_addr(m, r.first), r.n,
                  ak_error_name(e));
        memset(m->state + r.first, P_FREE, r.n);
        m->used -= r.n;
    }
    page_check_stats(m);
    page_check_invariants(m, "freeing everything");
    /* Everything is free again: each region is one free run. */
    for (int i = 0; i < PSLOTS; i++) {
        if (!m->slot[i].added)
            continue;
        uintptr_t out;
        ak_error e =
            ak_page_alloc_pages_at(m->h, page_addr(m, m->slot[i].first), m->slot[i].n, PAGE, &out);
        if (e != AK_OK)
            PFAIL(m, "after freeing everything, alloc_pages_at of region %d whole gave %s", i,
                  ak_error_name(e));
        e = ak_page_dealloc_pages(m->h, out, m->slot[i].n);
        if (e != AK_OK)
            PFAIL(m, "dealloc of region %d whole gave %s", i, ak_error_name(e));
    }
    page_check_stats(m);
}

void ak_page_model_free(ak_page_model *m)
{
    if (!m)
        return;
    free(m->obj);
    free(m->state);
    free(m->runs);
    free(m);
}

ak_model_counts ak_page_model_counts(const ak_page_model *m)
{
    return m->n;
}

/* ------------------------------------------------------------------ */
/* ID model                                                            */
/* ------------------------------------------------------------------ */

#define ISLOTS 5

struct ak_id_model {
    const ak_id_contender *c;
    void *obj;
    ak_id_allocator h;
    size_t base; /* ID of window index 0 */
    size_t nids;
    uint8_t *state; /* P_NONE / P_FREE / P_USED */
    size_t *runlen; /* scratch for the lowest-first scan */
    struct {
        size_t first, n;
        int added;
    } slot[ISLOTS];
    page_run *runs;
    size_t nruns, max_runs;
    size_t total, used;
    ak_model_counts n;
};

#define IFAIL(m, ...) model_fail((m)->c->name, (m)->n.ops, __VA_ARGS__)

static void id_check_stats(ak_id_model *m)
{
    size_t t = ak_id_size(m->h), u = ak_id_used(m->h), a = ak_id_available(m->h);
    if (t != m->total)
        IFAIL(m, "size %zu, model %zu", t, m->total);
    if (u != m->used)
        IFAIL(m, "used %zu, model %zu", u, m->used);
    if (a != t - u)
        IFAIL(m, "available %zu != %zu - %zu", a, t, u);
}

static void id_check_invariants(ak_id_model *m, const char *after)
{
    const char *why = ak_id_check(m->h);
    if (why)
        IFAIL(m, "after %s: check: %s", after, why);
}

static int id_range_state(const ak_id_model *m, size_t first, size_t n)
{
    return shadow_range_state(m->state, m->nids, first, n);
}

static void id_record(ak_id_model *m, size_t first, size_t n)
{
    shadow_record(m->state, m->runs, &m->nruns, &m->used, first, n);
}

/* The lowest window index whose ID is a multiple of align and which starts
 * n free IDs, or (size_t)-1. */
static size_t id_lowest_fit(ak_id_model *m, size_t n, size_t align)
{
    size_t run = 0;
    for (size_t i = m->nids; i-- > 0;) {
        run = m->state[i] == P_FREE ? run + 1 : 0;
        m->runlen[i] = run;
    }
    size_t i = (size_t)(ak_align_up(m->base, align) - m->base);
    if (ak_align_up(m->base, align) < m->base) /* wrapped: no multiple in range */
        return (size_t)-1;
    for (; i < m->nids; i += align) {
        if (m->runlen[i] >= n)
            return i;
        if (align > m->nids)
            break;
    }
    return (size_t)-1;
}

static void id_op_alloc(ak_id_model *m, ak_src *s)
{
    if (m->nruns >= m->max_runs)
        return;
    unsigned k = (unsigned)ak_src_below(s, 100);
    size_t n = k < 70 ? 1 : k < 95 ? 1 + (size_t)ak_src_below(s, 16) : src_log(s, 17, 512);
    size_t align = ak_src_below(s, 3) ? 1 : src_pow2(s, 1, 8);
    size_t want = id_lowest_fit(m, n, align);
    size_t out = 0;
    ak_error e = ak_id_alloc_id(m->h, n, align, &out);
    if (want == (size_t)-1) {
        if (e != AK_ERR_NO_MEMORY)
            IFAIL(m, "alloc_id(%zu, align %zu) gave %s (id %zu); no such run is free", n, align,
                  ak_error_name(e), out);
        m->n.no_memory++;
        return;
    }
    if (e != AK_OK)
        IFAIL(m, "alloc_id(%zu, align %zu) gave %s; id %zu.. is free", n, align, ak_error_name(e),
              m->base + want);
    if (out != m->base + want)
        IFAIL(m, "alloc_id(%zu, align %zu) gave id %zu, lowest fit is %zu", n, align, out,
              m->base + want);
    id_record(m, want, n);
    m->n.ok++;
}

static void id_op_fixed(ak_id_model *m, ak_src *s)
{
    if (m->nruns >= m->max_runs)
        return;
    size_t idx = (size_t)ak_src_below(s, m->nids + 16);
    size_t id = m->base + idx - 8;
    int st = idx >= 8 ? id_range_state(m, idx - 8, 1) : P_NONE;
    ak_error e = ak_id_alloc_fixed_id(m->h, id);
    ak_error want = st == P_FREE ? AK_OK : st == P_USED ? AK_ERR_NO_MEMORY : AK_ERR_INVALID_PARAM;
    if (e != want)
        IFAIL(m, "alloc_fixed_id(%zu) gave %s, expected %s", id, ak_error_name(e),
              ak_error_name(want));
    if (e == AK_OK) {
        id_record(m, idx - 8, 1);
        m->n.ok++;
    }
}

static void id_op_free(ak_id_model *m, ak_src *s)
{
    if (!m->nruns)
        return;
    size_t i = (size_t)ak_src_below(s, m->nruns);
    page_run r = m->runs[i];
    size_t lo = 0, n = r.n;
    if (r.n > 1 && ak_src_below(s, 4) == 0) {
        lo = (size_t)ak_src_below(s, r.n);
        n = 1 + (size_t)ak_src_below(s, r.n - lo);
    }
    ak_error e = ak_id_dealloc_id(m->h, m->base + r.first + lo, n);
    if (e != AK_OK)
        IFAIL(m, "dealloc_id(%zu, %zu) of allocated IDs gave %s", m->base + r.first + lo, n,
              ak_error_name(e));
    memset(m->state + r.first + lo, P_FREE, n);
    m->used -= n;
    m->runs[i] = m->runs[--m->nruns];
    if (lo)
        id_record(m, r.first, lo), m->used -= lo;
    if (lo + n < r.n)
        id_record(m, r.first + lo + n, r.n - lo - n), m->used -= r.n - lo - n;
    m->n.frees++;
}

static void id_op_probe(ak_id_model *m, ak_src *s)
{
    static const size_t far[] = {0, SIZE_MAX, TOP_BIT};
    size_t f = far[ak_src_below(s, 3)];
    if (ak_id_is_allocated(m->h, f))
        IFAIL(m, "is_allocated(%zu) outside every range", f);
    for (int k = 0; k < 4; k++) {
        size_t idx = (size_t)ak_src_below(s, m->nids + 16);
        size_t id = m->base + idx - 8;
        int want = idx >= 8 && idx - 8 < m->nids && m->state[idx - 8] == P_USED;
        if (ak_id_is_allocated(m->h, id) != want)
            IFAIL(m, "is_allocated(%zu) is %d, model %d", id, !want, want);
    }
}

static void id_add_slot(ak_id_model *m, int i, int first_one)
{
    size_t start = m->base + m->slot[i].first;
    ak_error e = first_one ? ak_id_init(m->h, start, m->slot[i].n)
                           : ak_id_add_memory(m->h, start, m->slot[i].n);
    if (e != AK_OK)
        IFAIL(m, "%s(%zu, %zu) gave %s", first_one ? "init" : "add_memory", start, m->slot[i].n,
              ak_error_name(e));
    m->slot[i].added = 1;
    memset(m->state + m->slot[i].first, P_FREE, m->slot[i].n);
    m->total += m->slot[i].n;
    m->n.regions++;
    id_check_stats(m);
    id_check_invariants(m, first_one ? "init" : "add_memory");
}

static void id_op_bad(ak_id_model *m, ak_src *s)
{
    size_t t0 = ak_id_size(m->h), u0 = ak_id_used(m->h), a0 = ak_id_available(m->h);
    unsigned mask;
    ak_error e;
    size_t out = 0;
    char what[160];
    unsigned kind = (unsigned)ak_src_below(s, 10);
    switch (kind) {
    case 0: { /* free IDs that are not all allocated */
        size_t idx = (size_t)ak_src_below(s, m->nids);
        size_t n = 1 + (size_t)ak_src_below(s, 8);
        int st = id_range_state(m, idx, n);
        if (st == P_USED)
            return;
        mask = st == P_NONE ? E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM)
                            : E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "dealloc_id(%zu, %zu) of IDs not all allocated", m->base + idx,
                 n);
        e = ak_id_dealloc_id(m->h, m->base + idx, n);
        break;
    }
    case 1: { /* an allocation and one more */
        if (!m->nruns)
            return;
        page_run r = m->runs[ak_src_below(s, m->nruns)];
        int st = id_range_state(m, r.first, r.n + 1);
        if (st == P_USED)
            return;
        mask = st == P_NONE ? E(AK_ERR_NOT_ALLOCATED) | E(AK_ERR_INVALID_PARAM)
                            : E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "dealloc_id(%zu, %zu) one too many", m->base + r.first,
                 r.n + 1);
        e = ak_id_dealloc_id(m->h, m->base + r.first, r.n + 1);
        break;
    }
    case 2: /* zero count */
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "alloc_id(0)");
        e = ak_id_alloc_id(m->h, 0, 1, &out);
        break;
    case 3: { /* dealloc zero count */
        size_t id = m->nruns ? m->base + m->runs[0].first : m->base;
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "dealloc_id(%zu, 0)", id);
        e = ak_id_dealloc_id(m->h, id, 0);
        break;
    }
    case 4: { /* alignments that are not powers of two */
        static const size_t aligns[] = {0, 3, 6, 12, 100, SIZE_MAX, TOP_BIT | 1};
        size_t al = aligns[ak_src_below(s, 7)];
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "alloc_id(1, align %zu)", al);
        e = ak_id_alloc_id(m->h, 1, al, &out);
        break;
    }
    case 5: { /* huge alignment or count */
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        if (ak_src_below(s, 2)) {
            size_t al = TOP_BIT >> ak_src_below(s, 2);
            snprintf(what, sizeof what, "alloc_id(1, align %zu)", al);
            e = ak_id_alloc_id(m->h, 1, al, &out);
        } else {
            static const size_t counts[] = {SIZE_MAX, TOP_BIT, 0};
            size_t n = counts[ak_src_below(s, 3)];
            if (n == 0)
                n = m->total - m->used + 1;
            snprintf(what, sizeof what, "alloc_id(%zu)", n);
            e = ak_id_alloc_id(m->h, n, 1, &out);
        }
        break;
    }
    case 6: { /* fixed ID outside every range */
        static const size_t far[] = {SIZE_MAX, TOP_BIT, 0};
        size_t id = far[ak_src_below(s, 3)];
        if (id == 0)
            id = m->base + m->nids + 100;
        mask = E(AK_ERR_INVALID_PARAM);
        snprintf(what, sizeof what, "alloc_fixed_id(%zu) outside", id);
        e = ak_id_alloc_fixed_id(m->h, id);
        break;
    }
    case 7: { /* dealloc wrapping, or far outside */
        size_t id = SIZE_MAX - (size_t)ak_src_below(s, 4);
        size_t n = 8;
        if (ak_src_below(s, 2)) {
            id = m->base + (m->nruns ? m->runs[0].first : 0);
            n = SIZE_MAX;
        }
        mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NOT_ALLOCATED);
        snprintf(what, sizeof what, "dealloc_id(%zu, %zu)", id, n);
        e = ak_id_dealloc_id(m->h, id, n);
        break;
    }
    case 8: { /* add_memory overlapping */
        int r = (int)ak_src_below(s, ISLOTS);
        if (!m->slot[r].added)
            r = 0;
        size_t start = m->base + m->slot[r].first, n = m->slot[r].n;
        unsigned w = (unsigned)ak_src_below(s, 3);
        if (w == 1) {
            start += n - 1;
            n = 4;
        } else if (w == 2) {
            start -= 2;
            n = 3;
        }
        mask = E(AK_ERR_MEMORY_OVERLAP);
        snprintf(what, sizeof what, "add_memory(%zu, %zu) overlapping", start, n);
        e = ak_id_add_memory(m->h, start, n);
        break;
    }
    default: { /* add_memory wrapping, empty or beyond capacity */
        size_t start, n;
        unsigned w = (unsigned)ak_src_below(s, 3);
        if (w == 0) {
            start = SIZE_MAX - 5;
            n = 100;
            mask = E(AK_ERR_INVALID_PARAM);
        } else if (w == 1) {
            start = m->base + m->nids + 1000;
            n = 0;
            mask = E(AK_ERR_INVALID_PARAM);
        } else {
            start = m->base + m->nids + 1000;
            n = m->c->capacity_ids + 1;
            mask = E(AK_ERR_INVALID_PARAM) | E(AK_ERR_NO_MEMORY);
        }
        snprintf(what, sizeof what, "add_memory(%zu, %zu) wrapping/empty/too big", start, n);
        e = ak_id_add_memory(m->h, start, n);
        break;
    }
    }
    m->n.bad_calls++;
    if (!err_in(e, mask))
        IFAIL(m, "bad call %s gave %s", what, ak_error_name(e));
    if (ak_id_size(m->h) != t0 || ak_id_used(m->h) != u0 || ak_id_available(m->h) != a0)
        IFAIL(m, "bad call %s changed the statistics", what);
    id_check_invariants(m, what);
}

ak_id_model *ak_id_model_new(const ak_id_contender *c, size_t window_ids, ak_src *src)
{
    ak_id_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->c = c;
    if (window_ids > c->capacity_ids)
        window_ids = c->capacity_ids;
    m->nids = window_ids;
    /* An odd base, so alignment is visibly of the absolute ID. */
    m->base = 1000 + 2 * (size_t)ak_src_below(src, 64) + 1;
    m->obj = calloc(1, c->obj_size);
    m->state = calloc(1, m->nids);
    m->runlen = calloc(m->nids + 1, sizeof *m->runlen);
    m->max_runs = 4096;
    m->runs = calloc(m->max_runs + 2, sizeof *m->runs);
    if (!m->obj || !m->state || !m->runlen || !m->runs) {
        ak_id_model_free(m);
        return NULL;
    }
    m->h = c->make(m->obj);
    size_t span = m->nids / ISLOTS;
    for (int i = 0; i < ISLOTS; i++) {
        size_t lead = (i == 0 && ak_src_below(src, 2)) ? 0 : 4 + (size_t)ak_src_below(src, 8);
        m->slot[i].first = (size_t)i * span + lead;
        m->slot[i].n = span - lead - 4 - (size_t)ak_src_below(src, 8);
    }
    id_add_slot(m, 0, 1);
    return m;
}

void ak_id_model_step(ak_id_model *m, ak_src *s)
{
    m->n.ops++;
    unsigned k = (unsigned)ak_src_below(s, 1000);
    if (k < 350)
        id_op_alloc(m, s);
    else if (k < 420)
        id_op_fixed(m, s);
    else if (k < 800)
        id_op_free(m, s);
    else if (k < 880)
        id_op_probe(m, s);
    else if (k < 883) {
        int from = (int)ak_src_below(s, ISLOTS); /* random order: some go below */
        for (int j = 0; j < ISLOTS; j++)
            if (!m->slot[(from + j) % ISLOTS].added) {
                id_add_slot(m, (from + j) % ISLOTS, 0);
                break;
            }
    } else if (k < 884)
        ak_id_model_drain(m);
    else
        id_op_bad(m, s);
    id_check_stats(m);
    if (m->n.ops % 16 == 0)
        id_check_invariants(m, "an operation");
}

void ak_id_model_drain(ak_id_model *m)
{
    while (m->nruns) {
        page_run r = m->runs[--m->nruns];
        ak_error e = ak_id_dealloc_id(m->h, m->base + r.first, r.n);
        if (e != AK_OK)
            IFAIL(m, "dealloc_id(%zu, %zu) gave %s", m->base + r.first, r.n, ak_error_name(e));
        memset(m->state + r.first, P_FREE, r.n);
        m->used -= r.n;
    }
    id_check_stats(m);
    id_check_invariants(m, "freeing everything");
    for (size_t i = 0; i < m->nids; i++)
        if (ak_id_is_allocated(m->h, m->base + i))
            IFAIL(m, "is_allocated(%zu) after freeing everything", m->base + i);
}

void ak_id_model_free(ak_id_model *m)
{
    if (!m)
        return;
    free(m->obj);
    free(m->state);
    free(m->runlen);
    free(m->runs);
    free(m);
}

ak_model_counts ak_id_model_counts(const ak_id_model *m)
{
    return m->n;
}
