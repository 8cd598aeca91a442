/* Bitmap page allocator tests: the seed's own page-allocator tests in C
 * (one page; 2 GiB at 1 GiB + 4 KiB with 1/10/100/1000-page allocations,
 * every alignment from 4 KiB to 1 GiB, alloc_pages_at), one test per error
 * of the contract, several regions, re-basing, page sizes, addresses at
 * the top of the address space, the interface handle, the checker, and a
 * randomised model test against a plain per-page array (alloc, alloc_at,
 * dealloc and deliberately bad calls; after every bad call the state is
 * unchanged). --ops sets the model test's operations (default 1200000;
 * --quick 60000). The allocator object is large, so it is static here. */
#include "testlib.h"
#include "walk_check.h"

#include "hbitmap.h"
#include <allockit.h>

#define PS          ((size_t)4096)
#define KiB         ((size_t)1024)
#define MiB         (KiB * KiB)
#define GiB         (KiB * MiB)
#define CAP         ((size_t)AK_PAGE_ALLOC_CAPACITY_PAGES)
#define CHECK_PA(a) CHECK_INVARIANTS(ak_bitmap_page_check(a))

static ak_bitmap_page pa;
static ak_bitmap_page pb;

/* Bytes of capacity, or SIZE_MAX when that does not fit size_t. */
static size_t cap_bytes(void)
{
    return CAP > SIZE_MAX / PS ? SIZE_MAX : CAP * PS;
}

/* total, used and available pages are as expected (a macro, so that a
 * failure names the caller's line). */
#define check_counts(a, total, used)                                                               \
    do {                                                                                           \
        size_t t_ = (total), u_ = (used);                                                          \
        CHECKF(ak_bitmap_page_total_pages(a) == t_, "total %zu", ak_bitmap_page_total_pages(a));   \
        CHECKF(ak_bitmap_page_used_pages(a) == u_, "used %zu", ak_bitmap_page_used_pages(a));      \
        CHECK(ak_bitmap_page_available_pages(a) == t_ - u_);                                       \
    } while (0)

/* ---- the seed's tests ---- */

static void test_seed_one_page(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, PS, PS));
    check_counts(&pa, 1, 0);
    uintptr_t addr = 0;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, PS, &addr));
    CHECK(addr == 0x1000);
    check_counts(&pa, 1, 1);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 1, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, addr, 1));
    check_counts(&pa, 1, 0);
    CHECK_PA(&pa);
}

/* The seed's 2 GiB region at 1 GiB + 4 KiB (smaller builds: as much of it
 * as the capacity holds; alignments that then have no aligned page in the
 * region must give AK_ERR_NO_MEMORY). */
static void seed_region(uintptr_t *base, size_t *size)
{
    *base = GiB + PS;
    *size = 2 * GiB < cap_bytes() ? 2 * GiB : cap_bytes();
}

/* Where the lowest-first allocator must put n pages aligned to align in
 * an empty [base, base+size), or 0 if they do not fit. */
static uintptr_t expected_at(uintptr_t base, size_t size, size_t n, size_t align)
{
    uintptr_t a = ak_align_up(base, align);
    if (a - base > size || n > (size - (a - base)) / PS)
        return 0;
    return a;
}

static void test_seed_size_2g(void)
{
    uintptr_t base;
    size_t size;
    seed_region(&base, &size);
    const size_t total = size / PS;
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, base, size));
    check_counts(&pa, total, 0);
    uintptr_t addr;
    /* 1, 10, 100, 1000 pages. */
    for (size_t n = 1; n <= 1000; n *= 10) {
        check_counts(&pa, total, 0);
        CHECK_OK(ak_bitmap_page_alloc_pages(&pa, n, PS, &addr));
        CHECK(addr == base);
        check_counts(&pa, total, n);
        CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, addr, n));
        check_counts(&pa, total, 0);
    }
    /* One page and n pages at every alignment from 4 KiB to 1 GiB. */
    for (size_t n = 1; n <= 1000; n *= 10) {
        for (size_t align = PS; align <= GiB; align <<= 1) {
            uintptr_t want = expected_at(base, size, n, align);
            if (!want) {
                CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, n, align, &addr), AK_ERR_NO_MEMORY);
                check_counts(&pa, total, 0);
                continue;
            }
            CHECK_OK(ak_bitmap_page_alloc_pages(&pa, n, align, &addr));
            CHECKF(addr == want, "n=%zu align=%zu addr=%#lx", n, align, (unsigned long)addr);
            CHECK(addr % align == 0);
            check_counts(&pa, total, n);
            CHECK_PA(&pa);
            CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, addr, n));
            check_counts(&pa, total, 0);
        }
    }
    /* Several live blocks of growing alignment: each aligned, none
     * overlapping, and all counted. */
    uintptr_t live[32];
    size_t live_n[32], count = 0, used = 0;
    for (size_t align = PS; align <= GiB; align <<= 1) {
        size_t n = (align / PS) % 7 + 1;
        if (ak_bitmap_page_alloc_pages(&pa, n, align, &addr) != AK_OK)
            continue;
        CHECK(addr % align == 0 && addr >= base && addr + n * PS <= base + size);
        for (size_t i = 0; i < count; i++)
            CHECK(addr + n * PS <= live[i] || live[i] + live_n[i] * PS <= addr);
        live[count] = addr;
        live_n[count++] = n;
        used += n;
        check_counts(&pa, total, used);
    }
    CHECK(count >= 10);
    CHECK_PA(&pa);
    for (size_t i = 0; i < count; i++)
        CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, live[i], live_n[i]));
    check_counts(&pa, total, 0);
    /* The whole region in one allocation. */
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, total, PS, &addr));
    CHECK(addr == base);
    check_counts(&pa, total, total);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 1, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, addr, total));
    check_counts(&pa, total, 0);
    CHECK_PA(&pa);
}

static void test_seed_alloc_pages_at(void)
{
    uintptr_t base;
    size_t size;
    seed_region(&base, &size);
    const size_t total = size / PS;
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, base, size));
    uintptr_t addr, other;
    for (size_t n = 1; n <= 1000; n *= 10) {
        for (size_t align = PS; align <= GiB; align <<= 1) {
            /* The second aligned address in the region, if n pages fit. */
            uintptr_t at = ak_align_up(base + PS, align);
            if (at - base > size || n > (size - (at - base)) / PS) {
                CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, at, n, align, &addr),
                          AK_ERR_INVALID_PARAM);
                continue;
            }
            CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, at, n, align, &addr));
            CHECK(addr == at);
            check_counts(&pa, total, n);
            /* The same pages again: in use. */
            CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, at, n, align, &other), AK_ERR_NO_MEMORY);
            CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, at + (n - 1) * PS, 1, PS, &other),
                      AK_ERR_NO_MEMORY);
            /* The allocator does not hand them out again. */
            if (ak_bitmap_page_alloc_pages(&pa, n, PS, &other) == AK_OK) {
                CHECK(other + n * PS <= at || at + n * PS <= other);
                CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, other, n));
            }
            CHECK_PA(&pa);
            CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, addr, n));
            check_counts(&pa, total, 0);
        }
    }
    /* Walk the first pages one by one with alloc_pages_at. */
    for (size_t i = 0; i < 300; i++) {
        CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, base + i * PS, 1, PS, &addr));
        CHECK(addr == base + i * PS);
    }
    check_counts(&pa, total, 300);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, PS, &addr));
    CHECK(addr == base + 300 * PS);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, base, 301));
    check_counts(&pa, total, 0);
    CHECK_PA(&pa);
}

/* ---- the contract's errors, one by one ---- */

static void test_zero_initialised(void)
{
    memset(&pb, 0, sizeof pb);
    CHECK(ak_bitmap_page_page_size(&pb) == 4096);
    check_counts(&pb, 0, 0);
    CHECK_PA(&pb);
    uintptr_t addr = 7;
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pb, 1, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pb, 0, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pb, 0x1000, 1, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pb, 0x1000, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pb, 0, 1), AK_ERR_NOT_ALLOCATED);
    CHECK(addr == 7);
    /* add_memory on an empty object works like init. */
    CHECK_OK(ak_bitmap_page_add_memory(&pb, 0x100000, 0x10000));
    check_counts(&pb, 16, 0);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pb, 16, PS, &addr));
    CHECK(addr == 0x100000);
    CHECK_PA(&pb);
}

static void test_new_errors(void)
{
    CHECK_OK(ak_bitmap_page_new(&pb, 8192));
    const size_t bad[] = {0, 3, 8, 12, 4095, 4097, 2 * GiB, SIZE_MAX, (SIZE_MAX >> 1) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_ERR(ak_bitmap_page_new(&pb, bad[i]), AK_ERR_INVALID_PARAM);
        CHECK(ak_bitmap_page_page_size(&pb) == 8192);
    }
    CHECK_OK(ak_bitmap_page_new(&pb, 16));
    CHECK(ak_bitmap_page_page_size(&pb) == 16);
    CHECK_OK(ak_bitmap_page_new(&pb, GiB));
    CHECK(ak_bitmap_page_page_size(&pb) == GiB);
    /* new empties a used object, even one full of garbage. */
    memset(&pb, 0x5a, sizeof pb);
    CHECK_OK(ak_bitmap_page_new(&pb, PS));
    check_counts(&pb, 0, 0);
    CHECK_PA(&pb);
}

static void test_region_errors(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_ERR(ak_bitmap_page_init(&pa, 0x10000, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_init(&pa, 0x10001, PS), AK_ERR_INVALID_PARAM); /* no whole page */
    CHECK_ERR(ak_bitmap_page_init(&pa, 0x10001, 2 * PS - 2), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_init(&pa, 0x10000, PS - 1), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_init(&pa, UINTPTR_MAX - PS + 1, 2 * PS), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_init(&pa, 1, SIZE_MAX), AK_ERR_INVALID_PARAM); /* wraps */
    check_counts(&pa, 0, 0);
    /* Trimming: 0x10001..0x13fff holds pages 0x11000 and 0x12000. */
    CHECK_OK(ak_bitmap_page_init(&pa, 0x10001, 0x3ffe));
    check_counts(&pa, 2, 0);
    uintptr_t addr;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 2, PS, &addr));
    CHECK(addr == 0x11000);
    /* A failed init leaves the allocator as it was. */
    CHECK_ERR(ak_bitmap_page_init(&pa, 0x10000, 0), AK_ERR_INVALID_PARAM);
    check_counts(&pa, 2, 2);
    /* Capacity: exactly the capacity fits, one more page does not. */
    if (cap_bytes() != SIZE_MAX && cap_bytes() <= SIZE_MAX - PS) {
        CHECK_ERR(ak_bitmap_page_init(&pa, 0x40000000, cap_bytes() + PS), AK_ERR_INVALID_PARAM);
        check_counts(&pa, 2, 2);
        /* Unaligned edges: the trimmed pages count, not the bytes. */
        CHECK_OK(ak_bitmap_page_init(&pa, 0x40000000 - 0x800, cap_bytes() + PS));
        check_counts(&pa, CAP, 0);
        CHECK_OK(ak_bitmap_page_init(&pa, 0x40000000, cap_bytes()));
        check_counts(&pa, CAP, 0);
        CHECK_PA(&pa);
    }
    /* Overlap with the first region, in every arrangement. */
    CHECK_OK(ak_bitmap_page_init(&pa, 0x100000, 0x10000)); /* 16 pages */
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x100000, 0x10000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0xff000, 0x2000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x10f000, 0x2000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x104000, 0x1000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x80000, 0x100000), AK_ERR_MEMORY_OVERLAP);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x10ffff, 1), AK_ERR_MEMORY_OVERLAP);
    check_counts(&pa, 16, 0);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x200000, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x200001, 0x800), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, UINTPTR_MAX - 0xfff, 0x2000), AK_ERR_INVALID_PARAM);
    /* Outside the window, above and below. */
    if (cap_bytes() <= UINTPTR_MAX / 4) {
        CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x100000 + cap_bytes(), PS), AK_ERR_INVALID_PARAM);
        CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x100000 + cap_bytes() - PS, PS));
        CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x0ff000, PS), AK_ERR_INVALID_PARAM);
        check_counts(&pa, 17, 0);
        CHECK_PA(&pa);
    }
    check_counts(&pa, ak_bitmap_page_total_pages(&pa), 0);
}

static void test_several_regions(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x100000, 4 * PS));
    CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x110000, 4 * PS));
    check_counts(&pa, 8, 0);
    CHECK_PA(&pa);
    uintptr_t addr, other;
    /* No run crosses the gap. */
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 5, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 4, PS, &addr));
    CHECK(addr == 0x100000);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, PS, &other));
    CHECK(other == 0x110000);
    /* Pages of the gap are not managed. */
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, 0x104000, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, 0x100000, 5), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x104000, 1, PS, &other), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x10f000, 2, PS, &other), AK_ERR_INVALID_PARAM);
    check_counts(&pa, 8, 5);
    /* A region that touches both closes the gap: one record, and runs may
     * now cross it. */
    CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x104000, 0xc000));
    check_counts(&pa, 20, 5);
    CHECK(pa.nregions == 1);
    CHECK_PA(&pa);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, addr, 4));
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, other, 1));
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 20, PS, &addr));
    CHECK(addr == 0x100000);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 1, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, 0x100000, 20));
    /* A page split between two touching regions becomes managed when
     * both halves are there; a sliver that adds no page is refused. */
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x100000, 0x1800)); /* page 0x100000 */
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x101800, 0x400), AK_ERR_INVALID_PARAM);
    CHECK_OK(
        ak_bitmap_page_add_memory(&pa, 0x101800, 0x1800)); /* completes 0x101000, adds 0x102000 */
    check_counts(&pa, 3, 0);
    CHECK_PA(&pa);
    /* Record limit: separate regions up to the maximum, then NO_MEMORY;
     * a touching region still merges. */
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    for (size_t i = 0; i < AK_BITMAP_PAGE_MAX_REGIONS; i++)
        CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x1000000 + i * 2 * PS, PS));
    check_counts(&pa, AK_BITMAP_PAGE_MAX_REGIONS, 0);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, 0x2000000, PS), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x1000000 + PS, PS)); /* fills gap 0..1 */
    CHECK(pa.nregions == AK_BITMAP_PAGE_MAX_REGIONS - 1);
    CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x2000000, PS));
    check_counts(&pa, AK_BITMAP_PAGE_MAX_REGIONS + 2, 0);
    CHECK_PA(&pa);
}

static void test_rebase(void)
{
    /* A region below every managed page moves the window's base down;
     * live allocations keep their addresses. */
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x40000000 + 5 * PS, 64 * PS));
    uintptr_t a1, a2, a3;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 3, PS, &a1));
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, 8 * PS, &a2));
    CHECK(a1 == 0x40005000 && a2 == 0x40008000);
    CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x40000000 - 100 * PS, 7 * PS));
    CHECK_PA(&pa);
    check_counts(&pa, 71, 4);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 7, PS, &a3));
    CHECK(a3 == 0x40000000 - 100 * PS);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, PS, &a3));
    CHECK(a3 == 0x40008000 + PS); /* 0x40005000..7fff and 0x40008000 in use */
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a1 + 5 * PS, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, a1, 3));
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, a2, 1));
    CHECK_PA(&pa);
    check_counts(&pa, 71, 8);
    /* The alignment phase follows the new base. 0x40000000 itself lies
     * in the gap between the regions. */
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 1, GiB, &a1), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, 64 * PS, &a1));
    CHECK(a1 == 0x40040000);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 4, 4 * PS, &a1));
    CHECK(a1 == 0x4000c000); /* 0x40008000..b000 holds the live 0x40009000 */
}

static void test_alloc_errors(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x200000, 64 * PS));
    uintptr_t addr = 0x77;
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 0, PS, &addr), AK_ERR_INVALID_PARAM);
    const size_t bad_align[] = {0, 1, 2048, 3 * PS, PS + 1, 2 * GiB, (SIZE_MAX >> 1) + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_align / sizeof bad_align[0]; i++) {
        CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 1, bad_align[i], &addr), AK_ERR_INVALID_PARAM);
        CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x200000, 1, bad_align[i], &addr),
                  AK_ERR_INVALID_PARAM);
    }
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 65, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, SIZE_MAX, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, SIZE_MAX / PS + 1, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 1, GiB, &addr), AK_ERR_NO_MEMORY);
    CHECK(addr == 0x77);
    check_counts(&pa, 64, 0);
    /* Enough pages in total but no run long enough: NO_MEMORY. */
    uintptr_t p[64];
    for (size_t i = 0; i < 64; i++)
        CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, PS, &p[i]));
    for (size_t i = 0; i < 64; i += 2)
        CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, p[i], 1));
    check_counts(&pa, 64, 32);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 2, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, 2 * PS, &addr));
    CHECK(addr == 0x200000);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, 4 * PS, &addr));
    CHECK(addr == 0x204000);
    check_counts(&pa, 64, 34);
    CHECK_PA(&pa);
}

static void test_alloc_at_errors(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x200000, 64 * PS));
    uintptr_t addr = 0x77;
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x200000, 0, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x201000, 1, 2 * PS, &addr),
              AK_ERR_INVALID_PARAM); /* base not aligned to align */
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x200800, 1, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x1ff000, 1, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x1ff000, 2, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x23f000, 2, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x240000, 1, PS, &addr), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x200000, SIZE_MAX, PS, &addr),
              AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, UINTPTR_MAX - PS + 1, 2, PS, &addr),
              AK_ERR_INVALID_PARAM);
    CHECK(addr == 0x77);
    CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, 0x23f000, 1, PS, &addr));
    CHECK(addr == 0x23f000);
    CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, 0x210000, 4, 16 * PS, &addr));
    CHECK(addr == 0x210000);
    addr = 0x77;
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x20e000, 3, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x213000, 1, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x23e000, 2, PS, &addr), AK_ERR_NO_MEMORY);
    CHECK(addr == 0x77);
    check_counts(&pa, 64, 5);
    CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, 0x20e000, 2, PS, &addr));
    check_counts(&pa, 64, 7);
    CHECK_PA(&pa);
}

static void test_dealloc_errors(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x200000, 64 * PS));
    uintptr_t a, b;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 4, PS, &a));
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 4, PS, &b));
    CHECK(a == 0x200000 && b == 0x204000);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a, 0), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a + 1, 1), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a + 0x800, 1), AK_ERR_INVALID_PARAM);
    /* Partly free: nothing is freed, not even the allocated part. */
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, b, 5), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a, 9), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, b + 4 * PS, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a - PS, 2), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, 0x240000, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a, SIZE_MAX), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, UINTPTR_MAX - PS + 1, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, 0, 1), AK_ERR_NOT_ALLOCATED);
    check_counts(&pa, 64, 8);
    CHECK_PA(&pa);
    /* Across two blocks is fine: pages, not blocks, are tracked. */
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, a + 2 * PS, 4));
    check_counts(&pa, 64, 4);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a + 2 * PS, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, a, 2));
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, b + 2 * PS, 2));
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, a, 1), AK_ERR_NOT_ALLOCATED);
    check_counts(&pa, 64, 0);
    CHECK_PA(&pa);
}

/* Alignment of absolute addresses with a base that is not aligned to
 * anything large, and no capacity lost to reach a 1 GiB boundary. */
static void test_phase_and_capacity(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    const uintptr_t start = GiB - 3 * PS;
    size_t size = cap_bytes() < 2 * GiB ? cap_bytes() : 2 * GiB;
    CHECK_OK(ak_bitmap_page_init(&pa, start, size));
    check_counts(&pa, size / PS, 0);
    uintptr_t addr;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, PS, &addr));
    CHECK(addr == start);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, 2 * PS, &addr));
    CHECK(addr == start + PS);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, GiB, &addr));
    CHECK(addr == GiB);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 2, 4 * PS, &addr));
    CHECK(addr == GiB + 4 * PS);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, PS, &addr));
    CHECK(addr == start + 2 * PS);
    CHECK_PA(&pa);
    /* The full capacity is usable from any start. */
    if (cap_bytes() != SIZE_MAX) {
        CHECK_OK(ak_bitmap_page_init(&pa, GiB + 5 * PS, cap_bytes()));
        check_counts(&pa, CAP, 0);
        CHECK_OK(ak_bitmap_page_alloc_pages(&pa, CAP, PS, &addr));
        CHECK(addr == GiB + 5 * PS);
        CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, addr, CAP));
        CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, GiB + 5 * PS + (CAP - 1) * PS, 1, PS, &addr));
        CHECK_PA(&pa);
    }
}

static void test_page_sizes(void)
{
    const size_t sizes[] = {16, 512, 4096, 65536, 2 * MiB, GiB};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t ps = sizes[s];
        CHECK_OK(ak_bitmap_page_new(&pa, ps));
        CHECK(ak_bitmap_page_page_size(&pa) == ps);
        uintptr_t start = (uintptr_t)3 * ps;
        size_t n = 100;
        /* (Divided, not multiplied: 100 * 1 GiB wraps to 0 on 32-bit targets.) */
        if (ps > UINTPTR_MAX / 4 / n)
            n = 3;
        /* 1 GiB pages on 32-bit targets: 3 GiB + 3 GiB would wrap. */
        if (start >= UINTPTR_MAX - n * ps)
            start = 0;
        CHECK_OK(ak_bitmap_page_init(&pa, start + 1, n * ps));
        check_counts(&pa, n - 1, 0);
        uintptr_t addr;
        CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 1, ps, &addr));
        CHECK(addr == start + ps);
        CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 1, ps / 2, &addr), AK_ERR_INVALID_PARAM);
        if (ps * 4 <= GiB && n > 8) {
            CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 2, ps * 4, &addr));
            CHECK(addr % (ps * 4) == 0 && addr == 8 * ps);
        }
        CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, start + ps + ps / 2, 1), AK_ERR_INVALID_PARAM);
        CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, start + ps, 1));
        CHECK_PA(&pa);
    }
}

/* Regions at the very top of the address space: no arithmetic wraps. */
static void test_top_of_address_space(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    const uintptr_t start = (UINTPTR_MAX & ~(uintptr_t)(PS - 1)) - 15 * PS;
    CHECK_OK(ak_bitmap_page_init(&pa, start, 16 * PS - 1)); /* ends at UINTPTR_MAX */
    check_counts(&pa, 15, 0);
    uintptr_t addr;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 15, PS, &addr));
    CHECK(addr == start);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, start + 15 * PS, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, start, 16), AK_ERR_NOT_ALLOCATED);
    CHECK_ERR(ak_bitmap_page_dealloc_pages(&pa, start, SIZE_MAX), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, start, 15));
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, start + 14 * PS, 2, PS, &addr),
              AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, start + 15 * PS, 1, PS, &addr),
              AK_ERR_INVALID_PARAM);
    CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, start + 14 * PS, 1, PS, &addr));
    CHECK(addr == start + 14 * PS);
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 2, 2 * PS, &addr));
    CHECK(addr % (2 * PS) == 0);
    CHECK_ERR(ak_bitmap_page_add_memory(&pa, UINTPTR_MAX, 1), AK_ERR_INVALID_PARAM);
    CHECK_PA(&pa);
}

static void test_interface(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    ak_page_allocator h = ak_bitmap_page_as_page(&pa);
    CHECK(strcmp(ak_page_name(h), "bitmap_page") == 0);
    CHECK(h.ops->check != NULL && h.self == &pa);
    CHECK_OK(ak_page_init(h, 0x100000, 8 * PS));
    CHECK_OK(ak_page_add_memory(h, 0x200000, 8 * PS));
    CHECK(ak_page_total_pages(h) == 16 && ak_page_page_size(h) == PS);
    uintptr_t addr;
    CHECK_OK(ak_page_alloc_pages(h, 2, 2 * PS, &addr));
    CHECK(addr == 0x100000);
    CHECK_OK(ak_page_alloc_pages_at(h, 0x204000, 2, PS, &addr));
    CHECK(addr == 0x204000);
    CHECK(ak_page_used_pages(h) == 4 && ak_page_available_pages(h) == 12);
    CHECK_ERR(ak_page_dealloc_pages(h, 0x206000, 1), AK_ERR_NOT_ALLOCATED);
    CHECK_OK(ak_page_dealloc_pages(h, 0x204000, 2));
    CHECK_INVARIANTS(ak_page_check(h));
}

/* The walk by hand: runs are maximal (adjacent allocations are one run),
 * regions in address order whatever order they came in, nothing between
 * them; the handle walks the same; the top of the address space; the
 * counts of the stats, failed allocations included, and init forgets
 * them. */
static void expect_runs(const wc_walk *w, size_t n, const wc_block *want)
{
    CHECKF(w->n == n, "%zu runs, expected %zu", w->n, n);
    for (size_t i = 0; i < n && i < w->n; i++)
        CHECKF(w->v[i].start == want[i].start && w->v[i].size == want[i].size &&
                   w->v[i].used == want[i].used,
               "run %zu: %#lx %zu %d", i, (unsigned long)w->v[i].start, w->v[i].size, w->v[i].used);
}

static void test_walk_stats(void)
{
    wc_walk w = {0};
    struct ak_page_stats st;
    memset(&pb, 0, sizeof pb); /* zero-initialised: nothing to walk */
    ak_bitmap_page_walk(&pb, wc_collect, &w);
    CHECK(w.n == 0);
    ak_bitmap_page_stats(&pb, &st);
    CHECK(st.total_pages == 0 && st.free_runs == 0 && st.used_runs == 0 && st.region_count == 0);
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x200000, 8 * PS));
    CHECK_OK(
        ak_bitmap_page_add_memory(&pa, 0x100000 + 100, 8 * PS)); /* below: pages 0x101..0x107 */
    uintptr_t a1, a2, a3;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 2, PS, &a1));
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 3, PS, &a2));
    CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, 0x205000, 1, PS, &a3));
    CHECK(a1 == 0x101000 && a2 == 0x103000);
    wc_reset(&w);
    ak_bitmap_page_walk(&pa, wc_collect, &w);
    const wc_block want[] = {{0x101000, 5, true},
                             {0x106000, 2, false},
                             {0x200000, 5, false},
                             {0x205000, 1, true},
                             {0x206000, 2, false}};
    expect_runs(&w, 5, want);
    wc_walk wh = {0};
    CHECK_OK(ak_page_walk(ak_bitmap_page_as_page(&pa), wc_collect, &wh));
    CHECK(wc_equal(&w, &wh));
    ak_bitmap_page_stats(&pa, &st);
    CHECK(st.total_pages == 15 && st.used_pages == 6 && st.free_pages == 9);
    CHECK(st.largest_free == 5 && st.used_runs == 2 && st.free_runs == 3);
    CHECK(st.region_count == 2 && st.failed_allocs == 0);
    struct ak_page_stats sh;
    ak_page_stats(ak_bitmap_page_as_page(&pa), &sh);
    CHECK(memcmp(&st, &sh, sizeof st) == 0);
    /* Refusals for lack of pages count; bad input does not. */
    uintptr_t x;
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 6, PS, &x), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x101000, 1, PS, &x), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 100, PS, &x), AK_ERR_NO_MEMORY);
    CHECK_ERR(ak_bitmap_page_alloc_pages(&pa, 0, PS, &x), AK_ERR_INVALID_PARAM);
    CHECK_ERR(ak_bitmap_page_alloc_pages_at(&pa, 0x150000, 1, PS, &x), AK_ERR_INVALID_PARAM);
    ak_bitmap_page_stats(&pa, &st);
    CHECK(st.failed_allocs == 3);
    /* Every page taken one at a time: the one-page path counts too. */
    while (ak_bitmap_page_alloc_pages(&pa, 1, PS, &x) == AK_OK)
        ;
    ak_bitmap_page_stats(&pa, &st);
    CHECK(st.failed_allocs == 4 && st.free_runs == 0 && st.largest_free == 0);
    CHECK(st.used_runs == 2 && st.used_pages == 15);
    CHECK_OK(ak_bitmap_page_init(&pa, 0x200000, 8 * PS));
    ak_bitmap_page_stats(&pa, &st);
    CHECK(st.failed_allocs == 0 && st.region_count == 1 && st.free_runs == 1);
    /* At the top of the address space. */
    const uintptr_t top = (UINTPTR_MAX & ~(uintptr_t)(PS - 1)) - 15 * PS;
    CHECK_OK(ak_bitmap_page_init(&pa, top, 16 * PS - 1));
    CHECK_OK(ak_bitmap_page_alloc_pages_at(&pa, top + 14 * PS, 1, PS, &x));
    wc_reset(&w);
    ak_bitmap_page_walk(&pa, wc_collect, &w);
    const wc_block want_top[] = {{top, 14, false}, {top + 14 * PS, 1, true}};
    expect_runs(&w, 2, want_top);
    CHECK_PA(&pa);
    wc_free(&w);
    wc_free(&wh);
}

/* The checker notices corruption of each kind it guards. */
static void test_check_detects(void)
{
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    CHECK_OK(ak_bitmap_page_init(&pa, 0x100000, 300 * PS));
    CHECK_OK(ak_bitmap_page_add_memory(&pa, 0x400000, 10 * PS));
    uintptr_t addr;
    CHECK_OK(ak_bitmap_page_alloc_pages(&pa, 70, PS, &addr));
    CHECK_PA(&pa);
    static const ak_hb_geom g = AK_HB_GEOM(AK_BITMAP_PAGE_BITS);
    /* A level-0 bit flipped behind the summaries' back. */
    pa.bits[0] ^= 1;
    CHECK(ak_bitmap_page_check(&pa) != NULL);
    pa.bits[0] ^= 1;
    CHECK_PA(&pa);
    /* A summary bit flipped. */
    if (g.levels > 1) {
        pa.bits[g.any[1]] ^= 2;
        CHECK(ak_bitmap_page_check(&pa) != NULL);
        pa.bits[g.any[1]] ^= 2;
        pa.bits[g.full[1]] ^= 8;
        CHECK(ak_bitmap_page_check(&pa) != NULL);
        pa.bits[g.full[1]] ^= 8;
    }
    /* A free page outside every region (in the gap), summaries updated. */
    ak_hb_set_free(&g, pa.bits, 400, 1);
    CHECK(ak_bitmap_page_check(&pa) != NULL);
    ak_hb_set_used(&g, pa.bits, 400, 1);
    CHECK_PA(&pa);
    /* Counters. */
    pa.used++;
    CHECK(ak_bitmap_page_check(&pa) != NULL);
    pa.used--;
    pa.total--;
    CHECK(ak_bitmap_page_check(&pa) != NULL);
    pa.total++;
    pa.base++;
    CHECK(ak_bitmap_page_check(&pa) != NULL);
    pa.base--;
    /* The lowest-free hint above a free page. */
    size_t hint = pa.low_word;
    pa.low_word = 4; /* pages 0..69 are taken, 70.. free: word 1 has free pages */
    CHECK(ak_bitmap_page_check(&pa) != NULL);
    pa.low_word = hint;
    CHECK_PA(&pa);
}

static void test_sizeof(void)
{
    printf("(sizeof(ak_bitmap_page) = %zu for %zu pages) ", sizeof(ak_bitmap_page), CAP);
    CHECK(sizeof(ak_bitmap_page) >= CAP / 8);
    CHECK(sizeof(ak_bitmap_page) < CAP / 8 + CAP / 8 / 4 + 1024);
}

/* ---- randomised model test ---- */

#define MODEL_SPAN 24576u /* pages in the model's window */

typedef struct live_block {
    uintptr_t addr;
    size_t n;
} live_block;

static unsigned char managed[MODEL_SPAN], taken[MODEL_SPAN];
static live_block live[MODEL_SPAN];
static size_t nlive;

static size_t model_used(void)
{
    size_t u = 0;
    for (size_t i = 0; i < MODEL_SPAN; i++)
        u += taken[i];
    return u;
}

/* Compare every page of the window with the allocator's bitmap. */
static void model_compare(const ak_bitmap_page *a, uintptr_t lowest)
{
    CHECK(a->base == ((lowest / PS) & ~(uintptr_t)63));
    const size_t off = (size_t)(lowest / PS - a->base);
    for (size_t i = 0; i < MODEL_SPAN; i++)
        CHECKF(ak_hb_is_free(a->bits, off + i) == (managed[i] && !taken[i]), "page index %zu", i);
}

/* Pages [i, i+n) of the window: all managed inside one region and free? */
static bool model_run_free(size_t i, size_t n)
{
    if (i > MODEL_SPAN || n > MODEL_SPAN - i)
        return false;
    for (size_t k = i; k < i + n; k++)
        if (!managed[k] || taken[k])
            return false;
    return true;
}

static void model_mark(size_t i, size_t n, unsigned char v)
{
    memset(taken + i, v, n);
}

/* The walk is the model's runs, the stats their figures (with the region
 * records and the failed allocations counted by the test), and the
 * longest free run can be allocated. */
static void model_walk_compare(ak_bitmap_page *a, uintptr_t lowest, size_t regions, size_t failed)
{
    static wc_walk w;
    wc_reset(&w);
    ak_bitmap_page_walk(a, wc_collect, &w);
    wc_runs m;
    const char *why = wc_check_runs(&w, managed, taken, MODEL_SPAN, lowest, PS, &m);
    CHECKF(why == NULL, "%s", why);
    struct ak_page_stats st;
    ak_bitmap_page_stats(a, &st);
    CHECK(st.total_pages == m.used_units + m.free_units && st.used_pages == m.used_units);
    CHECK(st.free_pages == m.free_units && st.largest_free == m.largest_free);
    CHECK(st.used_runs == m.used_runs && st.free_runs == m.free_runs);
    CHECK(st.region_count == regions);
    CHECKF(st.failed_allocs == failed, "failed_allocs %zu, %zu counted", st.failed_allocs, failed);
    if (st.largest_free) {
        uintptr_t at;
        CHECK_OK(ak_bitmap_page_alloc_pages(a, st.largest_free, PS, &at));
        CHECK_OK(ak_bitmap_page_dealloc_pages(a, at, st.largest_free));
    }
}

static void test_model(void)
{
    ak_rng r;
    ak_rng_seed(&r, ak_t.seed ^ 0x9a9e);
    const uint64_t ops = ak_test_ops(1200000, 60000);
    /* The window starts just below 1 GiB so that 1 GiB alignment is
     * possible once; regions: three with gaps, added high to low so the
     * base moves down twice. */
    const uintptr_t lowest = GiB - 1000 * PS;
    const size_t reg[3][2] = {{16000, MODEL_SPAN - 16000}, {3000, 12000}, {0, 2990}};
    memset(managed, 0, sizeof managed);
    memset(taken, 0, sizeof taken);
    nlive = 0;
    CHECK_OK(ak_bitmap_page_new(&pa, PS));
    for (size_t k = 0; k < 3; k++) {
        /* Unaligned edges that trim to exactly these pages. */
        CHECK_OK(ak_bitmap_page_add_memory(&pa, lowest + reg[k][0] * PS - (k == 2 ? 0 : 100),
                                           reg[k][1] * PS + (k == 2 ? 0 : 100) + 50));
        memset(managed + reg[k][0], 1, reg[k][1]);
    }
    size_t expect_total = 0;
    for (size_t i = 0; i < MODEL_SPAN; i++)
        expect_total += managed[i];
    check_counts(&pa, expect_total, 0);
    model_compare(&pa, lowest);
    size_t used = 0, lowest_checks = 0, failed = 0;
    model_walk_compare(&pa, lowest, 3, 0);
    for (uint64_t op = 0; op < ops; op++) {
        unsigned kind = (unsigned)ak_rng_below(&r, 100);
        uintptr_t addr = 0x77;
        const bool fuller = used * 10 > expect_total * 7;
        const unsigned t_alloc = fuller ? 25 : 45;
        if (kind < t_alloc) {
            /* alloc: mostly small, sometimes large; alignment 4 KiB..1 GiB */
            size_t n = ak_rng_below(&r, 8) ? (size_t)ak_rng_log_uniform(&r, 1, 64)
                                           : (size_t)ak_rng_log_uniform(&r, 1, 4096);
            size_t align =
                PS << (ak_rng_below(&r, 3) ? ak_rng_below(&r, 10) : ak_rng_below(&r, 19));
            ak_error e = ak_bitmap_page_alloc_pages(&pa, n, align, &addr);
            /* The lowest aligned free run, by scanning the model: done for
             * every failure and a sample of successes. */
            bool scan = e != AK_OK || op % 37 == 0;
            size_t want = SIZE_MAX;
            if (scan) {
                lowest_checks++;
                size_t ua = align / PS, first = (size_t)((0 - (lowest / PS)) & (ua - 1));
                for (size_t i = first; i < MODEL_SPAN; i += ua)
                    if (model_run_free(i, n)) {
                        want = i;
                        break;
                    }
            }
            if (e == AK_OK) {
                CHECK(addr % align == 0 && addr >= lowest);
                size_t i = (addr - lowest) / PS;
                CHECKF(model_run_free(i, n), "alloc %zu pages gave index %zu", n, i);
                if (scan)
                    CHECKF(want == i, "not lowest: got %zu want %zu (n=%zu align=%zu)", i, want, n,
                           align);
                model_mark(i, n, 1);
                live[nlive].addr = addr;
                live[nlive++].n = n;
                used += n;
            } else {
                CHECK_ERR(e, AK_ERR_NO_MEMORY);
                CHECKF(want == SIZE_MAX, "NO_MEMORY but index %zu fits n=%zu align=%zu", want, n,
                       align);
                CHECK(addr == 0x77);
                failed++;
            }
        } else if (kind < t_alloc + 8) {
            /* alloc_pages_at anywhere in and around the window */
            size_t n = (size_t)ak_rng_log_uniform(&r, 1, 256);
            size_t i = (size_t)ak_rng_below(&r, MODEL_SPAN + 200);
            size_t align = PS << ak_rng_below(&r, 4);
            uintptr_t at = lowest - 100 * PS + i * PS;
            ak_error e = ak_bitmap_page_alloc_pages_at(&pa, at, n, align, &addr);
            ak_error want;
            size_t idx = i - 100; /* wraps below the window: then unmanaged */
            bool inside = i >= 100 && idx < MODEL_SPAN && n <= MODEL_SPAN - idx;
            bool one_region = inside;
            for (size_t k = idx; one_region && k < idx + n; k++)
                one_region = managed[k];
            bool all_free = one_region;
            for (size_t k = idx; all_free && k < idx + n; k++)
                all_free = !taken[k];
            if (at % align)
                want = AK_ERR_INVALID_PARAM;
            else if (!one_region)
                want = AK_ERR_INVALID_PARAM;
            else if (!all_free)
                want = AK_ERR_NO_MEMORY;
            else
                want = AK_OK;
            CHECK_ERR(e, want);
            failed += e == AK_ERR_NO_MEMORY;
            if (e == AK_OK) {
                CHECK(addr == at);
                model_mark(idx, n, 1);
                live[nlive].addr = at;
                live[nlive++].n = n;
                used += n;
            } else {
                CHECK(addr == 0x77);
            }
        } else if (kind < 82) {
            if (nlive == 0)
                continue;
            size_t k = (size_t)ak_rng_below(&r, nlive);
            live_block b = live[k];
            CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, b.addr, b.n));
            model_mark((b.addr - lowest) / PS, b.n, 0);
            live[k] = live[--nlive];
            used -= b.n;
        } else {
            /* Deliberately bad calls; each must change nothing. */
            unsigned bad = (unsigned)ak_rng_below(&r, 6);
            size_t i = (size_t)ak_rng_below(&r, MODEL_SPAN);
            size_t n = (size_t)ak_rng_log_uniform(&r, 1, 128);
            uintptr_t at = lowest + i * PS;
            ak_error e, want;
            if (bad == 0) {
                /* dealloc of a range that is not entirely allocated */
                bool all = i + n <= MODEL_SPAN;
                for (size_t k = i; all && k < i + n; k++)
                    all = managed[k] && taken[k];
                if (all)
                    continue; /* that would be a valid free */
                e = ak_bitmap_page_dealloc_pages(&pa, at, n);
                want = AK_ERR_NOT_ALLOCATED;
            } else if (bad == 1 && nlive) {
                /* a live block plus one page */
                live_block b = live[ak_rng_below(&r, nlive)];
                size_t j = (b.addr - lowest) / PS + b.n;
                if (j < MODEL_SPAN && managed[j] && taken[j])
                    continue;
                e = ak_bitmap_page_dealloc_pages(&pa, b.addr, b.n + 1);
                want = AK_ERR_NOT_ALLOCATED;
            } else if (bad == 2) {
                e = ak_bitmap_page_dealloc_pages(&pa, at + 8 * (1 + ak_rng_below(&r, 511)), n);
                want = AK_ERR_INVALID_PARAM;
            } else if (bad == 3) {
                size_t align = PS << (11 + ak_rng_below(&r, 8)); /* > 1 GiB or not a power */
                if (align <= GiB)
                    align += PS;
                e = ak_bitmap_page_alloc_pages(&pa, n, align, &addr);
                want = AK_ERR_INVALID_PARAM;
            } else if (bad == 4) {
                e = ak_bitmap_page_alloc_pages(&pa, 0, PS, &addr);
                want = AK_ERR_INVALID_PARAM;
            } else {
                /* alloc_at on a live block */
                if (!nlive)
                    continue;
                live_block b = live[ak_rng_below(&r, nlive)];
                size_t off = (size_t)ak_rng_below(&r, b.n);
                e = ak_bitmap_page_alloc_pages_at(&pa, b.addr + off * PS, n, PS, &addr);
                want = AK_ERR_NO_MEMORY;
                size_t j = (b.addr - lowest) / PS + off;
                bool in_one = j + n <= MODEL_SPAN;
                for (size_t k = j; in_one && k < j + n; k++)
                    in_one = managed[k];
                if (!in_one)
                    want = AK_ERR_INVALID_PARAM;
            }
            CHECK_ERR(e, want);
            failed += e == AK_ERR_NO_MEMORY; /* only allocs give it */
            CHECK(addr == 0x77);
            /* Nothing changed around the call's pages. */
            const size_t off = (size_t)(lowest / PS - pa.base);
            for (size_t k = i; k < i + n && k < MODEL_SPAN; k++)
                CHECK(ak_hb_is_free(pa.bits, off + k) == (managed[k] && !taken[k]));
        }
        CHECK(ak_bitmap_page_used_pages(&pa) == used);
        CHECK(ak_bitmap_page_total_pages(&pa) == expect_total);
        if (op % 20011 == 0) {
            CHECK_PA(&pa);
            model_compare(&pa, lowest);
            CHECK(model_used() == used);
        }
        if (op % 997 == 0)
            model_walk_compare(&pa, lowest, 3, failed);
    }
    CHECK(lowest_checks > 100 || ops < 10000);
    CHECK(failed > 0);
    CHECK_PA(&pa);
    model_compare(&pa, lowest);
    model_walk_compare(&pa, lowest, 3, failed);
    while (nlive) {
        live_block b = live[--nlive];
        CHECK_OK(ak_bitmap_page_dealloc_pages(&pa, b.addr, b.n));
    }
    check_counts(&pa, expect_total, 0);
    CHECK_PA(&pa);
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_bitmap_page");
    RUN(test_seed_one_page);
    RUN(test_seed_size_2g);
    RUN(test_seed_alloc_pages_at);
    RUN(test_zero_initialised);
    RUN(test_new_errors);
    RUN(test_region_errors);
    RUN(test_several_regions);
    RUN(test_rebase);
    RUN(test_alloc_errors);
    RUN(test_alloc_at_errors);
    RUN(test_dealloc_errors);
    RUN(test_phase_and_capacity);
    RUN(test_page_sizes);
    RUN(test_top_of_address_space);
    RUN(test_interface);
    RUN(test_walk_stats);
    RUN(test_check_detects);
    RUN(test_sizeof);
    RUN(test_model);
    return ak_test_finish();
}
