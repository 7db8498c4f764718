"""test_bad_input — hostile and broken requests get the FAIL JSON (HTTP 200, pure ASCII, the
registry's ErrorCode) and change NOTHING: recipients' counts, every system's delivery report and
the /api/v1/stats figures stay as they were; the server stays healthy.

For the body limit the server is restarted on the same data with max_body_bytes = 65536, so that
edoc_update.edxml (~370 KB) is over the limit.
"""

import datetime
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import vxpsdk  # noqa: E402
from harness import (ORG_HAIPHONG, ORG_NGHEAN, ORG_TEST, ORG_VPCP, check, eq, fail, list_json,  # noqa: E402
                     ok, send_json)

NS = b"http://www.mic.gov.vn/TBT/QCVN_102_2016"


class Ctx:
    server = None
    sys = None
    baseline = None


C = Ctx()


def snapshot():
    """Everything a refused request must leave unchanged."""
    snap = {}
    for name, s in C.sys.items():
        for op in ("countReceiveEdoc", "countReceiveStatus"):
            r = s.svc().call(op, list_json("edoc" if op == "countReceiveEdoc" else "status"))
            snap["%s.%s" % (name, op)] = ok(r, "%s %s" % (name, op), op)["count"]
        for mt in ("edoc", "status"):
            r = s.svc().getSentEdocList(list_json(mt))
            rows = ok(r, "%s getSentEdocList" % name)["data"]
            snap["%s.sent.%s" % (name, mt)] = sorted((x["senderDocId"], x["toCode"], x["receiveStatus"]) for x in rows)
            r = s.svc().getReceivedEdocList(list_json(mt))
            items = ok(r, "%s getReceivedEdocList" % name)["data"]
            snap["%s.inbox.%s" % (name, mt)] = sorted(x["docId"] for x in items)
    today = datetime.date.today()
    r = C.server.stats((today - datetime.timedelta(days=1)).isoformat(),
                       (today + datetime.timedelta(days=1)).isoformat())
    eq(r.status, 200, "stats status")
    snap["stats.total"] = r.json["total"]
    snap["stats.agencies"] = sorted(
        (a["organ_id"], a.get("documents_sent"), a.get("status_sent"), a.get("documents_received"),
         a.get("status_received")) for a in r.json["agencies"])
    return snap


def unchanged(what):
    now = snapshot()
    diffs = ["%s: %r -> %r" % (k, C.baseline[k], now[k]) for k in C.baseline if now.get(k) != C.baseline[k]]
    check(not diffs, "%s changed stored state:\n  %s", what, "\n  ".join(diffs))
    check(C.server.alive(), "server died after %s\n%s", what, C.server.log_tail())


def remove_blocks(data, local):
    """Remove every MessageHeader child element LOCAL (outside comments), leaving the rest."""
    mh = harness._blocks(data, "MessageHeader")[0]
    header = data[mh[0]:mh[1]]
    for a, b in reversed(harness._blocks(header, local)):
        header = header[:a] + header[b:]
    return data[:mh[0]] + header + data[mh[1]:]


def edoc_a(tag, to=(ORG_TEST,)):
    d = harness.rewrite_organs(harness.sample("edoc.edxml"), from_=ORG_VPCP, to=list(to))
    return harness.add_comment(d, tag)


def send_fail(system, data, code, what, messagetype="edoc", jh=None, svc=None, **kw):
    s = svc or system.svc()
    r = s.sendEdoc(jh or send_json(system, messagetype), data, **kw)
    j = fail(r, what, code, "sendEdoc")
    unchanged(what)
    return j


# ------------------------------------------------------------------------------------------

def t_setup_one_valid_package():
    A, Cs = C.sys["A"], C.sys["C"]
    r = A.svc().sendEdoc(send_json(A), edoc_a("baseline"))
    ok(r, "baseline sendEdoc", "sendEdoc")
    C.baseline = snapshot()
    eq(C.baseline["C.countReceiveEdoc"], 1, "baseline inbox of C")


def t_malformed_xml():
    data = harness.sample("edoc_new.edxml")
    check(data.startswith(b"1212<?xml"), "edoc_new.edxml is not the expected sample")
    j = send_fail(C.sys["A"], data, 201, "edoc_new.edxml (junk before <?xml)")
    check(re.search(r"line|col|offset|byte", j["ErrorDesc"], re.I), "ErrorDesc does not say where: %r", j["ErrorDesc"])
    send_fail(C.sys["A"], edoc_a("truncated")[:4000], 201, "truncated document")
    send_fail(C.sys["A"], b"", None, "empty document")


def t_wrong_namespace():
    data = edoc_a("wrong-ns").replace(NS, b"http://www.example.org/not-qcvn")
    send_fail(C.sys["A"], data, 202, "edXML in another namespace")


def t_missing_from():
    send_fail(C.sys["A"], remove_blocks(edoc_a("no-from"), "From"), 205, "edXML without From")
    empty = harness.rewrite_organs(edoc_a("empty-from"), from_="")
    send_fail(C.sys["A"], empty, 205, "edXML with an empty From/OrganId")


def t_missing_to():
    send_fail(C.sys["A"], remove_blocks(edoc_a("no-to"), "To"), 206, "edXML without To")


def t_status_without_response_for():
    st = remove_blocks(harness.sample("status_acceptance_03.edxml"), "ResponseFor")
    send_fail(C.sys["B"], st, 207, "status package without ResponseFor", messagetype="status")


def t_unknown_recipient():
    send_fail(C.sys["A"], edoc_a("unknown", to=("000.00.00.H99",)), 301, "unknown recipient")
    send_fail(C.sys["A"], edoc_a("unknown2", to=(ORG_NGHEAN, "000.00.00.H99")), 301,
              "one known and one unknown recipient")
    st = harness.rewrite_organs(harness.sample("status_acceptance_03.edxml"), response_for="000.00.00.H98")
    # a status can only answer a document delivered to its author here: refused before routing
    send_fail(C.sys["B"], st, 318, "status for an unknown organ", messagetype="status")


def t_body_too_large():
    """Restart the server on the same data with max_body_bytes = 65536: edoc_update.edxml
    (~370 KB) is refused with 108 and nothing is stored; then back to the default config."""
    data = harness.sample("edoc_update.edxml")
    check(len(data) > 65536, "edoc_update.edxml is smaller than the limit")
    C.server.stop()
    C.server.config = harness.write_config(C.server.data_dir, max_body_bytes=65536)
    C.server.start()
    try:
        send_fail(C.sys["A"], data, 108, "body over max_body_bytes")
        # a document under the limit still passes the limit check (and is refused for its
        # unknown recipient, so nothing is stored)
        send_fail(C.sys["A"], edoc_a("under-limit", to=("000.00.00.H99",)), 301, "under the limit")
    finally:
        C.server.stop()
        C.server.config = None
        C.server.start()
    # the default limit accepts the same document
    r = C.sys["A"].svc().sendEdoc(send_json(C.sys["A"]), harness.rewrite_organs(data, to=["000.00.00.H99"]))
    fail(r, "edoc_update.edxml under the default limit reaches routing", 301, "sendEdoc")


def t_bad_hmac():
    def flip(hs):
        out = []
        for k, v in hs:
            if k == "XroadVnpt-hash-header":
                v = ("0" if v[0] != "0" else "1") + v[1:]
            out.append((k, v))
        return out
    send_fail(C.sys["A"], edoc_a("bad-hmac"), 103, "bad HMAC on sendEdoc", mutate=flip)
    r = C.sys["C"].svc().getReceivedEdocList(list_json(), mutate=flip)
    fail(r, "bad HMAC on getReceivedEdocList", 103)
    wrong = vxpsdk.Service(C.server.endpoint, C.sys["C"].id, "not-the-secret")
    fail(wrong.getReceivedEdocList(list_json()), "wrong secret", 103)
    # the signed JSON altered after signing (systemid kept)
    def alter(hs):
        return [(k, v.replace(b'"edoc"', b'"status"') if k == "XroadVnpt-sign-header" else v) for k, v in hs]
    send_fail(C.sys["A"], edoc_a("altered"), 103, "signed header altered", mutate=alter)
    unchanged("bad HMAC")


def t_missing_auth_headers():
    for drop in ("XroadVnpt-hash-header", "XroadVnpt-sign-header", "XroadVnpt-systemid"):
        send_fail(C.sys["A"], edoc_a("missing-" + drop), 101, "sendEdoc without " + drop,
                  mutate=lambda hs, d=drop: [(k, v) for k, v in hs if k != d])
        r = C.sys["C"].svc().updateStatus({"status": "done", "docId": "x"},
                                          mutate=lambda hs, d=drop: [(k, v) for k, v in hs if k != d])
        fail(r, "updateStatus without " + drop, 101)
    # a bare request with no SDK headers at all
    head = vxpsdk.build_head("POST", "/getReceivedEdocList",
                             [("Host", "127.0.0.1"), ("Content-Length", "0"), ("Connection", "close")])
    r = vxpsdk.http_exchange("127.0.0.1", C.server.port, head)
    fail(r, "request without any authentication header", 101)
    head = vxpsdk.build_head("POST", "/sendEdoc", [("Host", "127.0.0.1"), ("Content-Length", "4"),
                                                    ("Content-Type", "application/octet-stream")])
    r = vxpsdk.http_exchange("127.0.0.1", C.server.port, head, b"<a/>")
    fail(r, "sendEdoc without any authentication header", 101, "sendEdoc")
    unchanged("missing auth headers")


def t_unknown_system():
    s = vxpsdk.Service(C.server.endpoint, "000.00.00.H99", "whatever")
    fail(s.getReceivedEdocList(list_json()), "unknown system", 102)
    s = vxpsdk.Service(C.server.endpoint, "000.00.00.H99", "whatever")
    data = harness.rewrite_organs(edoc_a("unknown-system"), from_="000.00.00.H99")
    r = s.sendEdoc({"from": "000.00.00.H99", "servicetype": "eDoc", "messagetype": "edoc"}, data)
    fail(r, "sendEdoc by an unknown system", 102, "sendEdoc")
    unchanged("unknown system")


def t_systemid_mismatch():
    A, B = C.sys["A"], C.sys["B"]
    # signed as A but with B's secret, and the plain header says B: the HMAC verifies with B's
    # secret, but the signed systemid is A's
    s = vxpsdk.Service(C.server.endpoint, A.id, B.secret)
    r = s.getReceivedEdocList(list_json(), mutate=lambda hs: [
        (k, B.id if k == "XroadVnpt-systemid" else v) for k, v in hs])
    fail(r, "XroadVnpt-systemid differs from the signed systemid", 105)
    unchanged("systemid mismatch")


def t_from_mismatch():
    A = C.sys["A"]
    jh = {"from": ORG_NGHEAN, "servicetype": "eDoc", "messagetype": "edoc"}
    j = send_fail(A, edoc_a("from-mismatch"), 106, "from != systemid", jh=jh)
    eq(j["ErrorDesc"], "Don vi gui %s khong dung voi ma da dang ky: %s" % (ORG_NGHEAN, A.id), "106 ErrorDesc")


def t_hash_file_mismatch():
    data = edoc_a("hash-mismatch")
    other = data.replace(b"PRO-TEST-CASE1", b"PRO-TEST-CASE2")
    send_fail(C.sys["A"], data, 109, "body differs from hash-file", body=other + b"\r\n")


def t_oversize_header():
    A, Cs = C.sys["A"], C.sys["C"]
    big = "x" * 32768
    r = Cs.svc().getReceivedEdocList({"servicetype": "eDoc", "messagetype": "edoc", "padding": big})
    fail(r, "32 KB header value on getReceivedEdocList")
    r = A.svc().sendEdoc({"from": A.id, "servicetype": "eDoc", "messagetype": "edoc", "padding": big},
                         edoc_a("oversize-header"))
    fail(r, "32 KB header value on sendEdoc", None, "sendEdoc")
    unchanged("oversize header")


def t_entity_bombs():
    A = C.sys["A"]
    base = edoc_a("bomb")
    decl_end = base.index(b"?>") + 2
    lol = [b'<!ENTITY lol0 "lollollollollollollollollollol">']
    for i in range(1, 10):
        lol.append(b'<!ENTITY lol%d "%s">' % (i, b"".join(b"&lol%d;" % (i - 1) for _ in range(10))))
    doctype = b"\n<!DOCTYPE edXML [\n" + b"\n".join(lol) + b"\n]>"
    bomb = base[:decl_end] + doctype + base[decl_end:]
    bomb = re.sub(rb"(<edXML:Subject>)", rb"\1&lol9;", bomb, count=1)
    send_fail(A, bomb, 203, "billion laughs")
    xxe = base[:decl_end] + b'\n<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + base[decl_end:]
    xxe = re.sub(rb"(<edXML:Subject>)", rb"\1&xxe;", xxe, count=1)
    send_fail(A, xxe, 203, "external SYSTEM entity")
    ext = base[:decl_end] + b'\n<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">' + base[decl_end:]
    send_fail(A, ext, 203, "external DTD")
    pe = base[:decl_end] + b'\n<!DOCTYPE edXML [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>' + base[decl_end:]
    send_fail(A, pe, 203, "parameter entity")


def t_bad_messagetype():
    A, Cs = C.sys["A"], C.sys["C"]
    send_fail(A, edoc_a("bad-mt"), 403, "sendEdoc messagetype xyz",
              jh={"from": A.id, "servicetype": "eDoc", "messagetype": "xyz"})
    fail(Cs.svc().getReceivedEdocList({"servicetype": "eDoc", "messagetype": "xyz"}), "list messagetype xyz", 403)


def t_unknown_operation_and_raw_garbage():
    # not a VXP operation: the protocol does not fix the reply form, but it must be a clear
    # JSON error carrying code 110 (VXP envelope or native API form) and change nothing
    r = C.sys["A"].svc().call("getAgenciesList", "{}", path="/frobnicate")
    check(r.is_ascii() and isinstance(r.json, dict), "unknown operation: not an ASCII JSON reply: %r", r.raw_body[:200])
    check(r.json.get("ErrorCode") == "110" or r.json.get("code") == 110, "unknown operation: %r", r.json)
    # garbage that is not HTTP at all, then a half request: the server must survive both
    for payload in (b"\x00\x01\x02 garbage\r\n\r\n", b"POST /sendEdoc HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc"):
        with socket.create_connection(("127.0.0.1", C.server.port), timeout=5) as sk:
            try:
                sk.sendall(payload)
                sk.shutdown(socket.SHUT_WR)
                sk.settimeout(5)
                for _ in range(100):
                    if not sk.recv(65536):
                        break
            except OSError:
                pass
    unchanged("unknown operation / garbage")


def t_still_healthy():
    check(C.server.healthy(), "server not healthy after the bad input\n%s", C.server.log_tail())
    A = C.sys["A"]
    ok(A.svc().sendEdoc(send_json(A), edoc_a("after-bad-input")), "a valid send still works", "sendEdoc")


def main():
    harness.require_binary()
    run = harness.Runner("bad input", time_limit=400)
    server = None
    try:
        server = harness.Server(tag="badinput")
        C.sys = run.run("registry via the CLI", harness.setup_registry, server)
        if not isinstance(C.sys, dict):
            run.finish()
        if not run.run("server starts", server.start):
            run.finish()
        C.server = server
        if not run.run("one valid package as the baseline", t_setup_one_valid_package):
            run.finish()
        for name, fn in [
            ("malformed XML (edoc_new.edxml) -> 201", t_malformed_xml),
            ("wrong namespace -> 202", t_wrong_namespace),
            ("missing From -> 205", t_missing_from),
            ("missing To -> 206", t_missing_to),
            ("status without ResponseFor -> 207", t_status_without_response_for),
            ("unknown recipient -> 301", t_unknown_recipient),
            ("body over the limit -> 108", t_body_too_large),
            ("bad HMAC -> 103", t_bad_hmac),
            ("missing auth headers -> 101", t_missing_auth_headers),
            ("unknown system -> 102", t_unknown_system),
            ("systemid header != signed systemid -> 105", t_systemid_mismatch),
            ("from != systemid -> 106", t_from_mismatch),
            ("hash-file mismatch -> 109", t_hash_file_mismatch),
            ("32 KB header value -> FAIL JSON", t_oversize_header),
            ("DOCTYPE/entity bombs -> 203", t_entity_bombs),
            ("bad messagetype -> 403", t_bad_messagetype),
            ("unknown operation, garbage bytes", t_unknown_operation_and_raw_garbage),
            ("still healthy", t_still_healthy),
            ("clean shutdown, no sanitizer report", C.server.check_clean_shutdown),
        ]:
            run.run(name, fn)
    finally:
        if server is not None:
            server.stop()
    run.finish()


if __name__ == "__main__":
    main()
