#!/usr/bin/env python3
"""test_identity — every identity inside a VXP request is held to the system that authenticated
(docs/security.md): a document's From/OrganId, a status's author and the document it answers, a
package a peer platform pushes, and the agencies a system registers or deletes. Each refusal is
the registry's code, stores nothing (inboxes, delivery reports and statistics unchanged) and is
on the transaction log; what the real SDK flow does (sending for a served sub-unit, answering a
document delivered to you, registering a sub-unit) keeps working.

Registry, a province like Kon Tum (H34), set up with the CLI:
  000.00.00.H34 UBND tinh (no system)
    000.00.01.H34 Van phong   -- system OFFICE
    000.00.13.H34 So TT&TT    -- system DEPT
      000.01.13.H34 a sub-unit no system serves (DEPT speaks for it)
      000.02.13.H34 a sub-unit system OTHER serves
    000.00.20.H34 So Tu phap  -- system OTHER
    000.00.30.H34 So Noi vu   -- system THIRD
  000.00.00.A01 the national axis: system HUB, the inbound system of peer "hub"
Platform 000.00.99.H34; routes '*.H30' and 'vxp.*' -> hub (an endpoint nobody listens on).
"""

import json
import os
import re
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, eq, fail, list_json, ok, send_json  # noqa: E402

PROVINCE, OFFICE, DEPT, SUB, SUB2 = ("000.00.00.H34", "000.00.01.H34", "000.00.13.H34",
                                     "000.01.13.H34", "000.02.13.H34")
OTHER, THIRD, HUB, PLATFORM = "000.00.20.H34", "000.00.30.H34", "000.00.00.A01", "000.00.99.H34"
HB_ORGAN = "000.00.00.H30"


class Ctx:
    server = None
    hub = None
    sys = {}
    seq = 0


C = Ctx()


def dead_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % s.getsockname()[1]


def setup():
    srv = harness.Server(tag="identity")
    C.server = srv
    d = srv.data_dir
    for organ, name, parent in [(PROVINCE, "UBND tinh Kon Tum", None), (OFFICE, "Van phong", PROVINCE),
                                (DEPT, "So TT&TT", PROVINCE), (SUB, "Trung tam CNTT", DEPT),
                                (SUB2, "Trung tam khac", DEPT), (OTHER, "So Tu phap", PROVINCE),
                                (THIRD, "So Noi vu", PROVINCE), (HUB, "Truc quoc gia", None)]:
        srv.add_agency(organ, name, parent)
    for sid, serves in [(OFFICE, []), (DEPT, []), (OTHER, [SUB2]), (THIRD, []), (HUB, [])]:
        secret = "secret-of-%s-0123456789" % sid
        srv.add_system(sid, sid, secret, serves=serves or None, status="official")
        C.sys[sid] = harness.System(srv, sid, secret, serves)
    srv.cli("platform", "set", "--data", d, "--organ-id", PLATFORM, "--name", "Nen tang Kon Tum")
    srv.cli("peer", "add", "--data", d, "--name", "hub", "--endpoint", dead_endpoint(), "--system-id", PLATFORM,
            "--secret", "platform-at-hub-secret", "--inbound-system", HUB, "--pull-interval-ms", "3600000")
    srv.cli("route", "add", "--data", d, "--pattern", "*.H30", "--peer", "hub")
    srv.cli("route", "add", "--data", d, "--pattern", "vxp.*", "--peer", "hub")
    srv.start()


# --- helpers ---------------------------------------------------------------------------------

def unique(data):
    C.seq += 1
    return harness.add_comment(data, "identity-%d" % C.seq)


SAMPLE_DOCUMENT_ID = b"9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"  # edoc.edxml's MessageHeader/DocumentId


def set_document_id(data, doc_id):
    check(SAMPLE_DOCUMENT_ID in data, "edoc.edxml no longer carries DocumentId %r" % SAMPLE_DOCUMENT_ID)
    return data.replace(SAMPLE_DOCUMENT_ID, doc_id.encode())


def edoc(frm, to, doc_id="000.00.01.H34,2026/12/07,1/VP"):
    d = harness.rewrite_organs(harness.sample("edoc.edxml"), from_=frm, to=list(to))
    return unique(set_document_id(d, doc_id))


def status(frm, issuer, doc_id, code_file="status_rejection_02.edxml"):
    d = harness.rewrite_organs(harness.sample(code_file), from_=frm, response_for=issuer)
    mh = harness._blocks(d, "ResponseFor")[0]
    block = re.sub(rb"(<((?:[\w.-]+:)?DocumentId)>)[^<]*(</\2>)",
                   lambda m: m.group(1) + doc_id.encode() + m.group(3), d[mh[0]:mh[1]])
    return unique(d[:mh[0]] + block + d[mh[1]:])


def send(sid, data, messagetype="edoc"):
    s = C.sys[sid]
    return s.svc().sendEdoc(send_json(s, messagetype), data)


def send_ok(sid, data, messagetype="edoc"):
    return ok(send(sid, data, messagetype), "sendEdoc by %s" % sid, "sendEdoc")["DocId"]


def inbox(sid, messagetype="edoc"):
    s = C.sys[sid]
    return ok(s.svc().getReceivedEdocList(list_json(messagetype)), "inbox of %s" % sid)["data"]


def sent_rows(sid, messagetype="edoc"):
    s = C.sys[sid]
    return ok(s.svc().getSentEdocList(list_json(messagetype)), "getSentEdocList of %s" % sid)["data"]


def snapshot():
    snap = {}
    for sid in C.sys:
        for mt in ("edoc", "status"):
            snap["%s.inbox.%s" % (sid, mt)] = sorted(x["docId"] for x in inbox(sid, mt))
            snap["%s.sent.%s" % (sid, mt)] = sorted(
                (x["senderDocId"], x["toCode"], x.get("statusCode", "")) for x in sent_rows(sid, mt))
    p = C.server.cli("stats", "--data", C.server.data_dir, "--json")
    j = json.loads(p.stdout)
    snap["stats.total"] = j.get("total")
    snap["stats.agencies"] = j.get("agencies")
    snap["agencies"] = sorted((a["code"], a["pid"], a["name"]) for a in
                              ok(C.sys[OFFICE].svc().getAgenciesList("{}"), "getAgenciesList")["data"])
    return snap


def txlog(actor, operation_prefix):
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(C.server.data_dir, "lienthong.db"), uri=True)
    try:
        return con.execute("SELECT operation, package_id, outcome FROM txlog WHERE actor = ? AND operation LIKE ?"
                           " ORDER BY seq", (actor, operation_prefix + "%")).fetchall()
    finally:
        con.close()


def refused(what, resp, code, actor, operation, op="sendEdoc"):
    """A refusal with `code`, nothing changed, and a refused:<code> record on the log."""
    before_log = len([r for r in txlog(actor, operation) if r[2] == "refused:%d" % code])
    fail(resp(), what, code, op)
    after = snapshot()
    diffs = ["%s: %r -> %r" % (k, C.base[k], after[k]) for k in C.base if after.get(k) != C.base[k]]
    check(not diffs, "%s changed stored state:\n  %s", what, "\n  ".join(diffs))
    after_log = len([r for r in txlog(actor, operation) if r[2] == "refused:%d" % code])
    eq(after_log, before_log + 1, "%s: refusal records on the transaction log" % what)


def rebase():
    C.base = snapshot()


# --- 1. a document's From ----------------------------------------------------------------------

def t_forged_from():
    rebase()
    refused("DEPT sends with From = OFFICE", lambda: send(DEPT, edoc(OFFICE, [OTHER])), 317, DEPT, "send")
    refused("DEPT sends with From = a sub-unit OTHER serves", lambda: send(DEPT, edoc(SUB2, [OTHER])), 317,
            DEPT, "send")
    refused("DEPT sends with From = the province (nobody serves it)", lambda: send(DEPT, edoc(PROVINCE, [OTHER])),
            317, DEPT, "send")
    refused("DEPT sends with From = an organ of another province", lambda: send(DEPT, edoc(HB_ORGAN, [OTHER])),
            317, DEPT, "send")


def t_from_served():
    n = len(inbox(OTHER))
    send_ok(DEPT, edoc(DEPT, [OTHER]))
    send_ok(DEPT, edoc(SUB, [OTHER]))      # a registered sub-unit nobody else serves
    send_ok(OTHER, edoc(SUB2, [DEPT]))     # an organ of OTHER's --serves list
    eq(len(inbox(OTHER)), n + 2, "documents OTHER received")
    senders = {a["organ_id"]: a for a in
               json.loads(C.server.cli("stats", "--data", C.server.data_dir, "--json").stdout)["agencies"]}
    check(senders.get(SUB, {}).get("documents_sent", 0) >= 1, "the sub-unit is not counted as a sender: %r",
          senders.get(SUB))
    check(senders.get(OFFICE, {}).get("documents_sent", 0) == 0, "OFFICE counted as a sender: %r", senders.get(OFFICE))


# --- 2. status packages ------------------------------------------------------------------------

def t_status_rules():
    doc_id = "000.00.01.H34,2026/12/07,22/VP"
    # one DocumentId shared by several packages, to DEPT and OTHER
    ids = [send_ok(OFFICE, edoc(OFFICE, [DEPT, OTHER], doc_id)) for _ in range(3)]
    rebase()
    refused("THIRD sends a rejection in DEPT's name", lambda: send(THIRD, status(DEPT, OFFICE, doc_id), "status"),
            317, THIRD, "send")
    refused("THIRD answers a document it never received",
            lambda: send(THIRD, status(THIRD, OFFICE, doc_id), "status"), 318, THIRD, "send")
    refused("OTHER answers an unknown DocumentId",
            lambda: send(OTHER, status(OTHER, OFFICE, "000.00.01.H34,2026/12/07,404/VP"), "status"), 318,
            OTHER, "send")
    refused("OTHER answers naming the wrong issuer",
            lambda: send(OTHER, status(OTHER, DEPT, doc_id), "status"), 318, OTHER, "send")
    refused("a status whose ResponseFor has no DocumentId",
            lambda: send(OTHER, status(OTHER, OFFICE, ""), "status"), 318, OTHER, "send")
    refused("the peer's system answers for DEPT", lambda: send(HUB, status(DEPT, OFFICE, doc_id), "status"),
            319, HUB, "send")
    # the real recipient's rejection: applies to its own deliveries only
    send_ok(DEPT, status(DEPT, OFFICE, doc_id), "status")
    rows = [r for r in sent_rows(OFFICE) if r["senderDocId"] in ids]
    eq(len(rows), 6, "deliveries of the three packages")
    for r in rows:
        want = "02" if r["toCode"] == DEPT else ""
        eq(r.get("statusCode", ""), want, "statusCode of the delivery to %s" % r["toCode"])
    eq(len([x for x in inbox(OFFICE, "status")]), 1, "status packages OFFICE received")


# --- 3. a peer platform's packages -------------------------------------------------------------

def t_peer_packages():
    rebase()
    refused("the hub pushes a document From = OFFICE", lambda: send(HUB, edoc(OFFICE, [DEPT])), 319, HUB, "send")
    refused("the hub pushes a document From = a sub-unit of DEPT", lambda: send(HUB, edoc(SUB, [DEPT])), 319, HUB,
            "send")
    refused("the hub pushes a document From = this platform", lambda: send(HUB, edoc(PLATFORM, [DEPT])), 319,
            HUB, "send")
    n = len(inbox(DEPT))
    send_ok(HUB, edoc(HB_ORGAN, [DEPT]))  # an organ of another province: fine
    send_ok(HUB, edoc(HUB, [DEPT]))       # the axis itself (its own system here)
    eq(len(inbox(DEPT)), n + 2, "documents the hub pushed to DEPT")


# --- 4. registerAgency / deleteAgency ----------------------------------------------------------

def register(sid, code, pcode, name="Don vi moi"):
    body = '{"id":"","pcode":"%s","code":"%s","name":"%s","mail":"x@kontum.gov.vn"}' % (pcode, code, name)
    return C.sys[sid].svc().call("registerAgency", "{}", data=body)


def delete(sid, code):
    return C.sys[sid].svc().call("deleteAgency", {"AgencyCode": code})


def t_register_rules():
    rebase()
    reg = "agency.register"
    refused("a parent DEPT does not serve", lambda: register(DEPT, "000.01.01.H34", OFFICE), 320, DEPT, reg, None)
    refused("an organ another system serves", lambda: register(DEPT, SUB2, DEPT), 304, DEPT, reg, None)
    refused("renaming OFFICE's agency", lambda: register(DEPT, OFFICE, DEPT, "Ten gia"), 304, DEPT, reg, None)
    refused("renaming the province (nobody serves it)", lambda: register(DEPT, PROVINCE, DEPT, "Ten gia"), 320,
            DEPT, reg, None)
    refused("another province's organ", lambda: register(DEPT, HB_ORGAN, DEPT), 321, DEPT, reg, None)
    refused("an id a route sends to the hub", lambda: register(DEPT, "vxp.saas.03", DEPT), 321, DEPT, reg, None)
    refused("this platform's own organ id", lambda: register(DEPT, PLATFORM, DEPT), 321, DEPT, reg, None)
    refused("a QD20 code outside the parent's", lambda: register(DEPT, "000.01.20.H34", DEPT), 321, DEPT, reg,
            None)
    # a sub-unit: the SDK flow
    new = "000.03.13.H34"
    ok(register(DEPT, new, DEPT, "Phong moi"), "registerAgency of a sub-unit")
    send_ok(DEPT, edoc(new, [OTHER]))
    ok(register(DEPT, "kt.dept.a", new, "Bo phan"), "registerAgency under the new sub-unit (opaque id)")
    rebase()
    refused("a cycle: DEPT under its own descendant", lambda: register(DEPT, DEPT, "kt.dept.a"), 322, DEPT, reg,
            None)
    refused("a cycle: the sub-unit under itself", lambda: register(DEPT, new, new), 322, DEPT, reg, None)
    dl = "agency.delete"
    refused("deleting a sub-unit OTHER serves", lambda: delete(DEPT, SUB2), 112, DEPT, dl, None)
    refused("deleting a sub-unit nobody registered", lambda: delete(OTHER, SUB), 112, OTHER, dl, None)
    ok(delete(DEPT, "kt.dept.a"), "deleteAgency of what DEPT registered")
    ok(delete(DEPT, new), "deleteAgency of the sub-unit")
    # the operator is not bound by these rules
    C.server.cli("agency", "add", "--data", C.server.data_dir, "--id", "vxp.saas.03", "--name", "Operator's",
                 "--parent", DEPT)
    C.server.cli("agency", "remove", "--data", C.server.data_dir, "--id", "vxp.saas.03")


def t_self_registration_off():
    srv = C.server
    srv.stop()
    srv.config = harness.write_config(srv.data_dir, agency_self_registration="off")
    srv.start()
    rebase()
    fail(register(DEPT, "000.04.13.H34", DEPT), "registerAgency while turned off", 323)
    fail(delete(DEPT, SUB), "deleteAgency while turned off", 323)
    after = snapshot()
    eq(after["agencies"], C.base["agencies"], "agencies after refused registrations")


# --- 5. packages pulled from a peer platform -------------------------------------------------

def t_pulled_from_peer():
    """A real second platform as the peer "hub": what this platform pulls from its inbox there
    may not speak for an organ of this platform, even when the hub's registry says it may."""
    hub = harness.Server(tag="identity-hub")
    C.hub = hub
    hd = hub.data_dir
    platform_secret, hubag, hubag_secret = "kontum-at-the-hub-0123456789", "000.20.00.G01", "hub-agency-0123456789"
    for organ, name in [(PLATFORM, "Nen tang Kon Tum"), (hubag, "Bo Noi vu"), (DEPT, "a Kon Tum organ")]:
        hub.add_agency(organ, name)
    # Kon Tum's system at the hub receives what the hub has for OFFICE (it pulls it from there)
    hub.add_system(PLATFORM, PLATFORM, platform_secret, serves=[OFFICE])
    hub.add_system(hubag, hubag, hubag_secret)
    hub.add_system(DEPT, DEPT, "hub-says-dept-0123456789")  # the hub lets someone speak as DEPT
    hub.start()
    d = C.server.data_dir
    for pattern in ("*.H30", "vxp.*"):
        C.server.cli("route", "remove", "--data", d, "--pattern", pattern)
    C.server.cli("peer", "remove", "--data", d, "--name", "hub")
    C.server.cli("peer", "add", "--data", d, "--name", "hub", "--endpoint", hub.endpoint, "--system-id",
                 PLATFORM, "--secret", platform_secret, "--inbound-system", HUB, "--pull-interval-ms", "200")
    legit = harness.System(hub, hubag, hubag_secret, [])
    forger = harness.System(hub, DEPT, "hub-says-dept-0123456789", [])
    ok(legit.svc().sendEdoc(send_json(legit), edoc(hubag, [OFFICE])), "sendEdoc at the hub", "sendEdoc")
    forged = ok(forger.svc().sendEdoc(send_json(forger), edoc(DEPT, [OFFICE])), "forged sendEdoc at the hub",
                "sendEdoc")["DocId"]
    deadline = time.monotonic() + 15
    refused = []
    while time.monotonic() < deadline:
        refused = [r for r in txlog("peer:hub", "relay.in") if r[2] == "refused:319"]
        got = [it for it in inbox(OFFICE) if it["from"] == hubag]
        if refused and got:
            break
        time.sleep(0.2)
    check(got, "the hub agency's document did not arrive")
    eq(len(refused), 1, "refusals of the forged package on the log")
    check(all(it["from"] != DEPT for it in inbox(OFFICE)), "the forged package was delivered")
    # the hub learns it was refused: acknowledged fail there
    while time.monotonic() < deadline:
        rows = ok(forger.svc().getSentEdocList(dict(list_json(), docId=forged)), "getSentEdocList at the hub")["data"]
        if rows and rows[0]["receiveStatus"] == "fail":
            break
        time.sleep(0.2)
    eq(rows[0]["receiveStatus"], "fail", "the forged package at the hub")


def main():
    harness.require_binary()
    run = harness.Runner("identity", time_limit=400)
    try:
        if not run.run("registry, peer and routes via the CLI; server starts", setup):
            run.finish()
        for name, fn in [
            ("From of another organ -> 317, nothing stored, refusal logged", t_forged_from),
            ("From of a served organ or a registered sub-unit", t_from_served),
            ("status packages: author and answered document (317/318/319)", t_status_rules),
            ("a peer's packages may not speak for local organs (319)", t_peer_packages),
            ("registerAgency/deleteAgency rules (320/321/322/304/112)", t_register_rules),
            ("agency_self_registration = off (323)", t_self_registration_off),
            ("pulled from a real peer: its packages may not speak for local organs (319)", t_pulled_from_peer),
            ("clean shutdown, no sanitizer report", lambda: C.server.check_clean_shutdown()),
        ]:
            run.run(name, fn)
    finally:
        if C.server is not None:
            C.server.stop()
        if C.hub is not None:
            C.hub.stop()
    run.finish()


if __name__ == "__main__":
    main()
