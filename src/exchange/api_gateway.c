/* placeholder, replaced in this session */
#include "exchange/api.h"
void api_services(struct http_request *req) { api_not_found(req); }
void api_access(struct http_request *req) { api_not_found(req); }
void api_tokens(struct http_request *req) { api_not_found(req); }
