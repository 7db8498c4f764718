/* vxpclient — lienthong as a client of another VXP platform (the national document axis, or a
 * peer lienthong acting as hub): the operations a relay needs, sent exactly as the agencies' Java
 * SDK sends them (protocol sections 2-5: parameters as XroadVnpt-* headers, the signed header and
 * its HMAC, sendEdoc's body = document + CRLF with the unpadded hash-file), so the real hub cannot
 * tell us from an agency system.
 *
 * Blocking calls on one keep-alive connection (a curl easy handle): one client per relay worker
 * thread. Every call returns VXP_OK, VXP_FAILED (the peer answered with status "FAIL": its
 * ErrorCode and ErrorDesc are in the client, see vxp_client_error), or VXP_UNREACHABLE (no usable
 * answer: connection, timeout, HTTP framing or a reply that is not the protocol's JSON — the
 * caller retries later). */
#ifndef LT_RELAY_VXPCLIENT_H
#define LT_RELAY_VXPCLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "util/buf.h"

enum vxp_result { VXP_OK = 0, VXP_FAILED = 1, VXP_UNREACHABLE = 2 };

struct vxp_client;

/* endpoint: the peer's base URL (operations are endpoint + "/" + name). timeout_ms bounds each
 * whole call. NULL when out of memory. */
struct vxp_client *vxp_client_new(const char *endpoint, const char *system_id, const char *secret,
                                  long timeout_ms);
void vxp_client_free(struct vxp_client *c); /* accepts NULL */

/* What went wrong with the last call: the peer's ErrorCode/ErrorDesc (VXP_FAILED) or a
 * transport description (VXP_UNREACHABLE). Valid until the next call. */
const char *vxp_client_error(const struct vxp_client *c);
const char *vxp_client_error_code(const struct vxp_client *c);

/* sendEdoc of a whole edXML document; messagetype "edoc" or "status"; to: the optional "to"
 * parameter (a JSON array of organ ids: the recipients the peer must deliver to, instead of
 * every To of the document), NULL to leave it out. On VXP_OK the peer's DocId (its sender-side
 * id) is copied to doc_id (at most doc_id_len - 1 bytes). */
enum vxp_result vxp_send_edoc(struct vxp_client *c, const char *messagetype, const char *to,
                              const void *doc, size_t len, char *doc_id, size_t doc_id_len);
/* getReceivedEdocList: on VXP_OK *ret_items is the "data" array (caller decrefs). */
enum vxp_result vxp_received_list(struct vxp_client *c, const char *messagetype,
                                  json_t **ret_items);
/* getSentEdocList narrowed to one DocId ("" for all): *ret_items as above. */
enum vxp_result vxp_sent_list(struct vxp_client *c, const char *messagetype, const char *doc_id,
                              json_t **ret_items);
/* getEdoc: the document bytes, base64-decoded, appended to out. */
enum vxp_result vxp_get_edoc(struct vxp_client *c, const char *doc_id, struct buf *out);
/* updateStatus: status "done", "fail" or "processing". */
enum vxp_result vxp_update_status(struct vxp_client *c, const char *doc_id, const char *status);

#endif
