/* Unit tests of the edxml layer: every sample file of LT_TESTDATA, the security refusals (DTD,
 * entities, limits), routing checks, organ ids, status building, bounded memory on a large
 * attachment and concurrent parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edxml/edxml.h"
#include "util/b64.h"
#include "util/crypto.h"

#define NS EDXML_NS
#define HEAD                                                                                       \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXML xmlns=\"" NS "\">"                         \
    "<edXML:edXMLEnvelope xmlns:edXML=\"" NS "\"><edXML:edXMLHeader><edXML:MessageHeader>"
#define FROM "<edXML:From><edXML:OrganId>000.00.00.H34</edXML:OrganId></edXML:From>"
#define TO(id) "<edXML:To><edXML:OrganId>" id "</edXML:OrganId></edXML:To>"
#define MID "</edXML:MessageHeader></edXML:edXMLHeader></edXML:edXMLEnvelope>"
#define TAIL "</edXML>"
#define SIMPLE HEAD FROM TO("000.00.00.H41") MID TAIL

static const char *testdata(void)
{
    const char *d = getenv("LT_TESTDATA");
    return d ? d : "../shared/testdata/edxml";
}

static void data_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", testdata(), name);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        assert_int_equal(buf_append(&b, tmp, n), 0);
    fclose(f);
    *len = b.len;
    return buf_steal(&b);
}

static int parse_str(const char *xml, const struct edxml_limits *lim, struct edxml_package **pkg,
                     struct edxml_error *err)
{
    *pkg = NULL;
    return edxml_parse_memory(xml, strlen(xml), lim, NULL, pkg, err);
}

/* Parses xml and asserts a failure with this code; returns the error for further checks. */
static struct edxml_error expect_fail(const char *xml, const struct edxml_limits *lim,
                                      enum lt_err code)
{
    struct edxml_package *pkg = NULL;
    struct edxml_error err;
    int rc = parse_str(xml, lim, &pkg, &err);
    if (rc == 0 || err.code != code)
        print_error("expected %s, got rc=%d %s: %s\n", lt_err_name(code), rc, lt_err_name(err.code),
                    err.message);
    assert_int_equal(rc, -1);
    assert_null(pkg);
    assert_int_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
    return err;
}

static struct edxml_package *parse_ok(const char *xml, const struct edxml_limits *lim)
{
    struct edxml_package *pkg = NULL;
    struct edxml_error err;
    int rc = parse_str(xml, lim, &pkg, &err);
    if (rc != 0)
        print_error("parse failed: %s: %s\n", lt_err_name(err.code), err.message);
    assert_int_equal(rc, 0);
    assert_non_null(pkg);
    return pkg;
}

/* A sink that keeps the decoded bytes (small attachments only) and counts the callbacks. */
struct collect {
    struct buf data;
    int begins, ends;
    uint64_t bytes;
    int fail_at_begin;
};

static int col_begin(void *ctx, unsigned index)
{
    struct collect *c = ctx;
    c->begins++;
    return c->fail_at_begin ? -1 : 0;
}

static int col_data(void *ctx, const uint8_t *data, size_t len)
{
    struct collect *c = ctx;
    c->bytes += len;
    return buf_append(&c->data, data, len);
}

static int col_end(void *ctx, const struct edxml_attachment *att)
{
    struct collect *c = ctx;
    c->ends++;
    return 0;
}

static struct edxml_package *parse_sample(const char *name, struct collect *c)
{
    char path[4096];
    data_path(path, sizeof path, name);
    struct edxml_sink sink = {c, col_begin, col_data, col_end};
    struct edxml_package *pkg = NULL;
    struct edxml_error err;
    int rc = edxml_parse_file(path, NULL, c ? &sink : NULL, &pkg, &err);
    if (rc != 0)
        print_error("%s: %s: %s\n", name, lt_err_name(err.code), err.message);
    assert_int_equal(rc, 0);
    return pkg;
}

/* Decoded size of the base64 in the first ContentTransferEncoded of a file, counted
 * independently of util/b64. */
static uint64_t expected_decoded_size(const char *name)
{
    char path[4096];
    size_t len;
    data_path(path, sizeof path, name);
    char *s = read_all(path, &len);
    char *p = strstr(s, "ContentTransferEncoded");
    assert_non_null(p);
    p = strchr(p, '>') + 1;
    uint64_t chars = 0, pad = 0;
    for (; *p != '<'; p++) {
        if (*p == '=')
            pad++;
        else if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
            chars++;
    }
    free(s);
    return (chars + pad) / 4 * 3 - pad;
}

static void check_vpcp_from(const struct edxml_package *p)
{
    assert_string_equal(p->from.organ_id, "000.00.00.G22");
    assert_string_equal(p->from.organ_name, "Văn phòng Chính phủ");
    assert_string_equal(p->from.organization_in_charge, "Văn phòng Chính phủ");
    assert_string_equal(p->from.email, "vpcp@gov.vn");
    assert_string_equal(p->from.website, "vpcp.vn");
}

static void check_three_recipients(const struct edxml_package *p)
{
    assert_int_equal(p->n_to, 3);
    assert_string_equal(p->to[0].organ_id, "000.00.00.H41");
    assert_string_equal(p->to[0].organ_name, "UBND Tỉnh Nghệ An");
    assert_string_equal(p->to[1].organ_id, "000.00.00.H14");
    assert_string_equal(p->to[2].organ_id, "000.00.00.G17");
    assert_string_equal(p->to[2].telephone, "(84-4) 3821 5137");
}

static void check_common_document(const struct edxml_package *p, const char *file)
{
    assert_int_equal(p->kind, EDXML_EDOC);
    check_vpcp_from(p);
    check_three_recipients(p);
    assert_string_equal(p->document_id, "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT");
    assert_string_equal(p->code_number, "7816");
    assert_string_equal(p->code_notation, "VPCP-TTĐT");
    assert_string_equal(p->place, "Hà Nội");
    assert_string_equal(p->promulgation_date, "2018/09/28");
    assert_string_equal(p->doc_type, "1");
    assert_string_equal(p->doc_type_detail, "0");
    assert_string_equal(p->doc_type_name, "Công văn");
    assert_string_equal(p->subject, "V/v kết nối, liên thông phần mềm quản lý văn bản");
    assert_string_equal(p->signer_full_name, "Nguyen Thanh Phuc");
    assert_string_equal(p->priority, "0");
    assert_string_equal(p->direction, "false");
    assert_string_equal(p->page_amount, "22");
    assert_int_equal(p->n_appendixes, 1);
    assert_int_equal(p->n_to_places, 2);
    assert_string_equal(p->to_places[1], "Uy ban nhan dan cac tinh, TP");
    assert_string_equal(p->steering_type, "1");
    assert_int_equal(p->n_traces, 1);
    assert_string_equal(p->traces[0].organ_id, "000.00.00.G22");
    assert_string_equal(p->traces[0].timestamp, "2018/09/28 00:00:00");
    assert_true(p->has_bussiness);
    assert_string_equal(p->bussiness_staff.staff, "Nguyễn Thị Ngọc Trâm");
    assert_null(p->staff_info.staff);
    assert_true(p->has_signature);
    assert_int_equal(p->n_references, 1);
    assert_string_equal(p->references[0].content_id, "cid:209");
    assert_string_equal(p->references[0].content_type, "application/zip");
    assert_int_equal(p->n_attachments, 1);
    const struct edxml_attachment *a = &p->attachments[0];
    assert_string_equal(a->content_id, "cid:209");
    assert_string_equal(a->attachment_name, "1896_QD-TTg_m_294779.doc");
    assert_string_equal(a->content_type, "application/zip");
    assert_true(a->decoded_size > 1000);
    assert_true(a->decoded_size == expected_decoded_size(file));
}

/* Checks the attachment bytes went through the sink, begin with a zip signature and hash to the
 * package's digest. */
static void check_sink(const struct edxml_package *p, struct collect *c)
{
    uint8_t digest[32];
    assert_int_equal(c->begins, 1);
    assert_int_equal(c->ends, 1);
    assert_true(c->bytes == p->attachments[0].decoded_size);
    assert_memory_equal(c->data.data, "PK\x03\x04", 4);
    assert_int_equal(sha256(c->data.data, c->data.len, digest), 0);
    assert_memory_equal(digest, p->attachments[0].sha256, 32);
    buf_free(&c->data);
}

static void test_sample_update(void **state)
{
    struct collect c = {0};
    struct edxml_package *p = parse_sample("edoc_update.edxml", &c);
    check_common_document(p, "edoc_update.edxml");
    check_sink(p, &c);
    assert_string_equal(p->bussiness_doc_type, "2");
    assert_string_equal(p->bussiness_document_id, "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT");
    assert_string_equal(p->bussiness_doc_reason, "Cập nhật văn bản điện tử");
    assert_string_equal(p->paper, "0");
    assert_string_equal(p->document_info, "1");
    assert_string_equal(p->document_receiver, "1");
    assert_int_equal(p->n_receivers, 2);
    assert_string_equal(p->receivers[0].organ_id, "000.00.00.H41");
    assert_string_equal(p->receivers[0].receiver_type, "0");
    assert_string_equal(p->receivers[1].organ_id, "000.00.00.H14");
    assert_string_equal(p->receivers[1].receiver_type, "1");
    assert_int_equal(p->n_replacements, 0);
    assert_int_equal(p->n_response_for, 0);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, NULL), 0);
    edxml_package_free(p);
}

static void test_sample_replacement(void **state)
{
    struct collect c = {0};
    struct edxml_package *p = parse_sample("edoc_replacement.edxml", &c);
    check_common_document(p, "edoc_replacement.edxml");
    check_sink(p, &c);
    assert_string_equal(p->bussiness_doc_type, "3");
    assert_int_equal(p->n_replacements, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct edxml_replacement *r = &p->replacements[i];
        assert_string_equal(r->document_id, "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT");
        assert_int_equal(r->n_organ_ids, 2);
        assert_string_equal(r->organ_ids[0], "000.00.00.H41");
        assert_string_equal(r->organ_ids[1], "000.00.00.H14");
    }
    assert_int_equal(p->n_receivers, 0);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, NULL), 0);
    edxml_package_free(p);
}

static void test_sample_revocation(void **state)
{
    struct collect c = {0};
    struct edxml_package *p = parse_sample("edoc_revocation.edxml", &c);
    check_common_document(p, "edoc_revocation.edxml");
    check_sink(p, &c);
    assert_string_equal(p->bussiness_doc_type, "1");
    assert_int_equal(p->n_response_for, 1);
    assert_string_equal(p->response_for[0].organ_id, "000.00.00.H14");
    assert_string_equal(p->response_for[0].code, "267/VPCP-TTĐT");
    assert_string_equal(p->response_for[0].document_id, "000.00.04.G14,2012/08/06,267/VPCP-TTĐT");
    assert_string_equal(p->response_for[0].promulgation_date, "2018/09/28");
    assert_string_equal(edxml_status_target(p), "000.00.00.H14");
    edxml_package_free(p);
}

/* edoc.edxml is the official sample: undeclared xlink: prefix, and its attachment is a load-test
 * template placeholder, "${__StringFromFile(test.txt,,,)}", which is not base64. The national
 * library accepts it (it does not decode in transit), so we do too, and say so per attachment. */
static void test_sample_edoc_placeholder_accepted(void **state)
{
    char path[4096];
    struct edxml_package *p = NULL;
    struct edxml_error err;
    data_path(path, sizeof path, "edoc.edxml");
    assert_int_equal(edxml_parse_file(path, NULL, NULL, &p, &err), 0);
    assert_non_null(p);
    assert_int_equal(p->kind, EDXML_EDOC);
    assert_string_equal(p->from.organ_id, "002.00.20.H13");
    assert_int_equal(p->n_to, 1);
    assert_string_equal(p->to[0].organ_id, "000.00.15.H51");
    assert_int_equal(p->n_attachments, 1);
    assert_int_equal(p->attachments[0].base64_ok, 0);
    assert_true(p->attachments[0].decoded_size == 0);
    assert_string_equal(p->attachments[0].content_type, "application/pdf");
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, &err), 0);
    edxml_package_free(p);
}

/* The same file with real base64 in place of the placeholder: every field. */
static void test_sample_edoc_fields(void **state)
{
    char path[4096];
    size_t len;
    data_path(path, sizeof path, "edoc.edxml");
    char *s = read_all(path, &len);
    const char *ph = "${__StringFromFile(test.txt,,,)}";
    char *at = strstr(s, ph);
    assert_non_null(at);
    struct buf doc = {0};
    buf_append(&doc, s, (size_t)(at - s));
    buf_puts(&doc, "aGVsbG8gd29y\n  bGQ=");
    buf_puts(&doc, at + strlen(ph));
    free(s);

    struct collect c = {0};
    struct edxml_sink sink = {&c, col_begin, col_data, col_end};
    struct edxml_package *p = NULL;
    struct edxml_error err;
    assert_int_equal(edxml_parse_memory(doc.data, doc.len, NULL, &sink, &p, &err), 0);
    buf_free(&doc);
    assert_int_equal(p->kind, EDXML_EDOC);
    assert_string_equal(p->from.organ_id, "002.00.20.H13");
    assert_string_equal(p->from.organ_add, "Số 1 Hoàng Hoa Thám, Quận Ba Đình, Hà Nội");
    assert_int_equal(p->n_to, 1);
    assert_string_equal(p->to[0].organ_id, "000.00.15.H51");
    assert_string_equal(p->to[0].website, "http://www.ict-hanoi.gov.vn");
    assert_string_equal(p->code_number, "12234555512");
    assert_string_equal(p->code_notation, "PRO-TEST-CASE1");
    assert_string_equal(p->place, "Hà Nội");
    assert_string_equal(p->promulgation_date, "2019/01/17");
    assert_string_equal(p->doc_type, "1");
    assert_null(p->doc_type_detail);
    assert_string_equal(p->doc_type_name, "Thông tư");
    assert_string_equal(p->subject, "Văn bản liên thông chỉ đạo - 190701");
    assert_string_equal(p->content, "test gửi liên thông vpcp");
    assert_string_equal(p->signer_competence, "Quyền 1");
    assert_string_equal(p->signer_position, "Bộ trưởng");
    assert_string_equal(p->due_date, "2018/06/25");
    assert_int_equal(p->n_to_places, 1);
    assert_string_equal(p->to_places[0], "Các bộ");
    assert_int_equal(p->n_appendixes, 1);
    assert_string_equal(p->appendixes[0], "Phụ lục");
    assert_string_equal(p->sphere_of_promulgation, "Lưu hành nội bộ");
    assert_null(p->direction);
    /* One empty ResponseFor (the other is commented out): kept, with "" values. */
    assert_int_equal(p->n_response_for, 1);
    assert_string_equal(p->response_for[0].organ_id, "");
    assert_string_equal(p->response_for[0].code, "");
    assert_null(edxml_status_target(p));
    assert_string_equal(p->steering_type, "1");
    assert_string_equal(p->document_id, "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb");
    assert_int_equal(p->n_traces, 1);
    assert_string_equal(p->traces[0].organ_id, "01.02.G22");
    assert_false(p->has_bussiness);
    assert_null(p->bussiness_doc_type);
    assert_true(p->has_signature);
    assert_int_equal(p->n_references, 1);
    assert_string_equal(p->references[0].content_id, "cid:36b8a92e-f054-11e7-842b-005056b672fc");
    assert_null(p->references[0].content_type);
    assert_string_equal(p->references[0].href, "");
    assert_string_equal(p->references[0].description, "Description 1");
    assert_int_equal(p->n_attachments, 1);
    assert_string_equal(p->attachments[0].content_type, "application/pdf");
    assert_string_equal(p->attachments[0].attachment_name, "GUIDE_INSTALL OPENVPN.SIGNED.PDF");
    assert_true(p->attachments[0].decoded_size == 11);
    assert_int_equal(c.data.len, 11);
    assert_memory_equal(c.data.data, "hello world", 11);
    buf_free(&c.data);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, NULL), 0);
    edxml_package_free(p);
}

static void test_sample_new_refused(void **state)
{
    char path[4096];
    struct edxml_package *p = NULL;
    struct edxml_error err;
    data_path(path, sizeof path, "edoc_new.edxml");
    assert_int_equal(edxml_parse_file(path, NULL, NULL, &p, &err), -1);
    assert_null(p);
    assert_int_equal(err.code, LT_ERR_EDXML_MALFORMED);
    assert_int_equal(err.line, 1);
    assert_true(err.column >= 1);
    assert_non_null(strstr(err.message, "not well-formed"));
    assert_non_null(strstr(err.message, "line 1, column"));
    assert_non_null(strstr(err.message, "Start tag expected"));
}

/* Without its stray "1212" the file is a new document (BussinessDocType 0). */
static void test_sample_new_without_junk(void **state)
{
    char path[4096];
    size_t len;
    data_path(path, sizeof path, "edoc_new.edxml");
    char *s = read_all(path, &len);
    assert_memory_equal(s, "1212<?xml", 9);
    struct edxml_package *p = NULL;
    struct edxml_error err;
    assert_int_equal(edxml_parse_memory(s + 4, len - 4, NULL, NULL, &p, &err), 0);
    free(s);
    assert_string_equal(p->from.organ_id, "002.00.20.H13");
    assert_string_equal(p->to[0].organ_id, "28.22.H17");
    assert_string_equal(p->code_number, "74fass22");
    assert_string_equal(p->bussiness_doc_type, "0");
    assert_int_equal(p->n_attachments, 1);
    assert_string_equal(p->attachments[0].content_type, "application/zip");
    assert_true(p->attachments[0].decoded_size > 1000);
    edxml_package_free(p);
}

static void test_sample_statuses(void **state)
{
    static const struct {
        const char *file, *code, *from, *target;
    } cases[] = {
        {"status.edxml", "01", "000.00.00.H41", "000.00.00.G22"},
        {"status_inbox_01.edxml", "01", "000.00.00.H41", "000.00.00.G22"},
        {"status_rejection_02.edxml", "02", "000.00.00.H41", "000.00.00.G22"},
        {"status_acceptance_03.edxml", "03", "000.00.00.H41", "000.00.00.G22"},
        {"status_assignment_04.edxml", "04", "000.00.00.H41", "000.00.00.G22"},
        {"status_processing_05.edxml", "05", "000.00.00.H41", "000.00.00.G22"},
        {"status_finish_06.edxml", "06", "000.00.00.H41", "000.00.00.G22"},
        {"status_cancellation_13.edxml", "13", "000.00.00.G22", "000.00.00.H41"},
        {"status_change-acceptance_15.edxml", "15", "000.00.00.H41", "000.00.00.G22"},
        {"status_change-rejection_16.edxml", "16", "000.00.00.H41", "000.00.00.G22"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct edxml_package *p = parse_sample(cases[i].file, NULL);
        assert_int_equal(p->kind, EDXML_STATUS);
        assert_string_equal(p->status_code, cases[i].code);
        assert_string_equal(p->from.organ_id, cases[i].from);
        assert_int_equal(p->n_response_for, 1);
        assert_string_equal(p->response_for[0].organ_id, cases[i].target);
        assert_string_equal(p->response_for[0].code, "7816/VPCP-TTĐT");
        assert_string_equal(edxml_status_target(p), cases[i].target);
        assert_non_null(p->timestamp);
        assert_non_null(p->description);
        assert_non_null(p->staff_info.staff);
        assert_int_equal(p->n_to, 0);
        assert_int_equal(p->n_attachments, 0);
        assert_non_null(edxml_status_code_name(p->status_code));
        assert_int_equal(edxml_check_routable(p, EDXML_STATUS, NULL), 0);
        edxml_package_free(p);
    }
    struct edxml_package *p = parse_sample("status_inbox_01.edxml", NULL);
    assert_string_equal(p->staff_info.department, "Phong hanh chinh");
    assert_string_equal(p->staff_info.mobile, "84912000001");
    assert_string_equal(p->staff_info.email, "ngoctram@nghean.vn");
    assert_string_equal(p->timestamp, "2015/09/20 11:08:36");
    assert_string_equal(p->from.organ_name, "UBND Tỉnh Nghệ An");
    assert_string_equal(p->response_for[0].promulgation_date, "2015/09/30");
    edxml_package_free(p);
}

/* ---- security ---- */

static void test_billion_laughs(void **state)
{
    const char *xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE edXML [\n"
                      "<!ENTITY lol \"lol\">\n"
                      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
                      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
                      "]>\n<edXML xmlns=\"" NS "\"><edXML:edXMLEnvelope xmlns:edXML=\"" NS
                      "\"><edXML:edXMLHeader><edXML:MessageHeader>" FROM
                      "<edXML:Subject>&lol3;</edXML:Subject>" MID TAIL;
    struct edxml_error e = expect_fail(xml, NULL, LT_ERR_EDXML_DTD);
    assert_int_equal(e.line, 2);
    assert_non_null(strstr(e.message, "DOCTYPE is not allowed (line 2, column"));
}

static void test_external_entity(void **state)
{
    const char *xml = "<?xml version=\"1.0\"?>\n"
                      "<!DOCTYPE edXML [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
                      "<edXML xmlns=\"" NS "\"><edXML:edXMLEnvelope xmlns:edXML=\"" NS
                      "\"><edXML:edXMLHeader><edXML:MessageHeader>" FROM
                      "<edXML:Subject>&xxe;</edXML:Subject>" MID TAIL;
    struct edxml_error e = expect_fail(xml, NULL, LT_ERR_EDXML_DTD);
    assert_null(strstr(e.message, "root:"));
    /* external subset only, and a parameter entity */
    expect_fail("<!DOCTYPE edXML SYSTEM \"file:///etc/passwd\"><edXML/>", NULL, LT_ERR_EDXML_DTD);
    expect_fail("<!DOCTYPE edXML [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/x\"> %p;]><edXML/>",
                NULL, LT_ERR_EDXML_DTD);
}

/* An entity used without any declaration is never resolved: not well-formed. Predefined ones
 * and character references are ordinary text. */
static void test_entity_references(void **state)
{
    struct edxml_error e = expect_fail(HEAD FROM "<edXML:Subject>&passwd;</edXML:Subject>" MID TAIL,
                                       NULL, LT_ERR_EDXML_MALFORMED);
    assert_non_null(strstr(e.message, "passwd"));
    struct edxml_package *p =
        parse_ok(HEAD FROM "<edXML:Subject> a &amp; b &lt;c&gt; &#272;&#x1ED3;ng </edXML:Subject>"
                           "<edXML:Content><![CDATA[x<y]]></edXML:Content>" MID TAIL,
                 NULL);
    assert_string_equal(p->subject, "a & b <c> Đồng");
    assert_string_equal(p->content, "x<y");
    edxml_package_free(p);
}

static void test_namespace(void **state)
{
    struct edxml_error e =
        expect_fail("<edXML><edXMLEnvelope xmlns=\"http://example.com/other\"/></edXML>", NULL,
                    LT_ERR_EDXML_NAMESPACE);
    assert_non_null(strstr(e.message, "http://example.com/other"));
    expect_fail("<edXML><edXMLEnvelope/></edXML>", NULL, LT_ERR_EDXML_NAMESPACE);
    expect_fail("<edXML xmlns=\"" NS "\"><MessageHeader/></edXML>", NULL, LT_ERR_EDXML_NAMESPACE);
    /* edXMLEnvelope nested deeper than under the root does not count */
    expect_fail("<edXML xmlns=\"" NS "\"><x><edXMLEnvelope/></x></edXML>", NULL,
                LT_ERR_EDXML_NAMESPACE);
    /* any prefix, or the default namespace, is fine; so is an undeclared prefix elsewhere */
    struct edxml_package *p = parse_ok(
        "<r><q:edXMLEnvelope xmlns:q=\"" NS "\"><q:edXMLHeader><q:MessageHeader>"
        "<q:From><q:OrganId>x</q:OrganId></q:From><zz:To><zz:OrganId>y</zz:OrganId></zz:To>"
        "</q:MessageHeader></q:edXMLHeader></q:edXMLEnvelope></r>",
        NULL);
    assert_string_equal(p->from.organ_id, "x");
    assert_string_equal(p->to[0].organ_id, "y");
    edxml_package_free(p);
}

static void test_depth_bomb(void **state)
{
    struct buf b = {0};
    buf_puts(&b, HEAD);
    for (int i = 0; i < 5000; i++)
        buf_puts(&b, "<a>");
    struct edxml_error e = expect_fail(b.data, NULL, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "deeper than 32"));
    assert_true(e.line > 0);
    buf_free(&b);
}

static void test_limits(void **state)
{
    struct edxml_limits lim;
    edxml_limits_default(&lim);
    lim.max_recipients = 3;
    struct edxml_error e =
        expect_fail(HEAD FROM TO("1") TO("2") TO("3") TO("4") MID TAIL, &lim, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "more than 3 To"));
    struct edxml_package *p = parse_ok(HEAD FROM TO("1") TO("2") TO("3") MID TAIL, &lim);
    assert_int_equal(p->n_to, 3);
    edxml_package_free(p);

    edxml_limits_default(&lim);
    lim.max_text_bytes = 14;
    e = expect_fail(HEAD FROM "<edXML:Subject>0123456789abcdef</edXML:Subject>" MID TAIL, &lim,
                    LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "Subject exceeds 14 bytes"));
    e = expect_fail(HEAD FROM "<unknown>0123456789abcdef</unknown>" MID TAIL, &lim,
                    LT_ERR_EDXML_LIMIT);
    p = parse_ok(HEAD FROM "<edXML:Subject>0123456789abcd</edXML:Subject>" MID TAIL, &lim);
    assert_string_equal(p->subject, "0123456789abcd");
    edxml_package_free(p);

    edxml_limits_default(&lim);
    lim.max_elements = 5;
    e = expect_fail(SIMPLE, &lim, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "more than 5 elements"));

    edxml_limits_default(&lim);
    lim.max_name_bytes = 10;
    e = expect_fail(SIMPLE, &lim, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "name exceeds 10"));

    edxml_limits_default(&lim);
    lim.max_input_bytes = 100;
    e = expect_fail(SIMPLE, &lim, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "exceeds 100 bytes"));

    edxml_limits_default(&lim);
    lim.max_repeats = 2;
    e = expect_fail(HEAD FROM
                    "<edXML:ResponseFor/><edXML:ResponseFor/><edXML:ResponseFor/>" MID TAIL,
                    &lim, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "ResponseFor"));
}

#define ATT(b64)                                                                                   \
    "<AttachmentEncoded><Attachment><ContentId>cid:1</ContentId>"                                  \
    "<edXML:ContentTransferEncoded xmlns:edXML=\"" NS "\">" b64                                    \
    "</edXML:ContentTransferEncoded></Attachment></AttachmentEncoded>"

static void test_attachments(void **state)
{
    struct edxml_limits lim;
    struct edxml_package *p =
        parse_ok(HEAD FROM TO("x") MID ATT("\n QUJD\n REVG Rw==\n") TAIL, NULL);
    assert_int_equal(p->n_attachments, 1);
    assert_true(p->attachments[0].decoded_size == 7);
    uint8_t d[32];
    sha256("ABCDEFG", 7, d);
    assert_memory_equal(p->attachments[0].sha256, d, 32);
    assert_int_equal(p->attachments[0].base64_ok, 1);
    edxml_package_free(p);

    /* Not base64: accepted, marked, nothing decoded (see base64_ok in edxml.h). */
    const char *bad[] = {"QUJD*REVG", "QUJDR", "QQ==QUJD"};
    for (size_t i = 0; i < 3; i++) {
        char doc[4096];
        snprintf(doc, sizeof doc, HEAD FROM TO("x") MID ATT("%s") TAIL, bad[i]);
        p = parse_ok(doc, NULL);
        assert_int_equal(p->attachments[0].base64_ok, 0);
        assert_true(p->attachments[0].decoded_size == 0);
        edxml_package_free(p);
    }
    struct edxml_error e;

    edxml_limits_default(&lim);
    lim.max_attachment_bytes = 5;
    e = expect_fail(HEAD FROM TO("x") MID ATT("QUJDREVGRw==") TAIL, &lim, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "exceeds 5 decoded bytes"));
    lim.max_attachment_bytes = 7;
    p = parse_ok(HEAD FROM TO("x") MID ATT("QUJDREVGRw==") TAIL, &lim);
    edxml_package_free(p);

    edxml_limits_default(&lim);
    lim.max_attachments = 1;
    e = expect_fail(HEAD FROM TO("x") MID
                    "<AttachmentEncoded><Attachment/><Attachment/></AttachmentEncoded>" TAIL,
                    &lim, LT_ERR_EDXML_LIMIT);
    assert_non_null(strstr(e.message, "Attachment"));
    lim.max_attachments = 2;
    p = parse_ok(HEAD FROM TO("x") MID
                 "<AttachmentEncoded><Attachment><ContentType>a/b</ContentType></Attachment>"
                 "<Attachment><ContentTransferEncoded/></Attachment></AttachmentEncoded>" TAIL,
                 &lim);
    assert_int_equal(p->n_attachments, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(p->attachments[i].base64_ok, 1);
        assert_true(p->attachments[i].decoded_size == 0);
        sha256("", 0, d);
        assert_memory_equal(p->attachments[i].sha256, d, 32);
    }
    edxml_package_free(p);

    /* a sink that refuses */
    struct collect c = {.fail_at_begin = 1};
    struct edxml_sink sink = {&c, col_begin, col_data, col_end};
    const char *xml = HEAD FROM TO("x") MID ATT("QUJD") TAIL;
    assert_int_equal(edxml_parse_memory(xml, strlen(xml), NULL, &sink, &p, &e), -1);
    assert_int_equal(e.code, LT_ERR_INTERNAL);
}

static void test_malformed(void **state)
{
    struct edxml_error e;
    struct edxml_package *p = NULL;
    assert_int_equal(edxml_parse_memory("", 0, NULL, NULL, &p, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_MALFORMED);
    assert_non_null(strstr(e.message, "document is empty"));
    e = expect_fail(SIMPLE "\n<extra/>", NULL, LT_ERR_EDXML_MALFORMED);
    assert_non_null(strstr(e.message, "Extra content"));
    assert_int_equal(e.line, 3);
    e = expect_fail(HEAD FROM, NULL, LT_ERR_EDXML_MALFORMED);
    assert_non_null(strstr(e.message, "premature end of input"));
    assert_int_equal(edxml_parse_memory(NULL, 0, NULL, NULL, &p, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_MALFORMED);
    expect_fail("   \n ", NULL, LT_ERR_EDXML_MALFORMED);
    /* truncated: every prefix of a valid document is refused */
    const char *doc = HEAD FROM TO("000.00.00.H41") MID ATT("QUJD") TAIL;
    for (size_t n = 1; n < strlen(doc); n += 7) {
        assert_int_equal(edxml_parse_memory(doc, n, NULL, NULL, &p, &e), -1);
        assert_true(e.code == LT_ERR_EDXML_MALFORMED || e.code == LT_ERR_EDXML_NAMESPACE);
    }
    e = expect_fail(HEAD FROM "<edXML:Subject>x</edXML:Content>" MID TAIL, NULL,
                    LT_ERR_EDXML_MALFORMED);
    assert_int_equal(e.line, 2);
    expect_fail(SIMPLE "<extra/>", NULL, LT_ERR_EDXML_MALFORMED);
    expect_fail("<?xml version=\"1.0\" encoding=\"UTF-8\"?><edXML>\xff\xfe</edXML>", NULL,
                LT_ERR_EDXML_MALFORMED);
    struct edxml_package *ok = NULL;
    assert_int_equal(edxml_parse_file("/nonexistent/file.edxml", NULL, NULL, &ok, &e), -1);
    assert_null(ok);
}

static void test_kind_and_fields(void **state)
{
    /* Status: StatusCode and no To; a To makes it a document. Duplicate single fields: first wins;
     * values are trimmed. */
    struct edxml_package *p = parse_ok(
        HEAD FROM
        "<edXML:ResponseFor><edXML:OrganId> G </edXML:OrganId></edXML:ResponseFor>"
        "<edXML:StatusCode>\n  03\n</edXML:StatusCode><edXML:StatusCode>04</edXML:StatusCode>" MID
            TAIL,
        NULL);
    assert_int_equal(p->kind, EDXML_STATUS);
    assert_string_equal(p->status_code, "03");
    assert_string_equal(p->response_for[0].organ_id, "G");
    edxml_package_free(p);
    p = parse_ok(HEAD FROM TO("t") "<edXML:StatusCode>03</edXML:StatusCode>" MID TAIL, NULL);
    assert_int_equal(p->kind, EDXML_EDOC);
    edxml_package_free(p);
    /* OrganId outside From/To/ResponseFor does not leak into them */
    p = parse_ok(HEAD "<edXML:OrganId>bad</edXML:OrganId><x><edXML:From><edXML:OrganId>bad"
                      "</edXML:OrganId></edXML:From></x>" MID TAIL,
                 NULL);
    assert_null(p->from.organ_id);
    assert_int_equal(p->n_to, 0);
    edxml_package_free(p);
}

/* ---- routing ---- */

static void test_check_routable(void **state)
{
    struct edxml_error e;
    struct edxml_package *p = parse_ok(SIMPLE, NULL);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, &e), 0);
    assert_int_equal(edxml_check_routable(p, EDXML_STATUS, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_NO_RESPONSE_FOR);
    edxml_package_free(p);

    p = parse_ok(HEAD TO("x") MID TAIL, NULL);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_NO_FROM);
    edxml_package_free(p);

    p = parse_ok(HEAD "<edXML:From><edXML:OrganId></edXML:OrganId></edXML:From>" TO("x") MID TAIL,
                 NULL);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_NO_FROM);
    edxml_package_free(p);

    p = parse_ok(HEAD FROM TO("") "<edXML:To/>" MID TAIL, NULL);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_NO_TO);
    edxml_package_free(p);

    p = parse_ok(HEAD FROM TO("") TO("y") MID TAIL, NULL);
    assert_int_equal(edxml_check_routable(p, EDXML_EDOC, &e), 0);
    edxml_package_free(p);

    p = parse_ok(HEAD FROM "<edXML:ResponseFor><edXML:OrganId/></edXML:ResponseFor>"
                           "<edXML:ResponseFor><edXML:OrganId>T</edXML:OrganId></edXML:ResponseFor>"
                           "<edXML:StatusCode>05</edXML:StatusCode>" MID TAIL,
                 NULL);
    assert_string_equal(edxml_status_target(p), "T");
    assert_int_equal(edxml_check_routable(p, EDXML_STATUS, &e), 0);
    edxml_package_free(p);

    p = parse_ok(HEAD FROM
                 "<edXML:ResponseFor><edXML:OrganId>T</edXML:OrganId></edXML:ResponseFor>" MID TAIL,
                 NULL);
    assert_int_equal(edxml_check_routable(p, EDXML_STATUS, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_INVALID);
    edxml_package_free(p);

    p = parse_ok(HEAD FROM "<edXML:ResponseFor/><edXML:StatusCode>05</edXML:StatusCode>" MID TAIL,
                 NULL);
    assert_int_equal(edxml_check_routable(p, EDXML_STATUS, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_NO_RESPONSE_FOR);
    edxml_package_free(p);
    assert_int_equal(edxml_check_routable(NULL, EDXML_EDOC, &e), -1);
    assert_null(edxml_status_target(NULL));
}

static void test_organ_ids(void **state)
{
    assert_true(edxml_organ_id_is_qd20("000.00.00.H34"));
    assert_true(edxml_organ_id_is_qd20("000.00.00.G22"));
    assert_true(edxml_organ_id_is_qd20("002.00.20.H13"));
    assert_false(edxml_organ_id_is_qd20("28.22.H17"));
    assert_false(edxml_organ_id_is_qd20("vxp.saas.03"));
    assert_false(edxml_organ_id_is_qd20("000.00.00.h34"));
    assert_false(edxml_organ_id_is_qd20("000.00.00.H345"));
    assert_false(edxml_organ_id_is_qd20("000.00.00H34."));
    assert_false(edxml_organ_id_is_qd20(""));
    assert_false(edxml_organ_id_is_qd20(NULL));

    assert_true(edxml_organ_id_ok("000.00.00.H34"));
    assert_true(edxml_organ_id_ok("vxp.saas.03"));
    assert_true(edxml_organ_id_ok("28.22.H17"));
    assert_true(edxml_organ_id_ok("a_b-c"));
    assert_false(edxml_organ_id_ok(""));
    assert_false(edxml_organ_id_ok(NULL));
    assert_false(edxml_organ_id_ok("a b"));
    assert_false(edxml_organ_id_ok("a/b"));
    assert_false(edxml_organ_id_ok("Đ"));
    char id[80];
    memset(id, 'a', sizeof id);
    id[64] = '\0';
    assert_true(edxml_organ_id_ok(id));
    id[64] = 'a';
    id[65] = '\0';
    assert_false(edxml_organ_id_ok(id));
}

static void test_status_code_names(void **state)
{
    const char *codes[] = {"01", "02", "03", "04", "05", "06", "13", "14", "15", "16"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_non_null(edxml_status_code_name(codes[i]));
    assert_string_equal(edxml_status_code_name("01"), "arrived");
    assert_string_equal(edxml_status_code_name("14"), edxml_status_code_name("15"));
    assert_null(edxml_status_code_name("07"));
    assert_null(edxml_status_code_name("1"));
    assert_null(edxml_status_code_name(NULL));
}

/* ---- building ---- */

static void test_build_status_round_trip(void **state)
{
    struct edxml_status_spec s = {0};
    s.from.organ_id = "000.00.00.H34";
    s.from.organ_name = "UBND tỉnh Kon Tum & \"Sở\" <TT>";
    s.response_for.organ_id = "000.00.00.G22";
    s.response_for.code = "7816/VPCP-TTĐT";
    s.response_for.document_id = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT";
    s.staff_info.staff = "Nguyễn Thị Ngọc Trâm";
    s.staff_info.department = "Văn thư";
    s.status_code = "03";
    s.description = "Đã tiếp nhận: a < b && c > d \"q\" 'x'";
    s.timestamp = "2024/01/02 03:04:05";
    struct buf out = {0};
    buf_puts(&out, "PREFIX");
    struct edxml_error e;
    assert_int_equal(edxml_build_status(&s, &out, &e), 0);
    assert_memory_equal(out.data, "PREFIX", 6);
    const char *x = out.data + 6;
    const char *order[] = {"From>",        "ResponseFor>", "StaffInfo>",      "StatusCode>",
                           "Description>", "Timestamp>",   "TraceHeaderList>"};
    const char *prev = x;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *at = strstr(x, order[i]);
        assert_non_null(at);
        assert_true(at >= prev);
        prev = at;
    }
    assert_non_null(strstr(x, "&amp;&amp;"));

    struct edxml_package *p = parse_ok(x, NULL);
    assert_int_equal(p->kind, EDXML_STATUS);
    assert_string_equal(p->from.organ_id, s.from.organ_id);
    assert_string_equal(p->from.organ_name, s.from.organ_name);
    assert_string_equal(p->response_for[0].organ_id, s.response_for.organ_id);
    assert_string_equal(p->response_for[0].code, s.response_for.code);
    assert_string_equal(p->response_for[0].document_id, s.response_for.document_id);
    assert_null(p->response_for[0].promulgation_date);
    assert_string_equal(p->staff_info.staff, s.staff_info.staff);
    assert_string_equal(p->staff_info.department, s.staff_info.department);
    assert_null(p->staff_info.email);
    assert_string_equal(p->status_code, "03");
    assert_string_equal(p->description, s.description);
    assert_string_equal(p->timestamp, s.timestamp);
    assert_int_equal(p->n_traces, 1);
    assert_string_equal(p->traces[0].organ_id, "000.00.00.H34");
    assert_string_equal(p->traces[0].timestamp, s.timestamp);
    assert_int_equal(edxml_check_routable(p, EDXML_STATUS, NULL), 0);
    edxml_package_free(p);

    /* explicit TraceHeader organ; no StaffInfo at all */
    buf_reset(&out);
    s.trace_organ_id = "vxp.saas.03";
    memset(&s.staff_info, 0, sizeof s.staff_info);
    assert_int_equal(edxml_build_status(&s, &out, &e), 0);
    assert_null(strstr(out.data, "StaffInfo"));
    p = parse_ok(out.data, NULL);
    assert_string_equal(p->traces[0].organ_id, "vxp.saas.03");
    edxml_package_free(p);
    buf_free(&out);
}

static void test_build_status_invalid(void **state)
{
    struct edxml_status_spec s = {0};
    struct buf out = {0};
    struct edxml_error e;
    s.response_for.organ_id = "G";
    s.status_code = "01";
    s.timestamp = "2024/01/02 03:04:05";
    assert_int_equal(edxml_build_status(&s, &out, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_NO_FROM);
    s.from.organ_id = "H";
    s.response_for.organ_id = NULL;
    assert_int_equal(edxml_build_status(&s, &out, &e), -1);
    assert_int_equal(e.code, LT_ERR_EDXML_NO_RESPONSE_FOR);
    s.response_for.organ_id = "G";
    const char *bad_codes[] = {NULL, "", "1", "00", "17", "99", "0a", "013"};
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        s.status_code = bad_codes[i];
        assert_int_equal(edxml_build_status(&s, &out, &e), -1);
        assert_int_equal(e.code, LT_ERR_EDXML_INVALID);
    }
    s.status_code = "16";
    s.timestamp = NULL;
    assert_int_equal(edxml_build_status(&s, &out, &e), -1);
    s.timestamp = "2024/01/02 03:04:05";
    s.description = "bell \a";
    assert_int_equal(edxml_build_status(&s, &out, &e), -1);
    s.description = "bad utf8 \xc3";
    assert_int_equal(edxml_build_status(&s, &out, &e), -1);
    assert_int_equal(out.len, 0);
    s.description = "tab\tline\r\nend";
    assert_int_equal(edxml_build_status(&s, &out, &e), 0);
    struct edxml_package *p = parse_ok(out.data, NULL);
    assert_string_equal(p->description, "tab\tline\r\nend");
    edxml_package_free(p);
    buf_free(&out);
}

/* ---- memory and threads ---- */

static long vm_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0)
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

struct counter {
    uint64_t bytes;
    struct sha256_ctx sha;
};

static int count_data(void *ctx, const uint8_t *data, size_t len)
{
    struct counter *c = ctx;
    c->bytes += len;
    return sha256_update(&c->sha, data, len);
}

#define BIG (50u * 1024 * 1024)

/* Writes a package with one BIG-byte attachment; returns its digest in digest. */
static void write_big(const char *path, uint8_t digest[32])
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(HEAD FROM TO("000.00.00.H41") MID
          "<AttachmentEncoded><Attachment>"
          "<ContentType>application/zip</ContentType><ContentTransferEncoded>",
          f);
    struct sha256_ctx sha;
    assert_int_equal(sha256_init(&sha), 0);
    uint8_t line[57 * 64];
    char enc[B64_ENCODED_LEN(sizeof line) + 1];
    for (uint32_t off = 0; off < BIG; off += sizeof line) {
        size_t n = BIG - off < sizeof line ? BIG - off : sizeof line;
        for (size_t i = 0; i < n; i++)
            line[i] = (uint8_t)((off + i) * 2654435761u >> 13);
        sha256_update(&sha, line, n);
        size_t m = b64_encode(line, n, enc);
        for (size_t i = 0; i < m; i += 76) {
            fwrite(enc + i, 1, m - i < 76 ? m - i : 76, f);
            fputc('\n', f);
        }
    }
    sha256_final(&sha, digest);
    fputs("</ContentTransferEncoded></Attachment></AttachmentEncoded>" TAIL, f);
    assert_int_equal(fclose(f), 0);
}

static void test_big_attachment_bounded_memory(void **state)
{
    const char *tmp = getenv("LT_TMP");
    char path[4096];
    mkdir(tmp ? tmp : "/tmp", 0700);
    snprintf(path, sizeof path, "%s/edxml_big_%d.edxml", tmp ? tmp : "/tmp", (int)getpid());
    uint8_t want[32], got[32];
    write_big(path, want);

    struct counter c = {0};
    assert_int_equal(sha256_init(&c.sha), 0);
    struct edxml_sink sink = {&c, NULL, count_data, NULL};
    struct edxml_package *p = NULL;
    struct edxml_error e;
    /* Reset the high-water mark so VmHWM measures this parse only. */
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    int reset = cr && fputs("5", cr) >= 0 && fclose(cr) == 0;
    long rss_before = vm_kb("VmRSS");
    int rc = edxml_parse_file(path, NULL, &sink, &p, &e);
    long hwm = vm_kb("VmHWM");
    unlink(path);
    if (rc != 0)
        print_error("%s\n", e.message);
    assert_int_equal(rc, 0);
    sha256_final(&c.sha, got);
    assert_true(c.bytes == BIG);
    assert_true(p->attachments[0].decoded_size == BIG);
    assert_memory_equal(p->attachments[0].sha256, want, 32);
    assert_memory_equal(got, want, 32);
    edxml_package_free(p);
    if (reset && rss_before > 0 && hwm > 0) {
        print_message("RSS before %ld kB, peak during parse %ld kB\n", rss_before, hwm);
        assert_true(hwm - rss_before < 8 * 1024);
    }
}

static void *thread_main(void *arg)
{
    for (int i = 0; i < 5; i++) {
        struct edxml_package *p = parse_sample("edoc_update.edxml", NULL);
        if (strcmp(p->to[2].organ_id, "000.00.00.G17") != 0)
            return arg;
        edxml_package_free(p);
        p = parse_sample("status_finish_06.edxml", NULL);
        if (strcmp(p->status_code, "06") != 0)
            return arg;
        edxml_package_free(p);
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, t), 0);
    for (int i = 0; i < 4; i++) {
        void *r = t;
        pthread_join(t[i], &r);
        assert_null(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_update),
        cmocka_unit_test(test_sample_replacement),
        cmocka_unit_test(test_sample_revocation),
        cmocka_unit_test(test_sample_edoc_placeholder_accepted),
        cmocka_unit_test(test_sample_edoc_fields),
        cmocka_unit_test(test_sample_new_refused),
        cmocka_unit_test(test_sample_new_without_junk),
        cmocka_unit_test(test_sample_statuses),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_external_entity),
        cmocka_unit_test(test_entity_references),
        cmocka_unit_test(test_namespace),
        cmocka_unit_test(test_depth_bomb),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_kind_and_fields),
        cmocka_unit_test(test_check_routable),
        cmocka_unit_test(test_organ_ids),
        cmocka_unit_test(test_status_code_names),
        cmocka_unit_test(test_build_status_round_trip),
        cmocka_unit_test(test_build_status_invalid),
        cmocka_unit_test(test_big_attachment_bounded_memory),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
