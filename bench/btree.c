/* akbench btree_map workload: an ordered map from "key_%u" strings to u32,
 * as a B-tree whose nodes and keys all come from the allocator under test
 * (leaf and internal nodes are different sizes, as in Rust's BTreeMap).
 *
 * B-tree of minimum degree B = 6: every node but the root holds 5..11
 * keys; insert splits full nodes on the way down (one pass), pop_first
 * removes from the leftmost leaf and repairs underfull nodes on the way
 * back up by borrowing from or merging with the right sibling. Both are
 * O(log n) node visits.
 *
 * The workload: n operations; one in five (when the map is not empty) is a
 * pop_first, the rest insert "key_<v>" -> v for a random v (an existing
 * key keeps its key string and takes the new value; the new string is
 * freed). Before clearing, an in-order walk checks that keys are strictly
 * increasing, that each key parses back to its value, that the count
 * matches and (checking run) that the tree's shape invariants hold.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define BT_B   6
#define BT_CAP (2 * BT_B - 1)

typedef struct bt_node {
    uint16_t len;
    uint8_t leaf;
    char *keys[BT_CAP];
    uint32_t vals[BT_CAP];
    struct bt_node *edges[]; /* internal nodes only: BT_CAP + 1 */
} bt_node;

typedef struct bt_map {
    bench_ctx *c;
    bt_node *root;
    size_t count;
} bt_map;

static size_t node_bytes(bool leaf)
{
    return sizeof(bt_node) + (leaf ? 0 : (BT_CAP + 1) * sizeof(bt_node *));
}

static bt_node *node_new(bt_map *m, bool leaf)
{
    bt_node *n = bench_alloc(m->c, node_bytes(leaf), _Alignof(bt_node));
    n->len = 0;
    n->leaf = leaf;
    return n;
}

static void node_free(bt_map *m, bt_node *n)
{
    bench_free(m->c, n, node_bytes(n->leaf), _Alignof(bt_node));
}

static void key_free(bt_map *m, char *k)
{
    bench_free(m->c, k, strlen(k) + 1, 1);
}

/* First index whose key is >= k; *eq tells whether it is equal. */
static unsigned lower_bound(const bt_node *n, const char *k, bool *eq)
{
    unsigned lo = 0, hi = n->len;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (strcmp(n->keys[mid], k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *eq = lo < n->len && strcmp(n->keys[lo], k) == 0;
    return lo;
}

/* Split the full child p->edges[i]: its upper half moves to a new right
 * sibling and its median moves up into p. */
static void split_child(bt_map *m, bt_node *p, unsigned i)
{
    bt_node *y = p->edges[i];
    bt_node *z = node_new(m, y->leaf);
    z->len = BT_B - 1;
    memcpy(z->keys, y->keys + BT_B, (BT_B - 1) * sizeof(char *));
    memcpy(z->vals, y->vals + BT_B, (BT_B - 1) * sizeof(uint32_t));
    if (!y->leaf)
        memcpy(z->edges, y->edges + BT_B, BT_B * sizeof(bt_node *));
    y->len = BT_B - 1;
    memmove(p->keys + i + 1, p->keys + i, (p->len - i) * sizeof(char *));
    memmove(p->vals + i + 1, p->vals + i, (p->len - i) * sizeof(uint32_t));
    memmove(p->edges + i + 2, p->edges + i + 1, (p->len - i) * sizeof(bt_node *));
    p->keys[i] = y->keys[BT_B - 1];
    p->vals[i] = y->vals[BT_B - 1];
    p->edges[i + 1] = z;
    p->len++;
}

/* Insert k -> v. The map takes ownership of k (frees it if the key was
 * already present). */
static void bt_insert(bt_map *m, char *k, uint32_t v)
{
    if (!m->root)
        m->root = node_new(m, true);
    if (m->root->len == BT_CAP) {
        bt_node *r = node_new(m, false);
        r->edges[0] = m->root;
        m->root = r;
        split_child(m, r, 0);
    }
    bt_node *n = m->root;
    for (;;) {
        bool eq;
        unsigned i = lower_bound(n, k, &eq);
        if (eq) {
            n->vals[i] = v;
            key_free(m, k);
            return;
        }
        if (n->leaf) {
            memmove(n->keys + i + 1, n->keys + i, (n->len - i) * sizeof(char *));
            memmove(n->vals + i + 1, n->vals + i, (n->len - i) * sizeof(uint32_t));
            n->keys[i] = k;
            n->vals[i] = v;
            n->len++;
            m->count++;
            return;
        }
        if (n->edges[i]->len == BT_CAP) {
            split_child(m, n, i);
            int cmp = strcmp(k, n->keys[i]);
            if (cmp == 0) {
                n->vals[i] = v;
                key_free(m, k);
                return;
            }
            if (cmp > 0)
                i++;
        }
        n = n->edges[i];
    }
}

/* Bring n->edges[0] back to at least B-1 keys after a removal. */
static void fix_first_child(bt_map *m, bt_node *n)
{
    bt_node *a = n->edges[0];
    if (a->len >= BT_B - 1)
        return;
    bt_node *s = n->edges[1];
    if (s->len > BT_B - 1) {
        /* Borrow: the separator comes down, s's first key goes up. */
        a->keys[a->len] = n->keys[0];
        a->vals[a->len] = n->vals[0];
        if (!a->leaf)
            a->edges[a->len + 1] = s->edges[0];
        a->len++;
        n->keys[0] = s->keys[0];
        n->vals[0] = s->vals[0];
        memmove(s->keys, s->keys + 1, (s->len - 1) * sizeof(char *));
        memmove(s->vals, s->vals + 1, (s->len - 1) * sizeof(uint32_t));
        if (!s->leaf)
            memmove(s->edges, s->edges + 1, s->len * sizeof(bt_node *));
        s->len--;
        return;
    }
    /* Merge a, the separator and s into a; s goes back to the allocator. */
    a->keys[a->len] = n->keys[0];
    a->vals[a->len] = n->vals[0];
    memcpy(a->keys + a->len + 1, s->keys, s->len * sizeof(char *));
    memcpy(a->vals + a->len + 1, s->vals, s->len * sizeof(uint32_t));
    if (!a->leaf)
        memcpy(a->edges + a->len + 1, s->edges, (s->len + 1u) * sizeof(bt_node *));
    a->len = (uint16_t)(a->len + 1 + s->len);
    node_free(m, s);
    memmove(n->keys, n->keys + 1, (n->len - 1) * sizeof(char *));
    memmove(n->vals, n->vals + 1, (n->len - 1) * sizeof(uint32_t));
    memmove(n->edges + 1, n->edges + 2, (n->len - 1) * sizeof(bt_node *));
    n->len--;
}

static void pop_min(bt_map *m, bt_node *n, char **k, uint32_t *v)
{
    if (n->leaf) {
        *k = n->keys[0];
        *v = n->vals[0];
        memmove(n->keys, n->keys + 1, (n->len - 1) * sizeof(char *));
        memmove(n->vals, n->vals + 1, (n->len - 1) * sizeof(uint32_t));
        n->len--;
        return;
    }
    pop_min(m, n->edges[0], k, v);
    fix_first_child(m, n);
}

static void bt_pop_first(bt_map *m)
{
    char *k;
    uint32_t v;
    pop_min(m, m->root, &k, &v);
    m->count--;
    key_free(m, k);
    bt_node *r = m->root;
    if (r->len == 0) {
        m->root = r->leaf ? NULL : r->edges[0];
        node_free(m, r);
    }
}

static void bt_clear(bt_map *m, bt_node *n)
{
    if (!n)
        return;
    if (!n->leaf)
        for (unsigned i = 0; i <= n->len; i++)
            bt_clear(m, n->edges[i]);
    for (unsigned i = 0; i < n->len; i++)
        key_free(m, n->keys[i]);
    node_free(m, n);
}

/* In-order walk: keys strictly increasing, each key "key_<v>" with v its
 * value; returns the number of entries. With `shape`, also checks node
 * fill and that every leaf is at the same depth. */
typedef struct bt_walk {
    const char *prev;
    size_t count;
    int leaf_depth;
    bool shape;
} bt_walk;

static void bt_check(bt_walk *w, const bt_node *n, int depth, bool is_root)
{
    if (w->shape) {
        if (n->len > BT_CAP || (!is_root && n->len < BT_B - 1) || n->len == 0)
            bench_fail("btree: node with %u keys", n->len);
        if (n->leaf) {
            if (w->leaf_depth < 0)
                w->leaf_depth = depth;
            else if (w->leaf_depth != depth)
                bench_fail("btree: leaves at depths %d and %d", w->leaf_depth, depth);
        }
    }
    for (unsigned i = 0; i <= n->len; i++) {
        if (!n->leaf)
            bt_check(w, n->edges[i], depth + 1, false);
        if (i == n->len)
            break;
        const char *k = n->keys[i];
        if (w->prev && strcmp(w->prev, k) >= 0)
            bench_fail("btree: keys out of order (\"%s\" then \"%s\")", w->prev, k);
        char *end;
        if (strncmp(k, "key_", 4) != 0 || strtoul(k + 4, &end, 10) != n->vals[i] || *end)
            bench_fail("btree: key \"%s\" holds value %u", k, n->vals[i]);
        w->prev = k;
        w->count++;
    }
}

/* Decimal of v into buf (no locale, no printf: the workload should time
 * the allocator, not the formatter); returns the length. */
static size_t u32_to_dec(uint32_t v, char *buf)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

void bench_btree_map(bench_ctx *c, size_t n)
{
    bt_map m = {c, NULL, 0};
    bench_rng r;
    bench_rng_seed(&r, c->seed);
    bench_start(c);
    for (size_t i = 0; i < n; i++) {
        if (bench_rng_u32(&r) % 5 == 0 && m.count) {
            bt_pop_first(&m);
        } else {
            uint32_t v = bench_rng_u32(&r);
            char digits[10];
            size_t len = u32_to_dec(v, digits);
            char *k = bench_alloc(c, 4 + len + 1, 1);
            memcpy(k, "key_", 4);
            memcpy(k + 4, digits, len);
            k[4 + len] = 0;
            bt_insert(&m, k, v);
        }
    }
    bench_stop(c);
    bt_walk w = {NULL, 0, -1, c->verify};
    if (m.root)
        bt_check(&w, m.root, 0, true);
    if (w.count != m.count)
        bench_fail("btree: walk found %zu entries, map counts %zu", w.count, m.count);
    if (n >= 100 && m.count == 0)
        bench_fail("btree: map empty after %zu operations", n);
    bench_start(c);
    bt_clear(&m, m.root);
    bench_stop(c);
    c->ops = n;
}
