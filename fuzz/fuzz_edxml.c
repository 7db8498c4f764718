/* libFuzzer target: edxml_parse_memory on arbitrary bytes (default limits, 1 MB input), then the
 * routing checks on whatever parsed; everything is freed so leaks are reported.
 *
 * The relay's trace: a package that parsed and has a trace point must take a TraceHeader there
 * (the splice accepts the offset) and parse again with one more TraceHeader, ours, last, and a
 * trace point right after it. The longer copy may reach a limit (input size, elements, repeats):
 * those are skipped. Anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml.h"

#define TRACE_ID "000.00.00.H34"
#define TRACE_TS "2026/11/22 10:11:12"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int discard(void *ctx, const uint8_t *d, size_t len)
{
    (void)ctx;
    (void)d;
    (void)len;
    return 0;
}

static void check_trace(const uint8_t *data, size_t size, const struct edxml_limits *lim,
                        const struct edxml_sink *sink, const struct edxml_package *pkg)
{
    if (pkg->trace_offset < 0)
        return;
    struct buf text = {0}, out = {0};
    if (edxml_trace_text(pkg, TRACE_ID, TRACE_TS, &text) != 0 ||
        edxml_trace_splice(data, size, pkg->trace_offset, text.data, &out) != 0)
        abort();
    struct edxml_package *again = NULL;
    struct edxml_error err;
    if (edxml_parse_memory(out.data, out.len, lim, sink, &again, &err) != 0) {
        if (err.code != LT_ERR_EDXML_LIMIT)
            abort();
    } else {
        /* The next hop goes after ours: inside the list ours opened, if it did. */
        size_t list_end = pkg->trace_new_list ? strlen(strrchr(text.data, '<')) : 0;
        int64_t next = pkg->trace_offset + (int64_t)(text.len - list_end);
        if (again->n_traces != pkg->n_traces + 1)
            abort();
        const struct edxml_trace *last = &again->traces[again->n_traces - 1];
        if (!last->organ_id || strcmp(last->organ_id, TRACE_ID) != 0 || !last->timestamp ||
            strcmp(last->timestamp, TRACE_TS) != 0 || again->trace_offset != next ||
            again->trace_new_list)
            abort();
        edxml_package_free(again);
    }
    buf_free(&text);
    buf_free(&out);
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
    check_trace(data, size, &lim, &sink, pkg);
    edxml_package_free(pkg);
    return 0;
}
