/* errors — the error-code registry (errors.def) as an enum plus lookups. */
#ifndef LT_ERRORS_H
#define LT_ERRORS_H

#include <stddef.h>

enum lt_err {
#define ERR(name, code, http, fault, msg) LT_ERR_##name,
#include "util/errors.def"
#undef ERR
    LT_ERR__COUNT
};

int lt_err_code(enum lt_err e);        /* stable numeric code */
int lt_err_http(enum lt_err e);        /* HTTP status for the native API */
int lt_err_is_server(enum lt_err e);   /* 1 when the fault is ours */
const char *lt_err_msg(enum lt_err e); /* ASCII message */
const char *lt_err_name(enum lt_err e);
/* The error body of every JSON reply, {"code","error","message"} (message: the registry's text,
 * then ": detail" when detail is not empty), as ASCII JSON. malloc'ed (NULL when out of memory);
 * its length in *ret_len (may be NULL). */
char *lt_err_json(enum lt_err e, const char *detail, size_t *ret_len);

#endif
