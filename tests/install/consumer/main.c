/* A user program against an installed allockit: uses whatever allocators
 * the installed build contains, through the umbrella header. */
#include <allockit.h>
#include <stdio.h>

int main(void)
{
    int failures = 0;
    if (ak_align_up(13, 8) != 16 || ak_strerror(AK_ERR_NO_MEMORY) == NULL)
        failures++;
#if AK_HAVE_TLSF
    {
        static unsigned char pool[1 << 16] __attribute__((aligned(64)));
        static ak_tlsf t;
        void *p = NULL;
        if (ak_tlsf_init(&t, (uintptr_t)pool, sizeof pool) != AK_OK ||
            ak_tlsf_alloc(&t, 100, 16, &p) != AK_OK || p == NULL ||
            ak_tlsf_dealloc(&t, p, 100, 16) != AK_OK || ak_tlsf_used_bytes(&t) != 0)
            failures++;
    }
#endif
#if AK_HAVE_MAGAZINE && AK_HAVE_TLSF
    {
        /* The cache layer in front of a TLSF. */
        static unsigned char pool[1 << 16] __attribute__((aligned(64)));
        static ak_tlsf t;
        static ak_mag m;
        ak_mag_config cfg = {.backend = ak_tlsf_as_byte(&t)};
        void *p = NULL;
        if (ak_tlsf_init(&t, (uintptr_t)pool, sizeof pool) != AK_OK ||
            ak_mag_init(&m, &cfg) != AK_OK || ak_mag_alloc(&m, 0, 100, 16, &p) != AK_OK ||
            ak_mag_free(&m, 0, p, 100, 16) != AK_OK ||
            ak_mag_free(&m, 0, p, 100, 16) != AK_ERR_NOT_ALLOCATED || ak_mag_check(&m) != NULL)
            failures++;
        ak_mag_flush(&m, 0);
        ak_mag_trim(&m);
        if (ak_tlsf_used_bytes(&t) != 0)
            failures++;
    }
#endif
#if AK_HAVE_BITMAP_ID
    {
        static ak_bitmap_id ids;
        size_t id = 0;
        if (ak_bitmap_id_init(&ids, 100, 50) != AK_OK ||
            ak_bitmap_id_alloc_id(&ids, 1, 1, &id) != AK_OK || id != 100)
            failures++;
    }
#endif
    printf("consumer: %s (allockit %s)\n", failures ? "FAILED" : "ok", AK_VERSION_STRING);
    return failures != 0;
}
