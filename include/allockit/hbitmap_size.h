/* allockit: the storage size of a hierarchical bitmap, for the public
 * headers of the allocators built on it (bitmap_page, bitmap_id), which
 * need it to make their object types complete, and for src/hbitmap.c.
 *
 * AK_HB_STORAGE_WORDS(n): 64-bit words for a bitmap of n units: level 0;
 * has-free, all-free and dirty summaries per upper level; six run-class and
 * six prefix-class bits per level-0 word. AK_HB_FITS(n): n fits the six
 * levels. Constant expressions. */
#ifndef ALLOCKIT_HBITMAP_SIZE_H
#define ALLOCKIT_HBITMAP_SIZE_H

#define AK_HB_DIV64_(x)        (((x) >> 6) + (((x)&63u) != 0))
#define AK_HB_W0_(n)           AK_HB_DIV64_(n)
#define AK_HB_W1_(n)           AK_HB_DIV64_(AK_HB_W0_(n))
#define AK_HB_W2_(n)           AK_HB_DIV64_(AK_HB_W1_(n))
#define AK_HB_W3_(n)           AK_HB_DIV64_(AK_HB_W2_(n))
#define AK_HB_W4_(n)           AK_HB_DIV64_(AK_HB_W3_(n))
#define AK_HB_W5_(n)           AK_HB_DIV64_(AK_HB_W4_(n))
#define AK_HB_S_(prev, cur)    ((prev) > 1u ? (cur) : 0u)
#define AK_HB_S1_(n)           AK_HB_S_(AK_HB_W0_(n), AK_HB_W1_(n))
#define AK_HB_S2_(n)           AK_HB_S_(AK_HB_W1_(n), AK_HB_W2_(n))
#define AK_HB_S3_(n)           AK_HB_S_(AK_HB_W2_(n), AK_HB_W3_(n))
#define AK_HB_S4_(n)           AK_HB_S_(AK_HB_W3_(n), AK_HB_W4_(n))
#define AK_HB_S5_(n)           AK_HB_S_(AK_HB_W4_(n), AK_HB_W5_(n))
#define AK_HB_SUM_(n)          (AK_HB_S1_(n) + AK_HB_S2_(n) + AK_HB_S3_(n) + AK_HB_S4_(n) + AK_HB_S5_(n))
#define AK_HB_STORAGE_WORDS(n) (AK_HB_W0_(n) + 3u * AK_HB_SUM_(n) + 12u * AK_HB_S1_(n))
#define AK_HB_FITS(n)          ((n) >= 1u && AK_HB_W5_(n) == 1u)

#endif /* ALLOCKIT_HBITMAP_SIZE_H */
