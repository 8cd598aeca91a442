/* The contenders of the conformance suite: every allocator this build
 * contains, reached only through its interface handle, plus libc's
 * aligned_alloc/free as a control for the byte workloads.
 *
 * A contender knows how to turn a zeroed object of obj_size bytes into a
 * handle; the suite owns the object and the memory regions. */
#ifndef AK_CONFORMANCE_CONTENDERS_H
#define AK_CONFORMANCE_CONTENDERS_H

#include <allockit.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ak_byte_contender {
    const char *name;
    size_t obj_size;
    /* obj is zeroed and obj_size bytes; returns the interface handle. */
    ak_byte_allocator (*make)(void *obj);
    /* The blocks come from the regions given to init/add_memory (false for
     * libc, whose blocks are anywhere: no bounds checks then). */
    bool in_pool;
    /* The contract's error behaviour applies (bad calls are tested). */
    bool bad_calls;
} ak_byte_contender;

typedef struct ak_page_contender {
    const char *name;
    size_t obj_size;
    /* obj is zeroed; sets it up with 4 KiB pages. false if setup failed. */
    bool (*make)(void *obj, ak_page_allocator *out);
    /* Most pages one object can manage (its build-time capacity). */
    size_t capacity_pages;
} ak_page_contender;

typedef struct ak_id_contender {
    const char *name;
    size_t obj_size;
    ak_id_allocator (*make)(void *obj);
    size_t capacity_ids;
} ak_id_contender;

extern const ak_byte_contender ak_byte_contenders[];
extern const size_t ak_byte_contender_count;
extern const ak_page_contender ak_page_contenders[];
extern const size_t ak_page_contender_count;
extern const ak_id_contender ak_id_contenders[];
extern const size_t ak_id_contender_count;

/* The contender called name, or NULL. */
const ak_byte_contender *ak_find_byte_contender(const char *name);
const ak_page_contender *ak_find_page_contender(const char *name);
const ak_id_contender *ak_find_id_contender(const char *name);

#endif
