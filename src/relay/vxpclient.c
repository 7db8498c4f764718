/* vxpclient — see vxpclient.h. */
#include "relay/vxpclient.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/b64.h"
#include "util/crypto.h"
#include "util/vxpsig.h"

#define MAX_REPLY (256u * 1024 * 1024) /* a getEdoc reply: base64 of a large document */
#define MAX_PARAMS 8

struct vxp_client {
    CURL *easy;
    char *endpoint, *system_id, *secret;
    char timestamp[64]; /* fixed per client, as the SDK fixes it per service object */
    long timeout_ms;
    struct buf reply;
    char error[512], error_code[32];
};

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;
    if (b->len + len > MAX_REPLY || buf_append(b, data, len) != 0)
        return 0; /* aborts the transfer */
    return len;
}

struct vxp_client *vxp_client_new(const char *endpoint, const char *system_id, const char *secret,
                                  long timeout_ms)
{
    struct vxp_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t el = strlen(endpoint);
    while (el && endpoint[el - 1] == '/')
        el--; /* "endpoint/" would make "//sendEdoc" */
    c->endpoint = strndup(endpoint, el);
    c->system_id = strdup(system_id);
    c->secret = strdup(secret);
    c->easy = curl_easy_init();
    c->timeout_ms = timeout_ms;
    if (!c->endpoint || !c->system_id || !c->secret || !c->easy) {
        vxp_client_free(c);
        return NULL;
    }
    /* ddMMyyyy'T'HHmmss+SSSS in local time (protocol 4.3) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    snprintf(c->timestamp, sizeof c->timestamp, "%02d%02d%04dT%02d%02d%02d+%04ld", tm.tm_mday,
             tm.tm_mon + 1, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000);
    return c;
}

void vxp_client_free(struct vxp_client *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    free(c->endpoint);
    free(c->system_id);
    free(c->secret);
    buf_free(&c->reply);
    free(c);
}

const char *vxp_client_error(const struct vxp_client *c)
{
    return c->error;
}

const char *vxp_client_error_code(const struct vxp_client *c)
{
    return c->error_code;
}

static enum vxp_result unreachable(struct vxp_client *c, const char *what)
{
    snprintf(c->error, sizeof c->error, "%s", what);
    c->error_code[0] = '\0';
    return VXP_UNREACHABLE;
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return -1;
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *nl = curl_slist_append(*l, line);
    free(line);
    if (!nl)
        return -1;
    *l = nl;
    return 0;
}

/* One operation: keys/values are the caller's parameters; the client adds systemid, timestamp
 * and Content-Type as the SDK does, signs, posts body, and parses the JSON envelope into *ret. */
static enum vxp_result call(struct vxp_client *c, const char *op, const char *const *keys,
                            const char *const *values, size_t n, const char *content_type,
                            const void *body, size_t body_len, json_t **ret)
{
    const char *k[MAX_PARAMS + 3], *v[MAX_PARAMS + 3];
    size_t m = 0;
    k[m] = "systemid";
    v[m++] = c->system_id;
    for (size_t i = 0; i < n && i < MAX_PARAMS; i++) {
        k[m] = keys[i];
        v[m++] = values[i];
    }
    k[m] = "timestamp";
    v[m++] = c->timestamp;
    k[m] = "Content-Type";
    v[m++] = content_type;
    char *sign = NULL, *list = NULL, mac[SHA256_HEX_SIZE];
    if (vxp_sign(c->secret, k, v, m, &sign, &list, mac) != 0)
        return unreachable(c, "out of memory");
    struct curl_slist *h = NULL;
    int rc = 0;
    for (size_t i = 0; i < m; i++) {
        char name[128];
        snprintf(name, sizeof name, VXP_HEADER_PREFIX "%s", k[i]);
        rc |= add_header(&h, name, v[i]);
    }
    rc |= add_header(&h, "Content-Type", content_type);
    rc |= add_header(&h, VXP_HEADER_PREFIX "sign-header-key", list);
    rc |= add_header(&h, VXP_HEADER_PREFIX "sign-header", sign);
    rc |= add_header(&h, VXP_HEADER_PREFIX "hash-header", mac);
    rc |= add_header(&h, VXP_HEADER_PREFIX "version", "3.0.201608");
    struct curl_slist *nl = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (nl)
        h = nl;
    else
        rc = -1;
    free(sign);
    free(list);
    char url[2048];
    if (rc != 0 || (size_t)snprintf(url, sizeof url, "%s/%s", c->endpoint, op) >= sizeof url) {
        curl_slist_free_all(h);
        return unreachable(c, rc ? "out of memory" : "endpoint too long");
    }

    CURL *e = c->easy;
    buf_reset(&c->reply);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 5000 ? c->timeout_ms : 5000L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "lienthong JAVASDKAgent/1.0.0 XRoad/VPCP");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->reply);
    CURLcode res = curl_easy_perform(e);
    curl_slist_free_all(h);
    if (res != CURLE_OK)
        return unreachable(c, curl_easy_strerror(res));

    /* The SDK ignores the HTTP status and reads the JSON envelope (protocol 6). */
    json_error_t jerr;
    json_t *o = json_loadb(c->reply.data ? c->reply.data : "", c->reply.len, 0, &jerr);
    const char *status = json_string_value(json_object_get(o, "status"));
    json_t *code = json_object_get(o, "ErrorCode");
    const char *desc = json_string_value(json_object_get(o, "ErrorDesc"));
    if (!json_is_object(o) || !status || !(json_is_string(code) || json_is_integer(code))) {
        json_decref(o);
        long http = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &http);
        snprintf(c->error, sizeof c->error, "%s: not a VXP reply (HTTP %ld)", op, http);
        c->error_code[0] = '\0';
        return VXP_UNREACHABLE;
    }
    if (json_is_string(code))
        snprintf(c->error_code, sizeof c->error_code, "%s", json_string_value(code));
    else
        snprintf(c->error_code, sizeof c->error_code, "%lld", (long long)json_integer_value(code));
    snprintf(c->error, sizeof c->error, "%s: %s", op, desc ? desc : "");
    if (strcmp(status, "OK") != 0 || strcmp(c->error_code, "0") != 0) {
        json_decref(o);
        return VXP_FAILED;
    }
    *ret = o;
    return VXP_OK;
}

enum vxp_result vxp_send_edoc(struct vxp_client *c, const char *messagetype, const char *to,
                              const void *doc, size_t len, char *doc_id, size_t doc_id_len)
{
    uint8_t d[SHA256_LEN];
    char hash_file[SHA256_HEX_SIZE];
    if (sha256(doc, len, d) != 0)
        return unreachable(c, "cannot hash the document");
    hex_unpadded(d, hash_file);
    /* The SDK's body: the file's bytes and a CRLF (protocol 2.2). */
    char *body = malloc(len + 2);
    if (!body)
        return unreachable(c, "out of memory");
    memcpy(body, doc, len);
    memcpy(body + len, "\r\n", 2);
    const char *k[] = {"servicetype", "messagetype", "hash-file", "from", "to"};
    const char *v[] = {"eDoc", messagetype, hash_file, c->system_id, to};
    json_t *o = NULL;
    enum vxp_result r =
        call(c, "sendEdoc", k, v, to ? 5 : 4, "application/octet-stream", body, len + 2, &o);
    free(body);
    if (r != VXP_OK)
        return r;
    const char *id = json_string_value(json_object_get(o, "DocId"));
    if (!id || !*id) {
        json_decref(o);
        return unreachable(c, "sendEdoc: OK without a DocId");
    }
    snprintf(doc_id, doc_id_len, "%s", id);
    json_decref(o);
    return VXP_OK;
}

static enum vxp_result list_call(struct vxp_client *c, const char *op, const char *const *k,
                                 const char *const *v, size_t n, json_t **ret_items)
{
    json_t *o = NULL;
    enum vxp_result r = call(c, op, k, v, n, "application/json", NULL, 0, &o);
    if (r != VXP_OK)
        return r;
    json_t *data = json_object_get(o, "data");
    if (!json_is_array(data)) {
        json_decref(o);
        return unreachable(c, "list reply without a data array");
    }
    *ret_items = json_incref(data);
    json_decref(o);
    return VXP_OK;
}

enum vxp_result vxp_received_list(struct vxp_client *c, const char *messagetype, json_t **ret_items)
{
    const char *k[] = {"servicetype", "messagetype"};
    const char *v[] = {"eDoc", messagetype};
    return list_call(c, "getReceivedEdocList", k, v, 2, ret_items);
}

enum vxp_result vxp_sent_list(struct vxp_client *c, const char *messagetype, const char *doc_id,
                              json_t **ret_items)
{
    const char *k[] = {"servicetype", "messagetype", "docId"};
    const char *v[] = {"eDoc", messagetype, doc_id};
    return list_call(c, "getSentEdocList", k, v, doc_id && *doc_id ? 3 : 2, ret_items);
}

enum vxp_result vxp_get_edoc(struct vxp_client *c, const char *doc_id, struct buf *out)
{
    const char *k[] = {"docId"};
    const char *v[] = {doc_id};
    json_t *o = NULL;
    enum vxp_result r = call(c, "getEdoc", k, v, 1, "application/json", "{}", 2, &o);
    if (r != VXP_OK)
        return r;
    const char *data = json_string_value(json_object_get(o, "data"));
    size_t n = data ? strlen(data) : 0;
    uint8_t *bytes = malloc((n / 4 + 1) * 3 + 3);
    struct b64_dec dec = {0};
    size_t got = 0, tail = 0;
    int ok = data && bytes && b64_dec_update(&dec, data, n, bytes, &got) == 0 &&
             b64_dec_final(&dec, bytes + got, &tail) == 0 && got + tail > 0 &&
             buf_append(out, bytes, got + tail) == 0;
    free(bytes);
    json_decref(o);
    return ok ? VXP_OK : unreachable(c, "getEdoc: data is not a base64 document");
}

enum vxp_result vxp_update_status(struct vxp_client *c, const char *doc_id, const char *status)
{
    const char *k[] = {"docId", "status"};
    const char *v[] = {doc_id, status};
    json_t *o = NULL;
    enum vxp_result r = call(c, "updateStatus", k, v, 2, "application/json", "{}", 2, &o);
    json_decref(o);
    return r;
}
