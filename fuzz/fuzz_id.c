/* libFuzzer target for the ID interface: the input bytes drive the ID
 * shadow model (tests/conformance/model.h) over a window of 256 IDs,
 * including the exact "lowest first" check. */
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ak_id_contender_count || size < 1)
        return 0;
    ak_src src = {NULL, data + 1, size - 1, 0};
    ak_id_model *m = ak_id_model_new(&ak_id_contenders[data[0] % ak_id_contender_count], 256, &src);
    if (!m)
        return 0;
    for (unsigned ops = 0; ops < 4096 && !ak_src_done(&src); ops++)
        ak_id_model_step(m, &src);
    ak_id_model_drain(m);
    ak_id_model_free(m);
    return 0;
}
