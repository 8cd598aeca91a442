/* SQLite allocating through an allockit byte allocator.
 *
 * SQLite lets an application replace its allocator with
 * sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) before sqlite3_initialize.
 * Here every SQLite allocation comes from one static 16 MiB pool managed by
 * an ak_byte_allocator (TLSF when built in, else buddy or slab): the same
 * few lines work for any allocator of the kit, or your own, because they
 * only use the ak_byte_* interface.
 *
 * SQLite's xFree and xSize get no size, while ak_byte_dealloc wants the
 * size given to ak_byte_alloc, so each block carries it in an 8-byte
 * prefix (kept 8-aligned, as SQLite requires). One mutex makes the methods
 * safe for SQLite's multi-threaded modes.
 *
 * Run: ./sqlite_hook [rows]   (default 20000). It inserts and queries rows,
 * checks the answers, closes the database and checks that every byte went
 * back to the allocator. Exit status 0 on success.
 */
#include <allockit.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX 8u

static _Alignas(64) unsigned char pool[16u << 20];
static ak_byte_allocator alloc_h;
static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;

#if AK_HAVE_TLSF
static ak_tlsf alloc_obj;
#define AS_BYTE ak_tlsf_as_byte
#elif AK_HAVE_BUDDY
static ak_buddy alloc_obj;
#define AS_BYTE ak_buddy_as_byte
#else
static ak_slab alloc_obj;
#define AS_BYTE ak_slab_as_byte
#endif

static uint64_t prefix_get(const unsigned char *b)
{
    uint64_t v;
    memcpy(&v, b, sizeof v);
    return v;
}

static void prefix_set(unsigned char *b, uint64_t v)
{
    memcpy(b, &v, sizeof v);
}

static void *mem_malloc(int n)
{
    void *p;
    if (n < 0)
        return NULL;
    pthread_mutex_lock(&alloc_lock);
    ak_error e = ak_byte_alloc(alloc_h, (size_t)n + PREFIX, PREFIX, &p);
    pthread_mutex_unlock(&alloc_lock);
    if (e != AK_OK)
        return NULL;
    prefix_set(p, (uint64_t)n);
    return (unsigned char *)p + PREFIX;
}

static int mem_size(void *p)
{
    return p ? (int)prefix_get((unsigned char *)p - PREFIX) : 0;
}

static void mem_free(void *p)
{
    if (!p)
        return;
    unsigned char *b = (unsigned char *)p - PREFIX;
    pthread_mutex_lock(&alloc_lock);
    ak_byte_dealloc(alloc_h, b, (size_t)prefix_get(b) + PREFIX, PREFIX);
    pthread_mutex_unlock(&alloc_lock);
}

static void *mem_realloc(void *p, int n)
{
    if (!p)
        return mem_malloc(n);
    if (n < 0)
        return NULL;
    unsigned char *b = (unsigned char *)p - PREFIX;
    size_t old = (size_t)prefix_get(b);
    /* In place when the allocator can. */
    pthread_mutex_lock(&alloc_lock);
    ak_error e = ak_byte_resize(alloc_h, b, old + PREFIX, PREFIX, (size_t)n + PREFIX);
    pthread_mutex_unlock(&alloc_lock);
    if (e == AK_OK) {
        prefix_set(b, (uint64_t)n);
        return p;
    }
    void *q = mem_malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, old < (size_t)n ? old : (size_t)n);
    mem_free(p);
    return q;
}

static int mem_roundup(int n)
{
    return (n + 7) & ~7;
}

static int mem_init(void *arg)
{
    (void)arg;
    return SQLITE_OK;
}

static void mem_shutdown(void *arg)
{
    (void)arg;
}

static const sqlite3_mem_methods methods = {
    mem_malloc, mem_free, mem_realloc, mem_size, mem_roundup, mem_init, mem_shutdown, NULL,
};

static int fail(const char *what, sqlite3 *db)
{
    fprintf(stderr, "sqlite_hook: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    return 1;
}

int main(int argc, char **argv)
{
    int rows = argc > 1 ? atoi(argv[1]) : 20000;
    alloc_h = AS_BYTE(&alloc_obj);
    if (ak_byte_init(alloc_h, (uintptr_t)pool, sizeof pool) != AK_OK)
        return fail("ak_byte_init", NULL);
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK)
        return fail("sqlite3_config", NULL);
    if (sqlite3_initialize() != SQLITE_OK)
        return fail("sqlite3_initialize", NULL);

    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return fail("open", db);
    if (sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v INTEGER);", 0, 0,
                     0) != SQLITE_OK)
        return fail("create", db);
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(name, v) VALUES(?, ?)", -1, &ins, 0) != SQLITE_OK)
        return fail("prepare", db);
    long long expect = 0;
    for (int i = 0; i < rows; i++) {
        char name[64];
        snprintf(name, sizeof name, "row-%d-%0*d", i, i % 40, i);
        sqlite3_bind_text(ins, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(ins, 2, i % 1000);
        if (sqlite3_step(ins) != SQLITE_DONE)
            return fail("insert", db);
        sqlite3_reset(ins);
        expect += i % 1000;
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    size_t used_open = ak_byte_used_bytes(alloc_h);

    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "SELECT count(*), sum(v), max(length(name)) FROM t", -1, &q, 0) !=
        SQLITE_OK)
        return fail("prepare select", db);
    if (sqlite3_step(q) != SQLITE_ROW)
        return fail("select", db);
    long long count = sqlite3_column_int64(q, 0), sum = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    sqlite3_shutdown();

    printf("sqlite_hook: allocator %s, %d rows: count=%lld sum=%lld (expected %lld)\n",
           ak_byte_name(alloc_h), rows, count, sum, expect);
    printf("sqlite_hook: %zu bytes in use with the database open, %zu after close\n", used_open,
           ak_byte_used_bytes(alloc_h));
    const char *why = ak_byte_check(alloc_h);
    if (count != rows || sum != expect || ak_byte_used_bytes(alloc_h) != 0 || why) {
        fprintf(stderr, "sqlite_hook: FAILED%s%s\n", why ? ": " : "", why ? why : "");
        return 1;
    }
    return 0;
}
