/* Unit tests of a relay's TraceHeader insertion (edxml trace_offset, edxml_trace_text,
 * edxml_trace_splice): every sample file of LT_TESTDATA that parses and hand-written documents,
 * each parsed with input chunks of several sizes (so chunk boundaries fall inside the tags), then
 * spliced and parsed again. The result must keep every byte of the original around the inserted
 * text and read as the same package with one more TraceHeader, ours, last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml.h"

#define NS EDXML_NS
#define ID "000.00.00.H34"
#define TS "2026/11/22 10:11:12"
#define ID2 "000.00.00.G22"
#define TS2 "2026/11/23 08:00:00"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define ROOT "<edXML xmlns=\"" NS "\"><edXML:edXMLEnvelope xmlns:edXML=\"" NS "\">"
#define HEAD DECL ROOT "<edXML:edXMLHeader><edXML:MessageHeader>"
#define FROM "<edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From>"
#define TO "<edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:To>"
#define SUBJECT "<edXML:DocumentId>d-1</edXML:DocumentId><edXML:Subject>S &amp; T</edXML:Subject>"
#define MH_END "</edXML:MessageHeader>"
#define DOC HEAD FROM TO SUBJECT MH_END
#define TH(id)                                                                                     \
    "<edXML:TraceHeader><edXML:OrganId>" id "</edXML:OrganId><edXML:Timestamp>2018/09/28 "         \
    "00:00:00</edXML:Timestamp></edXML:TraceHeader>"
#define BUSS "<edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType></edXML:Bussiness>"
#define TAIL "</edXML:edXMLHeader></edXML:edXMLEnvelope></edXML>"
#define LIST_TAIL "</edXML:TraceHeaderList>" TAIL

/* 0: edxml_parse_memory's own 64 KB chunks (the whole of every hand-written document). */
static const size_t steps[] = {0, 1, 2, 3, 7, 4096};
#define N_STEPS (sizeof steps / sizeof steps[0])

static const char *testdata(void)
{
    const char *d = getenv("LT_TESTDATA");
    return d ? d : "../shared/testdata/edxml";
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

/* Returns at most step bytes per call (step 0: as much as asked). */
struct chunk_reader {
    const char *data;
    size_t len, off, step;
};

static long chunk_read(void *ctx, char *out, size_t cap)
{
    struct chunk_reader *r = ctx;
    size_t n = r->len - r->off;
    if (n > cap)
        n = cap;
    if (r->step && n > r->step)
        n = r->step;
    memcpy(out, r->data + r->off, n);
    r->off += n;
    return (long)n;
}

static struct edxml_package *parse_step(const char *doc, size_t len, size_t step,
                                        struct edxml_error *err)
{
    struct chunk_reader r = {doc, len, 0, step};
    struct edxml_package *p = NULL;
    if (edxml_parse(chunk_read, &r, NULL, NULL, &p, err) != 0)
        return NULL;
    return p;
}

static struct edxml_package *parse_ok(const char *what, const char *doc, size_t len, size_t step)
{
    struct edxml_error err;
    struct edxml_package *p = parse_step(doc, len, step, &err);
    if (!p)
        print_error("%s (chunks of %zu): %s: %s\n", what, step, lt_err_name(err.code), err.message);
    assert_non_null(p);
    return p;
}

static void assert_same_str(const char *a, const char *b)
{
    if (!a || !b)
        assert_true(a == b);
    else
        assert_string_equal(a, b);
}

static void assert_same_trace_point(const struct edxml_package *a, const struct edxml_package *b)
{
    assert_true(a->trace_offset == b->trace_offset);
    assert_int_equal(a->trace_new_list, b->trace_new_list);
    assert_same_str(a->trace_prefix, b->trace_prefix);
}

/* What the relay must not change: the package read from the spliced bytes. */
static void assert_same_package(const struct edxml_package *a, const struct edxml_package *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_same_str(a->from.organ_id, b->from.organ_id);
    assert_int_equal(a->n_to, b->n_to);
    for (size_t i = 0; i < a->n_to; i++)
        assert_same_str(a->to[i].organ_id, b->to[i].organ_id);
    assert_same_str(a->subject, b->subject);
    assert_same_str(a->document_id, b->document_id);
    assert_same_str(a->status_code, b->status_code);
    assert_int_equal(a->n_response_for, b->n_response_for);
    assert_int_equal(a->has_bussiness, b->has_bussiness);
    assert_same_str(a->bussiness_doc_type, b->bussiness_doc_type);
    assert_int_equal(a->has_signature, b->has_signature);
    assert_int_equal(a->n_references, b->n_references);
    assert_int_equal(a->n_attachments, b->n_attachments);
    for (size_t i = 0; i < a->n_attachments; i++) {
        assert_int_equal(a->attachments[i].base64_ok, b->attachments[i].base64_ok);
        assert_true(a->attachments[i].decoded_size == b->attachments[i].decoded_size);
        assert_memory_equal(a->attachments[i].sha256, b->attachments[i].sha256, 32);
    }
}

static void expected_text(struct buf *out, const char *prefix, int new_list, const char *id,
                          const char *ts)
{
    const char *c = *prefix ? ":" : "";
    if (new_list)
        buf_printf(out, "<%s%sTraceHeaderList>", prefix, c);
    buf_printf(out,
               "<%s%sTraceHeader><%s%sOrganId>%s</%s%sOrganId><%s%sTimestamp>%s</%s%sTimestamp>"
               "</%s%sTraceHeader>",
               prefix, c, prefix, c, id, prefix, c, prefix, c, ts, prefix, c, prefix, c);
    if (new_list)
        buf_printf(out, "</%s%sTraceHeaderList>", prefix, c);
}

/* Splices (id, ts) into doc at p's trace point, checks the bytes, parses the result with a few
 * chunkings and checks it against p. Returns the result (the caller frees it) and its package. */
static char *hop(const char *what, const char *doc, size_t len, const struct edxml_package *p,
                 const char *id, const char *ts, size_t *ret_len, struct edxml_package **ret_pkg)
{
    struct buf text = {0}, want = {0}, out = {0};
    assert_int_equal(edxml_trace_text(p, id, ts, &text), 0);
    expected_text(&want, p->trace_prefix, p->trace_new_list, id, ts);
    assert_string_equal(text.data, want.data);
    buf_free(&want);

    struct buf list_end = {0};
    if (p->trace_new_list)
        buf_printf(&list_end, "</%s%sTraceHeaderList>", p->trace_prefix,
                   *p->trace_prefix ? ":" : "");
    size_t off = (size_t)p->trace_offset;
    assert_int_equal(edxml_trace_splice(doc, len, p->trace_offset, text.data, &out), 0);
    assert_int_equal(out.len, len + text.len);
    assert_memory_equal(out.data, doc, off);
    assert_memory_equal(out.data + off, text.data, text.len);
    if (len > off)
        assert_memory_equal(out.data + off + text.len, doc + off, len - off);

    struct edxml_package *q = NULL;
    for (size_t s = 0; s < N_STEPS; s += 2) { /* whole, 2 and 7 bytes */
        struct edxml_package *r = parse_ok(what, out.data, out.len, steps[s]);
        assert_int_equal(r->n_traces, p->n_traces + 1);
        assert_string_equal(r->traces[r->n_traces - 1].organ_id, id);
        assert_string_equal(r->traces[r->n_traces - 1].timestamp, ts);
        for (size_t i = 0; i < p->n_traces; i++) {
            assert_same_str(r->traces[i].organ_id, p->traces[i].organ_id);
            assert_same_str(r->traces[i].timestamp, p->traces[i].timestamp);
        }
        assert_same_package(p, r);
        /* The next hop goes right after ours (inside our list), with the same prefix. */
        assert_true(r->trace_offset == (int64_t)(off + text.len - list_end.len));
        assert_int_equal(r->trace_new_list, 0);
        assert_same_str(r->trace_prefix, p->trace_prefix);
        if (q)
            edxml_package_free(r);
        else
            q = r;
    }
    buf_free(&text);
    buf_free(&list_end);
    *ret_len = out.len;
    *ret_pkg = q;
    return buf_steal(&out);
}

/* Parses doc with every chunking: the trace point must not depend on it. Then two hops: ours,
 * then another platform's after it. Returns the trace offset. */
static int64_t check_doc(const char *what, const char *doc, size_t len)
{
    struct edxml_package *p = parse_ok(what, doc, len, steps[0]);
    for (size_t s = 1; s < N_STEPS; s++) {
        struct edxml_package *o = parse_ok(what, doc, len, steps[s]);
        if (o->trace_offset != p->trace_offset)
            print_error("%s: chunks of %zu: offset %lld, whole: %lld\n", what, steps[s],
                        (long long)o->trace_offset, (long long)p->trace_offset);
        assert_same_trace_point(o, p);
        edxml_package_free(o);
    }
    int64_t off = p->trace_offset;
    if (off < 0) {
        struct buf text = {0};
        assert_null(p->trace_prefix);
        assert_int_equal(edxml_trace_text(p, ID, TS, &text), -1);
        assert_int_equal(text.len, 0);
        edxml_package_free(p);
        return off;
    }
    assert_non_null(p->trace_prefix);
    size_t len1, len2;
    struct edxml_package *q1, *q2;
    char *doc1 = hop(what, doc, len, p, ID, TS, &len1, &q1);
    char *doc2 = hop(what, doc1, len1, q1, ID2, TS2, &len2, &q2);
    assert_string_equal(q2->traces[q2->n_traces - 2].organ_id, ID);
    free(doc1);
    free(doc2);
    edxml_package_free(q1);
    edxml_package_free(q2);
    edxml_package_free(p);
    return off;
}

static int ends_with(const char *doc, int64_t off, const char *s)
{
    size_t n = strlen(s);
    return off >= (int64_t)n && memcmp(doc + off - (int64_t)n, s, n) == 0;
}

static int is_sample(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 6 && strcmp(d->d_name + n - 6, ".edxml") == 0;
}

static void test_samples(void **state)
{
    struct dirent **names;
    int n = scandir(testdata(), &names, is_sample, alphasort);
    assert_true(n > 0);
    int with_list = 0, without_list = 0, refused = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", testdata(), names[i]->d_name);
        char *doc = read_all(path, &len);
        struct edxml_error err;
        struct edxml_package *p = parse_step(doc, len, 0, &err);
        if (!p) { /* edoc_new.edxml: stray bytes before the prolog */
            refused++;
            free(doc);
            free(names[i]);
            continue;
        }
        int new_list = p->trace_new_list;
        assert_true(p->trace_offset > 0);
        assert_string_equal(p->trace_prefix, "edXML");
        edxml_package_free(p);
        int64_t off = check_doc(names[i]->d_name, doc, len);
        if (new_list) {
            assert_true(ends_with(doc, off, "</edXML:MessageHeader>"));
            without_list++;
        } else {
            assert_true(ends_with(doc, off, "</edXML:TraceHeader>"));
            with_list++;
        }
        free(doc);
        free(names[i]);
    }
    free(names);
    /* The sample set: documents with a list, status packages without, one refused file. */
    assert_true(with_list >= 4);
    assert_true(without_list >= 10);
    assert_int_equal(refused, 1);
}

/* A hand-written document: the trace goes between before and after (before NULL: nowhere). */
struct hcase {
    const char *name;
    const char *before, *after;
    const char *prefix;
    int new_list;
};

static void check_case(const struct hcase *c)
{
    struct buf doc = {0};
    if (c->before)
        buf_puts(&doc, c->before);
    buf_puts(&doc, c->after);
    struct edxml_package *p = parse_ok(c->name, doc.data, doc.len, 0);
    int64_t want = c->before ? (int64_t)strlen(c->before) : -1;
    if (p->trace_offset != want)
        print_error("%s: offset %lld, expected %lld\n", c->name, (long long)p->trace_offset,
                    (long long)want);
    assert_true(p->trace_offset == want);
    if (want >= 0) {
        assert_string_equal(p->trace_prefix, c->prefix);
        assert_int_equal(p->trace_new_list, c->new_list);
    }
    edxml_package_free(p);
    assert_true(check_doc(c->name, doc.data, doc.len) == want);
    buf_free(&doc);
}

static const struct hcase cases[] = {
    {"document without TraceHeaderList", DOC, TAIL, "edXML", 1},
    {"status package without TraceHeaderList",
     HEAD FROM "<edXML:ResponseFor><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:ResponseFor>"
               "<edXML:StatusCode>01</edXML:StatusCode>"
               "<edXML:Timestamp>2018/09/28 17:25:11</edXML:Timestamp>" MH_END,
     TAIL, "edXML", 1},
    {"one TraceHeader", DOC "<edXML:TraceHeaderList>" TH("a"), BUSS LIST_TAIL, "edXML", 0},
    {"two TraceHeaders, indented", DOC "\n  <edXML:TraceHeaderList>\n    " TH("a") "\n    " TH("b"),
     "\n    " BUSS "\n  " LIST_TAIL "\n", "edXML", 0},
    {"empty TraceHeaderList", DOC "<edXML:TraceHeaderList>", LIST_TAIL, "edXML", 0},
    {"TraceHeaderList with Bussiness only", DOC "\n<edXML:TraceHeaderList>",
     "\n" BUSS "\n" LIST_TAIL, "edXML", 0},
    {"list start tag with attributes holding '>' and '/>'",
     DOC "<edXML:TraceHeaderList a=\"x>y\" b='/>' >", BUSS LIST_TAIL, "edXML", 0},
    {"empty-element TraceHeaderList", NULL, DOC "<edXML:TraceHeaderList/>" TAIL, NULL, 0},
    {"empty-element TraceHeader last",
     DOC "<edXML:TraceHeaderList>" TH("a") "<edXML:TraceHeader />", LIST_TAIL, "edXML", 0},
    {"empty-element MessageHeader", DECL ROOT "<edXML:edXMLHeader><edXML:MessageHeader/>",
     "\n" TAIL, "edXML", 1},
    {"whitespace in the end tag",
     DOC "<edXML:TraceHeaderList>" TH("a") "<edXML:TraceHeader><edXML:OrganId>b</edXML:OrganId>"
                                           "</edXML:TraceHeader \r\n\t >",
     LIST_TAIL, "edXML", 0},
    {"default namespace, no prefix",
     DECL "<edXML xmlns=\"" NS "\"><edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganId>"
          "000.00.00.G22</OrganId></From><To><OrganId>000.00.00.H41</OrganId></To>"
          "</MessageHeader><TraceHeaderList><TraceHeader><OrganId>a</OrganId><Timestamp>t"
          "</Timestamp></TraceHeader>",
     "<Bussiness/></TraceHeaderList></edXMLHeader></edXMLEnvelope></edXML>", "", 0},
    {"default namespace, no prefix, no list",
     "<edXML xmlns=\"" NS "\"><edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganId>"
     "000.00.00.G22</OrganId></From></MessageHeader>",
     "</edXMLHeader></edXMLEnvelope></edXML>", "", 1},
    {"CRLF line endings",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n" ROOT "\r\n<edXML:edXMLHeader>\r\n"
     "<edXML:MessageHeader>\r\n" FROM "\r\n" TO "\r\n" MH_END "\r\n<edXML:TraceHeaderList>\r\n"
     "<edXML:TraceHeader>\r\n<edXML:OrganId>a</edXML:OrganId>\r\n</edXML:TraceHeader>",
     "\r\n</edXML:TraceHeaderList>\r\n</edXML:edXMLHeader>\r\n</edXML:edXMLEnvelope>\r\n"
     "</edXML>\r\n",
     "edXML", 0},
    {"CRLF line endings, no list",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n" ROOT "\r\n<edXML:edXMLHeader>\r\n"
     "<edXML:MessageHeader>\r\n" FROM "\r\n" MH_END,
     "\r\n</edXML:edXMLHeader>\r\n</edXML:edXMLEnvelope>\r\n</edXML>\r\n", "edXML", 1},
    {"comments, CDATA and a PI near the list",
     DOC "<!-- <edXML:TraceHeaderList><edXML:TraceHeader></edXML:TraceHeader> -->"
         "<edXML:TraceHeaderList><!-- first -->" TH("a"),
     "<!-- </edXML:TraceHeader> --><![CDATA[</edXML:TraceHeader>]]><?pi </edXML:TraceHeader>?>"
     "<!-- <edXML:TraceHeader/> -->" LIST_TAIL "<!-- </edXML:MessageHeader> -->",
     "edXML", 0},
    {"UTF-8 BOM", "\xEF\xBB\xBF" DOC "<edXML:TraceHeaderList>" TH("a"), LIST_TAIL, "edXML", 0},
    {"UTF-8 BOM without XML declaration",
     "\xEF\xBB\xBF" ROOT "<edXML:edXMLHeader>"
     "<edXML:MessageHeader>" FROM MH_END,
     TAIL, "edXML", 1},
    {"lowercase utf-8 declared",
     "<?xml version='1.0' encoding='utf-8' standalone='yes'?>" ROOT "<edXML:edXMLHeader>"
     "<edXML:MessageHeader>" FROM MH_END "<edXML:TraceHeaderList>" TH("a"),
     LIST_TAIL, "edXML", 0},
    {"multi-byte UTF-8 text before the point",
     DOC "<edXML:TraceHeaderList>" TH("Văn phòng Chính phủ — ĐẶNG"), LIST_TAIL, "edXML", 0},
    {"ISO-8859-1 declared", NULL,
     "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" ROOT "<edXML:edXMLHeader>"
     "<edXML:MessageHeader><edXML:From><edXML:OrganId>x</edXML:OrganId><edXML:OrganName>H\xe0 "
     "N\xf4i</edXML:OrganName></edXML:From>" MH_END "<edXML:TraceHeaderList>" TH("a") LIST_TAIL,
     NULL, 0},
    {"TraceHeaderLists outside edXMLHeader are ignored",
     DECL "<edXML xmlns=\"" NS "\"><edXML:TraceHeaderList xmlns:edXML=\"" NS
          "\">" TH("root") "</edXML:TraceHeaderList><edXML:edXMLEnvelope xmlns:edXML=\"" NS "\">"
                           "<edXML:TraceHeaderList>" TH(
                               "envelope") "</edXML:TraceHeaderList>"
                                           "<edXML:edXMLHeader><edXML:MessageHeader>" FROM
                                           "<edXML:TraceHeaderList>" TH(
                                               "mh") "</edXML:TraceHeaderList>" MH_END,
     "<edXML:Signature><edXML:TraceHeaderList>" TH(
         "sig") "</edXML:TraceHeaderList>"
                "</edXML:Signature></edXML:edXMLHeader><edXML:edXMLBody><edXML:TraceHeaderList>" TH(
                    "body") "</edXML:TraceHeaderList></edXML:edXMLBody></edXML:edXMLEnvelope>"
                            "<AttachmentEncoded><TraceHeaderList>" TH(
                                "att") "</TraceHeaderList></AttachmentEncoded>"
                                       "</edXML>",
     "edXML", 1},
    {"TraceHeaderList in the body after the header's list", DOC "<edXML:TraceHeaderList>" TH("a"),
     "</edXML:TraceHeaderList></edXML:edXMLHeader><edXML:edXMLBody><edXML:TraceHeaderList>" TH(
         "body") "</edXML:TraceHeaderList></edXML:edXMLBody></edXML:edXMLEnvelope></edXML>",
     "edXML", 0},
    {"two lists in the header, the second empty",
     DOC "<edXML:TraceHeaderList>" TH("a") "</edXML:TraceHeaderList><edXML:TraceHeaderList>",
     LIST_TAIL, "edXML", 0},
    {"TraceHeader declaring its own prefix",
     DOC "<edXML:TraceHeaderList>" TH("a") "<t:TraceHeader xmlns:t=\"" NS "\"><t:OrganId>b"
                                           "</t:OrganId></t:TraceHeader>",
     LIST_TAIL, "edXML", 0},
    {"TraceHeader declaring the default namespace",
     DOC "<edXML:TraceHeaderList><TraceHeader xmlns=\"" NS "\"><OrganId>b</OrganId>"
         "</TraceHeader>",
     LIST_TAIL, "edXML", 0},
    {"TraceHeader with a prefix declared above",
     DECL "<edXML xmlns=\"" NS "\" xmlns:t=\"" NS "\"><edXML:edXMLEnvelope xmlns:edXML=\"" NS
          "\"><edXML:edXMLHeader><edXML:MessageHeader>" FROM MH_END
          "<edXML:TraceHeaderList><t:TraceHeader><t:OrganId>b</t:OrganId></t:TraceHeader>",
     LIST_TAIL, "t", 0},
    {"MessageHeader declaring its own prefix",
     DECL ROOT "<edXML:edXMLHeader><m:MessageHeader xmlns:m=\"" NS "\">" FROM "</m:MessageHeader>",
     TAIL, "edXML", 1},
    {"undeclared prefix (accepted, like xlink:)",
     DOC "<edXML:TraceHeaderList><x:TraceHeader><x:OrganId>b</x:OrganId></x:TraceHeader>",
     LIST_TAIL, "x", 0},
};

static void test_handwritten(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

/* A UTF-16 document (BOM): libxml2 parses a converted copy, so there is no offset. */
static void test_utf16(void **state)
{
    const char *ascii = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>" ROOT
                        "<edXML:edXMLHeader><edXML:MessageHeader>" FROM MH_END
                        "<edXML:TraceHeaderList>" TH("a") LIST_TAIL;
    struct buf doc = {0};
    buf_append(&doc, "\xFF\xFE", 2);
    for (const char *c = ascii; *c; c++) {
        char u[2] = {*c, 0};
        buf_append(&doc, u, 2);
    }
    assert_true(check_doc("UTF-16", doc.data, doc.len) == -1);
    struct edxml_package *p = parse_ok("UTF-16", doc.data, doc.len, 0);
    assert_int_equal(p->n_traces, 1);
    assert_string_equal(p->from.organ_id, "000.00.00.G22");
    edxml_package_free(p);
    buf_free(&doc);
}

/* What this server builds for statuses also takes a trace. */
static void test_built_status(void **state)
{
    struct edxml_status_spec spec = {
        .from = {.organ_id = "000.00.00.H34"},
        .response_for = {.organ_id = "000.00.00.G22", .document_id = "x"},
        .status_code = "03",
        .timestamp = "2026/11/22 10:00:00",
    };
    struct buf doc = {0};
    assert_int_equal(edxml_build_status(&spec, &doc, NULL), 0);
    int64_t off = check_doc("built status", doc.data, doc.len);
    assert_true(ends_with(doc.data, off, "</edXML:TraceHeader>"));
    buf_free(&doc);
}

static void test_text(void **state)
{
    struct edxml_package p = {.trace_offset = 10, .trace_prefix = (char *)"p"};
    struct buf out = {0};
    buf_puts(&out, "kept|");
    assert_int_equal(edxml_trace_text(&p, "A&B<C>", "2026/01/02 03:04:05", &out), 0);
    assert_string_equal(out.data, "kept|<p:TraceHeader><p:OrganId>A&amp;B&lt;C&gt;</p:OrganId>"
                                  "<p:Timestamp>2026/01/02 03:04:05</p:Timestamp></p:TraceHeader>");
    buf_reset(&out);
    p.trace_prefix = (char *)"";
    p.trace_new_list = 1;
    assert_int_equal(edxml_trace_text(&p, "a", "b", &out), 0);
    assert_string_equal(out.data, "<TraceHeaderList><TraceHeader><OrganId>a</OrganId><Timestamp>b"
                                  "</Timestamp></TraceHeader></TraceHeaderList>");
    p.trace_prefix = NULL; /* as no prefix */
    buf_reset(&out);
    assert_int_equal(edxml_trace_text(&p, "a", "b", &out), 0);
    assert_true(strncmp(out.data, "<TraceHeaderList><TraceHeader>", 30) == 0);

    /* Refusals leave out as it was. */
    buf_reset(&out);
    buf_puts(&out, "kept");
    assert_int_equal(edxml_trace_text(&p, "a\x01", "b", &out), -1);
    assert_int_equal(edxml_trace_text(&p, "a", "\xff", &out), -1);
    assert_int_equal(edxml_trace_text(&p, NULL, "b", &out), -1);
    assert_int_equal(edxml_trace_text(&p, "a", NULL, &out), -1);
    assert_int_equal(edxml_trace_text(NULL, "a", "b", &out), -1);
    p.trace_offset = -1;
    assert_int_equal(edxml_trace_text(&p, "a", "b", &out), -1);
    assert_string_equal(out.data, "kept");
    assert_int_equal(out.len, 4);
    buf_free(&out);
}

static void test_splice(void **state)
{
    const char *doc = "<a>b</a>";
    struct buf out = {0};
    buf_puts(&out, "kept");
    assert_int_equal(edxml_trace_splice(doc, 8, 0, "X", &out), -1);
    assert_int_equal(edxml_trace_splice(doc, 8, -1, "X", &out), -1);
    assert_int_equal(edxml_trace_splice(doc, 8, 9, "X", &out), -1);
    assert_int_equal(edxml_trace_splice(doc, 8, INT64_MAX, "X", &out), -1);
    assert_int_equal(edxml_trace_splice(doc, 8, 4, "X", &out), -1); /* after 'b' */
    assert_int_equal(edxml_trace_splice(doc, 8, 1, "X", &out), -1); /* after '<' */
    assert_int_equal(edxml_trace_splice(doc, 8, 3, NULL, &out), -1);
    assert_int_equal(edxml_trace_splice(NULL, 8, 3, "X", &out), -1);
    assert_int_equal(edxml_trace_splice(doc, 0, 3, "X", &out), -1);
    assert_string_equal(out.data, "kept");
    assert_int_equal(out.len, 4);

    buf_reset(&out);
    assert_int_equal(edxml_trace_splice(doc, 8, 3, "X", &out), 0);
    assert_string_equal(out.data, "<a>Xb</a>");
    buf_reset(&out);
    assert_int_equal(edxml_trace_splice(doc, 8, 8, "X", &out), 0); /* at the very end */
    assert_string_equal(out.data, "<a>b</a>X");
    buf_reset(&out);
    assert_int_equal(edxml_trace_splice(doc, 8, 3, "", &out), 0);
    assert_string_equal(out.data, doc);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples), cmocka_unit_test(test_handwritten),
        cmocka_unit_test(test_utf16),   cmocka_unit_test(test_built_status),
        cmocka_unit_test(test_text),    cmocka_unit_test(test_splice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
