/* libFuzzer target for the page interface: the input bytes drive the page
 * shadow model (tests/conformance/model.h) over a window of 1024 pages. */
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ak_page_contender_count || size < 1)
        return 0;
    ak_src src = {NULL, data + 1, size - 1, 0};
    ak_page_model *m =
        ak_page_model_new(&ak_page_contenders[data[0] % ak_page_contender_count], 1024, &src);
    if (!m)
        return 0;
    for (unsigned ops = 0; ops < 4096 && !ak_src_done(&src); ops++)
        ak_page_model_step(m, &src);
    ak_page_model_drain(m);
    ak_page_model_free(m);
    return 0;
}
