/* placeholder, replaced in this session */
#include "gateway/gateway.h"
#include <string.h>
void gateway_config_defaults(struct gateway_config *c) { memset(c, 0, sizeof *c); }
struct gateway *gateway_start(struct store *st, struct committer *c, const struct gateway_config *cfg, char *err, size_t err_len) { return NULL; }
void gateway_quiesce(struct gateway *g) {}
void gateway_stop(struct gateway *g) {}
void gateway_call(struct gateway *g, struct http_request *req) { http_reply(req, 404, NULL, "", 0); }
void gateway_token(struct gateway *g, struct http_request *req) { http_reply(req, 404, NULL, "", 0); }
void gateway_counts(struct gateway *g, struct gateway_counts *ret) { memset(ret, 0, sizeof *ret); }
