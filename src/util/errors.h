/* errors — the error-code registry (errors.def) as an enum plus lookups. */
#ifndef LT_ERRORS_H
#define LT_ERRORS_H

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

#endif
