/* Hierarchical bitmap tests: the storage and geometry macros, each
 * operation on hand-made cases (word edges, the top of the capacity,
 * padding), and a randomised model test of every query (next free, next
 * in use, the end of a run, find-run with alignment and phase) against a
 * naive scan of a plain byte-per-unit array, at capacities from one word
 * to four levels.
 * --ops scales the model test (default 1500000 operations over all
 * capacities; --quick 40000). */
#include "testlib.h"

#include "hbitmap.h"

/* ---- a bitmap with its model ---- */

typedef struct hb_pair {
    ak_hb_geom g;
    uint64_t *w;
    unsigned char *model; /* 1 = free */
    size_t n;
} hb_pair;

static void pair_new(hb_pair *p, size_t n)
{
    ak_hb_geom g = AK_HB_GEOM(n);
    p->g = g;
    p->n = n;
    p->w = (uint64_t *)malloc(AK_HB_STORAGE_WORDS(n) * sizeof(uint64_t));
    p->model = (unsigned char *)calloc(n, 1);
    /* Garbage first: ak_hb_clear must produce the empty bitmap. */
    memset(p->w, 0xa5, AK_HB_STORAGE_WORDS(n) * sizeof(uint64_t));
    ak_hb_clear(&p->g, p->w);
}

static void pair_free(hb_pair *p)
{
    free(p->w);
    free(p->model);
}

static size_t naive_next(const hb_pair *p, size_t from, int want_free)
{
    for (size_t i = from; i < p->n; i++)
        if (p->model[i] == want_free)
            return i;
    return want_free ? AK_HB_NONE : p->n;
}

/* Lowest i >= from, i = phase (mod align), [i, i+len) free; by a backward
 * pass for run lengths, then a walk over the candidates. */
static size_t naive_find(const hb_pair *p, size_t *runlen, size_t from, size_t len, size_t align,
                         size_t phase)
{
    size_t run = 0;
    for (size_t i = p->n; i-- > 0;) {
        run = p->model[i] ? run + 1 : 0;
        runlen[i] = run;
    }
    if (from >= p->n)
        return AK_HB_NONE;
    size_t i = from + ((phase - from) & (align - 1));
    if (i < from) /* wrapped */
        return AK_HB_NONE;
    for (; i < p->n; i += align) {
        if (runlen[i] >= len)
            return i;
        if (i + align < i)
            break;
    }
    return AK_HB_NONE;
}

static void pair_set(hb_pair *p, size_t start, size_t len, int free_it)
{
    if (free_it)
        ak_hb_set_free(&p->g, p->w, start, len);
    else
        ak_hb_set_used(&p->g, p->w, start, len);
    memset(p->model + start, free_it, len);
}

static void pair_verify_bits(const hb_pair *p)
{
    for (size_t i = 0; i < p->n; i++)
        CHECKF(ak_hb_is_free(p->w, i) == (p->model[i] != 0), "unit %zu", i);
    size_t expect = 0;
    for (size_t i = 0; i < p->n; i++)
        expect += p->model[i];
    CHECK(ak_hb_count_free(p->w, 0, p->n) == expect);
    CHECK(ak_hb_count_all_free(&p->g, p->w) == expect);
    CHECK_INVARIANTS(ak_hb_check(&p->g, p->w));
}

/* ---- geometry ---- */

static void test_geometry(void)
{
    /* One word: level 0 only. */
    ak_hb_geom g1 = AK_HB_GEOM(1);
    CHECK(g1.levels == 1 && g1.words[0] == 1);
    CHECK(AK_HB_STORAGE_WORDS(1) == 1 && AK_HB_STORAGE_WORDS(64) == 1);
    /* 65 units: two level-0 words and one summary word of each kind. */
    ak_hb_geom g65 = AK_HB_GEOM(65);
    CHECK(g65.levels == 2 && g65.words[0] == 2 && g65.words[1] == 1);
    CHECK(g65.any[1] == 2 && g65.full[1] == 3 && g65.cls == 4 && g65.dirty[1] == 16);
    CHECK(AK_HB_STORAGE_WORDS(65) == 2 + 3 * 1 + 12 * 1);
    /* The page allocator's capacities. */
    ak_hb_geom g256m = AK_HB_GEOM(65536u);
    CHECK(g256m.levels == 3 && g256m.words[0] == 1024 && g256m.words[1] == 16 &&
          g256m.words[2] == 1);
    CHECK(AK_HB_STORAGE_WORDS(65536u) == 1024 + 3 * (16 + 1) + 12 * 16);
    ak_hb_geom g4g = AK_HB_GEOM(1048576u);
    CHECK(g4g.levels == 4 && g4g.words[0] == 16384 && g4g.words[1] == 256 && g4g.words[2] == 4 &&
          g4g.words[3] == 1);
    CHECK(g4g.any[1] == 16384 && g4g.full[1] == 16384 + 256 && g4g.any[2] == 16384 + 512 &&
          g4g.full[2] == 16384 + 516 && g4g.any[3] == 16384 + 520 && g4g.full[3] == 16384 + 521);
    CHECK(g4g.cls == 16384 + 522 && g4g.dirty[1] == 16384 + 522 + 12 * 256 &&
          g4g.dirty[2] == g4g.dirty[1] + 256 && g4g.dirty[3] == g4g.dirty[2] + 4);
    CHECK(AK_HB_STORAGE_WORDS(1048576u) == 16384 + 3 * (256 + 4 + 1) + 12 * 256);
    ak_hb_geom g1t = AK_HB_GEOM(268435456u);
    CHECK(g1t.levels == 5 && g1t.words[4] == 1 && g1t.words[3] == 16);
    CHECK(AK_HB_STORAGE_WORDS(268435456u) == 4194304 + 3 * (65536 + 1024 + 16 + 1) + 12 * 65536);
    /* Exactly 64^k units still has a one-word top. */
    ak_hb_geom g4096 = AK_HB_GEOM(4096u);
    CHECK(g4096.levels == 2 && g4096.words[1] == 1);
    ak_hb_geom g4097 = AK_HB_GEOM(4097u);
    CHECK(g4097.levels == 3 && g4097.words[1] == 2 && g4097.words[2] == 1);
    CHECK(AK_HB_FITS(1u) && AK_HB_FITS(268435456u) && !AK_HB_FITS(0u));
    CHECK(AK_HB_FITS((uint64_t)1 << 36) && !AK_HB_FITS(((uint64_t)1 << 36) + 1));
}

/* ---- hand-made cases ---- */

static void test_empty_and_full(void)
{
    const size_t sizes[] = {1, 63, 64, 65, 127, 128, 4095, 4096, 4097, 262145};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        hb_pair p;
        size_t n = sizes[s];
        pair_new(&p, n);
        CHECK_INVARIANTS(ak_hb_check(&p.g, p.w));
        CHECK(ak_hb_next_free(&p.g, p.w, 0) == AK_HB_NONE);
        CHECK(ak_hb_next_used(&p.g, p.w, 0) == 0);
        CHECK(ak_hb_find(&p.g, p.w, 0, 1, 1, 0) == AK_HB_NONE);
        pair_set(&p, 0, n, 1);
        CHECK_INVARIANTS(ak_hb_check(&p.g, p.w));
        CHECK(ak_hb_next_free(&p.g, p.w, 0) == 0);
        CHECK(ak_hb_next_free(&p.g, p.w, n - 1) == n - 1);
        CHECK(ak_hb_next_free(&p.g, p.w, n) == AK_HB_NONE);
        CHECK(ak_hb_next_used(&p.g, p.w, 0) == n);
        CHECK(ak_hb_next_used(&p.g, p.w, n - 1) == n);
        CHECK(ak_hb_find(&p.g, p.w, 0, n, 1, 0) == 0);
        CHECK(ak_hb_find(&p.g, p.w, 1, n, 1, 0) == AK_HB_NONE);
        CHECK(ak_hb_find(&p.g, p.w, 0, n + 1, 1, 0) == AK_HB_NONE);
        CHECK(ak_hb_count_free(p.w, 0, n) == n);
        /* The last unit alone. */
        pair_set(&p, 0, n, 0);
        pair_set(&p, n - 1, 1, 1);
        CHECK_INVARIANTS(ak_hb_check(&p.g, p.w));
        CHECK(ak_hb_next_free(&p.g, p.w, 0) == n - 1);
        CHECK(ak_hb_find(&p.g, p.w, 0, 1, 1, 0) == n - 1);
        CHECK(ak_hb_find(&p.g, p.w, 0, 2, 1, 0) == AK_HB_NONE);
        CHECK(ak_hb_next_used(&p.g, p.w, n - 1) == n);
        pair_set(&p, n - 1, 1, 0);
        CHECK_INVARIANTS(ak_hb_check(&p.g, p.w));
        CHECK(ak_hb_next_free(&p.g, p.w, 0) == AK_HB_NONE);
        pair_free(&p);
    }
}

/* The checker sees corruption in uniform (all in use / all free) groups
 * of words as well as in mixed ones. */
static void test_check_detects(void)
{
    hb_pair p;
    pair_new(&p, 4096 * 3 + 70);
    const ak_hb_geom *g = &p.g;
    uint64_t *w = p.w;
    uint64_t *corrupt[] = {&w[5],      &w[4096 / 64 + 7],   &w[g->any[1]],   &w[g->full[1] + 1],
                           &w[g->cls], &w[g->cls + 12 + 3], &w[g->dirty[2]], &w[g->any[2]]};
    for (int state = 0; state < 3; state++) {
        if (state == 1)
            pair_set(&p, 0, p.n, 1); /* all free */
        if (state == 2)
            pair_set(&p, 100, 5000, 0); /* mixed */
        if (state == 2)                 /* bring the classes up to date */
            (void)ak_hb_find(&p.g, p.w, 0, 3, 1, 0);
        CHECK_INVARIANTS(ak_hb_check(g, w));
        for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
            *corrupt[i] ^= 4;
            CHECKF(ak_hb_check(g, w) != NULL, "state %d corruption %zu not seen", state, i);
            *corrupt[i] ^= 4;
        }
        CHECK_INVARIANTS(ak_hb_check(g, w));
    }
    pair_free(&p);
}

static void test_runs_across_words(void)
{
    hb_pair p;
    pair_new(&p, 4096 * 3 + 5);
    /* 10 free units across the boundary between words 1 and 2. */
    pair_set(&p, 123, 10, 1);
    CHECK(ak_hb_find(&p.g, p.w, 0, 10, 1, 0) == 123);
    CHECK(ak_hb_find(&p.g, p.w, 0, 11, 1, 0) == AK_HB_NONE);
    CHECK(ak_hb_find(&p.g, p.w, 0, 8, 2, 0) == 124);
    CHECK(ak_hb_find(&p.g, p.w, 0, 9, 4, 0) == 124);
    CHECK(ak_hb_find(&p.g, p.w, 0, 10, 4, 0) == AK_HB_NONE);
    CHECK(ak_hb_find(&p.g, p.w, 0, 10, 1, 0) == 123);
    CHECK(ak_hb_find(&p.g, p.w, 0, 7, 4, 1) == 125);
    CHECK(ak_hb_find(&p.g, p.w, 0, 1, 128, 0) == 128);
    CHECK(ak_hb_find(&p.g, p.w, 0, 5, 128, 0) == 128);
    CHECK(ak_hb_find(&p.g, p.w, 0, 6, 128, 0) == AK_HB_NONE);
    /* A run of 200 that starts mid-word and spans four words. */
    pair_set(&p, 1000, 200, 1);
    CHECK(ak_hb_find(&p.g, p.w, 0, 200, 1, 0) == 1000);
    CHECK(ak_hb_find(&p.g, p.w, 0, 64, 64, 0) == 1024);
    CHECK(ak_hb_find(&p.g, p.w, 0, 150, 8, 0) == 1000);
    CHECK(ak_hb_find(&p.g, p.w, 0, 200, 8, 0) == 1000);
    CHECK(ak_hb_find(&p.g, p.w, 0, 200, 16, 0) == AK_HB_NONE);
    CHECK(ak_hb_find(&p.g, p.w, 0, 190, 16, 8) == 1000);
    CHECK(ak_hb_find(&p.g, p.w, 0, 176, 64, 0) == 1024);
    CHECK(ak_hb_find(&p.g, p.w, 0, 177, 64, 0) == AK_HB_NONE);
    CHECK(ak_hb_next_used(&p.g, p.w, 1000) == 1200);
    CHECK(ak_hb_next_used(&p.g, p.w, 1199) == 1200);
    CHECK(ak_hb_next_free(&p.g, p.w, 133) == 1000);
    /* A long run across a level-1 block edge (4096 units). */
    pair_set(&p, 4000, 5000, 1);
    CHECK_INVARIANTS(ak_hb_check(&p.g, p.w));
    CHECK(ak_hb_next_used(&p.g, p.w, 4000) == 9000);
    CHECK(ak_hb_find(&p.g, p.w, 0, 5000, 1, 0) == 4000);
    CHECK(ak_hb_find(&p.g, p.w, 0, 4096, 4096, 0) == 4096);
    CHECK(ak_hb_find(&p.g, p.w, 0, 4096, 4096, 5) == 4101);
    CHECK(ak_hb_find(&p.g, p.w, 0, 4900, 4096, 5) == AK_HB_NONE);
    CHECK(ak_hb_find(&p.g, p.w, 0, 4000, 4096, 4000) == 4000);
    CHECK(ak_hb_find(&p.g, p.w, 4001, 1, 1, 0) == 4001);
    CHECK(ak_hb_find(&p.g, p.w, 0, 1, (size_t)1 << 20, 4000) == 4000);
    pair_free(&p);
}

static void test_shift_up(void)
{
    const size_t n = 4096 * 3 + 100;
    hb_pair p;
    pair_new(&p, n);
    pair_set(&p, 3, 70, 1);
    pair_set(&p, 500, 1, 1);
    pair_set(&p, 4000, 150, 1);
    const size_t shifts[] = {0, 1, 63, 64, 65, 4096};
    size_t total = 0;
    for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++) {
        size_t k = shifts[s];
        ak_hb_shift_up(&p.g, p.w, k);
        memmove(p.model + k, p.model, n - k);
        memset(p.model, 0, k);
        total += k;
        pair_verify_bits(&p);
        CHECK(ak_hb_find(&p.g, p.w, 0, 150, 1, 0) == 4000 + total);
    }
    pair_free(&p);
}

/* ---- the model test ---- */

static void model_run(size_t n, uint64_t ops, ak_rng *r)
{
    hb_pair p;
    pair_new(&p, n);
    size_t *runlen = (size_t *)malloc(n * sizeof(size_t));
    unsigned log_n = 0;
    while (((size_t)1 << log_n) < n)
        log_n++;
    for (uint64_t op = 0; op < ops; op++) {
        unsigned kind = (unsigned)ak_rng_below(r, 100);
        size_t from = ak_rng_below(r, 4) == 0 ? 0 : (size_t)ak_rng_below(r, n + 1);
        if (kind < 40) {
            /* Mark a range; short ones are frequent, long ones make
             * entirely free (or used) words and blocks. */
            size_t len = (size_t)ak_rng_log_uniform(r, 1, n);
            size_t start = (size_t)ak_rng_below(r, n - len + 1);
            pair_set(&p, start, len, (int)ak_rng_below(r, 2));
        } else if (kind < 55) {
            CHECKF(ak_hb_next_free(&p.g, p.w, from) == naive_next(&p, from, 1), "n=%zu from=%zu", n,
                   from);
        } else if (kind < 70) {
            CHECKF(ak_hb_next_used(&p.g, p.w, from) == naive_next(&p, from, 0), "n=%zu from=%zu", n,
                   from);
        } else if (kind < 78 && from < n) {
            /* The run from `from`, up to a limit: where the state changes. */
            size_t end = from + 1 + (size_t)ak_rng_below(r, n - from);
            size_t want = from + 1;
            while (want < end && p.model[want] == p.model[from])
                want++;
            CHECKF(ak_hb_run_end(&p.g, p.w, from, end) == want, "n=%zu from=%zu end=%zu", n, from,
                   end);
        } else {
            size_t len = (size_t)ak_rng_log_uniform(r, 1, n + 1);
            size_t align = (size_t)1 << ak_rng_below(r, log_n + 2);
            size_t phase = (size_t)ak_rng_below(r, align);
            size_t got = ak_hb_find(&p.g, p.w, from, len, align, phase);
            size_t want = naive_find(&p, runlen, from, len, align, phase);
            CHECKF(got == want, "n=%zu from=%zu len=%zu align=%zu phase=%zu: got %zu want %zu", n,
                   from, len, align, phase, got, want);
        }
        if (op % 997 == 0)
            CHECK_INVARIANTS(ak_hb_check(&p.g, p.w));
    }
    pair_verify_bits(&p);
    free(runlen);
    pair_free(&p);
}

static void test_model(void)
{
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    uint64_t total = ak_test_ops(1500000, 40000);
    /* Capacities: one word, word edges, two and three levels with partial
     * top words, four levels. Ops are spread by cost of the naive scan. */
    const size_t sizes[] = {1, 2, 63, 64, 65, 129, 640, 4096, 4097, 12345, 262144 + 4097};
    const unsigned share[] = {2, 2, 4, 4, 4, 6, 10, 20, 20, 20, 8};
    unsigned sum = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        sum += share[s];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint64_t ops = total * share[s] / sum;
        if (sizes[s] > 100000)
            ops /= 20; /* the naive scan is O(n) per query */
        model_run(sizes[s], ops + 10, &r);
    }
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_hbitmap");
    RUN(test_geometry);
    RUN(test_empty_and_full);
    RUN(test_check_detects);
    RUN(test_runs_across_words);
    RUN(test_shift_up);
    RUN(test_model);
    return ak_test_finish();
}
