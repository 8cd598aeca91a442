/* Bare-metal runtime for the boot harness: the memory functions the
 * allocator core is allowed to need (memcpy, memset, memmove; memcmp for
 * the harness), console formatting without libc, the PRNG and the test
 * bookkeeping. Compiled with -ffreestanding, so the compiler does not turn
 * the byte loops below back into calls to themselves. */
#include "bm.h"

/* ---- memory functions ---- */

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    /* Word copies when both sides share alignment: the vector workload
     * copies megabytes, byte loops would dominate the run time. */
    if ((((uintptr_t)d ^ (uintptr_t)s) & (sizeof(uintptr_t) - 1)) == 0) {
        while (n && ((uintptr_t)d & (sizeof(uintptr_t) - 1))) {
            *d++ = *s++;
            n--;
        }
        uintptr_t *dw = (uintptr_t *)(void *)d;
        const uintptr_t *sw = (const uintptr_t *)(const void *)s;
        for (; n >= sizeof(uintptr_t); n -= sizeof(uintptr_t))
            *dw++ = *sw++;
        d = (unsigned char *)dw;
        s = (const unsigned char *)sw;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d == s || n == 0)
        return dst;
    if (d < s || d >= s + n)
        return memcpy(dst, src, n);
    /* Overlap with the destination above the source: copy backwards. */
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    unsigned char b = (unsigned char)c;
    while (n && ((uintptr_t)d & (sizeof(uintptr_t) - 1))) {
        *d++ = b;
        n--;
    }
    uintptr_t w = b;
    w |= w << 8;
    w |= w << 16;
    if (sizeof(uintptr_t) > 4)
        w |= (uintptr_t)((uint64_t)w << 32);
    uintptr_t *dw = (uintptr_t *)(void *)d;
    for (; n >= sizeof(uintptr_t); n -= sizeof(uintptr_t))
        *dw++ = w;
    d = (unsigned char *)dw;
    while (n--)
        *d++ = b;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* ---- formatting ---- */

typedef struct sink {
    char *buf; /* NULL: write to the UART */
    size_t cap, len;
} sink;

static void sink_put(sink *k, char c)
{
    if (!k->buf)
        bm_uart_putc(c);
    else if (k->len + 1 < k->cap)
        k->buf[k->len] = c;
    k->len++;
}

/* n / d and n % d for a 64-bit n and a 32-bit d, by shift and subtract:
 * a 32-bit target has no 64-bit divide instruction, and the compiler's
 * helper (__udivdi3) is not in a libc-free image. */
static uint64_t udivmod64(uint64_t n, uint32_t d, uint32_t *rem)
{
#if UINTPTR_MAX > 0xffffffffu
    *rem = (uint32_t)(n % d);
    return n / d;
#else
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= (uint64_t)1 << i;
        }
    }
    *rem = (uint32_t)r;
    return q;
#endif
}

/* Digits of v in base 10 or 16, most significant first, padded to width
 * with pad. */
static void put_unsigned(sink *k, uint64_t v, unsigned base, unsigned width, char pad)
{
    char tmp[24];
    unsigned n = 0;
    do {
        uint32_t d;
        v = udivmod64(v, base, &d);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    } while (v);
    while (width > n) {
        sink_put(k, pad);
        width--;
    }
    while (n)
        sink_put(k, tmp[--n]);
}

static void format(sink *k, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            sink_put(k, *p);
            continue;
        }
        p++;
        char pad = ' ';
        unsigned width = 0;
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (unsigned)(*p++ - '0');
        int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
        if (*p == 'z') {
            lng = 3;
            p++;
        } else {
            while (*p == 'l' && lng < 2) {
                lng++;
                p++;
            }
        }
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t len = 0;
            while (s[len])
                len++;
            for (; width > len; width--)
                sink_put(k, ' ');
            while (*s)
                sink_put(k, *s++);
            break;
        }
        case 'c':
            sink_put(k, (char)va_arg(ap, int));
            break;
        case 'd': {
            long long v = lng == 0   ? va_arg(ap, int)
                          : lng == 1 ? va_arg(ap, long)
                          : lng == 2 ? va_arg(ap, long long)
                                     : (long long)va_arg(ap, ptrdiff_t);
            uint64_t mag = (uint64_t)v;
            if (v < 0) {
                sink_put(k, '-');
                mag = 0 - mag; /* also right for LLONG_MIN */
                if (width)
                    width--;
            }
            put_unsigned(k, mag, 10, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = lng == 0   ? va_arg(ap, unsigned)
                         : lng == 1 ? va_arg(ap, unsigned long)
                         : lng == 2 ? va_arg(ap, unsigned long long)
                                    : va_arg(ap, size_t);
            put_unsigned(k, v, *p == 'x' ? 16 : 10, width, pad);
            break;
        }
        case 'p':
            sink_put(k, '0');
            sink_put(k, 'x');
            put_unsigned(k, (uintptr_t)va_arg(ap, void *), 16, 0, '0');
            break;
        case '%':
            sink_put(k, '%');
            break;
        case '\0':
            return;
        default: /* unknown conversion: show it, so the mistake is visible */
            sink_put(k, '%');
            sink_put(k, *p);
            break;
        }
    }
}

void bm_puts(const char *s)
{
    while (*s)
        bm_uart_putc(*s++);
}

void bm_printf(const char *fmt, ...)
{
    sink k = {0, 0, 0};
    va_list ap;
    va_start(ap, fmt);
    format(&k, fmt, ap);
    va_end(ap);
}

size_t bm_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
    sink k = {buf, cap, 0};
    format(&k, fmt, ap);
    if (cap)
        buf[k.len < cap ? k.len : cap - 1] = '\0';
    return k.len;
}

size_t bm_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = bm_vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- PRNG ---- */

void bm_rng_seed(bm_rng *r, uint64_t seed)
{
    ak_rng_seed(r, seed);
}

uint64_t bm_rng_next(bm_rng *r)
{
    return ak_rng_next(r);
}

uint64_t bm_rng_below(bm_rng *r, uint64_t n)
{
    uint64_t x = bm_rng_next(r);
    if (n <= UINT32_MAX) /* every caller's case; no 64-bit division on 32-bit CPUs */
        return (uint32_t)(x >> 32) % (uint32_t)n;
#if UINTPTR_MAX > 0xffffffffu
    return x % n;
#else
    uint64_t rr = 0; /* x % n by shift and subtract, the carry kept in `top` */
    for (int i = 63; i >= 0; i--) {
        const uint64_t top = rr >> 63;
        rr = (rr << 1) | ((x >> i) & 1);
        if (top || rr >= n)
            rr -= n;
    }
    return rr;
#endif
}

/* ---- tests ---- */

unsigned bm_passed, bm_failed_count;
int bm_test_failed;
static const char *current_test;

void bm_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    bm_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Only the first failure of a test is reported; the rest follow from it. */
    if (!bm_test_failed)
        bm_printf("FAIL\n    %s:%d: %s\n", file, line, msg);
    bm_test_failed = 1;
}

void bm_run(const char *name, void (*fn)(void))
{
    current_test = name;
    bm_test_failed = 0;
    bm_printf("  %s ... ", name);
    fn();
    if (bm_test_failed) {
        bm_failed_count++;
    } else {
        bm_printf("ok\n");
        bm_passed++;
    }
    current_test = 0;
}
