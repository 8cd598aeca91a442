// C++'s operator new and delete under LD_PRELOAD=libakmalloc.so: every
// form, containers, over-aligned types, operator new(0), the nothrow forms
// and std::bad_alloc after the new-handler. The output is the same with
// any malloc; under libakmalloc it also checks that the operators the
// program calls are the library's own.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

static int handler_calls;

static void handler()
{
    handler_calls++;
    std::set_new_handler(nullptr); // the next failure throws
}

struct alignas(64) line {
    unsigned char b[64];
};
struct alignas(4096) page {
    unsigned char b[100];
};

static const char *const names[] = {
    "_Znwm",
    "_Znam",
    "_ZdlPv",
    "_ZdaPv",
    "_ZdlPvm",
    "_ZdaPvm",
    "_ZnwmRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZdlPvSt11align_val_t",
    "_ZdlPvmSt11align_val_t",
};

static int check_ours()
{
    const char *pre = std::getenv("LD_PRELOAD");
    if (!pre || !std::strstr(pre, "akmalloc") || sizeof(std::size_t) != 8)
        return 0;
    for (const char *n : names) {
        void *f = dlsym(RTLD_DEFAULT, n);
        Dl_info di;
        if (!f || !dladdr(f, &di) || !di.dli_fname || !std::strstr(di.dli_fname, "akmalloc")) {
            std::fprintf(stderr, "%s is not libakmalloc's (%s)\n", n,
                         f && dladdr(f, &di) && di.dli_fname ? di.dli_fname : "not found");
            return 1;
        }
    }
    return 0;
}

int main()
{
    if (check_ours())
        return 1;
    int bad = 0;

    // Containers: many small blocks of many sizes, grown and freed.
    std::map<int, std::string> m;
    std::uint64_t sum = 0;
    for (int i = 0; i < 200000; i++) {
        m[(i * 7919) % 50021] = std::string(static_cast<std::size_t>(i % 300), char('a' + i % 26));
        if (i % 3 == 0)
            m.erase((i * 104729) % 50021);
    }
    for (auto &kv : m)
        sum = sum * 31 + kv.second.size() + static_cast<std::uint64_t>(kv.first);
    std::vector<std::unique_ptr<int[]>> v;
    for (int i = 0; i < 20000; i++) {
        v.emplace_back(new int[static_cast<std::size_t>(i % 1000 + 1)]);
        v.back()[0] = i;
        if (i % 2)
            v[static_cast<std::size_t>(i / 2)].reset();
    }
    for (auto &p : v)
        sum += p ? static_cast<std::uint64_t>(p[0]) : 1;
    std::printf("containers: %zu entries, checksum %llu\n", m.size(),
                static_cast<unsigned long long>(sum));

    // Over-aligned types: operator new(size, align_val_t) and its deletes.
    std::vector<line *> lines;
    std::vector<page *> pages;
    for (int i = 0; i < 1000; i++) {
        lines.push_back(new line);
        if (i % 10 == 0)
            pages.push_back(new page[2]);
    }
    for (line *l : lines) {
        bad += reinterpret_cast<std::uintptr_t>(l) % 64 != 0;
        delete l;
    }
    for (page *p : pages) {
        bad += reinterpret_cast<std::uintptr_t>(p) % 4096 != 0;
        delete[] p;
    }
    std::printf("over-aligned: %zu + %zu blocks, %d misaligned\n", lines.size(), pages.size(), bad);

    // operator new(0): distinct, usable pointers.
    void *z1 = ::operator new(0), *z2 = ::operator new(0);
    std::printf("new(0): %s\n", z1 && z2 && z1 != z2 ? "distinct" : "WRONG");
    ::operator delete(z1);
    ::operator delete(z2);

    // Failures: nothrow gives nullptr; the throwing form calls the
    // new-handler, then throws std::bad_alloc.
    volatile std::size_t huge = SIZE_MAX / 2;
    char *q = new (std::nothrow) char[huge];
    std::printf("nothrow new[] of SIZE_MAX/2: %s\n", q ? "WRONG: a pointer" : "nullptr");
    void *qa = ::operator new(huge, std::align_val_t(64), std::nothrow);
    std::printf("nothrow aligned new of SIZE_MAX/2: %s\n", qa ? "WRONG: a pointer" : "nullptr");
    std::set_new_handler(handler);
    try {
        char *r = new char[huge];
        std::printf("new[] of SIZE_MAX/2: WRONG: no exception\n");
        delete[] r;
    } catch (const std::bad_alloc &) {
        std::printf("new[] of SIZE_MAX/2: std::bad_alloc after %d new-handler call(s)\n",
                    handler_calls);
    }
    try {
        void *r = ::operator new(huge, std::align_val_t(256));
        std::printf("aligned new of SIZE_MAX/2: WRONG: no exception\n");
        ::operator delete(r, std::align_val_t(256));
    } catch (const std::bad_alloc &) {
        std::printf("aligned new of SIZE_MAX/2: std::bad_alloc\n");
    }
    return bad != 0;
}
