/* errors — tables generated from errors.def. */
#include "util/errors.h"

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
