/* The conformance suite: one program, written once against the three
 * interfaces, run for every allocator of the build (and libc as a control
 * for the byte workloads). ctest runs it once per (allocator, tier):
 *
 *   conformance --alloc=NAME --tier=TIER [--seed=N] [--ops=N] [--quick]
 *
 * NAME: tlsf buddy slab magazine libc (byte), bitmap_page, bitmap_id; --list prints
 * the ones built in. TIER:
 *   api        the contract call by call: empty objects, alignment, size 0,
 *              errors, regions, exhaustion and reuse, usable_size, resize;
 *              the walk against the stats and the live blocks or a model
 *   workloads  (byte) the original crate's test workloads, each on a fresh
 *              128 MiB pool: a growing vector of 3,000,000 u32 then sort;
 *              30,000 x 64 u64 and 7,500 x 520 u64 blocks freed shuffled;
 *              an AVL map with 50,000 operations whose nodes and "key_%u"
 *              strings come from the allocator; 50 and 200,000 random
 *              alloc/free steps, sizes 2^k*[1,2) (k < 16), aligns 1..128
 *   model      the shadow model (model.h) for --ops operations, good calls
 *              and bad ones; a failure names the op number to replay.
 * Every block is filled with a pattern and verified before it is freed;
 * every pointer is checked for alignment and to lie inside the pool.
 * --mutant=overlap|accept_bad_free|lose_region|miscount wraps a byte
 * allocator in a shim with that one fault; the model tier must then fail
 * (ctest's conformance.mutant.* expect the failure). */
#include "testlib.h"

#include "contenders.h"
#include "model.h"
#include "walk_check.h"

static const ak_byte_contender *byte_c;
static const ak_page_contender *page_c;
static const ak_id_contender *id_c;
static const char *tier;

/* ------------------------------------------------------------------ */
/* model failures go to the harness                                    */
/* ------------------------------------------------------------------ */

static uint64_t model_ops_run;

static void on_model_fail(const char *msg)
{
    char full[1024];
    snprintf(full, sizeof full, "%s  [replay: --alloc=%s --tier=%s --seed=%llu --ops=%llu]", msg,
             byte_c   ? byte_c->name
             : page_c ? page_c->name
                      : id_c->name,
             tier, (unsigned long long)ak_t.seed, (unsigned long long)model_ops_run);
    ak_test_fail(__FILE__, __LINE__, full);
}

/* ------------------------------------------------------------------ */
/* byte helpers: a fresh allocator on a fresh pool                      */
/* ------------------------------------------------------------------ */

#define POOL_SIZE ((size_t)128 << 20)

typedef struct pool {
    void *obj;
    ak_byte_allocator h;
    unsigned char *mem;
    size_t size;
} pool;

static unsigned char *pool_mem;

/* used_bytes against the live blocks: each counts at its usable size
 * (core.h). A contender without usable_size (libc) answers the requested
 * size, so there the two sums are the same. */
static bool used_ok(ak_byte_allocator h, size_t requested, size_t usable)
{
    (void)requested;
    return ak_byte_used_bytes(h) == usable;
}

static void pool_open(pool *p, size_t size)
{
    if (!pool_mem) {
        pool_mem = malloc(POOL_SIZE);
        CHECK(pool_mem != NULL);
    }
    CHECK(size <= POOL_SIZE);
    p->obj = calloc(1, byte_c->obj_size);
    CHECK(p->obj != NULL);
    p->mem = pool_mem;
    p->size = size;
    p->h = byte_c->make(p->obj);
    CHECK_OK(ak_byte_init(p->h, (uintptr_t)p->mem, size));
    CHECK(ak_byte_total_bytes(p->h) > 0);
    CHECK(ak_byte_total_bytes(p->h) <= size);
    CHECK(ak_byte_used_bytes(p->h) == 0);
    CHECK_INVARIANTS(ak_byte_check(p->h));
}

static void *pool_alloc(pool *p, size_t size, size_t align)
{
    void *q = NULL;
    ak_error e = ak_byte_alloc(p->h, size, align, &q);
    CHECKF(e == AK_OK, "alloc(%zu, %zu) gave %s", size, align, ak_error_name(e));
    CHECK(q != NULL);
    CHECKF(ak_is_aligned((uintptr_t)q, align), "%p not aligned to %zu", q, align);
    if (byte_c->in_pool)
        CHECKF((uintptr_t)q >= (uintptr_t)p->mem && (uintptr_t)q - (uintptr_t)p->mem <= p->size &&
                   size <= p->size - ((uintptr_t)q - (uintptr_t)p->mem),
               "block %p + %zu outside the pool", q, size);
    return q;
}

static void pool_free(pool *p, void *q, size_t size, size_t align)
{
    ak_error e = ak_byte_dealloc(p->h, q, size, align);
    CHECKF(e == AK_OK, "dealloc(%p, %zu, %zu) gave %s", q, size, align, ak_error_name(e));
}

static void pool_close(pool *p)
{
    CHECKF(ak_byte_used_bytes(p->h) == 0, "used_bytes %zu at the end", ak_byte_used_bytes(p->h));
    CHECK(ak_byte_available_bytes(p->h) == ak_byte_total_bytes(p->h));
    CHECK_INVARIANTS(ak_byte_check(p->h));
    free(p->obj);
    p->obj = NULL;
}

static uint64_t scaled(uint64_t full, uint64_t quick)
{
    return ak_t.quick ? quick : full;
}

/* ------------------------------------------------------------------ */
/* workloads                                                           */
/* ------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* A growable vector: growth allocates a new buffer, copies and frees the
 * old one (whose contents are checked against a running checksum). */
static void workload_vector(void)
{
    pool p;
    pool_open(&p, POOL_SIZE);
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    size_t n = (size_t)scaled(3000000, 100000);
    uint32_t *data = NULL;
    size_t len = 0, cap = 0;
    uint64_t sum = 0, xr = 0;
    for (size_t i = 0; i < n; i++) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            uint32_t *nd = pool_alloc(&p, ncap * sizeof *nd, _Alignof(uint32_t));
            ak_block_fill(nd, ncap * sizeof *nd, ncap);
            if (data) {
                uint64_t s = 0, x = 0;
                for (size_t k = 0; k < len; k++)
                    s += data[k], x ^= (uint64_t)data[k] << (k & 31);
                CHECKF(s == sum && x == xr, "vector buffer of %zu corrupted", cap);
                memcpy(nd, data, len * sizeof *nd);
                pool_free(&p, data, cap * sizeof *data, _Alignof(uint32_t));
            }
            data = nd;
            cap = ncap;
        }
        uint32_t v = (uint32_t)ak_rng_next(&r);
        sum += v;
        xr ^= (uint64_t)v << (len & 31);
        data[len++] = v;
    }
    qsort(data, len, sizeof *data, cmp_u32);
    uint64_t s = 0;
    for (size_t k = 0; k < len; k++) {
        s += data[k];
        if (k)
            CHECKF(data[k - 1] <= data[k], "not sorted at %zu", k);
    }
    CHECK(s == sum);
    pool_free(&p, data, cap * sizeof *data, _Alignof(uint32_t));
    pool_close(&p);
}

static void shuffle(ak_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ak_rng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

static void blocks_phase(pool *p, ak_rng *r, size_t count, size_t words)
{
    uint64_t **b = calloc(count, sizeof *b);
    size_t *order = malloc(count * sizeof *order);
    size_t usable = 0;
    CHECK(b && order);
    for (size_t i = 0; i < count; i++) {
        b[i] = pool_alloc(p, words * 8, 8);
        usable += ak_byte_usable_size(p->h, b[i], words * 8, 8);
        for (size_t w = 0; w < words; w++)
            b[i][w] = (uint64_t)i * 0x100000001b3ull ^ w;
        order[i] = i;
    }
    CHECK(used_ok(p->h, count * words * 8, usable));
    shuffle(r, order, count);
    for (size_t k = 0; k < count; k++) {
        size_t i = order[k];
        for (size_t w = 0; w < words; w++)
            CHECKF(b[i][w] == ((uint64_t)i * 0x100000001b3ull ^ w), "block %zu word %zu", i, w);
        pool_free(p, b[i], words * 8, 8);
    }
    free(b);
    free(order);
}

static void workload_blocks(void)
{
    pool p;
    pool_open(&p, POOL_SIZE);
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    blocks_phase(&p, &r, (size_t)scaled(30000, 3000), 64);
    blocks_phase(&p, &r, (size_t)scaled(7500, 750), 520);
    pool_close(&p);
}

/* ---- an AVL map whose nodes and key strings live in the allocator ---- */

typedef struct map_node {
    struct map_node *left, *right;
    char *key;
    size_t key_size; /* bytes allocated for key, with the NUL */
    uint32_t value;
    int height;
    uint64_t guard; /* checked before the node is freed */
} map_node;

static uint64_t node_guard(const map_node *n)
{
    return ((uint64_t)n->value * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)n->key ^ n->key_size;
}

static int height(const map_node *n)
{
    return n ? n->height : 0;
}

static void fix_height(map_node *n)
{
    int l = height(n->left), r = height(n->right);
    n->height = 1 + (l > r ? l : r);
}

static map_node *rotate_right(map_node *n)
{
    map_node *l = n->left;
    n->left = l->right;
    l->right = n;
    fix_height(n);
    fix_height(l);
    return l;
}

static map_node *rotate_left(map_node *n)
{
    map_node *r = n->right;
    n->right = r->left;
    r->left = n;
    fix_height(n);
    fix_height(r);
    return r;
}

static map_node *rebalance(map_node *n)
{
    fix_height(n);
    int bal = height(n->left) - height(n->right);
    if (bal > 1) {
        if (height(n->left->left) < height(n->left->right))
            n->left = rotate_left(n->left);
        return rotate_right(n);
    }
    if (bal < -1) {
        if (height(n->right->right) < height(n->right->left))
            n->right = rotate_right(n->right);
        return rotate_left(n);
    }
    return n;
}

typedef struct map {
    pool *p;
    map_node *root;
    size_t count;
} map;

static void key_free(map *m, char *key, size_t key_size, uint32_t value)
{
    char want[32];
    snprintf(want, sizeof want, "key_%u", value);
    CHECKF(strlen(want) + 1 == key_size && memcmp(key, want, key_size) == 0,
           "key string of %u corrupted", value);
    pool_free(m->p, key, key_size, 1);
}

static void node_free(map *m, map_node *n)
{
    CHECKF(n->guard == node_guard(n), "map node of %u corrupted", n->value);
    key_free(m, n->key, n->key_size, n->value);
    pool_free(m->p, n, sizeof *n, _Alignof(map_node));
}

/* Insert "key_<value>" -> value. *dup_key receives the new key string if
 * it was already present (the caller frees it, as a map drops it). */
static map_node *map_insert(map *m, map_node *n, char *key, size_t key_size, uint32_t value,
                            char **dup_key)
{
    if (!n) {
        map_node *nn = pool_alloc(m->p, sizeof *nn, _Alignof(map_node));
        nn->left = nn->right = NULL;
        nn->key = key;
        nn->key_size = key_size;
        nn->value = value;
        nn->height = 1;
        nn->guard = node_guard(nn);
        m->count++;
        return nn;
    }
    int c = strcmp(key, n->key);
    if (c < 0)
        n->left = map_insert(m, n->left, key, key_size, value, dup_key);
    else if (c > 0)
        n->right = map_insert(m, n->right, key, key_size, value, dup_key);
    else {
        n->value = value;
        n->guard = node_guard(n);
        *dup_key = key;
        return n;
    }
    return rebalance(n);
}

static map_node *map_pop_first(map_node *n, map_node **out)
{
    if (!n->left) {
        *out = n;
        return n->right;
    }
    n->left = map_pop_first(n->left, out);
    return rebalance(n);
}

/* In-order walk: keys strictly increasing, each parses back to its value,
 * AVL balance holds. Returns the number of nodes. */
static size_t map_walk(const map_node *n, const char **prev, int *h)
{
    if (!n) {
        *h = 0;
        return 0;
    }
    int hl, hr;
    size_t c = map_walk(n->left, prev, &hl);
    if (*prev)
        CHECKF(strcmp(*prev, n->key) < 0, "map order: %s before %s", *prev, n->key);
    *prev = n->key;
    unsigned v;
    char tail;
    CHECKF(sscanf(n->key, "key_%u%c", &v, &tail) == 1 && v == n->value,
           "key %s does not parse to %u", n->key, n->value);
    c += 1 + map_walk(n->right, prev, &hr);
    CHECK(hl - hr <= 1 && hr - hl <= 1);
    CHECK(n->height == 1 + (hl > hr ? hl : hr));
    *h = n->height;
    return c;
}

static void map_destroy(map *m, map_node *n)
{
    if (!n)
        return;
    map_destroy(m, n->left);
    map_destroy(m, n->right);
    node_free(m, n);
}

static void workload_map(void)
{
    pool p;
    pool_open(&p, POOL_SIZE);
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    map m = {&p, NULL, 0};
    size_t ops = (size_t)scaled(50000, 5000), pops = 0;
    for (size_t i = 0; i < ops; i++) {
        if (ak_rng_below(&r, 5) == 0) {
            if (!m.root)
                continue;
            map_node *first;
            m.root = map_pop_first(m.root, &first);
            m.count--;
            pops++;
            node_free(&m, first);
        } else {
            uint32_t v = (uint32_t)ak_rng_next(&r) % 100000u;
            char buf[32];
            int len = snprintf(buf, sizeof buf, "key_%u", v);
            char *key = pool_alloc(&p, (size_t)len + 1, 1);
            memcpy(key, buf, (size_t)len + 1);
            char *dup = NULL;
            m.root = map_insert(&m, m.root, key, (size_t)len + 1, v, &dup);
            if (dup)
                key_free(&m, dup, (size_t)len + 1, v);
        }
    }
    CHECK(pops > 0);
    const char *prev = NULL;
    int h;
    CHECKF(map_walk(m.root, &prev, &h) == m.count, "map walk count");
    CHECK(m.count > 0);
    map_destroy(&m, m.root);
    pool_close(&p);
}

/* Random alloc/free steps: sizes 2^k * [1, 2) for k < 16, aligns 1..128. */
static void random_steps(size_t steps)
{
    pool p;
    pool_open(&p, POOL_SIZE);
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed + steps);
    typedef struct {
        void *p;
        size_t size, align, usable;
        uint64_t tag;
    } blk;
    blk *live = malloc((steps + 1) * sizeof *live);
    CHECK(live != NULL);
    size_t n = 0, used = 0, used_usable = 0;
    for (size_t i = 0; i < steps; i++) {
        if (n && ak_rng_below(&r, 2) == 0) {
            size_t k = (size_t)ak_rng_below(&r, n);
            CHECKF(ak_block_verify(live[k].p, live[k].size, live[k].tag) == (size_t)-1,
                   "block %p corrupted", live[k].p);
            pool_free(&p, live[k].p, live[k].size, live[k].align);
            used -= live[k].size;
            used_usable -= live[k].usable;
            live[k] = live[--n];
        } else {
            size_t base = (size_t)1 << ak_rng_below(&r, 16);
            size_t size = base + (size_t)ak_rng_below(&r, base);
            size_t align = (size_t)1 << ak_rng_below(&r, 8);
            void *q = pool_alloc(&p, size, align);
            ak_block_fill(q, size, i);
            live[n].p = q;
            live[n].size = size;
            live[n].align = align;
            live[n].tag = i;
            live[n].usable = ak_byte_usable_size(p.h, q, size, align);
            used += size;
            used_usable += live[n].usable;
            n++;
        }
        CHECKF(used_ok(p.h, used, used_usable), "used_bytes %zu, expected %zu..%zu",
               ak_byte_used_bytes(p.h), used, used_usable);
    }
    while (n) {
        n--;
        CHECKF(ak_block_verify(live[n].p, live[n].size, live[n].tag) == (size_t)-1,
               "block %p corrupted", live[n].p);
        pool_free(&p, live[n].p, live[n].size, live[n].align);
    }
    free(live);
    pool_close(&p);
}

static void workload_random_50(void)
{
    random_steps(50);
}

static void workload_random_200000(void)
{
    random_steps((size_t)scaled(200000, 20000));
}

/* ------------------------------------------------------------------ */
/* byte api tier                                                       */
/* ------------------------------------------------------------------ */

static void byte_empty_object(void)
{
    void *obj = calloc(1, byte_c->obj_size);
    CHECK(obj != NULL);
    ak_byte_allocator h = byte_c->make(obj);
    CHECK(ak_byte_name(h) != NULL && strlen(ak_byte_name(h)) > 0);
    CHECK(ak_byte_total_bytes(h) == 0);
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK(ak_byte_available_bytes(h) == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
    void *p = NULL;
    CHECK_ERR(ak_byte_alloc(h, 16, 8, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_byte_alloc(h, 0, 1, &p), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_byte_alloc(h, 16, 3, &p), AK_ERR_INVALID_PARAM);
    int local;
    CHECK_ERR(ak_byte_dealloc(h, &local, sizeof local, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_INVARIANTS(ak_byte_check(h));
    free(obj);
}

static void byte_sizes_and_aligns(void)
{
    pool p;
    pool_open(&p, (size_t)4 << 20);
    /* Unaligned edges: re-init on an odd sub-range. */
    free(p.obj);
    p.obj = calloc(1, byte_c->obj_size);
    CHECK(p.obj != NULL);
    p.h = byte_c->make(p.obj);
    p.mem = pool_mem + 3;
    p.size = ((size_t)4 << 20) - 10;
    CHECK_OK(ak_byte_init(p.h, (uintptr_t)p.mem, p.size));
    enum { N = 13 * 40 };
    void *ptrs[N];
    size_t sizes[N], aligns[N];
    size_t k = 0, used = 0, used_usable = 0;
    for (size_t a = 1; a <= 4096; a <<= 1) {
        for (size_t s = 0; s < 40; s++) {
            size_t size = s < 20 ? s : (s - 19) * 37;
            ptrs[k] = pool_alloc(&p, size, a);
            for (size_t j = 0; j < k; j++)
                CHECKF(ptrs[j] != ptrs[k], "two live blocks at %p", ptrs[k]);
            ak_block_fill(ptrs[k], size, k);
            sizes[k] = size;
            aligns[k] = a;
            used += size;
            size_t usable = ak_byte_usable_size(p.h, ptrs[k], size, a);
            CHECKF(usable >= size, "usable_size %zu < %zu", usable, size);
            used_usable += usable;
            CHECK(used_ok(p.h, used, used_usable));
            k++;
        }
    }
    CHECK(k == N);
    CHECK_INVARIANTS(ak_byte_check(p.h));
    /* Free every other block, then the rest in reverse. */
    for (size_t i = 0; i < k; i += 2) {
        CHECK(ak_block_verify(ptrs[i], sizes[i], i) == (size_t)-1);
        pool_free(&p, ptrs[i], sizes[i], aligns[i]);
    }
    CHECK_INVARIANTS(ak_byte_check(p.h));
    for (size_t i = k; i-- > 0;) {
        if (i % 2 == 0)
            continue;
        CHECK(ak_block_verify(ptrs[i], sizes[i], i) == (size_t)-1);
        pool_free(&p, ptrs[i], sizes[i], aligns[i]);
    }
    pool_close(&p);
}

static void byte_usable_size_is_usable(void)
{
    pool p;
    pool_open(&p, (size_t)1 << 20);
    enum { N = 200 };
    void *ptrs[N];
    size_t sizes[N], usable[N];
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    for (size_t i = 0; i < N; i++) {
        sizes[i] = (size_t)ak_rng_log_uniform(&r, 1, 2000);
        ptrs[i] = pool_alloc(&p, sizes[i], 8);
        usable[i] = ak_byte_usable_size(p.h, ptrs[i], sizes[i], 8);
        CHECK(usable[i] >= sizes[i]);
        /* Every usable byte may be written without harming a neighbour. */
        memset(ptrs[i], (int)(i & 0xff), usable[i]);
    }
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < usable[i]; j++)
            CHECKF(((unsigned char *)ptrs[i])[j] == (unsigned char)(i & 0xff),
                   "block %zu byte %zu overwritten", i, j);
        pool_free(&p, ptrs[i], sizes[i], 8);
    }
    pool_close(&p);
}

static void byte_errors(void)
{
    pool p;
    pool_open(&p, (size_t)1 << 20);
    const size_t top = (size_t)1 << (sizeof(size_t) * 8 - 1);
    void *q = NULL;
    static const size_t bad_aligns[] = {0, 3, 5, 6, 12, 24, 100, 4095, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_aligns / sizeof bad_aligns[0]; i++)
        CHECK_ERR(ak_byte_alloc(p.h, 16, bad_aligns[i], &q), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_byte_alloc(p.h, 16, top | 1, &q), AK_ERR_INVALID_PARAM);
    static const size_t huge[] = {SIZE_MAX,         SIZE_MAX - 1, SIZE_MAX - 7,   SIZE_MAX - 4095,
                                  SIZE_MAX / 2 + 1, SIZE_MAX / 2, (size_t)2 << 20};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
        for (size_t a = 1; a <= 4096; a <<= 3) {
            ak_error e = ak_byte_alloc(p.h, huge[i], a, &q);
            CHECKF(e == AK_ERR_NO_MEMORY || e == AK_ERR_INVALID_PARAM, "alloc(%zu, %zu) gave %s",
                   huge[i], a, ak_error_name(e));
        }
    for (size_t a = top; a >= top >> 3; a >>= 1) {
        ak_error e = ak_byte_alloc(p.h, 1, a, &q);
        CHECKF(e == AK_ERR_NO_MEMORY || e == AK_ERR_INVALID_PARAM, "alloc(1, %zu) gave %s", a,
               ak_error_name(e));
    }
    CHECK(ak_byte_used_bytes(p.h) == 0);
    CHECK_INVARIANTS(ak_byte_check(p.h));

    /* Bad frees leave everything as it was. */
    void *a = pool_alloc(&p, 100, 16), *b = pool_alloc(&p, 100, 16);
    ak_block_fill(a, 100, 1);
    ak_block_fill(b, 100, 2);
    size_t used = ak_byte_used_bytes(p.h), avail = ak_byte_available_bytes(p.h);
    int local;
    CHECK_ERR(ak_byte_dealloc(p.h, &local, sizeof local, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_byte_dealloc(p.h, pool_mem + ((size_t)2 << 20), 16, 1), AK_ERR_NOT_ALLOCATED);
    ak_error e = ak_byte_dealloc(p.h, (char *)a + 16, 16, 16);
    CHECKF(e == AK_ERR_NOT_ALLOCATED || e == AK_ERR_INVALID_PARAM, "interior free gave %s",
           ak_error_name(e));
    e = ak_byte_dealloc(p.h, a, 100000, 16);
    CHECKF(e == AK_ERR_NOT_ALLOCATED || e == AK_ERR_INVALID_PARAM, "wrong size gave %s",
           ak_error_name(e));
    e = ak_byte_dealloc(p.h, a, 100, 3);
    CHECKF(e == AK_ERR_NOT_ALLOCATED || e == AK_ERR_INVALID_PARAM, "align 3 gave %s",
           ak_error_name(e));
    CHECK(ak_byte_used_bytes(p.h) == used && ak_byte_available_bytes(p.h) == avail);
    CHECK_INVARIANTS(ak_byte_check(p.h));
    CHECK(ak_block_verify(a, 100, 1) == (size_t)-1 && ak_block_verify(b, 100, 2) == (size_t)-1);
    pool_free(&p, a, 100, 16);
    CHECK_ERR(ak_byte_dealloc(p.h, a, 100, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_INVARIANTS(ak_byte_check(p.h));
    CHECK(ak_block_verify(b, 100, 2) == (size_t)-1);
    pool_free(&p, b, 100, 16);
    CHECK_ERR(ak_byte_dealloc(p.h, b, 100, 16), AK_ERR_NOT_ALLOCATED);
    pool_close(&p);
}

static void byte_regions(void)
{
    void *obj = calloc(1, byte_c->obj_size);
    CHECK(obj != NULL);
    ak_byte_allocator h = byte_c->make(obj);
    if (!pool_mem) {
        pool_mem = malloc(POOL_SIZE);
        CHECK(pool_mem != NULL);
    }
    unsigned char *m = pool_mem;
    const size_t R = 256 << 10;
    /* Region A = [64K, 64K+R); B = [64K+R, 64K+2R) adjacent; C after a gap. */
    uintptr_t A = (uintptr_t)(m + (64 << 10)), B = A + R, C = B + R + 4096;
    CHECK_ERR(ak_byte_init(h, UINTPTR_MAX - 100, 4096), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_byte_init(h, A, 0), AK_ERR_INVALID_PARAM);
    CHECK(ak_byte_total_bytes(h) == 0);
    CHECK_OK(ak_byte_init(h, A, R));
    size_t t1 = ak_byte_total_bytes(h);
    CHECK(t1 > 0 && t1 <= R);
    CHECK_ERR(ak_byte_add_memory(h, A, R), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_byte_add_memory(h, A + 100, 1000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_byte_add_memory(h, A - 1000, 2000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_byte_add_memory(h, A + R - 8, 4096), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_byte_add_memory(h, A - 4096, R + 8192), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_byte_add_memory(h, UINTPTR_MAX - 4095, 8192), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_byte_add_memory(h, C, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_byte_add_memory(h, C + 1, 1), AK_ERR_INVALID_PARAM);
    CHECK(ak_byte_total_bytes(h) == t1);
    CHECK_INVARIANTS(ak_byte_check(h));
    CHECK_OK(ak_byte_add_memory(h, B, R));
    size_t t2 = ak_byte_total_bytes(h);
    CHECK(t2 > t1 && t2 <= 2 * R);
    CHECK_OK(ak_byte_add_memory(h, C + 5, R - 11));
    size_t t3 = ak_byte_total_bytes(h);
    CHECK(t3 > t2 && t3 <= 3 * R);
    CHECK_INVARIANTS(ak_byte_check(h));
    /* Fill all three with 1 KiB blocks; every block lies in one region. */
    enum { MAXB = 1024 };
    void *b[MAXB];
    size_t n = 0, in[3] = {0, 0, 0}, usable = 0;
    while (n < MAXB && ak_byte_alloc(h, 1000, 8, &b[n]) == AK_OK) {
        usable += ak_byte_usable_size(h, b[n], 1000, 8);
        uintptr_t q = (uintptr_t)b[n];
        int which = q >= A && q + 1000 <= A + R                ? 0
                    : q >= B && q + 1000 <= B + R              ? 1
                    : q >= C + 5 && q + 1000 <= C + 5 + R - 11 ? 2
                                                               : -1;
        CHECKF(which >= 0, "block %p not inside one region", b[n]);
        in[which]++;
        ak_block_fill(b[n], 1000, n);
        n++;
    }
    CHECK(n < MAXB);
    CHECKF(in[0] && in[1] && in[2], "regions used: %zu %zu %zu", in[0], in[1], in[2]);
    CHECK(used_ok(h, n * 1000, usable));
    CHECK_INVARIANTS(ak_byte_check(h));
    for (size_t i = 0; i < n; i++) {
        CHECK(ak_block_verify(b[i], 1000, i) == (size_t)-1);
        CHECK_OK(ak_byte_dealloc(h, b[i], 1000, 8));
    }
    CHECK(ak_byte_used_bytes(h) == 0);
    CHECK(ak_byte_total_bytes(h) == t3);
    CHECK_INVARIANTS(ak_byte_check(h));
    free(obj);
}

/* Two objects of the same allocator share nothing: a block of one is
 * foreign to the other, and each one's statistics are its own. */
static void byte_two_instances(void)
{
    if (!pool_mem) {
        pool_mem = malloc(POOL_SIZE);
        CHECK(pool_mem != NULL);
    }
    void *oa = calloc(1, byte_c->obj_size), *ob = calloc(1, byte_c->obj_size);
    CHECK(oa && ob);
    ak_byte_allocator a = byte_c->make(oa), b = byte_c->make(ob);
    const size_t R = 512 << 10;
    CHECK_OK(ak_byte_init(a, (uintptr_t)pool_mem, R));
    CHECK_OK(ak_byte_init(b, (uintptr_t)(pool_mem + R), R));
    void *pa[64], *pb[64];
    for (int i = 0; i < 64; i++) {
        CHECK_OK(ak_byte_alloc(a, 100 + (size_t)i, 8, &pa[i]));
        CHECK_OK(ak_byte_alloc(b, 200 + (size_t)i, 16, &pb[i]));
        CHECK((uintptr_t)pa[i] >= (uintptr_t)pool_mem &&
              (uintptr_t)pa[i] < (uintptr_t)pool_mem + R);
        CHECK((uintptr_t)pb[i] >= (uintptr_t)pool_mem + R &&
              (uintptr_t)pb[i] < (uintptr_t)pool_mem + 2 * R);
        ak_block_fill(pa[i], 100 + (size_t)i, (uint64_t)i);
        ak_block_fill(pb[i], 200 + (size_t)i, (uint64_t)i + 64);
    }
    size_t ua = ak_byte_used_bytes(a), ub = ak_byte_used_bytes(b);
    size_t usable_a = 0, usable_b = 0;
    for (int i = 0; i < 64; i++) {
        usable_a += ak_byte_usable_size(a, pa[i], 100 + (size_t)i, 8);
        usable_b += ak_byte_usable_size(b, pb[i], 200 + (size_t)i, 16);
    }
    CHECK(used_ok(a, 64 * 100 + 63 * 32, usable_a) && used_ok(b, 64 * 200 + 63 * 32, usable_b));
    CHECK_ERR(ak_byte_dealloc(a, pb[3], 203, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_byte_dealloc(b, pa[5], 105, 8), AK_ERR_NOT_ALLOCATED);
    CHECK(ak_byte_used_bytes(a) == ua && ak_byte_used_bytes(b) == ub);
    CHECK_INVARIANTS(ak_byte_check(a));
    CHECK_INVARIANTS(ak_byte_check(b));
    for (int i = 0; i < 64; i++) {
        CHECK(ak_block_verify(pa[i], 100 + (size_t)i, (uint64_t)i) == (size_t)-1);
        CHECK(ak_block_verify(pb[i], 200 + (size_t)i, (uint64_t)i + 64) == (size_t)-1);
        CHECK_OK(ak_byte_dealloc(a, pa[i], 100 + (size_t)i, 8));
        CHECK_OK(ak_byte_dealloc(b, pb[i], 200 + (size_t)i, 16));
    }
    CHECK(ak_byte_used_bytes(a) == 0 && ak_byte_used_bytes(b) == 0);
    free(oa);
    free(ob);
}

/* Largest request after init; fill with small blocks to exhaustion; free
 * all; the largest fits again. Twice, freeing in different orders. */
static void byte_exhaust_and_reuse(void)
{
    pool p;
    pool_open(&p, (size_t)2 << 20);
    size_t lo = 0, hi = p.size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        void *q;
        if (ak_byte_alloc(p.h, mid, 1, &q) == AK_OK) {
            pool_free(&p, q, mid, 1);
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    size_t largest = lo;
    CHECK(largest > 0);
    CHECK(largest <= ak_byte_total_bytes(p.h));
    size_t maxn = p.size / 16 + 16;
    void **b = malloc(maxn * sizeof *b);
    size_t *sz = malloc(maxn * sizeof *sz);
    CHECK(b && sz);
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        for (;;) {
            CHECK(n < maxn);
            sz[n] = round == 0 ? 64 : (size_t)ak_rng_log_uniform(&r, 1, 3000);
            ak_error e = ak_byte_alloc(p.h, sz[n], 8, &b[n]);
            if (e == AK_ERR_NO_MEMORY)
                break;
            CHECK_OK(e);
            CHECK((uintptr_t)b[n] >= (uintptr_t)p.mem &&
                  (uintptr_t)b[n] + sz[n] <= (uintptr_t)p.mem + p.size);
            ak_block_fill(b[n], sz[n], n + 1000 * (size_t)round);
            n++;
        }
        CHECK(n > 0);
        CHECK_INVARIANTS(ak_byte_check(p.h));
        size_t *order = malloc(n * sizeof *order);
        CHECK(order);
        for (size_t i = 0; i < n; i++)
            order[i] = round == 1 ? n - 1 - i : i;
        if (round == 2)
            shuffle(&r, order, n);
        for (size_t k = 0; k < n; k++) {
            size_t i = order[k];
            CHECK(ak_block_verify(b[i], sz[i], i + 1000 * (size_t)round) == (size_t)-1);
            pool_free(&p, b[i], sz[i], 8);
        }
        free(order);
        CHECK(ak_byte_used_bytes(p.h) == 0);
        void *q = NULL;
        ak_error e = ak_byte_alloc(p.h, largest, 1, &q);
        CHECKF(e == AK_OK, "round %d: the largest block (%zu) no longer fits: %s", round, largest,
               ak_error_name(e));
        pool_free(&p, q, largest, 1);
    }
    free(b);
    free(sz);
    pool_close(&p);
}

static void byte_resize(void)
{
    pool p;
    pool_open(&p, (size_t)1 << 20);
    void *a = pool_alloc(&p, 100, 8);
    ak_block_fill(a, 100, 7);
    ak_error e = ak_byte_resize(p.h, a, 100, 8, 50);
    size_t cur = 100;
    if (e == AK_OK) {
        cur = 50;
        CHECK(used_ok(p.h, 50, ak_byte_usable_size(p.h, a, 50, 8)));
        CHECK(ak_block_verify(a, 50, 7) == (size_t)-1);
    } else {
        CHECK_ERR(e, AK_ERR_NO_MEMORY);
        CHECK(used_ok(p.h, 100, ak_byte_usable_size(p.h, a, 100, 8)));
    }
    /* Growing the last block of the heap usually works in place. */
    e = ak_byte_resize(p.h, a, cur, 8, 5000);
    if (e == AK_OK) {
        CHECK(used_ok(p.h, 5000, ak_byte_usable_size(p.h, a, 5000, 8)));
        CHECK(ak_block_verify(a, cur, 7) == (size_t)-1);
        CHECK(ak_byte_usable_size(p.h, a, 5000, 8) >= 5000);
        memset(a, 1, 5000);
        cur = 5000;
    } else {
        CHECK_ERR(e, AK_ERR_NO_MEMORY);
    }
    CHECK_INVARIANTS(ak_byte_check(p.h));
    pool_free(&p, a, cur, 8);
    pool_close(&p);
}

/* The common walk and statistics through the handle: every block once,
 * inside the regions, each region's blocks together and in address
 * order; every live block as a used block at its pointer with its usable
 * size; the stats equal to what the walk shows, to the counters, and
 * counting the regions and the allocations refused for lack of memory
 * (init starts that count over). The cache layer's walk is its
 * backend's (magazine.h): there the used blocks include what the layer
 * holds, at the backend's sizes. An allocator without a walk only has the
 * stats' fallback checked. */
static void byte_walk_and_stats(void)
{
    void *obj = calloc(1, byte_c->obj_size);
    CHECK(obj != NULL);
    ak_byte_allocator h = byte_c->make(obj);
    if (!pool_mem) {
        pool_mem = malloc(POOL_SIZE);
        CHECK(pool_mem != NULL);
    }
    const size_t R = (size_t)2 << 20;
    wc_block regions[2] = {{(uintptr_t)pool_mem + 4096, R, false},
                           {(uintptr_t)pool_mem + R + 3 * 4096 + 24, R - 100, false}};
    CHECK_OK(ak_byte_init(h, regions[0].start, regions[0].size));
    CHECK_OK(ak_byte_add_memory(h, regions[1].start, regions[1].size));
    struct ak_byte_stats st;
    static wc_walk w, again;
    wc_reset(&w);
    if (ak_byte_walk(h, wc_collect, &w) != AK_OK) {
        CHECK(w.n == 0);
        ak_byte_stats(h, &st);
        CHECK(st.total_bytes == ak_byte_total_bytes(h) && st.used_bytes == 0);
        printf("(no walk: the stats' fallback) ");
        free(obj);
        return;
    }
    const int mode = !strcmp(byte_c->name, "magazine") ? WC_LAYER : WC_EXACT;
    enum { N = 1500 };
    static wc_block live[N], sorted[N];
    static size_t req[N], al[N];
    size_t n = 0, refused = 0;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    const uint64_t ops = scaled(8000, 2000);
    for (uint64_t i = 0; i <= ops; i++) {
        if (n && (n == N || ak_rng_below(&r, 100) < 45)) {
            size_t k = ak_rng_below(&r, n);
            CHECK_OK(ak_byte_dealloc(h, (void *)live[k].start, req[k], al[k]));
            live[k] = live[--n];
            req[k] = req[n];
            al[k] = al[n];
        } else {
            size_t size = ak_rng_below(&r, 16) == 0 ? (size_t)ak_rng_range(&r, 5000, 100000)
                                                    : (size_t)ak_rng_below(&r, 1500);
            size_t align = (size_t)1 << ak_rng_below(&r, 8);
            void *q;
            ak_error e = ak_byte_alloc(h, size, align, &q);
            if (e == AK_ERR_NO_MEMORY) {
                refused++;
            } else {
                CHECK_OK(e);
                live[n].start = (uintptr_t)q;
                live[n].size = ak_byte_usable_size(h, q, size, align);
                req[n] = size;
                al[n] = align;
                n++;
            }
        }
        if (i % 211 != 0)
            continue;
        ak_byte_stats(h, &st);
        CHECK(st.total_bytes == ak_byte_total_bytes(h) && st.used_bytes == ak_byte_used_bytes(h));
        CHECK(st.region_count == 2);
        CHECKF(st.failed_allocs == refused, "failed_allocs %zu, %zu refused", st.failed_allocs,
               refused);
        wc_reset(&w);
        CHECK_OK(ak_byte_walk(h, wc_collect, &w));
        if (n)
            memcpy(sorted, live, n * sizeof *live);
        const char *why = wc_check(&w, &st, sorted, n, mode);
        CHECKF(why == NULL, "%s", why);
        why = wc_check_regions(&w, regions, 2);
        CHECKF(why == NULL, "%s", why);
        wc_reset(&again); /* a walk changes nothing */
        CHECK_OK(ak_byte_walk(h, wc_collect, &again));
        CHECK(wc_equal(&w, &again));
    }
    void *q;
    CHECK_ERR(ak_byte_alloc(h, 3 * R, 16, &q), AK_ERR_NO_MEMORY);
    ak_byte_stats(h, &st);
    CHECK(st.failed_allocs == refused + 1);
    while (n) {
        n--;
        CHECK_OK(ak_byte_dealloc(h, (void *)live[n].start, req[n], al[n]));
    }
    ak_byte_stats(h, &st);
    CHECK(st.used_bytes == 0);
    CHECK(mode == WC_LAYER || st.used_blocks == 0);
    CHECK_INVARIANTS(ak_byte_check(h));
    CHECK_OK(ak_byte_init(h, regions[0].start, regions[0].size));
    ak_byte_stats(h, &st);
    CHECK(st.failed_allocs == 0 && st.region_count == 1 && st.used_bytes == 0);
    CHECK(st.free_blocks > 0 && st.largest_free > 0 && st.free_bytes <= st.total_bytes);
    wc_reset(&w);
    CHECK_OK(ak_byte_walk(h, wc_collect, &w));
    const char *why = wc_check(&w, &st, live, 0, mode);
    CHECKF(why == NULL, "%s", why);
    free(obj);
}

/* ------------------------------------------------------------------ */
/* byte model tier                                                     */
/* ------------------------------------------------------------------ */

static void byte_model(void)
{
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    ak_src src = {&r, NULL, 0, 0};
    ak_byte_model_cfg cfg = {(size_t)8 << 20, 8000, 16384, 256};
    ak_byte_model *m = ak_byte_model_new(byte_c, &cfg, &src);
    CHECK(m != NULL);
    uint64_t ops = ak_test_ops(1500000, 30000);
    for (model_ops_run = 1; model_ops_run <= ops; model_ops_run++)
        ak_byte_model_step(m, &src);
    model_ops_run = ops;
    ak_byte_model_drain(m);
    ak_model_counts c = ak_byte_model_counts(m);
    printf("[%llu ops: %llu allocs, %llu frees, %llu out of memory, %llu bad calls, %llu "
           "regions] ",
           c.ops, c.ok, c.frees, c.no_memory, c.bad_calls, c.regions);
    CHECK(c.ok > 0 && c.frees > 0);
    CHECK(c.bad_calls > 0);
    ak_byte_model_free(m);
}

/* ------------------------------------------------------------------ */
/* page tiers                                                          */
/* ------------------------------------------------------------------ */

#define PG    4096u
#define PBASE ((uintptr_t)1 << 30)

static void *page_new(ak_page_allocator *h)
{
    void *obj = calloc(1, page_c->obj_size);
    CHECK(obj != NULL);
    CHECK(page_c->make(obj, h));
    return obj;
}

static void page_empty_object(void)
{
    void *obj = calloc(1, page_c->obj_size);
    CHECK(obj != NULL);
    /* Zero-initialised (no setup call): a valid empty allocator of 4 KiB pages. */
    ak_page_allocator h;
    CHECK(page_c->make(obj, &h));
    memset(obj, 0, page_c->obj_size);
    CHECK(ak_page_page_size(h) == PG);
    CHECK(ak_page_total_pages(h) == 0);
    CHECK(ak_page_used_pages(h) == 0);
    CHECK(ak_page_available_pages(h) == 0);
    CHECK_INVARIANTS(ak_page_check(h));
    uintptr_t out;
    CHECK_ERR(ak_page_alloc_pages(h, 1, PG, &out), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_page_alloc_pages(h, 0, PG, &out), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_dealloc_pages(h, PBASE, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_page_init(h, PBASE, 64 * PG));
    CHECK(ak_page_total_pages(h) == 64);
    free(obj);
}

static void page_basics(void)
{
    ak_page_allocator h;
    void *obj = page_new(&h);
    /* Edges trimmed: [PBASE + 100, +1000 pages) holds 999 whole pages. */
    CHECK_OK(ak_page_init(h, PBASE + 100, 1000 * PG));
    CHECK(ak_page_total_pages(h) == 999);
    CHECK(ak_page_used_pages(h) == 0);
    CHECK(ak_page_available_pages(h) == 999);
    uintptr_t a, b, c, d;
    CHECK_OK(ak_page_alloc_pages(h, 1, PG, &a));
    CHECK(a >= PBASE + PG && a < PBASE + 1000 * PG && ak_is_aligned(a, PG));
    CHECK_OK(ak_page_alloc_pages(h, 16, 16 * PG, &b));
    CHECK(ak_is_aligned(b, 16 * PG) && b >= PBASE + PG && b + 16 * PG <= PBASE + 1000 * PG);
    CHECK(b + 16 * PG <= a || a + PG <= b);
    CHECK(ak_page_used_pages(h) == 17);
    /* at: exactly base, or the pages are taken. */
    uintptr_t at = PBASE + 500 * PG;
    CHECK_OK(ak_page_alloc_pages_at(h, at, 10, PG, &c));
    CHECK(c == at);
    CHECK_ERR(ak_page_alloc_pages_at(h, at + 9 * PG, 2, PG, &d), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_page_alloc_pages_at(h, at - PG, 2, PG, &d), AK_ERR_NO_MEMORY);
    CHECK(ak_page_used_pages(h) == 27);
    /* frees: partial, double, unaligned, zero */
    CHECK_ERR(ak_page_dealloc_pages(h, at + 5 * PG, 10), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_page_dealloc_pages(h, at + 1, 1), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_dealloc_pages(h, at, 0), AK_ERR_INVALID_PARAM);
    CHECK(ak_page_used_pages(h) == 27);
    CHECK_OK(ak_page_dealloc_pages(h, at + 5 * PG, 5));
    CHECK_OK(ak_page_dealloc_pages(h, at, 5));
    CHECK_ERR(ak_page_dealloc_pages(h, at, 5), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_page_dealloc_pages(h, a, 1));
    CHECK_OK(ak_page_dealloc_pages(h, b, 16));
    CHECK(ak_page_used_pages(h) == 0);
    /* bad alignments */
    CHECK_ERR(ak_page_alloc_pages(h, 1, 0, &d), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_alloc_pages(h, 1, 2048, &d), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_alloc_pages(h, 1, 3 * PG, &d), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_alloc_pages(h, 1, (size_t)1 << 31, &d), AK_ERR_INVALID_PARAM);
    /* everything, then one more */
    CHECK_OK(ak_page_alloc_pages(h, 999, PG, &a));
    CHECK(a == PBASE + PG);
    CHECK_ERR(ak_page_alloc_pages(h, 1, PG, &b), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_page_alloc_pages(h, 1000, PG, &b), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_page_dealloc_pages(h, a, 999));
    /* 1 GiB alignment: only the window's first address qualifies, and it
     * is not managed here. */
    CHECK_ERR(ak_page_alloc_pages(h, 1, (size_t)1 << 30, &b), AK_ERR_NO_MEMORY);
    CHECK_INVARIANTS(ak_page_check(h));
    free(obj);

    obj = page_new(&h);
    CHECK_OK(ak_page_init(h, PBASE, 64 * PG));
    CHECK_OK(ak_page_alloc_pages(h, 1, (size_t)1 << 30, &b));
    CHECK(b == PBASE);
    free(obj);
}

static void page_regions(void)
{
    ak_page_allocator h;
    void *obj = page_new(&h);
    CHECK_OK(ak_page_init(h, PBASE, 100 * PG));
    CHECK_ERR(ak_page_add_memory(h, PBASE, 100 * PG), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_page_add_memory(h, PBASE + 99 * PG, 10 * PG), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_page_add_memory(h, PBASE + 10 * PG, PG), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_page_add_memory(h, UINTPTR_MAX - 4 * PG + 1, 8 * PG), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_add_memory(h, PBASE + 200 * PG + 1, PG), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_page_add_memory(h, PBASE + 200 * PG, 0), AK_ERR_INVALID_PARAM);
    CHECK(ak_page_total_pages(h) == 100);
    CHECK_OK(ak_page_add_memory(h, PBASE + 200 * PG, 50 * PG));
    CHECK(ak_page_total_pages(h) == 150);
    CHECK_OK(ak_page_add_memory(h, PBASE + 100 * PG, 100 * PG)); /* the gap, adjacent */
    CHECK(ak_page_total_pages(h) == 250);
    /* Every page of the three ranges is allocatable. */
    uintptr_t a;
    CHECK_OK(ak_page_alloc_pages_at(h, PBASE + 100 * PG, 100, PG, &a));
    CHECK(a == PBASE + 100 * PG);
    CHECK_OK(ak_page_alloc_pages_at(h, PBASE + 200 * PG, 50, PG, &a));
    CHECK_OK(ak_page_alloc_pages(h, 100, PG, &a));
    CHECK(a == PBASE);
    CHECK(ak_page_available_pages(h) == 0);
    CHECK_ERR(ak_page_alloc_pages(h, 1, PG, &a), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_page_dealloc_pages(h, PBASE + 200 * PG, 50));
    CHECK_OK(ak_page_dealloc_pages(h, PBASE, 100));
    CHECK_OK(ak_page_dealloc_pages(h, PBASE + 100 * PG, 100));
    CHECK(ak_page_used_pages(h) == 0);
    CHECK_INVARIANTS(ak_page_check(h));
    free(obj);
}

/* The page walk against a model of a window of pages: maximal runs of
 * one state, regions in address order, nothing between them; the stats
 * are the runs' figures, with the region records and the refused
 * allocations counted; the longest free run can be allocated. */
#define PW_SPAN 2048u
static unsigned char pw_managed[PW_SPAN], pw_taken[PW_SPAN];

static void page_walk_compare(ak_page_allocator h, size_t regions, size_t failed)
{
    static wc_walk w;
    wc_reset(&w);
    CHECK_OK(ak_page_walk(h, wc_collect, &w));
    wc_runs m;
    const char *why = wc_check_runs(&w, pw_managed, pw_taken, PW_SPAN, PBASE, PG, &m);
    CHECKF(why == NULL, "%s", why);
    struct ak_page_stats st;
    ak_page_stats(h, &st);
    CHECK(st.total_pages == ak_page_total_pages(h) && st.used_pages == ak_page_used_pages(h));
    CHECK(st.total_pages == m.used_units + m.free_units && st.used_pages == m.used_units);
    CHECK(st.free_pages == m.free_units && st.largest_free == m.largest_free);
    CHECK(st.used_runs == m.used_runs && st.free_runs == m.free_runs);
    CHECK(st.region_count == regions && st.failed_allocs == failed);
    if (st.largest_free) {
        uintptr_t a;
        CHECK_OK(ak_page_alloc_pages(h, st.largest_free, PG, &a));
        CHECK_OK(ak_page_dealloc_pages(h, a, st.largest_free));
    }
}

static void page_walk_and_stats(void)
{
    ak_page_allocator h;
    void *obj = page_new(&h);
    static wc_walk w;
    wc_reset(&w);
    if (ak_page_walk(h, wc_collect, &w) != AK_OK) {
        printf("(no walk) ");
        free(obj);
        return;
    }
    CHECK(w.n == 0);
    memset(pw_managed, 0, sizeof pw_managed);
    memset(pw_taken, 0, sizeof pw_taken);
    /* Three regions with gaps, the lowest added last. */
    const size_t reg[3][2] = {{1000, 1048}, {300, 600}, {0, 290}};
    for (size_t k = 0; k < 3; k++) {
        CHECK_OK(ak_page_add_memory(h, PBASE + reg[k][0] * PG, reg[k][1] * PG));
        memset(pw_managed + reg[k][0], 1, reg[k][1]);
    }
    page_walk_compare(h, 3, 0);
    typedef struct run {
        uintptr_t at;
        size_t n;
    } run;
    static run live[PW_SPAN];
    size_t nlive = 0, failed = 0;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    const uint64_t ops = scaled(6000, 1500);
    for (uint64_t i = 0; i < ops; i++) {
        unsigned kind = (unsigned)ak_rng_below(&r, 100);
        uintptr_t a;
        if (kind < 45) {
            size_t n = (size_t)ak_rng_log_uniform(&r, 1, 300);
            ak_error e = ak_page_alloc_pages(h, n, PG << ak_rng_below(&r, 4), &a);
            if (e == AK_ERR_NO_MEMORY) {
                failed++;
                continue;
            }
            CHECK_OK(e);
            memset(pw_taken + (a - PBASE) / PG, 1, n);
            live[nlive].at = a;
            live[nlive++].n = n;
        } else if (kind < 55) {
            size_t idx = (size_t)ak_rng_below(&r, PW_SPAN - 8), n = 1 + ak_rng_below(&r, 8);
            bool inside = true, free_run = true;
            for (size_t k = idx; k < idx + n; k++) {
                inside = inside && pw_managed[k] && pw_managed[idx];
                free_run = free_run && !pw_taken[k];
            }
            ak_error e = ak_page_alloc_pages_at(h, PBASE + idx * PG, n, PG, &a);
            CHECK_ERR(e, !inside ? AK_ERR_INVALID_PARAM : free_run ? AK_OK : AK_ERR_NO_MEMORY);
            failed += e == AK_ERR_NO_MEMORY;
            if (e == AK_OK) {
                memset(pw_taken + idx, 1, n);
                live[nlive].at = a;
                live[nlive++].n = n;
            }
        } else if (nlive) {
            size_t k = (size_t)ak_rng_below(&r, nlive);
            CHECK_OK(ak_page_dealloc_pages(h, live[k].at, live[k].n));
            memset(pw_taken + (live[k].at - PBASE) / PG, 0, live[k].n);
            live[k] = live[--nlive];
        }
        if (i % 97 == 0)
            page_walk_compare(h, 3, failed);
    }
    CHECK(failed > 0);
    page_walk_compare(h, 3, failed);
    CHECK_OK(ak_page_init(h, PBASE, 290 * PG));
    memset(pw_managed + 300, 0, PW_SPAN - 300);
    memset(pw_taken, 0, sizeof pw_taken);
    page_walk_compare(h, 1, 0);
    free(obj);
}

static void page_model(void)
{
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    ak_src src = {&r, NULL, 0, 0};
    ak_page_model *m = ak_page_model_new(page_c, 16384, &src);
    CHECK(m != NULL);
    uint64_t ops = ak_test_ops(500000, 20000);
    for (model_ops_run = 1; model_ops_run <= ops; model_ops_run++)
        ak_page_model_step(m, &src);
    model_ops_run = ops;
    ak_page_model_drain(m);
    ak_model_counts c = ak_page_model_counts(m);
    printf("[%llu ops: %llu allocs, %llu frees, %llu refused, %llu bad calls, %llu regions] ",
           c.ops, c.ok, c.frees, c.no_memory, c.bad_calls, c.regions);
    CHECK(c.ok > 0 && c.frees > 0 && c.bad_calls > 0);
    ak_page_model_free(m);
}

/* ------------------------------------------------------------------ */
/* ID tiers                                                            */
/* ------------------------------------------------------------------ */

static void id_empty_and_basics(void)
{
    void *obj = calloc(1, id_c->obj_size);
    CHECK(obj != NULL);
    ak_id_allocator h = id_c->make(obj);
    CHECK(ak_id_size(h) == 0 && ak_id_used(h) == 0 && ak_id_available(h) == 0);
    CHECK_INVARIANTS(ak_id_check(h));
    size_t id;
    CHECK_ERR(ak_id_alloc_id(h, 1, 1, &id), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_id_alloc_fixed_id(h, 5), AK_ERR_INVALID_PARAM);
    CHECK(!ak_id_is_allocated(h, 5));
    CHECK_OK(ak_id_init(h, 7, 100)); /* IDs 7..106 */
    CHECK(ak_id_size(h) == 100);
    CHECK_OK(ak_id_alloc_id(h, 1, 1, &id));
    CHECK(id == 7);
    CHECK_OK(ak_id_alloc_id(h, 3, 4, &id));
    CHECK(id == 8);
    CHECK_OK(ak_id_alloc_id(h, 1, 1, &id));
    CHECK(id == 11);
    CHECK_OK(ak_id_alloc_id(h, 2, 16, &id));
    CHECK(id == 16);
    CHECK(ak_id_is_allocated(h, 16) && ak_id_is_allocated(h, 17) && !ak_id_is_allocated(h, 18));
    CHECK(!ak_id_is_allocated(h, 6) && !ak_id_is_allocated(h, 107));
    CHECK_ERR(ak_id_alloc_fixed_id(h, 16), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_id_alloc_fixed_id(h, 107), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_fixed_id(h, 6), AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_id_alloc_fixed_id(h, 106));
    CHECK(ak_id_used(h) == 8);
    CHECK_ERR(ak_id_alloc_id(h, 0, 1, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_id(h, 1, 3, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_id(h, 1, 0, &id), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_id_alloc_id(h, 100, 1, &id), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_id_dealloc_id(h, 18, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_id_dealloc_id(h, 16, 3), AK_ERR_NOT_ALLOCATED);
    CHECK(ak_id_used(h) == 8);
    CHECK_OK(ak_id_dealloc_id(h, 9, 1)); /* a piece of an allocation */
    CHECK(!ak_id_is_allocated(h, 9) && ak_id_is_allocated(h, 8) && ak_id_is_allocated(h, 10));
    CHECK_OK(ak_id_alloc_id(h, 1, 1, &id));
    CHECK(id == 9);
    CHECK_ERR(ak_id_add_memory(h, 100, 10), AK_ERR_MEMORY_OVERLAP);
    CHECK_OK(ak_id_add_memory(h, 200, 10));
    CHECK(ak_id_size(h) == 110);
    CHECK_OK(ak_id_alloc_fixed_id(h, 205));
    CHECK(ak_id_is_allocated(h, 205) && !ak_id_is_allocated(h, 204));
    CHECK_OK(ak_id_alloc_id(h, 10, 1, &id)); /* lowest first: 18..27 */
    CHECK(id == 18);
    CHECK_ERR(ak_id_alloc_id(h, 80, 1, &id), AK_ERR_NO_MEMORY); /* longest run: 28..105 */
    CHECK_OK(ak_id_alloc_id(h, 78, 1, &id));
    CHECK(id == 28);
    CHECK_OK(ak_id_alloc_id(h, 5, 1, &id)); /* 12..15 too short; ranges do not join */
    CHECK(id == 200);
    CHECK_OK(ak_id_alloc_id(h, 4, 1, &id));
    CHECK(id == 12);
    CHECK_OK(ak_id_alloc_id(h, 4, 2, &id));
    CHECK(id == 206);
    CHECK(ak_id_available(h) == 0);
    CHECK_ERR(ak_id_alloc_id(h, 1, 1, &id), AK_ERR_NO_MEMORY);
    CHECK_INVARIANTS(ak_id_check(h));
    free(obj);
}

/* The ID walk against a model, as for pages. */
#define IW_SPAN 1024u
static unsigned char iw_managed[IW_SPAN], iw_taken[IW_SPAN];

static void id_walk_compare(ak_id_allocator h, size_t first, size_t regions, size_t failed)
{
    static wc_walk w;
    wc_reset(&w);
    CHECK_OK(ak_id_walk(h, wc_collect, &w));
    wc_runs m;
    const char *why = wc_check_runs(&w, iw_managed, iw_taken, IW_SPAN, first, 1, &m);
    CHECKF(why == NULL, "%s", why);
    struct ak_id_stats st;
    ak_id_stats(h, &st);
    CHECK(st.total_ids == ak_id_size(h) && st.used_ids == ak_id_used(h));
    CHECK(st.total_ids == m.used_units + m.free_units && st.used_ids == m.used_units);
    CHECK(st.free_ids == m.free_units && st.largest_free == m.largest_free);
    CHECK(st.used_runs == m.used_runs && st.free_runs == m.free_runs);
    CHECK(st.region_count == regions && st.failed_allocs == failed);
    if (st.largest_free) {
        size_t id;
        CHECK_OK(ak_id_alloc_id(h, st.largest_free, 1, &id));
        CHECK_OK(ak_id_dealloc_id(h, id, st.largest_free));
    }
}

static void id_walk_and_stats(void)
{
    if (id_c->capacity_ids < IW_SPAN) {
        printf("(capacity below %u IDs: skipped) ", IW_SPAN);
        return;
    }
    void *obj = calloc(1, id_c->obj_size);
    CHECK(obj != NULL);
    ak_id_allocator h = id_c->make(obj);
    static wc_walk w;
    wc_reset(&w);
    if (ak_id_walk(h, wc_collect, &w) != AK_OK) {
        printf("(no walk) ");
        free(obj);
        return;
    }
    CHECK(w.n == 0);
    const size_t first = 5000;
    memset(iw_managed, 0, sizeof iw_managed);
    memset(iw_taken, 0, sizeof iw_taken);
    const size_t reg[3][2] = {{600, 424}, {100, 400}, {0, 90}};
    for (size_t k = 0; k < 3; k++) {
        CHECK_OK(ak_id_add_memory(h, first + reg[k][0], reg[k][1]));
        memset(iw_managed + reg[k][0], 1, reg[k][1]);
    }
    id_walk_compare(h, first, 3, 0);
    typedef struct run {
        size_t id, n;
    } run;
    static run live[IW_SPAN];
    size_t nlive = 0, failed = 0;
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    const uint64_t ops = scaled(6000, 1500);
    for (uint64_t i = 0; i < ops; i++) {
        unsigned kind = (unsigned)ak_rng_below(&r, 100);
        size_t id;
        if (kind < 45) {
            size_t n = (size_t)ak_rng_log_uniform(&r, 1, 200);
            ak_error e = ak_id_alloc_id(h, n, (size_t)1 << ak_rng_below(&r, 4), &id);
            if (e == AK_ERR_NO_MEMORY) {
                failed++;
                continue;
            }
            CHECK_OK(e);
            memset(iw_taken + (id - first), 1, n);
            live[nlive].id = id;
            live[nlive++].n = n;
        } else if (kind < 55) {
            size_t idx = (size_t)ak_rng_below(&r, IW_SPAN);
            ak_error e = ak_id_alloc_fixed_id(h, first + idx);
            CHECK_ERR(e, !iw_managed[idx] ? AK_ERR_INVALID_PARAM
                         : iw_taken[idx]  ? AK_ERR_NO_MEMORY
                                          : AK_OK);
            failed += e == AK_ERR_NO_MEMORY;
            if (e == AK_OK) {
                iw_taken[idx] = 1;
                live[nlive].id = first + idx;
                live[nlive++].n = 1;
            }
        } else if (nlive) {
            size_t k = (size_t)ak_rng_below(&r, nlive);
            CHECK_OK(ak_id_dealloc_id(h, live[k].id, live[k].n));
            memset(iw_taken + (live[k].id - first), 0, live[k].n);
            live[k] = live[--nlive];
        }
        if (i % 97 == 0)
            id_walk_compare(h, first, 3, failed);
    }
    CHECK(failed > 0);
    id_walk_compare(h, first, 3, failed);
    CHECK_OK(ak_id_init(h, first, 90));
    memset(iw_managed + 90, 0, IW_SPAN - 90);
    memset(iw_taken, 0, sizeof iw_taken);
    id_walk_compare(h, first, 1, 0);
    free(obj);
}

static void id_model(void)
{
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed);
    ak_src src = {&r, NULL, 0, 0};
    ak_id_model *m = ak_id_model_new(id_c, 2048, &src);
    CHECK(m != NULL);
    uint64_t ops = ak_test_ops(1000000, 20000);
    for (model_ops_run = 1; model_ops_run <= ops; model_ops_run++)
        ak_id_model_step(m, &src);
    model_ops_run = ops;
    ak_id_model_drain(m);
    ak_model_counts c = ak_id_model_counts(m);
    printf("[%llu ops: %llu allocs, %llu frees, %llu refused, %llu bad calls, %llu ranges] ", c.ops,
           c.ok, c.frees, c.no_memory, c.bad_calls, c.regions);
    CHECK(c.ok > 0 && c.frees > 0 && c.bad_calls > 0);
    ak_id_model_free(m);
}

/* ------------------------------------------------------------------ */
/* mutants: the suite must catch a broken allocator                    */
/* ------------------------------------------------------------------ */

/* --mutant=NAME wraps the byte allocator under test in a shim with one
 * planted fault; ctest expects those runs to fail (WILL_FAIL), which shows
 * the checks can fail. */
static ak_byte_allocator_ops mutant_ops;
static ak_byte_allocator mutant_inner;
static const char *mutant;
static const ak_byte_contender *mutant_base;
static unsigned long mutant_calls;

static ak_error mutant_init(void *self, uintptr_t start, size_t size)
{
    mutant_inner = mutant_base->make(self);
    return ak_byte_init(mutant_inner, start, size);
}

static ak_error mutant_add_memory(void *self, uintptr_t start, size_t size)
{
    (void)self;
    /* lose_region: claim success but drop the region */
    if (!strcmp(mutant, "lose_region"))
        return AK_OK;
    return ak_byte_add_memory(mutant_inner, start, size);
}

static ak_error mutant_alloc(void *self, size_t size, size_t align, void **out)
{
    (void)self;
    static void *last;
    ak_error e = ak_byte_alloc(mutant_inner, size, align, out);
    /* overlap: now and then hand out the previous block a second time */
    if (e == AK_OK && !strcmp(mutant, "overlap") && last && ++mutant_calls % 97 == 0 &&
        ak_is_aligned((uintptr_t)last, align)) {
        ak_byte_dealloc(mutant_inner, *out, size, align);
        *out = last;
    }
    if (e == AK_OK)
        last = *out;
    return e;
}

static ak_error mutant_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    (void)self;
    ak_error e = ak_byte_dealloc(mutant_inner, ptr, size, align);
    /* accept_bad_free: report success for a pointer that was refused */
    if (e != AK_OK && !strcmp(mutant, "accept_bad_free"))
        return AK_OK;
    return e;
}

static size_t mutant_total(const void *self)
{
    (void)self;
    return ak_byte_total_bytes(mutant_inner);
}

static size_t mutant_used(const void *self)
{
    (void)self;
    size_t u = ak_byte_used_bytes(mutant_inner);
    /* miscount: used_bytes drifts once there is something to count (far
     * enough to leave the range between requested and usable sizes) */
    return !strcmp(mutant, "miscount") && u > 4096 ? u / 4 : u;
}

static size_t mutant_available(const void *self)
{
    return mutant_total(self) - mutant_used(self);
}

static const char *mutant_check(const void *self)
{
    (void)self;
    return ak_byte_check(mutant_inner);
}

static ak_byte_allocator make_mutant(void *obj)
{
    ak_byte_allocator h = {&mutant_ops, obj};
    mutant_inner = mutant_base->make(obj);
    return h;
}

static ak_byte_contender mutant_contender;

static int setup_mutant(const char *name)
{
    static const char *const known[] = {"overlap", "accept_bad_free", "lose_region", "miscount"};
    mutant = NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(name, known[i]))
            mutant = known[i];
    if (!mutant || !byte_c || !byte_c->in_pool)
        return 0;
    mutant_base = byte_c;
    mutant_ops = (ak_byte_allocator_ops){
        .name = "mutant",
        .init = mutant_init,
        .add_memory = mutant_add_memory,
        .alloc = mutant_alloc,
        .dealloc = mutant_dealloc,
        .total_bytes = mutant_total,
        .used_bytes = mutant_used,
        .available_bytes = mutant_available,
        .check = mutant_check,
    };
    mutant_contender = *byte_c;
    mutant_contender.make = make_mutant;
    byte_c = &mutant_contender;
    return 1;
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void list(void)
{
    for (size_t i = 0; i < ak_byte_contender_count; i++)
        printf("%s byte%s\n", ak_byte_contenders[i].name,
               ak_byte_contenders[i].in_pool ? "" : " control");
    for (size_t i = 0; i < ak_page_contender_count; i++)
        printf("%s page\n", ak_page_contenders[i].name);
    for (size_t i = 0; i < ak_id_contender_count; i++)
        printf("%s id\n", ak_id_contenders[i].name);
}

int main(int argc, char **argv)
{
    const char *alloc = NULL;
    char *rest[16];
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--alloc=", 8))
            alloc = argv[i] + 8;
        else if (!strncmp(argv[i], "--tier=", 7))
            tier = argv[i] + 7;
        else if (!strncmp(argv[i], "--mutant=", 9))
            mutant = argv[i] + 9;
        else if (!strcmp(argv[i], "--list")) {
            list();
            return 0;
        } else if (nrest < 15)
            rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    if (!alloc || !tier) {
        fprintf(stderr,
                "usage: %s --alloc=NAME --tier=api|workloads|model [--seed=N] "
                "[--ops=N] [--quick] | --list\n",
                argv[0]);
        return 2;
    }
    byte_c = ak_find_byte_contender(alloc);
    if (!byte_c)
        page_c = ak_find_page_contender(alloc);
    if (!byte_c && !page_c)
        id_c = ak_find_id_contender(alloc);
    if (!byte_c && !page_c && !id_c) {
        fprintf(stderr, "%s: no allocator '%s' in this build (--list)\n", argv[0], alloc);
        return 2;
    }
    const char *mutant_arg = mutant;
    if (mutant_arg && !setup_mutant(mutant_arg)) {
        fprintf(stderr, "%s: unknown mutant '%s' or not a byte allocator\n", argv[0], mutant_arg);
        return 2;
    }
    char name[96];
    snprintf(name, sizeof name, "conformance %s %s%s%s", alloc, tier, mutant ? " mutant " : "",
             mutant ? mutant : "");
    ak_test_init(nrest, rest, name);
    ak_model_on_fail = on_model_fail;

    int known = 1;
    if (byte_c && !strcmp(tier, "workloads")) {
        RUN(workload_vector);
        RUN(workload_blocks);
        RUN(workload_map);
        RUN(workload_random_50);
        RUN(workload_random_200000);
    } else if (byte_c && byte_c->in_pool && !strcmp(tier, "api")) {
        RUN(byte_empty_object);
        RUN(byte_sizes_and_aligns);
        RUN(byte_usable_size_is_usable);
        RUN(byte_errors);
        RUN(byte_regions);
        RUN(byte_two_instances);
        RUN(byte_exhaust_and_reuse);
        RUN(byte_resize);
        RUN(byte_walk_and_stats);
    } else if (byte_c && byte_c->in_pool && !strcmp(tier, "model")) {
        RUN(byte_model);
    } else if (page_c && !strcmp(tier, "api")) {
        RUN(page_empty_object);
        RUN(page_basics);
        RUN(page_regions);
        RUN(page_walk_and_stats);
    } else if (page_c && !strcmp(tier, "model")) {
        RUN(page_model);
    } else if (id_c && !strcmp(tier, "api")) {
        RUN(id_empty_and_basics);
        RUN(id_walk_and_stats);
    } else if (id_c && !strcmp(tier, "model")) {
        RUN(id_model);
    } else {
        known = 0;
    }
    free(pool_mem);
    if (!known) {
        fprintf(stderr, "%s: tier '%s' does not apply to %s\n", argv[0], tier, alloc);
        return 2;
    }
    return ak_test_finish();
}
