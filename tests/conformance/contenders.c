/* The contender tables, built from the AK_HAVE_* macros of this build, and
 * the libc control: a byte allocator over aligned_alloc/free that counts
 * the requested bytes like the kit's allocators do. */
#include "contenders.h"

#include <stdlib.h>
#include <string.h>

/* ---- libc control ---- */

typedef struct libc_byte {
    size_t total;
    size_t used;
} libc_byte;

static ak_error libc_init(void *self, uintptr_t start, size_t size)
{
    (void)start;
    libc_byte *a = self;
    a->total = size;
    a->used = 0;
    return AK_OK;
}

static ak_error libc_add_memory(void *self, uintptr_t start, size_t size)
{
    (void)start;
    libc_byte *a = self;
    a->total += size;
    return AK_OK;
}

static ak_error libc_alloc(void *self, size_t size, size_t align, void **out)
{
    libc_byte *a = self;
    if (!ak_is_pow2(align))
        return AK_ERR_INVALID_PARAM;
    if (align < sizeof(void *))
        align = sizeof(void *);
    /* aligned_alloc wants a non-zero multiple of the alignment. */
    size_t rounded = size ? (size + align - 1) & ~(align - 1) : align;
    if (rounded < size)
        return AK_ERR_NO_MEMORY;
    void *p = aligned_alloc(align, rounded);
    if (!p)
        return AK_ERR_NO_MEMORY;
    a->used += size;
    *out = p;
    return AK_OK;
}

static ak_error libc_dealloc(void *self, void *ptr, size_t size, size_t align)
{
    (void)align;
    libc_byte *a = self;
    free(ptr);
    a->used -= size;
    return AK_OK;
}

static size_t libc_total(const void *self)
{
    return ((const libc_byte *)self)->total;
}

static size_t libc_used(const void *self)
{
    return ((const libc_byte *)self)->used;
}

static size_t libc_available(const void *self)
{
    const libc_byte *a = self;
    return a->total - a->used;
}

static const ak_byte_allocator_ops libc_ops = {
    .name = "libc",
    .init = libc_init,
    .add_memory = libc_add_memory,
    .alloc = libc_alloc,
    .dealloc = libc_dealloc,
    .total_bytes = libc_total,
    .used_bytes = libc_used,
    .available_bytes = libc_available,
};

static ak_byte_allocator make_libc(void *obj)
{
    ak_byte_allocator h = {&libc_ops, obj};
    return h;
}

/* ---- the kit's allocators ---- */

#if AK_HAVE_TLSF
static ak_byte_allocator make_tlsf(void *obj)
{
    return ak_tlsf_as_byte((ak_tlsf *)obj);
}
#endif
#if AK_HAVE_BUDDY
static ak_byte_allocator make_buddy(void *obj)
{
    return ak_buddy_as_byte((ak_buddy *)obj);
}
#endif
#if AK_HAVE_SLAB
static ak_byte_allocator make_slab(void *obj)
{
    return ak_slab_as_byte((ak_slab *)obj);
}
#endif

#if AK_HAVE_MAGAZINE && AK_HAVE_TLSF
/* The cache layer in front of TLSF, one CPU: it caches once TLSF has the
 * cache hooks, and passes every call through until then. */
typedef struct mag_over_tlsf {
    ak_mag m;
    ak_tlsf t;
} mag_over_tlsf;

static ak_byte_allocator make_magazine(void *obj)
{
    mag_over_tlsf *o = obj;
    ak_mag_config cfg = {.backend = ak_tlsf_as_byte(&o->t)};
    (void)ak_mag_init(&o->m, &cfg); /* cannot fail: the config is valid */
    return ak_mag_as_byte(&o->m);
}
#endif

const ak_byte_contender ak_byte_contenders[] = {
#if AK_HAVE_TLSF
    {"tlsf", sizeof(ak_tlsf), make_tlsf, true, true},
#endif
#if AK_HAVE_BUDDY
    {"buddy", sizeof(ak_buddy), make_buddy, true, true},
#endif
#if AK_HAVE_SLAB
    {"slab", sizeof(ak_slab), make_slab, true, true},
#endif
#if AK_HAVE_MAGAZINE && AK_HAVE_TLSF
    {"magazine", sizeof(mag_over_tlsf), make_magazine, true, true},
#endif
    {"libc", sizeof(libc_byte), make_libc, false, false},
};
const size_t ak_byte_contender_count = sizeof ak_byte_contenders / sizeof ak_byte_contenders[0];

#if AK_HAVE_BITMAP_PAGE
static bool make_bitmap_page(void *obj, ak_page_allocator *out)
{
    if (ak_bitmap_page_new((ak_bitmap_page *)obj, 4096) != AK_OK)
        return false;
    *out = ak_bitmap_page_as_page((ak_bitmap_page *)obj);
    return true;
}
#endif

/* An empty table is not valid C; the count below excludes the sentinel. */
const ak_page_contender ak_page_contenders[] = {
#if AK_HAVE_BITMAP_PAGE
    {"bitmap_page", sizeof(ak_bitmap_page), make_bitmap_page, AK_PAGE_ALLOC_CAPACITY_PAGES},
#endif
    {NULL, 0, NULL, 0},
};
const size_t ak_page_contender_count = sizeof ak_page_contenders / sizeof ak_page_contenders[0] - 1;

#if AK_HAVE_BITMAP_ID
static ak_id_allocator make_bitmap_id(void *obj)
{
    return ak_bitmap_id_as_id((ak_bitmap_id *)obj);
}
#endif

const ak_id_contender ak_id_contenders[] = {
#if AK_HAVE_BITMAP_ID
    {"bitmap_id", sizeof(ak_bitmap_id), make_bitmap_id, AK_ID_CAPACITY},
#endif
    {NULL, 0, NULL, 0},
};
const size_t ak_id_contender_count = sizeof ak_id_contenders / sizeof ak_id_contenders[0] - 1;

const ak_byte_contender *ak_find_byte_contender(const char *name)
{
    for (size_t i = 0; i < ak_byte_contender_count; i++)
        if (!strcmp(ak_byte_contenders[i].name, name))
            return &ak_byte_contenders[i];
    return NULL;
}

const ak_page_contender *ak_find_page_contender(const char *name)
{
    for (size_t i = 0; i < ak_page_contender_count; i++)
        if (!strcmp(ak_page_contenders[i].name, name))
            return &ak_page_contenders[i];
    return NULL;
}

const ak_id_contender *ak_find_id_contender(const char *name)
{
    for (size_t i = 0; i < ak_id_contender_count; i++)
        if (!strcmp(ak_id_contenders[i].name, name))
            return &ak_id_contenders[i];
    return NULL;
}
