/* allockit: memory allocators behind one interface.
 * The umbrella header: declares the core and every allocator this build
 * contains (see AK_HAVE_* in <allockit/config.h>). A project that vendors a
 * single allocator includes only its header under allockit/. */
#ifndef ALLOCKIT_H
#define ALLOCKIT_H

#include <allockit/core.h>

#if defined(AK_HAVE_TLSF) && AK_HAVE_TLSF
#include <allockit/tlsf.h>
#endif
#if defined(AK_HAVE_BUDDY) && AK_HAVE_BUDDY
#include <allockit/buddy.h>
#endif
#if defined(AK_HAVE_SLAB) && AK_HAVE_SLAB
#include <allockit/slab.h>
#endif
#if defined(AK_HAVE_BITMAP_PAGE) && AK_HAVE_BITMAP_PAGE
#include <allockit/bitmap_page.h>
#endif
#if defined(AK_HAVE_BITMAP_ID) && AK_HAVE_BITMAP_ID
#include <allockit/bitmap_id.h>
#endif
#if defined(AK_HAVE_MAGAZINE) && AK_HAVE_MAGAZINE
#include <allockit/magazine.h>
#endif

#endif /* ALLOCKIT_H */
