"""test_exchange — the document exchange through the VXP protocol, end to end, as the national
SDK's users drive it: send -> list -> get -> updateStatus, status packages back to the sender,
delivery reports, counts, downloadEdoc, agency operations, leftover parameters, docid/docId,
Expect: 100-continue, path prefixes, duplicate sends and the statistics endpoint.

One server and one registry (harness.setup_registry) for the whole file; a ledger records every
package and delivery the test causes so the /api/v1/stats figures can be checked at the end.
"""

import base64
import datetime
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import vxpsdk  # noqa: E402
from harness import (ORG_CAOBANG, ORG_HAIPHONG, ORG_NGHEAN, ORG_TEST, ORG_VPCP, check, eq, fail,  # noqa: E402
                     list_json, ok, send_json)

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
INBOX_KEYS = ("docId", "serviceType", "messageType", "created_time", "updated_time", "from", "to", "status",
              "status_desc")
SENT_KEYS = ("serviceType", "messageType", "senderDocId", "receiverDocId", "fromCode", "toCode", "title",
             "notation", "sentTime", "receivedTime", "sendStatus", "sendStatusDesc", "receiveStatus",
             "receiveStatusDesc")


class Ledger:
    """What the test did, to compare with the server's statistics."""

    def __init__(self):
        self.packages = {}    # sender DocId -> (from_organ, kind, signed)
        self.deliveries = {}  # receiver docId -> [organ, kind, state]

    def sent(self, doc_id, from_organ, kind, signed):
        self.packages[doc_id] = (from_organ, kind, signed)

    def delivered(self, recv_id, organ, kind):
        self.deliveries.setdefault(recv_id, [organ, kind, "initial"])

    def state(self, recv_id, st):
        self.deliveries[recv_id][2] = st

    def figures(self):
        rows = {}

        def row(o):
            return rows.setdefault(o, {"documents_sent": 0, "status_sent": 0, "documents_received": 0,
                                       "status_received": 0, "signed_sent": 0,
                                       "deliveries": {"initial": 0, "processing": 0, "done": 0, "fail": 0}})
        for frm, kind, signed in self.packages.values():
            r = row(frm)
            r["documents_sent" if kind == "edoc" else "status_sent"] += 1
            if signed and kind == "edoc":
                r["signed_sent"] += 1
        for organ, kind, st in self.deliveries.values():
            r = row(organ)
            r["documents_received" if kind == "edoc" else "status_received"] += 1
            r["deliveries"][st] += 1
        total = {"documents_sent": 0, "status_sent": 0, "documents_received": 0, "status_received": 0,
                 "signed_sent": 0, "deliveries": {"initial": 0, "processing": 0, "done": 0, "fail": 0}}
        for r in rows.values():
            for k, v in r.items():
                if k == "deliveries":
                    for s, n in v.items():
                        total["deliveries"][s] += n
                else:
                    total[k] += v
        return rows, total


class Ctx:
    server = None
    sys = None
    ledger = Ledger()


C = Ctx()


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def expect_ok(resp, what):
    """Apache-path requests with a body must get the interim 100 Continue within 1 s."""
    if resp.expect_sent:
        check(resp.continue_seconds is not None, "%s: no 'HTTP/1.1 100 Continue' for Expect: 100-continue "
              "(the SDK then waits 3 s per call)", what)
        check(resp.continue_seconds < 1.0, "%s: 100 Continue after %.2f s", what, resp.continue_seconds)
    return resp


def call(system, op, jh=None, **kw):
    svc = kw.pop("svc", None) or system.svc(kw.pop("prefix", ""))
    return expect_ok(svc.call(op, jh, **kw), "%s %s" % (system.id, op))


def send(system, data, messagetype="edoc", svc=None, what="sendEdoc"):
    s = svc or system.svc()
    r = s.sendEdoc(send_json(system, messagetype), data)
    return r


def send_ok(system, data, messagetype="edoc", svc=None, what="sendEdoc", record=True):
    r = send(system, data, messagetype, svc)
    j = ok(r, "%s by %s" % (what, system.id), "sendEdoc")
    if record:
        frm = harness.organ_ids(data, "From")[0]
        # signed = a valid XML signature: the samples' <Signature> elements do not verify
        # (test_signature covers documents signed with a test key)
        C.ledger.sent(j["DocId"], frm, messagetype, False)
    return j["DocId"]


def inbox(system, messagetype="edoc", svc=None):
    s = svc or system.svc()
    r = s.getReceivedEdocList(list_json(messagetype))
    j = ok(r, "getReceivedEdocList(%s) by %s" % (messagetype, system.id))
    data = j.get("data")
    check(isinstance(data, list), "getReceivedEdocList: data is not an array: %r", j)
    for it in data:
        check(isinstance(it, dict), "inbox item is not an object: %r", it)
        for k in INBOX_KEYS:
            check(k in it and isinstance(it[k], str), "inbox item lacks string %r: %r", k, it)
        check(UUID_RE.fullmatch(it["docId"]) is not None, "inbox docId %r is not a UUID", it["docId"])
        eq(it["serviceType"], "eDoc", "inbox serviceType")
        eq(it["messageType"], messagetype, "inbox messageType")
        check(TIME_RE.fullmatch(it["created_time"]) is not None, "created_time %r", it["created_time"])
        check(TIME_RE.fullmatch(it["updated_time"]) is not None, "updated_time %r", it["updated_time"])
        check(it["status"] in ("initial", "processing", "fail"), "inbox status %r", it["status"])
        check(it["to"] in system.serves, "inbox item for %s is addressed to %r, which it does not serve",
              system.id, it["to"])
    return data


def sent_rows(system, doc_id=None, messagetype="edoc"):
    jh = list_json(messagetype)
    if doc_id is not None:
        jh["docId"] = doc_id
    r = system.svc().getSentEdocList(jh)
    j = ok(r, "getSentEdocList by %s" % system.id)
    data = j.get("data")
    check(isinstance(data, list), "getSentEdocList: data is not an array: %r", j)
    for it in data:
        for k in SENT_KEYS:
            check(k in it and isinstance(it[k], str), "sent row lacks string %r: %r", k, it)
        check(it["receiveStatus"] in ("initial", "processing", "done", "fail"), "receiveStatus %r", it["receiveStatus"])
    if doc_id is not None:
        for it in data:
            eq(it["senderDocId"], doc_id, "getSentEdocList docId filter")
    return data


def get_edoc(system, doc_id, key="docId"):
    r = call(system, "getEdoc", {"filePath": "/tmp/in", key: doc_id})
    j = ok(r, "getEdoc(%s) by %s" % (doc_id, system.id), "getEdoc")
    check(isinstance(j["data"], str) and j["data"], "getEdoc data empty")
    try:
        return vxpsdk.b64decode_std(j["data"])
    except Exception as e:
        raise harness.TestFailure("getEdoc data is not standard base64: %s" % e)


def ack(system, recv_id, status="done", key="docId"):
    r = call(system, "updateStatus", {"status": status, key: recv_id})
    ok(r, "updateStatus(%s,%s) by %s" % (recv_id, status, system.id))
    if recv_id in C.ledger.deliveries:
        C.ledger.state(recv_id, status)


def count(system, op):
    r = call(system, op, list_json("edoc" if op == "countReceiveEdoc" else "status"))
    return ok(r, "%s by %s" % (op, system.id), op)["count"]


def deliveries_of(sender, doc_id, expected_organs, messagetype="edoc"):
    """getSentEdocList rows of one package: one per recipient organ; returns {organ: row}."""
    rows = sent_rows(sender, doc_id, messagetype)
    organs = sorted(r["toCode"] for r in rows)
    eq(organs, sorted(expected_organs), "recipients of %s in getSentEdocList" % doc_id)
    out = {r["toCode"]: r for r in rows}
    for organ, r in out.items():
        check(UUID_RE.fullmatch(r["receiverDocId"]) is not None, "receiverDocId %r", r["receiverDocId"])
        eq(r["messageType"], messagetype, "sent row messageType")
        eq(r["serviceType"], "eDoc", "sent row serviceType")
        C.ledger.delivered(r["receiverDocId"], organ, messagetype)
    return out


def owner(organ):
    for s in C.sys.values():
        if organ in s.serves:
            return s
    raise KeyError(organ)


def edoc_from_a(to=None, tag=None):
    data = harness.sample("edoc.edxml")
    data = harness.rewrite_organs(data, from_=ORG_VPCP, to=to)
    if tag:
        data = harness.add_comment(data, tag)
    return data


# ------------------------------------------------------------------------------------------
# cases
# ------------------------------------------------------------------------------------------

def t_healthz_and_registry():
    r = harness.http_get(C.server.port, "/healthz")
    eq(r.status, 200, "/healthz status")
    for s in C.sys.values():
        eq(count(s, "countReceiveEdoc"), 0, "fresh inbox count of %s" % s.id)
        eq(count(s, "countReceiveStatus"), 0, "fresh status count of %s" % s.id)


def t_edoc_full_cycle():
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    data = edoc_from_a()  # From G22, To 000.00.15.H51 (served by C)
    doc = send_ok(A, data)
    rows = deliveries_of(A, doc, [ORG_TEST])
    row = rows[ORG_TEST]
    eq(row["senderDocId"], doc, "senderDocId")
    eq(row["fromCode"], ORG_VPCP, "fromCode")
    eq(row["title"], "Văn bản liên thông chỉ đạo - 190701", "title (Subject)")
    check("PRO-TEST-CASE1" in row["notation"], "notation %r lacks the CodeNotation", row["notation"])
    eq(row["receiveStatus"], "initial", "receiveStatus before the recipient acts")
    recv = row["receiverDocId"]
    items = inbox(Cs)
    eq([it["docId"] for it in items], [recv], "C's inbox")
    it = items[0]
    eq((it["from"], it["to"], it["status"]), (ORG_VPCP, ORG_TEST, "initial"), "inbox item from/to/status")
    eq(count(Cs, "countReceiveEdoc"), 1, "C countReceiveEdoc")
    eq(count(Cs, "countReceiveStatus"), 0, "C countReceiveStatus")
    eq(inbox(B), [], "B's inbox (not a recipient)")
    eq(get_edoc(Cs, recv), data, "getEdoc bytes (recipient)")
    eq(get_edoc(A, doc), data, "getEdoc bytes (sender, own DocId)")
    # a third party may not read it
    fail(call(B, "getEdoc", {"docId": recv}), "getEdoc by a non-recipient", 401, "getEdoc")
    # downloadEdoc: raw bytes; empty body on error
    r = call(Cs, "downloadEdoc", {"docId": recv, "filePath": "/tmp/in"})
    eq(r.body, data, "downloadEdoc bytes")
    r = call(B, "downloadEdoc", {"docId": recv, "filePath": "/tmp/in"})
    eq(r.body, b"", "downloadEdoc by a non-recipient: body")
    r = call(Cs, "downloadEdoc", {"docId": "00000000-0000-0000-0000-000000000000"})
    eq(r.body, b"", "downloadEdoc of an unknown docId: body")
    # acknowledge
    ack(Cs, recv, "done")
    eq(inbox(Cs), [], "C's inbox after done")
    eq(count(Cs, "countReceiveEdoc"), 0, "C count after done")
    ack(Cs, recv, "done")  # repeated: idempotent
    eq(deliveries_of(A, doc, [ORG_TEST])[ORG_TEST]["receiveStatus"], "done", "receiveStatus after done")
    # a done package can still be fetched by its recipient (only the list hides it)
    eq(get_edoc(Cs, recv), data, "getEdoc after done")


def t_multi_recipient_samples():
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    names = ["edoc_update.edxml", "edoc_replacement.edxml", "edoc_revocation.edxml"]
    sent = {}
    for n in names:
        data = harness.sample(n)
        eq(harness.organ_ids(data, "To"), [ORG_NGHEAN, ORG_CAOBANG, ORG_HAIPHONG], "%s recipients" % n)
        doc = send_ok(A, data, what="sendEdoc %s" % n)
        sent[doc] = (n, data, deliveries_of(A, doc, [ORG_NGHEAN, ORG_CAOBANG, ORG_HAIPHONG]))
    b_items = {it["docId"]: it for it in inbox(B)}
    c_items = {it["docId"]: it for it in inbox(Cs)}
    eq(len(b_items), 6, "B's inbox entries (3 packages x H41,H14)")
    eq(len(c_items), 3, "C's inbox entries (3 packages x G17)")
    eq(count(B, "countReceiveEdoc"), 6, "B countReceiveEdoc")
    eq(count(Cs, "countReceiveEdoc"), 3, "C countReceiveEdoc")
    for doc, (n, data, rows) in sent.items():
        for organ, row in rows.items():
            sysx = owner(organ)
            items = b_items if sysx is B else c_items
            rid = row["receiverDocId"]
            check(rid in items, "%s: delivery %s for %s not in %s's inbox", n, rid, organ, sysx.id)
            eq(items[rid]["to"], organ, "%s inbox item 'to'" % n)
            eq(items[rid]["from"], ORG_VPCP, "%s inbox item 'from'" % n)
            eq(get_edoc(sysx, rid), data, "%s bytes for %s" % (n, organ))
            eq(row["title"], "V/v kết nối, liên thông phần mềm quản lý văn bản", "%s title" % n)
    for doc, (n, data, rows) in sent.items():
        for organ, row in rows.items():
            ack(owner(organ), row["receiverDocId"], "done")
        for organ, row in deliveries_of(A, doc, rows.keys()).items():
            eq(row["receiveStatus"], "done", "%s receiveStatus for %s" % (n, organ))
    eq(inbox(B), [], "B's inbox after acks")
    eq(inbox(Cs), [], "C's inbox after acks")
    C.multi = sent


def t_status_back_to_sender():
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    # B (H41) accepts: the sample already says From H41, ResponseFor G22
    st1 = harness.sample("status_acceptance_03.edxml")
    eq(harness.organ_ids(st1, "ResponseFor"), [ORG_VPCP], "sample ResponseFor")
    d1 = send_ok(B, st1, "status", what="sendEdoc status by B")
    # C (G17) finishes: rewritten so From = G17 and ResponseFor = G22
    st2 = harness.rewrite_organs(harness.sample("status_finish_06.edxml"), from_=ORG_HAIPHONG,
                                 response_for=ORG_VPCP)
    d2 = send_ok(Cs, st2, "status", what="sendEdoc status by C")
    r1 = deliveries_of(B, d1, [ORG_VPCP], "status")[ORG_VPCP]
    r2 = deliveries_of(Cs, d2, [ORG_VPCP], "status")[ORG_VPCP]
    eq(count(A, "countReceiveStatus"), 2, "A countReceiveStatus")
    eq(count(A, "countReceiveEdoc"), 0, "A countReceiveEdoc (status packages are separate)")
    eq(inbox(A, "edoc"), [], "A's edoc inbox")
    items = {it["docId"]: it for it in inbox(A, "status")}
    eq(sorted(items), sorted([r1["receiverDocId"], r2["receiverDocId"]]), "A's status inbox")
    eq(items[r1["receiverDocId"]]["from"], ORG_NGHEAN, "status item from")
    eq(items[r1["receiverDocId"]]["to"], ORG_VPCP, "status item to")
    eq(inbox(B, "status"), [], "B's status inbox")
    eq(get_edoc(A, r1["receiverDocId"]), st1, "status bytes 1")
    eq(get_edoc(A, r2["receiverDocId"]), st2, "status bytes 2")
    ack(A, r1["receiverDocId"], "done")
    ack(A, r2["receiverDocId"], "done", key="docid")
    eq(inbox(A, "status"), [], "A's status inbox after acks")
    eq(count(A, "countReceiveStatus"), 0, "A countReceiveStatus after acks")
    eq(deliveries_of(B, d1, [ORG_VPCP], "status")[ORG_VPCP]["receiveStatus"], "done", "status receiveStatus")


def t_processing_fail_states():
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    data = edoc_from_a([ORG_HAIPHONG], "states")
    doc = send_ok(A, data)
    rid = deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    fail(call(Cs, "updateStatus", {"status": "inbox", "docId": rid}), "updateStatus bad value", 402)
    fail(call(Cs, "updateStatus", {"status": "DONE2", "docId": rid}), "updateStatus bad value 2", 402)
    fail(call(Cs, "updateStatus", {"status": "done", "docId": "ffffffff-0000-4000-8000-000000000000"}),
         "updateStatus unknown docId", 401)
    fail(call(B, "updateStatus", {"status": "done", "docId": rid}), "updateStatus by a non-recipient", 401)
    eq(deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiveStatus"], "initial", "untouched by refused acks")
    for st in ("processing", "fail"):
        ack(Cs, rid, st)
        items = [it for it in inbox(Cs) if it["docId"] == rid]
        eq(len(items), 1, "entry still listed after %s" % st)
        eq(items[0]["status"], st, "inbox status after %s" % st)
        eq(count(Cs, "countReceiveEdoc"), 1, "count after %s" % st)
        eq(deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiveStatus"], st, "receiveStatus after %s" % st)
    ack(Cs, rid, "done", key="docid")
    eq([it for it in inbox(Cs) if it["docId"] == rid], [], "gone after done")
    eq(deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiveStatus"], "done", "receiveStatus done")


def t_docid_lowercase_key():
    A, Cs = C.sys["A"], C.sys["C"]
    data = edoc_from_a([ORG_HAIPHONG], "docid-key")
    doc = send_ok(A, data)
    rid = deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    eq(get_edoc(Cs, rid, key="docid"), data, "getEdoc with docid")
    r = call(Cs, "downloadEdoc", {"docid": rid})
    eq(r.body, data, "downloadEdoc with docid")
    ack(Cs, rid, "done", key="docid")
    eq(count(Cs, "countReceiveEdoc"), 0, "count after docid ack")


def t_leftover_parameters():
    """One long-lived service object, as production integrations keep it: the stray
    XroadVnpt-status/docId/hash-file/from headers of earlier calls must not filter later ones."""
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    d1 = send_ok(A, edoc_from_a([ORG_HAIPHONG], "leftover-1"))
    d2 = send_ok(A, edoc_from_a([ORG_TEST], "leftover-2"))
    r1 = deliveries_of(A, d1, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    r2 = deliveries_of(A, d2, [ORG_TEST])[ORG_TEST]["receiverDocId"]
    L = Cs.svc()
    mine = harness.rewrite_organs(harness.sample("edoc.edxml"), from_=ORG_HAIPHONG, to=[ORG_NGHEAN])
    doc = send_ok(Cs, mine, svc=L, what="sendEdoc by the long-lived object")
    r = expect_ok(L.getSentEdocList({"servicetype": "eDoc", "messagetype": "edoc", "docId": doc}), "L getSentEdocList")
    j = ok(r, "getSentEdocList with leftover hash-file/from")
    eq([(x["senderDocId"], x["toCode"]) for x in j["data"]], [(doc, ORG_NGHEAN)], "getSentEdocList rows")
    C.ledger.delivered(j["data"][0]["receiverDocId"], ORG_NGHEAN, "edoc")
    ids = [it["docId"] for it in inbox(Cs, svc=L)]
    eq(sorted(ids), sorted([r1, r2]), "C's inbox via the long-lived object")
    check("XroadVnpt-docId: %s" % doc in L.last_request.decode("latin-1"), "leftover docId not on the wire")
    ok(expect_ok(L.updateStatus({"status": "done", "docId": r1}), "L updateStatus"), "updateStatus via L")
    C.ledger.state(r1, "done")
    ids = [it["docId"] for it in inbox(Cs, svc=L)]
    wire = L.last_request.decode("latin-1")
    check("XroadVnpt-status: done" in wire and "XroadVnpt-docId: %s" % r1 in wire, "leftovers not on the wire")
    eq(ids, [r2], "getReceivedEdocList with leftover status=done/docId must list the other pending entry")
    j = ok(expect_ok(L.countReceiveEdoc(list_json("edoc")), "L count"), "count via L", "countReceiveEdoc")
    eq(j["count"], 1, "countReceiveEdoc with leftovers")
    ok(expect_ok(L.updateStatus({"status": "done", "docId": r2}), "L updateStatus 2"), "updateStatus 2 via L")
    C.ledger.state(r2, "done")
    eq(inbox(Cs, svc=L), [], "C's inbox empty")
    # B takes C's document
    rb = [it["docId"] for it in inbox(B)]
    eq(len(rb), 1, "B received C's document")
    eq(get_edoc(B, rb[0]), mine, "bytes of C's document")
    ack(B, rb[0])


def t_expect_continue_timing():
    A = C.sys["A"]
    for op, jh in [("getEdoc", {"docId": "nope"}), ("updateStatus", {"status": "done", "docId": "nope"}),
                   ("countReceiveEdoc", list_json()), ("countReceiveStatus", list_json("status")),
                   ("deleteAgency", {"AgencyCode": "999.99.99.Z99"})]:
        r = A.svc().call(op, jh)
        check(r.expect_sent, "%s: the client did not send Expect", op)
        check(r.continue_seconds is not None and r.continue_seconds < 1.0,
              "%s: 100 Continue not received within 1 s (got %r)", op, r.continue_seconds)
        check(r.elapsed < 2.5, "%s took %.2f s", op, r.elapsed)
        harness.envelope(r, op)


def t_path_prefix_and_double_slash():
    A, Cs = C.sys["A"], C.sys["C"]
    for prefix in ("/vxp", "/lienthong/vxp/", "/a//b/"):
        r = A.svc(prefix).getAgenciesList("{}")
        ok(r, "getAgenciesList via prefix %r" % prefix)
    data = edoc_from_a([ORG_HAIPHONG], "prefix")
    s = A.svc("/vxp/")
    doc = send_ok(A, data, svc=s, what="sendEdoc via //sendEdoc")
    check(b"POST /vxp//sendEdoc HTTP/1.1" in s.last_request, "request line %r", s.last_request[:40])
    rid = deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    r = Cs.svc("/x/y/").getEdoc({"docId": rid})
    eq(vxpsdk.b64decode_std(ok(r, "getEdoc via prefix", "getEdoc")["data"]), data, "bytes via prefix")
    ok(Cs.svc("/x/y/").updateStatus({"status": "done", "docId": rid}), "updateStatus via prefix")
    C.ledger.state(rid, "done")


def t_duplicate_send():
    A, Cs = C.sys["A"], C.sys["C"]
    data = edoc_from_a([ORG_TEST], "duplicate")
    before = count(Cs, "countReceiveEdoc")
    s = A.svc()
    d1 = send_ok(A, data, svc=s)
    d2 = send_ok(A, data, svc=s, what="same sendEdoc again (same object)", record=False)
    d3 = send_ok(A, data, what="same sendEdoc again (new object)", record=False)
    eq(d2, d1, "DocId of the duplicate")
    eq(d3, d1, "DocId of the duplicate from a new service object")
    eq(count(Cs, "countReceiveEdoc"), before + 1, "one inbox entry for duplicates")
    rows = deliveries_of(A, d1, [ORG_TEST])
    all_rows = [r for r in sent_rows(A) if r["senderDocId"] == d1]
    eq(len(all_rows), 1, "rows of the duplicated package in the full report")
    rid = rows[ORG_TEST]["receiverDocId"]
    eq(get_edoc(Cs, rid), data, "duplicate bytes")
    ack(Cs, rid)
    # the same bytes sent concurrently (client retries racing the first attempt)
    import threading as _threading
    data5 = edoc_from_a([ORG_TEST], "concurrent-duplicate")
    before = count(Cs, "countReceiveEdoc")
    replies = []

    def one():
        try:
            replies.append(A.svc().sendEdoc(send_json(A), data5))
        except Exception as e:  # reported below
            replies.append(e)
    ts = [_threading.Thread(target=one) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    ids = set()
    for r in replies:
        check(isinstance(r, vxpsdk.Response), "concurrent sendEdoc raised %r", r)
        ids.add(ok(r, "concurrent identical sendEdoc", "sendEdoc")["DocId"])
    eq(len(replies), 4, "replies to concurrent sends")
    eq(len(ids), 1, "distinct DocIds for 4 concurrent identical sends (%r)" % sorted(ids))
    d5 = ids.pop()
    C.ledger.sent(d5, ORG_VPCP, "edoc", False)  # its signature does not verify
    eq(count(Cs, "countReceiveEdoc"), before + 1, "inbox entries after concurrent identical sends")
    ack(Cs, deliveries_of(A, d5, [ORG_TEST])[ORG_TEST]["receiverDocId"])
    # one changed byte makes a new package
    d4 = send_ok(A, data + b"\n")
    check(d4 != d1, "different bytes got the same DocId")
    r4 = deliveries_of(A, d4, [ORG_TEST])[ORG_TEST]["receiverDocId"]
    ack(Cs, r4)


def t_unknown_recipient_stores_nothing():
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    before = (count(B, "countReceiveEdoc"), count(Cs, "countReceiveEdoc"), len(sent_rows(A)))
    data = edoc_from_a([ORG_NGHEAN, "000.00.00.H99", ORG_HAIPHONG], "unknown-recipient")
    fail(send(A, data), "sendEdoc with one unknown recipient", 301, "sendEdoc")
    after = (count(B, "countReceiveEdoc"), count(Cs, "countReceiveEdoc"), len(sent_rows(A)))
    eq(after, before, "inbox counts and sent rows after a refused send")


def t_agency_operations():
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    r = A.svc().getAgenciesList("{}")
    j = ok(r, "getAgenciesList")
    items = j.get("data")
    check(isinstance(items, list), "getAgenciesList data %r", j)
    for it in items:
        for k in ("id", "pid", "code", "name", "mail"):
            check(k in it and isinstance(it[k], str), "agency item lacks string %r: %r", k, it)
    by_code = {it["code"]: it for it in items}
    for organ, name, parent in harness.AGENCIES:
        check(organ in by_code, "getAgenciesList lacks %s", organ)
        eq(by_code[organ]["name"], name, "name of %s (decoded from \\u escapes)" % organ)
    eq(by_code[ORG_TEST]["pid"], by_code[ORG_HAIPHONG]["id"], "pid of %s" % ORG_TEST)
    r = A.svc().getAgenciesListQD20({"level": "1"})
    j = ok(r, "getAgenciesListQD20")
    check(isinstance(j.get("data"), list), "QD20 data %r", j)
    for it in j["data"]:
        for k in ("id", "code", "name", "mail", "code102"):
            if k in it:
                check(isinstance(it[k], str), "QD20 %s not a string: %r", k, it)
    r = A.svc().getSynchronizeUnit("{}")
    j = ok(r, "getSynchronizeUnit")
    check(isinstance(j.get("data"), list) and j["data"], "getSynchronizeUnit data %r", j)
    codes = set()
    for it in j["data"]:
        for k in ("id", "pid", "code", "name", "mail", "centerCode", "modifyDate"):
            if k in it:
                check(isinstance(it[k], str), "SynchronizeUnit %s not a string: %r", k, it)
        if "version" in it:
            v = it["version"]
            check(type(v) is int or (isinstance(v, str) and v.lstrip("-").isdigit()), "version %r", v)
        for k in ("deleted", "isAgency"):
            if k in it:
                check(it[k] in (True, False, "true", "false"), "%s %r", k, it[k])
        codes.add(it.get("code"))
    check(ORG_VPCP in codes, "getSynchronizeUnit lacks %s", ORG_VPCP)

    # registerAgency: a new organ under an existing parent, served by the caller afterwards
    new = "000.00.31.H41"
    body = ('{"id":"","pcode":"%s","code":"%s","name":"S\u1edf Y t\u1ebf Ngh\u1ec7 An","mail":"syt@nghean.gov.vn",'
            '"mobile":"0383","fax":"0384"}' % (ORG_NGHEAN, new))
    ok(call(B, "registerAgency", "{}", data=body), "registerAgency")
    by_code = {it["code"]: it for it in ok(A.svc().getAgenciesList("{}"), "getAgenciesList")["data"]}
    check(new in by_code, "registered agency not listed")
    eq(by_code[new]["name"], "Sở Y tế Nghệ An", "registered name")
    eq(by_code[new]["mail"], "syt@nghean.gov.vn", "registered mail")
    eq(by_code[new]["pid"], by_code[ORG_NGHEAN]["id"], "registered pid")
    # update
    ok(call(B, "registerAgency", "{}", data=body.replace("syt@", "soyte@")), "registerAgency update")
    by_code = {it["code"]: it for it in ok(A.svc().getAgenciesList("{}"), "getAgenciesList")["data"]}
    eq(by_code[new]["mail"], "soyte@nghean.gov.vn", "updated mail")
    # documents to the new organ reach B
    data = edoc_from_a([new], "to-registered")
    doc = send_ok(A, data)
    rid = deliveries_of(A, doc, [new])[new]["receiverDocId"]
    B.serves.append(new)
    items = [it for it in inbox(B) if it["docId"] == rid]
    eq(len(items), 1, "document to the registered organ in B's inbox")
    eq(items[0]["to"], new, "inbox 'to' of the registered organ")
    eq(get_edoc(B, rid), data, "bytes to the registered organ")
    ack(B, rid)
    # unknown parent
    bad = body.replace('"pcode":"%s"' % ORG_NGHEAN, '"pcode":"000.00.00.H98"').replace(new, "000.00.32.H41")
    fail(call(B, "registerAgency", "{}", data=bad), "registerAgency unknown parent", 303)
    # deleteAgency: not C's
    fail(call(Cs, "deleteAgency", {"AgencyCode": new}), "deleteAgency by a system that does not serve it")
    fail(call(Cs, "deleteAgency", {"AgencyCode": ORG_CAOBANG}), "deleteAgency of B's organ by C")
    ok(call(B, "deleteAgency", {"AgencyCode": new}), "deleteAgency")
    B.serves.remove(new)
    codes = [it["code"] for it in ok(A.svc().getAgenciesList("{}"), "getAgenciesList")["data"]]
    check(new not in codes, "deleted agency still listed")
    fail(send(A, edoc_from_a([new], "to-deleted")), "sendEdoc to a deleted organ", 301, "sendEdoc")
    fail(call(B, "deleteAgency", {"AgencyCode": "999.99.99.Z99"}), "deleteAgency unknown")


def t_ascii_replies_with_vietnamese():
    A = C.sys["A"]
    for op in ("getAgenciesList", "getSynchronizeUnit"):
        r = A.svc().call(op, "{}")
        harness.envelope(r, op)
        check(b"\\u" in r.raw_body, "%s: Vietnamese names not \\u-escaped", op)
    rows = sent_rows(A)
    check(any("ế" in x["title"] for x in rows), "titles lost their Vietnamese text")


def t_sdk_wire_robustness():
    """Wire details the SDK relies on (sections 2-4): keep-alive, case-insensitive header names,
    old timestamps, UTF-8 header bytes on the JDK path, long headers, bodies without the CRLF,
    Content-Length on replies."""
    A, B, Cs = C.sys["A"], C.sys["B"], C.sys["C"]
    # two requests on one persistent connection (Apache keeps it alive)
    import socket as _socket
    with _socket.create_connection(("127.0.0.1", C.server.port), timeout=30) as sk:
        for i in range(2):
            s = Cs.svc()
            m, p, hs, body, expect = s.build("countReceiveEdoc", list_json())
            r = vxpsdk.http_exchange("127.0.0.1", C.server.port, vxpsdk.build_head(m, p, hs), body,
                                     expect=expect, sock=sk)
            ok(r, "countReceiveEdoc #%d on one keep-alive connection" % (i + 1), "countReceiveEdoc")
            check(r.header("Content-Length") is not None or "chunked" in (r.header("Transfer-Encoding") or ""),
                  "reply without Content-Length")
    # header names in another case
    r = Cs.svc().getReceivedEdocList(list_json(), mutate=lambda hs: [
        (k.lower() if k.startswith("XroadVnpt-") else k, v) for k, v in hs])
    ok(r, "lower-case XroadVnpt-* header names")
    r = Cs.svc().getReceivedEdocList(list_json(), mutate=lambda hs: [
        (k.upper() if k.startswith("XroadVnpt-") else k, v) for k, v in hs])
    ok(r, "upper-case XROADVNPT-* header names")
    # a service object created long ago (the timestamp is fixed per object)
    old = vxpsdk.Service(C.server.endpoint, Cs.id, Cs.secret, timestamp="01012019T000000+0000")
    ok(old.getReceivedEdocList(list_json()), "timestamp from 2019")
    # sendEdoc (JDK path) with a non-ASCII parameter: UTF-8 header bytes, HMAC over them
    data = edoc_from_a([ORG_HAIPHONG], "utf8-header")
    s = A.svc()
    r = s.sendEdoc({"from": A.id, "servicetype": "eDoc", "messagetype": "edoc", "note": "H\u00e0 N\u1ed9i"}, data)
    check("Hà Nội".encode("utf-8") in s.last_request, "the test did not send UTF-8 header bytes")
    doc = ok(r, "sendEdoc with a UTF-8 header value", "sendEdoc")["DocId"]
    C.ledger.sent(doc, ORG_VPCP, "edoc", False)  # its signature does not verify
    rid = deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    ack(Cs, rid)
    # long header lines and many headers (>= 8 KB lines, ~64 headers must be accepted)
    r = Cs.svc().getReceivedEdocList({"servicetype": "eDoc", "messagetype": "edoc", "padding": "p" * 7000})
    ok(r, "a 7000-byte parameter (sign header over 7 KB)")
    many = {"servicetype": "eDoc", "messagetype": "edoc"}
    many.update({"extra%02d" % i: "v%02d" % i for i in range(45)})
    ok(Cs.svc().getReceivedEdocList(many), "~60 request headers")
    # a body without the SDK's CRLF (whole body matches hash-file) is stored as is
    raw = edoc_from_a([ORG_HAIPHONG], "no-crlf")
    check(raw.endswith(b"\r\n"), "edoc.edxml is expected to end with CRLF")
    r = A.svc().sendEdoc(send_json(A), raw, body=raw)
    doc = ok(r, "sendEdoc whose body is exactly the file", "sendEdoc")["DocId"]
    C.ledger.sent(doc, ORG_VPCP, "edoc", False)  # its signature does not verify
    rid = deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    eq(get_edoc(Cs, rid), raw, "bytes of a body without the extra CRLF (file ends with CRLF itself)")
    # the normal SDK body of a file ending in CRLF: exactly one CRLF is removed
    raw2 = edoc_from_a([ORG_HAIPHONG], "sdk-crlf")
    doc2 = send_ok(A, raw2)
    rid2 = deliveries_of(A, doc2, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    eq(get_edoc(Cs, rid2), raw2, "bytes of an SDK body (file + CRLF)")
    # only the recipient acknowledges; unknown ids
    fail(call(A, "updateStatus", {"status": "done", "docId": rid}), "updateStatus by the sender", 401)
    fail(call(Cs, "getEdoc", {"docId": "11111111-2222-4333-8444-555555555555"}), "getEdoc unknown id", 401, "getEdoc")
    fail(call(Cs, "getEdoc", {"filePath": "/tmp"}), "getEdoc without docId", None, "getEdoc")
    ack(Cs, rid)
    ack(Cs, rid2)
    # an organ served by another system cannot be taken over through registerAgency
    body = '{"id":"","pcode":"%s","code":"%s","name":"x","mail":"x@y"}' % (ORG_NGHEAN, ORG_CAOBANG)
    fail(call(Cs, "registerAgency", "{}", data=body), "registerAgency of an organ B serves, by C")
    d3 = send_ok(A, edoc_from_a([ORG_CAOBANG], "still-B"))
    rid3 = deliveries_of(A, d3, [ORG_CAOBANG])[ORG_CAOBANG]["receiverDocId"]
    check(rid3 in [it["docId"] for it in inbox(B)], "document to H14 no longer reaches B")
    eq(inbox(Cs), [], "C got a document for H14")
    ack(B, rid3)


def t_large_document():
    """Bodies of tens of MB must be accepted by default (2.5): a 15 MB attachment."""
    A, Cs = C.sys["A"], C.sys["C"]
    payload = base64.b64encode(os.urandom(11 * 1024 * 1024))
    data = edoc_from_a([ORG_HAIPHONG], "large")
    check(b"${__StringFromFile(test.txt,,,)}" in data, "edoc.edxml placeholder not found")
    data = data.replace(b"${__StringFromFile(test.txt,,,)}", payload)
    check(len(data) > 14 * 1024 * 1024, "document only %d bytes", len(data))
    s = A.svc()
    s.io_timeout = 120
    doc = send_ok(A, data, svc=s, what="sendEdoc of %d bytes" % len(data))
    rid = deliveries_of(A, doc, [ORG_HAIPHONG])[ORG_HAIPHONG]["receiverDocId"]
    g = Cs.svc()
    g.io_timeout = 120
    r = expect_ok(g.getEdoc({"docId": rid}), "getEdoc large")
    j = ok(r, "getEdoc of the large document", "getEdoc")
    check(vxpsdk.b64decode_std(j["data"]) == data, "large document bytes differ after getEdoc")
    r = g.downloadEdoc({"docId": rid})
    check(r.body == data, "large document bytes differ after downloadEdoc (%d vs %d)", len(r.body), len(data))
    ack(Cs, rid)


def t_stats():
    today = datetime.date.today()
    d0 = (today - datetime.timedelta(days=1)).isoformat()
    d1 = (today + datetime.timedelta(days=1)).isoformat()
    r = C.server.stats(d0, d1, token=False)
    eq(r.status, 401, "stats without token")
    r = C.server.stats(d0, d1, token="not-the-token")
    eq(r.status, 401, "stats with a wrong token")
    r = C.server.stats(d0, d1)
    eq(r.status, 200, "stats status (body %r)" % r.raw_body[:300])
    j = r.json
    check(isinstance(j, dict), "stats reply is not JSON: %r", r.raw_body[:300])
    for k in ("from", "to", "agencies", "total"):
        check(k in j, "stats lacks %r: %r", k, j)
    rows, total = C.ledger.figures()
    got = {a["organ_id"]: a for a in j["agencies"]}
    fields = ("documents_sent", "status_sent", "documents_received", "status_received", "signed_sent")
    problems = []
    for organ, want in rows.items():
        g = got.get(organ)
        if g is None:
            problems.append("no row for %s (expected %r)" % (organ, want))
            continue
        for f in fields:
            if g.get(f) != want[f]:
                problems.append("%s %s: expected %r, got %r" % (organ, f, want[f], g.get(f)))
        if g.get("deliveries") != want["deliveries"]:
            problems.append("%s deliveries: expected %r, got %r" % (organ, want["deliveries"], g.get("deliveries")))
    for organ, g in got.items():
        if organ not in rows and any(g.get(f) for f in fields):
            problems.append("unexpected activity for %s: %r" % (organ, g))
    for f in fields:
        if j["total"].get(f) != total[f]:
            problems.append("total %s: expected %r, got %r" % (f, total[f], j["total"].get(f)))
    if j["total"].get("deliveries") != total["deliveries"]:
        problems.append("total deliveries: expected %r, got %r" % (total["deliveries"], j["total"].get("deliveries")))
    check(not problems, "stats differ from what the test did:\n  " + "\n  ".join(problems))
    eq(got[ORG_VPCP].get("name"), "Văn phòng Chính phủ", "stats agency name")
    # a period without activity
    r = C.server.stats("2001-01-01", "2001-01-31")
    eq(r.status, 200, "stats of an empty period")
    eq(r.json["total"].get("documents_sent"), 0, "empty period total")


def t_sent_list_many_ids():
    """docId "a,b,c": the packages named, in that order; unknown and other senders' ids left out."""
    A, B = C.sys["A"], C.sys["B"]
    mine = []
    for r in sent_rows(A):
        if r["senderDocId"] not in mine:
            mine.append(r["senderDocId"])
    check(len(mine) >= 3, "A has sent only %d packages so far", len(mine))
    theirs = [r["senderDocId"] for r in sent_rows(B, messagetype="status")]
    check(theirs, "B has sent no package so far")
    pick = [mine[2], "0" * 24, mine[0]] + theirs[:1] + [mine[1]]
    jh = list_json("edoc")
    del jh["messagetype"]  # any type: B's status package is left out as B's, not as a status
    jh["docId"] = ",".join(pick)
    got = ok(A.svc().getSentEdocList(jh), "getSentEdocList of a docId list")["data"]
    want = sent_rows(A, mine[2]) + sent_rows(A, mine[0]) + sent_rows(A, mine[1])
    eq([(r["senderDocId"], r["toCode"], r["receiverDocId"]) for r in got],
       [(r["senderDocId"], r["toCode"], r["receiverDocId"]) for r in want],
       "rows of a docId list: those of each id asked alone, in the order asked")
    eq(got, want, "items of a docId list")
    jh["docId"] = ",".join(["0" * 24] * 100)
    eq(ok(A.svc().getSentEdocList(jh), "a docId list of 100 unknown ids")["data"], [],
       "items of 100 unknown ids")
    jh["docId"] = ",".join([mine[0]] * 101)
    fail(call(A, "getSentEdocList", jh), "a docId list of 101 ids", 107, "getSentEdocList")


def t_still_healthy():
    check(C.server.healthy(), "server not healthy at the end\n%s", C.server.log_tail())


def main():
    harness.require_binary()
    run = harness.Runner("exchange", time_limit=500)
    server = harness.Server(tag="exchange")
    try:
        C.sys = setup_registry_or_fail(run, server)
        if C.sys is None:
            run.finish()
        server.start()
        C.server = server
        for name, fn in [
            ("healthz, empty inboxes", t_healthz_and_registry),
            ("edoc.edxml: send, list, get, download, ack", t_edoc_full_cycle),
            ("update/replacement/revocation: one entry per recipient", t_multi_recipient_samples),
            ("status packages back to the sender", t_status_back_to_sender),
            ("updateStatus processing/fail/bad values", t_processing_fail_states),
            ("docid instead of docId", t_docid_lowercase_key),
            ("leftover parameters of a long-lived object", t_leftover_parameters),
            ("Expect: 100-continue answered within 1 s", t_expect_continue_timing),
            ("endpoint path prefix and double slash", t_path_prefix_and_double_slash),
            ("duplicate sendEdoc: same DocId, one entry", t_duplicate_send),
            ("getSentEdocList of a docId list", t_sent_list_many_ids),
            ("unknown recipient: nothing stored", t_unknown_recipient_stores_nothing),
            ("agency operations", t_agency_operations),
            ("SDK wire details: keep-alive, header case, UTF-8, long headers, CRLF", t_sdk_wire_robustness),
            ("a 15 MB document round trip", t_large_document),
            ("ASCII replies carry Vietnamese text", t_ascii_replies_with_vietnamese),
            ("/api/v1/stats equals what the test did", t_stats),
            ("server still healthy", t_still_healthy),
            ("clean shutdown, no sanitizer report", C.server.check_clean_shutdown),
        ]:
            run.run(name, fn)
    finally:
        server.stop()
    run.finish()


def setup_registry_or_fail(run, server):
    out = run.run("registry via the CLI", harness.setup_registry, server)
    return out if isinstance(out, dict) else None


if __name__ == "__main__":
    main()
