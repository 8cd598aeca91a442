/* The byte allocators the ak_heap tests run over: the test double (always)
 * and every allocator this build contains. Each entry resets a static
 * allocator object to zero (an empty allocator) and returns its handle. */
#ifndef AK_HEAP_BACKENDS_H
#define AK_HEAP_BACKENDS_H

#include "heap_double.h"
#include <allockit.h>
#include <string.h>

typedef struct heap_backend {
    const char *name;
    ak_byte_allocator (*make)(void);
} heap_backend;

static dbl_alloc hb_double;
static ak_byte_allocator hb_make_double(void)
{
    memset(&hb_double, 0, sizeof hb_double);
    return dbl_as_byte(&hb_double);
}
#if AK_HAVE_TLSF
static ak_tlsf hb_tlsf;
static ak_byte_allocator hb_make_tlsf(void)
{
    memset(&hb_tlsf, 0, sizeof hb_tlsf);
    return ak_tlsf_as_byte(&hb_tlsf);
}
#endif
#if AK_HAVE_BUDDY
static ak_buddy hb_buddy;
static ak_byte_allocator hb_make_buddy(void)
{
    memset(&hb_buddy, 0, sizeof hb_buddy);
    return ak_buddy_as_byte(&hb_buddy);
}
#endif
#if AK_HAVE_SLAB
static ak_slab hb_slab;
static ak_byte_allocator hb_make_slab(void)
{
    memset(&hb_slab, 0, sizeof hb_slab);
    return ak_slab_as_byte(&hb_slab);
}
#endif

static const heap_backend heap_backends[] = {
    {"double", hb_make_double},
#if AK_HAVE_TLSF
    {"tlsf", hb_make_tlsf},
#endif
#if AK_HAVE_BUDDY
    {"buddy", hb_make_buddy},
#endif
#if AK_HAVE_SLAB
    {"slab", hb_make_slab},
#endif
};
#define HEAP_BACKEND_COUNT (sizeof heap_backends / sizeof heap_backends[0])

#endif /* AK_HEAP_BACKENDS_H */
