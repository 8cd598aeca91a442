/* libakmalloc.so: the process's malloc family, and C++'s operator new and
 * delete, served by an ak_heap, for LD_PRELOAD=libakmalloc.so.
 *
 * One global heap over the OS source (see <allockit/heap.h>), created on
 * the first call. Environment, read without allocating (a scan of environ,
 * or /proc/self/environ when environ is not set up yet):
 *   AK_MALLOC=tlsf|buddy|slab   the allocator (only those built in; an
 *                               unknown name falls back to the default
 *                               with a message on stderr)
 *   AK_MALLOC_STATS=1           print the heap's statistics to stderr at
 *                               exit (write(2) only)
 *
 * Start-up: nothing here calls dlsym (only an operator new that failed
 * does, see below) or the libc allocator. A call that arrives while the
 * heap is being built on the same thread (a libc routine the set-up uses
 * may allocate) is served from a small static bootstrap area whose blocks
 * are never reused; other threads wait for the set-up to finish.
 * Pointers this library did not hand out (the bootstrap area, or memory
 * from before it was loaded) are ignored by free and reported as 0 by
 * malloc_usable_size; realloc copies a bootstrap block (its size is
 * known) and refuses any other such pointer with NULL and errno = EINVAL,
 * leaving it alone. A double free is ignored (see <allockit/heap.h>).
 */
#define _GNU_SOURCE 1
/* One translation unit with the heap, so that malloc and free have the
 * heap's fast paths inline, on a heap whose address is a constant. */
#include "heap.c"

#include <allockit.h>
#include <allockit/heap.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
/* The entry points that run for every block start on a 64-byte line:
 * where they fell otherwise moved with every change elsewhere, and their
 * time with it. On glibc-thread (free and malloc of mostly tiny blocks,
 * two threads), the same instructions executed (callgrind), malloc 32
 * bytes past a line took 3.73-3.94 against 3.58-3.68 at a line's start
 * (5 interleaved runs each). */
#define HOT __attribute__((aligned(64)))

extern char **environ;

/* Not declared by every libc (glibc dropped cfree); ours to export. */
void cfree(void *ptr);
const char *ak_malloc_backend(void);

/* ------------------------------------------------------------------ */
/* The allocators this build can use                                    */
/* ------------------------------------------------------------------ */

#if AK_HAVE_TLSF
static ak_tlsf backend_tlsf;
static ak_byte_allocator make_tlsf(void)
{
    return ak_tlsf_as_byte(&backend_tlsf);
}
#endif
#if AK_HAVE_BUDDY
static ak_buddy backend_buddy;
static ak_byte_allocator make_buddy(void)
{
    return ak_buddy_as_byte(&backend_buddy);
}
#endif
#if AK_HAVE_SLAB
static ak_slab backend_slab;
static ak_byte_allocator make_slab(void)
{
    return ak_slab_as_byte(&backend_slab);
}
#endif

typedef struct backend_choice {
    const char *name;
    ak_byte_allocator (*make)(void);
} backend_choice;

/* In order of preference: the first one is the default (see README in
 * hosted/ for the measurements behind the order). */
static const backend_choice backends[] = {
#if AK_HAVE_TLSF
    {"tlsf", make_tlsf},
#endif
#if AK_HAVE_SLAB
    {"slab", make_slab},
#endif
#if AK_HAVE_BUDDY
    {"buddy", make_buddy},
#endif
};
_Static_assert(sizeof backends / sizeof backends[0] > 0, "libakmalloc needs an allocator");

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

enum { ST_NONE, ST_INIT, ST_READY, ST_FAILED };

static ak_heap heap_obj;
static int state;
static _Thread_local int init_here TLS_IE;
static int print_stats;
static int stats_fd = 2;
static const char *backend_name = "?";

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* ------------------------------------------------------------------ */
/* Bootstrap area: for calls made while the heap is being built        */
/* ------------------------------------------------------------------ */

#define BOOT_SIZE (64u * 1024u)
static _Alignas(64) unsigned char boot_area[BOOT_SIZE];
static size_t boot_used;

static bool in_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_area < BOOT_SIZE; /* one test for both ends */
}

/* Each block: its size in the 16 bytes before it. Never freed. */
static void *boot_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    size_t at = (boot_used + 16 + align - 1) & ~(align - 1);
    if (at > BOOT_SIZE || size > BOOT_SIZE - at) {
        errno = ENOMEM;
        return NULL;
    }
    boot_used = at + size;
    memcpy(boot_area + at - 16, &size, sizeof size);
    return boot_area + at;
}

static size_t boot_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - 16, sizeof size);
    return size;
}

/* ------------------------------------------------------------------ */
/* Environment without allocating                                      */
/* ------------------------------------------------------------------ */

static bool env_match(const char *entry, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (strncmp(entry, name, n) != 0 || entry[n] != '=')
        return false;
    size_t i = 0;
    for (const char *v = entry + n + 1; *v && i + 1 < cap; v++)
        out[i++] = *v;
    out[i] = 0;
    return true;
}

static char environ_copy[32768];

static bool env_get(const char *name, char *out, size_t cap)
{
    if (environ) {
        for (char **e = environ; *e; e++)
            if (env_match(*e, name, out, cap))
                return true;
        return false;
    }
    /* Too early for environ (called from the dynamic loader): ask the
     * kernel. Only the set-up thread gets here, so one buffer will do. */
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, environ_copy + len, sizeof environ_copy - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof environ_copy - 1)
            break;
    }
    close(fd);
    environ_copy[len] = 0;
    for (size_t i = 0; i < len; i += strlen(environ_copy + i) + 1)
        if (env_match(environ_copy + i, name, out, cap))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

static void heap_setup(void)
{
    int saved = errno;
    char want[32], flag[8];
    const backend_choice *b = &backends[0];
    if (env_get("AK_MALLOC", want, sizeof want) && want[0]) {
        const backend_choice *found = NULL;
        for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
            if (strcmp(backends[i].name, want) == 0)
                found = &backends[i];
        if (found) {
            b = found;
        } else {
            say("akmalloc: AK_MALLOC=");
            say(want);
            say(" is not built in; using ");
            say(b->name);
            say("\n");
        }
    }
    if (env_get("AK_MALLOC_STATS", flag, sizeof flag))
        print_stats = flag[0] && strcmp(flag, "0") != 0;
    if (print_stats) {
        /* A copy of stderr: some programs close fd 2 before exiting
         * (coreutils' close_stdout), and the report comes after that. */
        int fd = fcntl(2, F_DUPFD_CLOEXEC, 64);
        if (fd >= 0)
            stats_fd = fd;
    }
    ak_heap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = b->make();
    backend_name = b->name;
    ak_error e = ak_heap_init(&heap_obj, &cfg);
    __atomic_store_n(&state, e == AK_OK ? ST_READY : ST_FAILED, __ATOMIC_RELEASE);
    errno = saved;
}

/* The heap, or NULL when the caller must use the bootstrap area. */
static ak_heap *heap_slow(void)
{
    int expected = ST_NONE;
    if (__atomic_compare_exchange_n(&state, &expected, ST_INIT, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        init_here = 1;
        heap_setup();
        init_here = 0;
    } else if (init_here) {
        return NULL;
    } else {
        while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == ST_INIT)
            sched_yield();
    }
    if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != ST_READY) {
        say("akmalloc: cannot set up the heap (mmap refused?)\n");
        abort();
    }
    return &heap_obj;
}

static inline ak_heap *heap(void)
{
    if (__builtin_expect(__atomic_load_n(&state, __ATOMIC_ACQUIRE) == ST_READY, 1))
        return &heap_obj;
    return heap_slow();
}

/* The heap if it exists (for calls that take a pointer: before the heap
 * exists no pointer can be from it). */
static inline ak_heap *heap_if_ready(void)
{
    return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == ST_READY ? &heap_obj : NULL;
}

__attribute__((destructor)) static void akmalloc_at_exit(void)
{
    if (print_stats && heap_if_ready())
        ak_heap_write_stats(&heap_obj, stats_fd);
}

/* ------------------------------------------------------------------ */
/* The malloc family                                                   */
/* ------------------------------------------------------------------ */

static __attribute__((noinline)) void *malloc_slow(size_t size)
{
    ak_heap *h = heap();
    return h ? ak_heap_malloc(h, size) : boot_alloc(size, 16);
}

/* A block of the thread's current page inline; anything else, and the
 * heap's set-up, in malloc_slow. The heap is the program's only one, so
 * the first slot's thread state, if any, is this heap's. No test of
 * state: page_lim is 0 until the heap is set up, and a thread gets its
 * state only in a call made after that, so a state in the slot means a
 * ready heap. */
static inline __attribute__((always_inline)) void *malloc_inline(size_t size)
{
    if (LIKELY(size < __atomic_load_n(&heap_obj.page_lim, __ATOMIC_RELAXED))) {
        ak_heap_thread *t = tls_slots[0].t;
        if (LIKELY(t != NULL))
            return page_alloc(&heap_obj, t, size, NULL);
    }
    return malloc_slow(size);
}

EXPORT HOT void *malloc(size_t size)
{
    return malloc_inline(size);
}

/* A block of a page first (before the heap is set up, no pointer is in
 * a page; NULL and the bootstrap area's blocks never are). Inline in
 * free and in C++'s operator delete: a call to free from inside this
 * library would go through the PLT. */
static inline __attribute__((always_inline)) void free_inline(void *ptr)
{
    if (LIKELY(heap_page_free(&heap_obj, ptr)) || !ptr || in_boot(ptr) || !heap_if_ready())
        return;
    heap_free_header(&heap_obj, ptr);
}

EXPORT HOT void free(void *ptr)
{
    free_inline(ptr);
}

EXPORT void cfree(void *ptr)
{
    free_inline(ptr);
}

EXPORT void *calloc(size_t n, size_t size)
{
    ak_heap *h = heap();
    if (h)
        return ak_heap_calloc(h, n, size);
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return boot_alloc(total, 16); /* static storage: already zero */
}

EXPORT void *realloc(void *ptr, size_t size)
{
    ak_heap *h = heap();
    if (ptr && in_boot(ptr)) {
        void *q = h ? ak_heap_malloc(h, size) : boot_alloc(size, 16);
        if (q) {
            size_t old = boot_size(ptr);
            memcpy(q, ptr, old < size ? old : size);
        }
        return q;
    }
    if (!h) {
        if (!ptr)
            return boot_alloc(size, 16);
        errno = EINVAL; /* not ours: as ak_heap_realloc answers */
        return NULL;
    }
    return ak_heap_realloc(h, ptr, size);
}

EXPORT void *reallocarray(void *ptr, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, total);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    ak_heap *h = heap();
    if (h)
        return ak_heap_aligned_alloc(h, align, size);
    if (!align || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return boot_alloc(size, align);
}

/* memalign, and C++'s aligned operator new: a call to memalign from
 * inside this library would go through the PLT. */
static inline void *memalign_inline(size_t align, size_t size)
{
    ak_heap *h = heap();
    if (h)
        return ak_heap_memalign(h, align, size);
    if (!align || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return boot_alloc(size, align);
}

EXPORT void *memalign(size_t align, size_t size)
{
    return memalign_inline(align, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    ak_heap *h = heap();
    if (h)
        return ak_heap_posix_memalign(h, out, align, size);
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = boot_alloc(size, align);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *valloc(size_t size)
{
    ak_heap *h = heap();
    return h ? ak_heap_valloc(h, size) : boot_alloc(size, 4096);
}

EXPORT void *pvalloc(size_t size)
{
    ak_heap *h = heap();
    if (h)
        return ak_heap_pvalloc(h, size);
    return boot_alloc((size + 4095) & ~(size_t)4095, 4096);
}

EXPORT size_t malloc_usable_size(void *ptr)
{
    if (!ptr)
        return 0;
    if (in_boot(ptr))
        return boot_size(ptr);
    ak_heap *h = heap_if_ready();
    return h ? ak_heap_malloc_usable_size(h, ptr) : 0;
}

/* The calling thread's magazines and the depot go back to the allocator,
 * where other threads and other sizes can use the memory. Nothing goes
 * back to the system (chunks are kept for reuse, large blocks are already
 * unmapped on free), so the answer is 0. (Without this, glibc's
 * malloc_trim would set up its own arena for nothing.) */
EXPORT int malloc_trim(size_t pad)
{
    (void)pad;
    ak_heap *h = heap_if_ready();
    if (h)
        ak_heap_flush_thread_cache(h);
    return 0;
}

/* ------------------------------------------------------------------ */
/* C++'s operator new and delete                                       */
/* ------------------------------------------------------------------ */

/* C++ programs allocate through operator new, whose libstdc++ version
 * calls malloc through the PLT (and delete calls free): two calls and a
 * loop around the allocation for each one. Defined here, under their
 * mangled names, they take the same inline paths as malloc and free. On
 * larson (C++), libstdc++'s two wrappers were 9% of the instructions run
 * under libakmalloc (callgrind). Only an allocation that fails leaves the
 * fast path: the C++ runtime's own operator (found with dlsym, after this
 * library) is asked to retry, so that the new-handler, std::bad_alloc
 * and the nothrow forms behave as the runtime defines them. The frames
 * here carry unwind tables (-fexceptions) for that exception. Itanium
 * names for LP64 (size_t is unsigned long, "m") and ILP32 ("j"). */
#if __SIZEOF_SIZE_T__ == 8 && __SIZEOF_LONG__ == 8
#define CXX_SZ m
#elif __SIZEOF_SIZE_T__ == 4 && __SIZEOF_INT__ == 4
#define CXX_SZ j
#endif

#ifdef CXX_SZ
#include <dlfcn.h>

#define CXX_CAT2(a, b)    a##b
#define CXX_CAT(a, b)     CXX_CAT2(a, b)
#define CXX_STR2(a)       #a
#define CXX_STR(a)        CXX_STR2(a)
#define CXX_NOTHROW(name) CXX_CAT(name, RKSt9nothrow_t)
#define CXX_ALIGN(name)   CXX_CAT(name, St11align_val_t)

#define CXX_NEW           CXX_CAT(_Znw, CXX_SZ)
#define CXX_NEW_ARR       CXX_CAT(_Zna, CXX_SZ)
#define CXX_DEL_SIZED     CXX_CAT(_ZdlPv, CXX_SZ)
#define CXX_DEL_ARR_SIZED CXX_CAT(_ZdaPv, CXX_SZ)

/* The runtime's operator called `name`, asked again after ours failed.
 * Without one (no C++ runtime after this library) the throwing forms
 * stop the program, as an uncaught std::bad_alloc would. */
static __attribute__((noinline)) void *cxx_retry(const char *name, size_t size, size_t align,
                                                 bool nothrow)
{
    void *next = dlsym(RTLD_NEXT, name);
    if (next) {
        if (align)
            return ((void *(*)(size_t, size_t))next)(size, align);
        return ((void *(*)(size_t))next)(size);
    }
    if (nothrow)
        return NULL;
    say("akmalloc: out of memory in operator new, and no C++ runtime to throw std::bad_alloc\n");
    abort();
}

static inline __attribute__((always_inline)) void *cxx_new(size_t size, const char *name,
                                                           bool nothrow)
{
    void *p = malloc_inline(size);
    return LIKELY(p != NULL) ? p : cxx_retry(name, size, 0, nothrow);
}

static __attribute__((noinline)) void *cxx_new_aligned(size_t size, size_t align, const char *name,
                                                       bool nothrow)
{
    void *p = memalign_inline(align, size);
    return p ? p : cxx_retry(name, size, align, nothrow);
}

/* A declaration before each definition, for -Wmissing-prototypes. */
#define CXX_NEW_FN(fn, params)                                                                     \
    EXPORT void *fn params;                                                                        \
    EXPORT HOT void *fn params
#define CXX_DEL_FN(fn, params)                                                                     \
    EXPORT void fn params;                                                                         \
    EXPORT HOT void fn params

/* The nothrow_t argument is a reference (a pointer); never read. */
CXX_NEW_FN(CXX_NEW, (size_t size))
{
    return cxx_new(size, CXX_STR(CXX_NEW), false);
}
CXX_NEW_FN(CXX_NEW_ARR, (size_t size))
{
    return cxx_new(size, CXX_STR(CXX_NEW_ARR), false);
}
CXX_NEW_FN(CXX_NOTHROW(CXX_NEW), (size_t size, const void *nt))
{
    (void)nt;
    return cxx_new(size, CXX_STR(CXX_NOTHROW(CXX_NEW)), true);
}
CXX_NEW_FN(CXX_NOTHROW(CXX_NEW_ARR), (size_t size, const void *nt))
{
    (void)nt;
    return cxx_new(size, CXX_STR(CXX_NOTHROW(CXX_NEW_ARR)), true);
}
CXX_NEW_FN(CXX_ALIGN(CXX_NEW), (size_t size, size_t align))
{
    return cxx_new_aligned(size, align, CXX_STR(CXX_ALIGN(CXX_NEW)), false);
}
CXX_NEW_FN(CXX_ALIGN(CXX_NEW_ARR), (size_t size, size_t align))
{
    return cxx_new_aligned(size, align, CXX_STR(CXX_ALIGN(CXX_NEW_ARR)), false);
}
CXX_NEW_FN(CXX_NOTHROW(CXX_ALIGN(CXX_NEW)), (size_t size, size_t align, const void *nt))
{
    (void)nt;
    return cxx_new_aligned(size, align, CXX_STR(CXX_NOTHROW(CXX_ALIGN(CXX_NEW))), true);
}
CXX_NEW_FN(CXX_NOTHROW(CXX_ALIGN(CXX_NEW_ARR)), (size_t size, size_t align, const void *nt))
{
    (void)nt;
    return cxx_new_aligned(size, align, CXX_STR(CXX_NOTHROW(CXX_ALIGN(CXX_NEW_ARR))), true);
}

/* Every delete is free: the heap finds a block's size and alignment
 * itself, so the sized and aligned forms' arguments are not needed. The
 * plain and sized forms (what new-expressions call) have free inline;
 * the rest call it once. */
static __attribute__((noinline)) void cxx_delete(void *ptr)
{
    free_inline(ptr);
}

CXX_DEL_FN(_ZdlPv, (void *ptr))
{
    free_inline(ptr);
}
CXX_DEL_FN(_ZdaPv, (void *ptr))
{
    free_inline(ptr);
}
CXX_DEL_FN(CXX_DEL_SIZED, (void *ptr, size_t size))
{
    (void)size;
    free_inline(ptr);
}
CXX_DEL_FN(CXX_DEL_ARR_SIZED, (void *ptr, size_t size))
{
    (void)size;
    free_inline(ptr);
}
CXX_DEL_FN(CXX_NOTHROW(_ZdlPv), (void *ptr, const void *nt))
{
    (void)nt;
    cxx_delete(ptr);
}
CXX_DEL_FN(CXX_NOTHROW(_ZdaPv), (void *ptr, const void *nt))
{
    (void)nt;
    cxx_delete(ptr);
}
CXX_DEL_FN(CXX_ALIGN(_ZdlPv), (void *ptr, size_t align))
{
    (void)align;
    cxx_delete(ptr);
}
CXX_DEL_FN(CXX_ALIGN(_ZdaPv), (void *ptr, size_t align))
{
    (void)align;
    cxx_delete(ptr);
}
CXX_DEL_FN(CXX_ALIGN(CXX_DEL_SIZED), (void *ptr, size_t size, size_t align))
{
    (void)size, (void)align;
    cxx_delete(ptr);
}
CXX_DEL_FN(CXX_ALIGN(CXX_DEL_ARR_SIZED), (void *ptr, size_t size, size_t align))
{
    (void)size, (void)align;
    cxx_delete(ptr);
}
CXX_DEL_FN(CXX_NOTHROW(CXX_ALIGN(_ZdlPv)), (void *ptr, size_t align, const void *nt))
{
    (void)align, (void)nt;
    cxx_delete(ptr);
}
CXX_DEL_FN(CXX_NOTHROW(CXX_ALIGN(_ZdaPv)), (void *ptr, size_t align, const void *nt))
{
    (void)align, (void)nt;
    cxx_delete(ptr);
}
#endif

/** The allocator serving this process ("tlsf", ...): lets a program (or a
 *  test) see that libakmalloc is loaded and which backend it chose. */
EXPORT const char *ak_malloc_backend(void)
{
    heap();
    return backend_name;
}
