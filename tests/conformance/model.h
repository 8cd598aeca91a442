/* Shadow models of the three interfaces, shared by the conformance suite's
 * model tier and the fuzz targets.
 *
 * A model drives one allocator through its interface handle and keeps its
 * own record of what must be true: every live block (or page, or ID), the
 * regions given, the expected statistics. Each step takes its decisions
 * from an ak_src (a seeded PRNG in the suite, the input bytes in a fuzz
 * target), performs one operation - a good one or a deliberately bad one -
 * and checks the allocator's answer against the record:
 *   - blocks are aligned, inside a region given, overlap nothing live, and
 *     keep their contents (a pattern) until freed;
 *   - used/total/available agree with the record after every operation;
 *   - a bad call (double free, foreign or interior pointer, wrong size,
 *     zero count, sizes near SIZE_MAX, non-power-of-two or top-bit
 *     alignments, overlapping or wrapping regions) returns the contract's
 *     error and leaves the allocator unchanged: its check passes and the
 *     statistics are equal;
 *   - the ID model also checks "lowest first" exactly.
 * A mismatch calls ak_model_on_fail with a message that names the
 * allocator and the operation number; it does not return. */
#ifndef AK_CONFORMANCE_MODEL_H
#define AK_CONFORMANCE_MODEL_H

#include "contenders.h"
#include <stdint.h>

struct ak_rng;

/* Where the decisions come from: rng if non-NULL, else the bytes
 * data[pos..len) (zeros once they run out). */
typedef struct ak_src {
    struct ak_rng *rng;
    const uint8_t *data;
    size_t len, pos;
} ak_src;

/* Uniform-ish value in [0, n), n > 0. From bytes it consumes 1, 2, 4 or 8
 * bytes depending on n, so a fuzzer's mutations map to small changes. */
uint64_t ak_src_below(ak_src *s, uint64_t n);
/* True once a byte source has no bytes left (never for a PRNG). */
int ak_src_done(const ak_src *s);

/* Called on a mismatch with a full message; must not return (the suite
 * longjmps to its harness, a fuzz target aborts). */
extern void (*ak_model_on_fail)(const char *msg);

/* ---- byte allocators ---- */

typedef struct ak_byte_model_cfg {
    size_t arena_size;    /* memory for all regions (split into 8 slots) */
    size_t max_live;      /* most blocks alive at once */
    size_t max_size;      /* largest ordinary request */
    unsigned check_every; /* run the allocator's check every N ops (>= 1) */
} ak_byte_model_cfg;

typedef struct ak_byte_model ak_byte_model;

/* Create a model around a fresh allocator of contender c (which must have
 * in_pool set), give it its first region. NULL if out of host memory. */
ak_byte_model *ak_byte_model_new(const ak_byte_contender *c, const ak_byte_model_cfg *cfg,
                                 ak_src *src);
/* One operation chosen by src. */
void ak_byte_model_step(ak_byte_model *m, ak_src *src);
/* Free every live block, then check used == 0, the invariants, and that
 * the largest request that fitted after init fits again. */
void ak_byte_model_drain(ak_byte_model *m);
void ak_byte_model_free(ak_byte_model *m);
/* Counters for the test's summary line. */
typedef struct ak_model_counts {
    unsigned long long ops, ok, no_memory, bad_calls, frees, regions;
} ak_model_counts;
ak_model_counts ak_byte_model_counts(const ak_byte_model *m);

/* ---- page allocators ---- */

typedef struct ak_page_model ak_page_model;
/* window_pages: the span of addresses the regions are placed in. */
ak_page_model *ak_page_model_new(const ak_page_contender *c, size_t window_pages, ak_src *src);
void ak_page_model_step(ak_page_model *m, ak_src *src);
void ak_page_model_drain(ak_page_model *m);
void ak_page_model_free(ak_page_model *m);
ak_model_counts ak_page_model_counts(const ak_page_model *m);

/* ---- ID allocators ---- */

typedef struct ak_id_model ak_id_model;
ak_id_model *ak_id_model_new(const ak_id_contender *c, size_t window_ids, ak_src *src);
void ak_id_model_step(ak_id_model *m, ak_src *src);
void ak_id_model_drain(ak_id_model *m);
void ak_id_model_free(ak_id_model *m);
ak_model_counts ak_id_model_counts(const ak_id_model *m);

/* ---- block contents, shared with the workloads ---- */

/* Fill / verify a block with a pattern derived from tag. Blocks larger
 * than 256 bytes are filled and verified sparsely (first and last 64
 * bytes and four words chosen by tag) to keep big blocks cheap. */
void ak_block_fill(void *p, size_t n, uint64_t tag);
/* Offset of the first wrong byte, or (size_t)-1 if all are right. */
size_t ak_block_verify(const void *p, size_t n, uint64_t tag);

#endif
