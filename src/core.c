/* allockit core: error strings and the interface dispatch.
 * Every call here is O(1) plus the cost of the operation it forwards to.
 * The optional ops (resize, usable_size, check, walk, stats) fall back to
 * documented answers when an implementation leaves them NULL, so generic
 * code never has to test for them; the stats fallback costs a walk. */
#include <allockit/core.h>

const char *ak_strerror(ak_error e)
{
    switch (e) {
    case AK_OK:
        return "success";
    case AK_ERR_INVALID_PARAM:
        return "invalid parameter (size, count, alignment or address)";
    case AK_ERR_MEMORY_OVERLAP:
        return "memory region overlaps one already managed";
    case AK_ERR_NO_MEMORY:
        return "not enough free memory";
    case AK_ERR_NOT_ALLOCATED:
        return "not allocated";
    }
    return "unknown error";
}

const char *ak_error_name(ak_error e)
{
    switch (e) {
    case AK_OK:
        return "AK_OK";
    case AK_ERR_INVALID_PARAM:
        return "AK_ERR_INVALID_PARAM";
    case AK_ERR_MEMORY_OVERLAP:
        return "AK_ERR_MEMORY_OVERLAP";
    case AK_ERR_NO_MEMORY:
        return "AK_ERR_NO_MEMORY";
    case AK_ERR_NOT_ALLOCATED:
        return "AK_ERR_NOT_ALLOCATED";
    }
    return "AK_ERR_?";
}

/* ---- walking and statistics: the fallback of the stats calls ---- */

/* What a walk adds up. Cleared field by field: a struct initialiser may
 * become a call to the compiler's runtime on some targets. */
typedef struct walk_tally {
    size_t used, free, free_units, largest;
} walk_tally;

static void tally_clear(walk_tally *t)
{
    t->used = t->free = t->free_units = t->largest = 0;
}

static void tally_one(uintptr_t start, size_t size, bool used, void *ctx)
{
    walk_tally *t = (walk_tally *)ctx;
    (void)start;
    if (used) {
        t->used++;
        return;
    }
    t->free++;
    t->free_units += size;
    if (size > t->largest)
        t->largest = size;
}

/* Walk with `walk` if there is one; false (t cleared) if not. */
static bool tally_walk(ak_error (*walk)(const void *, ak_walker, void *), const void *self,
                       walk_tally *t)
{
    tally_clear(t);
    if (walk && walk(self, tally_one, t) == AK_OK)
        return true;
    tally_clear(t);
    return false;
}

/* ---- byte ---- */

ak_error ak_byte_init(ak_byte_allocator h, uintptr_t start, size_t size)
{
    return h.ops->init(h.self, start, size);
}

ak_error ak_byte_add_memory(ak_byte_allocator h, uintptr_t start, size_t size)
{
    return h.ops->add_memory(h.self, start, size);
}

/* The library's copies of the two calls core.h also defines inline. */
ak_error ak_byte_alloc(ak_byte_allocator h, size_t size, size_t align, void **out)
{
    return h.ops->alloc(h.self, size, align, out);
}

ak_error ak_byte_dealloc(ak_byte_allocator h, void *ptr, size_t size, size_t align)
{
    return h.ops->dealloc(h.self, ptr, size, align);
}

size_t ak_byte_total_bytes(ak_byte_allocator h)
{
    return h.ops->total_bytes(h.self);
}

size_t ak_byte_used_bytes(ak_byte_allocator h)
{
    return h.ops->used_bytes(h.self);
}

size_t ak_byte_available_bytes(ak_byte_allocator h)
{
    return h.ops->available_bytes(h.self);
}

const char *ak_byte_name(ak_byte_allocator h)
{
    return h.ops->name ? h.ops->name : "?";
}

ak_error ak_byte_resize(ak_byte_allocator h, void *ptr, size_t old_size, size_t align,
                        size_t new_size)
{
    if (!h.ops->resize)
        return AK_ERR_NO_MEMORY;
    return h.ops->resize(h.self, ptr, old_size, align, new_size);
}

size_t ak_byte_usable_size(ak_byte_allocator h, const void *ptr, size_t size, size_t align)
{
    if (!h.ops->usable_size)
        return size;
    return h.ops->usable_size(h.self, ptr, size, align);
}

const char *ak_byte_check(ak_byte_allocator h)
{
    return h.ops->check ? h.ops->check(h.self) : (const char *)0;
}

ak_error ak_byte_cache(ak_byte_allocator h, void *ptr, size_t size, size_t align)
{
    if (!h.ops->cache)
        return AK_ERR_INVALID_PARAM;
    return h.ops->cache(h.self, ptr, size, align);
}

void ak_byte_uncache(ak_byte_allocator h, void *ptr, size_t size, size_t align)
{
    if (h.ops->uncache)
        h.ops->uncache(h.self, ptr, size, align);
}

bool ak_byte_can_cache(ak_byte_allocator h)
{
    return h.ops->cache && h.ops->uncache;
}

const uintptr_t *ak_byte_cache_key(ak_byte_allocator h)
{
    return ak_byte_can_cache(h) && h.ops->cache_key ? h.ops->cache_key(h.self)
                                                    : (const uintptr_t *)0;
}

ak_error ak_byte_walk(ak_byte_allocator h, ak_walker fn, void *ctx)
{
    if (!fn || !h.ops->walk)
        return AK_ERR_INVALID_PARAM;
    return h.ops->walk(h.self, fn, ctx);
}

void ak_byte_stats(ak_byte_allocator h, struct ak_byte_stats *out)
{
    if (h.ops->stats) {
        h.ops->stats(h.self, out);
        return;
    }
    walk_tally t;
    bool walked = tally_walk(h.ops->walk, h.self, &t);
    out->total_bytes = h.ops->total_bytes(h.self);
    out->used_bytes = h.ops->used_bytes(h.self);
    out->free_bytes = walked ? t.free_units : h.ops->available_bytes(h.self);
    out->largest_free = t.largest;
    out->used_blocks = t.used;
    out->free_blocks = t.free;
    out->region_count = 0;
    out->failed_allocs = 0;
}

/* ---- page ---- */

ak_error ak_page_init(ak_page_allocator h, uintptr_t start, size_t size)
{
    return h.ops->init(h.self, start, size);
}

ak_error ak_page_add_memory(ak_page_allocator h, uintptr_t start, size_t size)
{
    return h.ops->add_memory(h.self, start, size);
}

ak_error ak_page_alloc_pages(ak_page_allocator h, size_t num_pages, size_t align_pow2,
                             uintptr_t *out)
{
    return h.ops->alloc_pages(h.self, num_pages, align_pow2, out);
}

ak_error ak_page_alloc_pages_at(ak_page_allocator h, uintptr_t base, size_t num_pages,
                                size_t align_pow2, uintptr_t *out)
{
    return h.ops->alloc_pages_at(h.self, base, num_pages, align_pow2, out);
}

ak_error ak_page_dealloc_pages(ak_page_allocator h, uintptr_t pos, size_t num_pages)
{
    return h.ops->dealloc_pages(h.self, pos, num_pages);
}

size_t ak_page_total_pages(ak_page_allocator h)
{
    return h.ops->total_pages(h.self);
}

size_t ak_page_used_pages(ak_page_allocator h)
{
    return h.ops->used_pages(h.self);
}

size_t ak_page_available_pages(ak_page_allocator h)
{
    return h.ops->available_pages(h.self);
}

size_t ak_page_page_size(ak_page_allocator h)
{
    return h.ops->page_size(h.self);
}

const char *ak_page_name(ak_page_allocator h)
{
    return h.ops->name ? h.ops->name : "?";
}

const char *ak_page_check(ak_page_allocator h)
{
    return h.ops->check ? h.ops->check(h.self) : (const char *)0;
}

ak_error ak_page_walk(ak_page_allocator h, ak_walker fn, void *ctx)
{
    if (!fn || !h.ops->walk)
        return AK_ERR_INVALID_PARAM;
    return h.ops->walk(h.self, fn, ctx);
}

void ak_page_stats(ak_page_allocator h, struct ak_page_stats *out)
{
    if (h.ops->stats) {
        h.ops->stats(h.self, out);
        return;
    }
    walk_tally t;
    (void)tally_walk(h.ops->walk, h.self, &t);
    out->total_pages = h.ops->total_pages(h.self);
    out->used_pages = h.ops->used_pages(h.self);
    out->free_pages = h.ops->available_pages(h.self);
    out->largest_free = t.largest;
    out->used_runs = t.used;
    out->free_runs = t.free;
    out->region_count = 0;
    out->failed_allocs = 0;
}

/* ---- id ---- */

ak_error ak_id_init(ak_id_allocator h, uintptr_t start, size_t size)
{
    return h.ops->init(h.self, start, size);
}

ak_error ak_id_add_memory(ak_id_allocator h, uintptr_t start, size_t size)
{
    return h.ops->add_memory(h.self, start, size);
}

ak_error ak_id_alloc_id(ak_id_allocator h, size_t count, size_t align_pow2, size_t *out)
{
    return h.ops->alloc_id(h.self, count, align_pow2, out);
}

ak_error ak_id_dealloc_id(ak_id_allocator h, size_t start_id, size_t count)
{
    return h.ops->dealloc_id(h.self, start_id, count);
}

bool ak_id_is_allocated(ak_id_allocator h, size_t id)
{
    return h.ops->is_allocated(h.self, id);
}

ak_error ak_id_alloc_fixed_id(ak_id_allocator h, size_t id)
{
    return h.ops->alloc_fixed_id(h.self, id);
}

size_t ak_id_size(ak_id_allocator h)
{
    return h.ops->size(h.self);
}

size_t ak_id_used(ak_id_allocator h)
{
    return h.ops->used(h.self);
}

size_t ak_id_available(ak_id_allocator h)
{
    return h.ops->available(h.self);
}

const char *ak_id_name(ak_id_allocator h)
{
    return h.ops->name ? h.ops->name : "?";
}

const char *ak_id_check(ak_id_allocator h)
{
    return h.ops->check ? h.ops->check(h.self) : (const char *)0;
}

ak_error ak_id_walk(ak_id_allocator h, ak_walker fn, void *ctx)
{
    if (!fn || !h.ops->walk)
        return AK_ERR_INVALID_PARAM;
    return h.ops->walk(h.self, fn, ctx);
}

void ak_id_stats(ak_id_allocator h, struct ak_id_stats *out)
{
    if (h.ops->stats) {
        h.ops->stats(h.self, out);
        return;
    }
    walk_tally t;
    (void)tally_walk(h.ops->walk, h.self, &t);
    out->total_ids = h.ops->size(h.self);
    out->used_ids = h.ops->used(h.self);
    out->free_ids = h.ops->available(h.self);
    out->largest_free = t.largest;
    out->used_runs = t.used;
    out->free_runs = t.free;
    out->region_count = 0;
    out->failed_allocs = 0;
}
