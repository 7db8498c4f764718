/* errors — tables generated from errors.def. */
#include "util/errors.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define CLIENT 0
#define SERVER 1
static const struct {
    const char *name;
    int code, http, server;
    const char *msg;
} table[] = {
#define ERR(name, code, http, fault, msg) {#name, code, http, fault, msg},
#include "util/errors.def"
#undef ERR
};

#define IDX(e) ((unsigned)(e) < LT_ERR__COUNT ? (unsigned)(e) : (unsigned)LT_ERR_INTERNAL)

int lt_err_code(enum lt_err e)
{
    return table[IDX(e)].code;
}
int lt_err_http(enum lt_err e)
{
    return table[IDX(e)].http;
}
int lt_err_is_server(enum lt_err e)
{
    return table[IDX(e)].server;
}
const char *lt_err_msg(enum lt_err e)
{
    return table[IDX(e)].msg;
}
const char *lt_err_name(enum lt_err e)
{
    return table[IDX(e)].name;
}

char *lt_err_json(enum lt_err e, const char *detail, size_t *ret_len)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s%s%s", lt_err_msg(e), detail && *detail ? ": " : "",
             detail && *detail ? detail : "");
    json_t *o =
        json_pack("{s:i,s:s,s:s}", "code", lt_err_code(e), "error", lt_err_name(e), "message", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (s && ret_len)
        *ret_len = strlen(s);
    return s;
}
