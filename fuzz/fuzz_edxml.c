/* libFuzzer target: edxml_parse_memory on arbitrary bytes (default limits, 1 MB input), then the
 * routing checks on whatever parsed; everything is freed so leaks are reported. */
#include <stddef.h>
#include <stdint.h>

#include "edxml/edxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int discard(void *ctx, const uint8_t *d, size_t len)
{
    (void)ctx;
    (void)d;
    (void)len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct edxml_limits lim;
    edxml_limits_default(&lim);
    lim.max_input_bytes = 1024 * 1024;
    struct edxml_sink sink = {NULL, NULL, discard, NULL};
    struct edxml_package *pkg = NULL;
    struct edxml_error err;
    if (edxml_parse_memory(data, size, &lim, &sink, &pkg, &err) != 0)
        return 0;
    edxml_check_routable(pkg, EDXML_EDOC, &err);
    edxml_check_routable(pkg, EDXML_STATUS, &err);
    const char *t = edxml_status_target(pkg);
    if (t)
        edxml_organ_id_is_qd20(t);
    if (pkg->from.organ_id)
        edxml_organ_id_ok(pkg->from.organ_id);
    edxml_status_code_name(pkg->status_code);
    edxml_package_free(pkg);
    return 0;
}
