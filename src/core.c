/* allockit core: error strings and the interface dispatch.
 * Every call here is O(1) plus the cost of the operation it forwards to.
 * The optional ops (resize, usable_size, check) fall back to documented
 * answers when an implementation leaves them NULL, so generic code never
 * has to test for them. */
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
