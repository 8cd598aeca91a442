/* libFuzzer target for the byte interface. The first input byte picks the
 * allocator (among those of the build that manage their own regions); the
 * rest drive the shadow model of tests/conformance/model.h: good and bad
 * calls, with every answer checked. A mismatch aborts with a message. */
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ak_byte_contender *pool[8];
    size_t n = 0;
    for (size_t i = 0; i < ak_byte_contender_count && n < 8; i++)
        if (ak_byte_contenders[i].in_pool)
            pool[n++] = &ak_byte_contenders[i];
    if (!n || size < 1)
        return 0;
    ak_src src = {NULL, data + 1, size - 1, 0};
    /* 512 KiB in eight slots; the check runs every 16 ops and after every
     * bad call (it walks the whole heap, and dominates the time otherwise). */
    ak_byte_model_cfg cfg = {(size_t)512 << 10, 256, 4096, 16};
    ak_byte_model *m = ak_byte_model_new(pool[data[0] % n], &cfg, &src);
    if (!m)
        return 0;
    for (unsigned ops = 0; ops < 4096 && !ak_src_done(&src); ops++)
        ak_byte_model_step(m, &src);
    ak_byte_model_drain(m);
    ak_byte_model_free(m);
    return 0;
}
