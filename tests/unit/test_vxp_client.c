/* The relay's VXP client against a real lienthong server started in this process on loopback:
 * every operation a relay needs (sendEdoc, getReceivedEdocList, getEdoc, updateStatus,
 * getSentEdocList), a refused signature, duplicate tolerance and an unreachable peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "exchange/app.h"
#include "relay/vxpclient.h"
#include "store/store.h"
#include "util/timeutil.h"

#define SENDER "002.00.20.H13" /* From/OrganId of edoc.edxml */
#define RECIPIENT "000.00.15.H51"
#define SECRET_S "sender-secret-0123456789-abcdefghijklmnop"
#define SECRET_R "recipient-secret-0123456789-abcdefghijklm"

static char *read_file(const char *name, size_t *ret_len)
{
    const char *dir = getenv("LT_TESTDATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "../shared/testdata/edxml", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    *ret_len = n;
    return data;
}

static void registry(const char *dir)
{
    char err[256] = "";
    struct store *st = store_sqlite_open(dir, err, sizeof err);
    assert_non_null(st);
    int64_t now = now_ms();
    const char *ids[] = {SENDER, RECIPIENT};
    const char *secrets[] = {SECRET_S, SECRET_R};
    assert_int_equal(st->write_begin(st->cls), STORE_ONE_RESULT);
    for (int i = 0; i < 2; i++) {
        struct store_agency a = {
            .id = (char *)ids[i], .name = (char *)ids[i], .created_ms = now, .updated_ms = now};
        assert_int_equal(st->agency_put(st->cls, &a), STORE_ONE_RESULT);
        struct store_system s = {.id = (char *)ids[i],
                                 .agency_id = (char *)ids[i],
                                 .secret = (char *)secrets[i],
                                 .created_ms = now,
                                 .updated_ms = now};
        assert_int_equal(st->system_put(st->cls, &s), STORE_ONE_RESULT);
        assert_int_equal(st->serves_add(st->cls, ids[i], ids[i]), STORE_ONE_RESULT);
    }
    assert_int_equal(st->write_commit(st->cls), STORE_ONE_RESULT);
    store_close(st);
}

static void test_client_round_trip(void **state)
{
    (void)state;
    const char *tmp = getenv("LT_TMP");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/vxpclient-XXXXXX", tmp ? tmp : "/tmp");
    if (tmp)
        (void)system("mkdir -p \"$LT_TMP\"");
    assert_non_null(mkdtemp(dir));
    registry(dir);

    struct app_config cfg;
    app_config_defaults(&cfg);
    free(cfg.data_dir);
    cfg.data_dir = strdup(dir);
    cfg.port = 0;
    cfg.threads = 2;
    char err[256] = "";
    struct app *a = app_start(&cfg, err, sizeof err);
    assert_non_null(a);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%u/", (unsigned)app_port(a));

    size_t len;
    const char *doc = read_file("edoc.edxml", &len);
    struct vxp_client *s = vxp_client_new(endpoint, SENDER, SECRET_S, 10000);
    struct vxp_client *r = vxp_client_new(endpoint, RECIPIENT, SECRET_R, 10000);
    assert_non_null(s);
    assert_non_null(r);

    char id[128] = "", id2[128] = "";
    assert_int_equal(vxp_send_edoc(s, "edoc", NULL, doc, len, id, sizeof id), VXP_OK);
    assert_true(strlen(id) > 0);
    /* the SDK's retry of the same bytes gets the same DocId */
    assert_int_equal(vxp_send_edoc(s, "edoc", NULL, doc, len, id2, sizeof id2), VXP_OK);
    assert_string_equal(id, id2);

    json_t *items = NULL;
    assert_int_equal(vxp_received_list(r, "edoc", &items), VXP_OK);
    assert_int_equal(json_array_size(items), 1);
    const char *rid = json_string_value(json_object_get(json_array_get(items, 0), "docId"));
    assert_non_null(rid);
    char recv_id[128];
    snprintf(recv_id, sizeof recv_id, "%s", rid);
    json_decref(items);

    struct buf got = {0};
    assert_int_equal(vxp_get_edoc(r, recv_id, &got), VXP_OK);
    assert_int_equal(got.len, len);
    assert_memory_equal(got.data, doc, len);
    buf_free(&got);
    assert_int_equal(vxp_update_status(r, recv_id, "done"), VXP_OK);
    assert_int_equal(vxp_received_list(r, "edoc", &items), VXP_OK);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);

    assert_int_equal(vxp_sent_list(s, "edoc", id, &items), VXP_OK);
    assert_true(json_array_size(items) >= 1);
    json_decref(items);

    /* a package that is not the caller's, a bad secret: the peer's FAIL, with its code */
    assert_int_equal(vxp_update_status(r, "no-such-package", "done"), VXP_FAILED);
    assert_string_not_equal(vxp_client_error_code(r), "0");
    struct vxp_client *bad = vxp_client_new(endpoint, SENDER, "not-the-secret", 10000);
    assert_int_equal(vxp_received_list(bad, "edoc", &items), VXP_FAILED);
    vxp_client_free(bad);

    vxp_client_free(s);
    vxp_client_free(r);
    app_stop(a); /* the app owns the configuration's strings since app_start */

    /* nobody listening any more */
    struct vxp_client *gone = vxp_client_new(endpoint, SENDER, SECRET_S, 2000);
    assert_int_equal(vxp_received_list(gone, "edoc", &items), VXP_UNREACHABLE);
    assert_true(strlen(vxp_client_error(gone)) > 0);
    vxp_client_free(gone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
