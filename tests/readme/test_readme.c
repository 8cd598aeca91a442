/* The README's C examples must compile and do what they say. The build
 * extracts every C block of README.md into readme_examples.c; this runs
 * each example and checks its documented result. */
#include "testlib.h"

#include "readme_examples.c"

static void test_byte_examples(void)
{
    CHECK(use_tlsf() == 0);
    CHECK(grab(ak_tlsf_as_byte(&heap), 100) != NULL);
}

static void test_cache_example(void)
{
    CHECK(ak_tlsf_total_bytes(&heap) > 0); /* use_tlsf ran */
    size_t used = ak_tlsf_used_bytes(&heap);
    CHECK(cache_over_tlsf() == 0);
    CHECK_INVARIANTS(ak_mag_check(&cache));
    for (unsigned cpu = 0; cpu < 4; cpu++)
        CHECK_OK(ak_mag_flush(&cache, cpu));
    ak_mag_trim(&cache);
    CHECK(ak_tlsf_used_bytes(&heap) == used);
}

static void test_page_example(void)
{
    uintptr_t pg = four_aligned_pages();
    CHECK(pg != 0);
    CHECK(pg % 16384 == 0);
    CHECK(ak_bitmap_page_used_pages(&pages) == 4);
    CHECK_OK(ak_bitmap_page_dealloc_pages(&pages, pg, 4));
}

static void test_id_example(void)
{
    CHECK(new_pid() == 1);
    CHECK(new_pid() == 2);
    CHECK(ak_bitmap_id_used(&pids) == 2);
}

int main(int argc, char **argv)
{
    ak_test_init(argc, argv, "test_readme");
    RUN(test_byte_examples);
    RUN(test_cache_example);
    RUN(test_page_example);
    RUN(test_id_example);
    return ak_test_finish();
}
