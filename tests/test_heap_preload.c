/* A program run under LD_PRELOAD=libakmalloc.so by the realprog tests: it
 * uses only the standard malloc family, from several threads, forks while
 * they run, and checks what C and POSIX promise. It also checks that the
 * preloaded library is the one answering (ak_malloc_backend, looked up at
 * run time) and that it chose the allocator named in AK_MALLOC.
 * Exit status 0: all good. */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "heap_preload_prog: FAIL line %d: %s\n", __LINE__, #cond);             \
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);                                    \
        }                                                                                          \
    } while (0)

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int stop;

static void *worker(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg;
    unsigned char *held[128] = {0};
    size_t sizes[128] = {0};
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        unsigned i = (unsigned)(rng_next(&s) % 128);
        if (held[i]) {
            for (size_t k = 0; k < sizes[i]; k += 61)
                if (held[i][k] != (unsigned char)(i + k))
                    EXPECT(!"block contents changed");
            free(held[i]);
        }
        size_t n = (size_t)(rng_next(&s) % 2000);
        if (rng_next(&s) % 50 == 0)
            n = (size_t)(rng_next(&s) % (1u << 20));
        held[i] = malloc(n);
        sizes[i] = n;
        EXPECT(held[i] != NULL);
        EXPECT(malloc_usable_size(held[i]) >= n);
        for (size_t k = 0; k < n; k += 61)
            held[i][k] = (unsigned char)(i + k);
    }
    for (unsigned i = 0; i < 128; i++)
        free(held[i]);
    return NULL;
}

/* Sizes hidden from the compiler, which would warn about the overflows
 * these calls are meant to provoke. */
static volatile size_t size_max = SIZE_MAX;
/* Called through volatile pointers: clang treats the library functions as
 * builtins that neither fail visibly nor touch errno (it folds errno = 0;
 * malloc(SIZE_MAX); errno == ENOMEM to false), which is not what a test of
 * those very functions may assume. */
static void *(*volatile malloc_v)(size_t) = malloc;
static void *(*volatile calloc_v)(size_t, size_t) = calloc;
static void *(*volatile reallocarray_v)(void *, size_t, size_t) = reallocarray;

static void semantics(void)
{
    size_t huge = size_max;
    void *p = malloc(0);
    EXPECT(p != NULL);
    free(p);
    free(NULL);
    errno = 0;
    EXPECT(malloc_v(huge) == NULL && errno == ENOMEM);
    errno = 0;
    EXPECT(calloc_v(huge / 2, 4) == NULL && errno == ENOMEM);
    int *z = calloc(1000, sizeof(int));
    EXPECT(z != NULL);
    for (int i = 0; z && i < 1000; i++)
        EXPECT(z[i] == 0);
    z = realloc(z, 100000 * sizeof(int));
    EXPECT(z != NULL);
    free(z);
    void *a = NULL;
    EXPECT(posix_memalign(&a, 3, 10) == EINVAL);
    EXPECT(posix_memalign(&a, 4096, 10) == 0 && ((uintptr_t)a & 4095) == 0);
    free(a);
    a = aligned_alloc(256, 1000);
    EXPECT(a && ((uintptr_t)a & 255) == 0);
    free(a);
    a = memalign(64, 10);
    EXPECT(a && ((uintptr_t)a & 63) == 0);
    free(a);
    a = valloc(10);
    EXPECT(a && ((uintptr_t)a & 4095) == 0);
    free(a);
    a = pvalloc(10);
    EXPECT(a && malloc_usable_size(a) >= 4096);
    free(a);
    a = reallocarray(NULL, 10, 10);
    EXPECT(a != NULL);
    errno = 0;
    EXPECT(reallocarray_v(a, huge / 2, 3) == NULL && errno == ENOMEM);
    free(a);
    char *s = strdup("hello"); /* libc allocating internally */
    EXPECT(s && malloc_usable_size(s) >= 6);
    free(s);
    /* Memory that never came from malloc (as if from before libakmalloc
     * was loaded): free ignores it, usable size is 0, realloc refuses it
     * (NULL, EINVAL) and leaves it alone. */
    static char not_ours[64] = "static bytes";
    void *(*volatile realloc_fn)(void *, size_t) = realloc;
    void (*volatile free_fn)(void *) = free;
    EXPECT(malloc_usable_size(not_ours) == 0);
    free_fn(not_ours);
    errno = 0;
    EXPECT(realloc_fn(not_ours, 200) == NULL && errno == EINVAL);
    EXPECT(strcmp(not_ours, "static bytes") == 0);
    /* A double free is ignored (glibc would abort): the block is not
     * handed out twice. */
    void *d = malloc(40);
    free_fn(d);
    free_fn(d);
    void *d1 = malloc(40), *d2 = malloc(40);
    EXPECT(d1 && d2 && d1 != d2);
    free(d1);
    free(d2);
}

int main(void)
{
    const char *(*backend)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "ak_malloc_backend");
    if (!backend) {
        fprintf(stderr, "heap_preload_prog: libakmalloc.so is not loaded\n");
        return 1;
    }
    const char *want = getenv("AK_MALLOC");
    if (want && strcmp(want, backend()) != 0) {
        fprintf(stderr, "heap_preload_prog: AK_MALLOC=%s but the backend is %s\n", want, backend());
        return 1;
    }
    semantics();
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        EXPECT(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
    for (int f = 0; f < 10; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(30);
            /* The child allocates (also through libc) and exits cleanly. */
            char *buf = NULL;
            for (int i = 0; i < 2000; i++) {
                buf = realloc(buf, (size_t)i * 13 + 1);
                if (!buf)
                    _exit(2);
                buf[i * 13] = 1;
            }
            free(buf);
            FILE *f2 = fopen("/dev/null", "w");
            if (!f2)
                _exit(3);
            fprintf(f2, "%d\n", f);
            fclose(f2);
            exit(0);
        }
        int status = 0;
        EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    usleep(100000);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    /* malloc_trim hands this thread's magazines and the depot back to the
     * allocator; the heap goes on as before. */
    void *kept = malloc(100);
    EXPECT(kept != NULL);
    free(malloc(200));
    EXPECT(malloc_trim(0) == 0);
    void *again = malloc(200);
    EXPECT(again != NULL && again != kept);
    free(again);
    free(kept);
    printf("heap_preload_prog: backend %s, %d failures\n", backend(), failures);
    return failures != 0;
}
