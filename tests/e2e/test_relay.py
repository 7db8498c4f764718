#!/usr/bin/env python3
"""test_relay — the relay between platforms with three real instances on loopback: a hub (a
national axis), Kon Tum (H34) and Hoa Binh (H30), each a lienthong with its own data directory,
configured through the CLI only (platform set, peer add, route add).

Wiring (every platform is a registered system at the platforms it talks to):
  Kon Tum  -> route '*'     -> hub (push); pulls its inbox at the hub
  Hoa Binh -> route '*'     -> hub (push); pulls its inbox at the hub
  hub      -> route '*.H34' -> Kon Tum (push); route '*.H30' -> Hoa Binh (push), except
              HB_PULLED, which the hub serves through Hoa Binh's own system there: those
              packages wait in that inbox and Hoa Binh pulls them.

Cases:
  1. an agency in Kon Tum sends one document to two agencies in Hoa Binh (one pushed by the hub,
     one pulled from it) and a local agency: the local one gets the sender's bytes, the remote
     ones the sender's bytes plus one TraceHeader per hop (Kon Tum's, then the hub's), nothing
     else changed; status packages from the recipients travel back to the sender; the sender's
     getSentEdocList shows each recipient across the hops (relayed to the hub, taken by the
     recipient, the status code it sent back);
  2. a burst from both provinces while the hub is killed with SIGKILL and restarted, and then
     Hoa Binh (which pulls) too: every acknowledged package arrives exactly once, byte-identical apart from the
     trace headers, nothing arrives that was not acknowledged or retried, and the relay figures
     of the three instances agree with each other;
  3. more packages Hoa Binh must refuse (their trace shows a loop) than one pull takes wait in
     its inbox at the hub, acknowledged "fail" and still listed: the package behind them arrives;
  4. a package nobody routes is refused at once; an unreachable peer leaves the package pending
     with the peer backing off, and a bound on attempts marks it undeliverable, visible to the
     sender.
"""

import json
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import vxpsdk  # noqa: E402
from harness import check, eq, list_json, ok, send_json  # noqa: E402

HUB_ORGAN, KT_ORGAN, HB_ORGAN = "000.00.00.A01", "000.00.99.H34", "000.00.99.H30"
KT_SENDER, KT_LOCAL = "000.01.00.H34", "000.02.00.H34"
HB_PUSHED, HB_PULLED = "000.01.00.H30", "000.02.00.H30"
HB_UNKNOWN = "000.09.00.H30"  # served at the hub through Hoa Binh's system, unknown in Hoa Binh
HUB_SENDER = "000.20.00.G01"  # an agency served by the hub itself
SECRETS = {
    ("kontum", "hub"): "kontum-at-hub-secret",
    ("hoabinh", "hub"): "hoabinh-at-hub-secret",
    ("hub", "kontum"): "hub-at-kontum-secret",
    ("hub", "hoabinh"): "hub-at-hoabinh-secret",
}
RELAY_CONFIG = dict(relay_backoff_ms=100, relay_backoff_max_ms=1000, relay_call_timeout_ms=5000)
TRACE_RE = re.compile(rb"<(?:edXML:)?TraceHeader><(?:edXML:)?OrganId>([^<]*)</(?:edXML:)?OrganId>"
                      rb"<(?:edXML:)?Timestamp>([^<]*)</(?:edXML:)?Timestamp></(?:edXML:)?TraceHeader>")


class Platform:
    def __init__(self, name, organ):
        self.name, self.organ = name, organ
        d = harness.new_data_dir("relay-" + name)
        self.server = harness.Server(d, config=harness.write_config(d, **RELAY_CONFIG), tag=name)
        self.d = d
        self.systems = {}

    def cli(self, *args):
        return self.server.cli(*args)

    def agency_system(self, organ, name, secret, serves=()):
        self.server.add_agency(organ, name)
        self.server.add_system(organ, organ, secret, serves=list(serves) or None, status="official")
        self.systems[organ] = harness.System(self.server, organ, secret, serves)
        return self.systems[organ]

    def stats(self):
        p = self.cli("stats", "--data", self.d, "--json")
        return json.loads(p.stdout)["relay"]


def build():
    hub, kt, hb = Platform("hub", HUB_ORGAN), Platform("kontum", KT_ORGAN), Platform("hoabinh", HB_ORGAN)
    for p in (hub, kt, hb):
        p.cli("platform", "set", "--data", p.d, "--organ-id", p.organ, "--name", "Nen tang " + p.name)
    # agencies and their systems
    kt.agency_system(KT_SENDER, "Văn phòng UBND tỉnh Kon Tum", "kt-sender-secret")
    kt.agency_system(KT_LOCAL, "Sở Tư pháp Kon Tum", "kt-local-secret")
    hb.agency_system(HB_PUSHED, "Văn phòng UBND tỉnh Hòa Bình", "hb-pushed-secret")
    hb.agency_system(HB_PULLED, "Sở Nội vụ Hòa Bình", "hb-pulled-secret")
    # each province is a system at the hub (Hoa Binh's also serves HB_PULLED there), the hub a
    # system at each province
    hub.agency_system(KT_ORGAN, "Nền tảng Kon Tum", SECRETS[("kontum", "hub")])
    hub.agency_system(HB_ORGAN, "Nền tảng Hòa Bình", SECRETS[("hoabinh", "hub")], serves=[HB_PULLED, HB_UNKNOWN])
    hub.agency_system(HUB_SENDER, "Bộ Nội vụ", "hub-sender-secret")
    kt.agency_system(HUB_ORGAN, "Trục quốc gia", SECRETS[("hub", "kontum")])
    hb.agency_system(HUB_ORGAN, "Trục quốc gia", SECRETS[("hub", "hoabinh")])
    for p in (hub, kt, hb):
        p.server.start()
    # peers and routes (the running servers pick them up)
    hub.cli("peer", "add", "--data", hub.d, "--name", "kontum", "--endpoint", kt.server.endpoint,
            "--system-id", HUB_ORGAN, "--secret", SECRETS[("hub", "kontum")], "--inbound-system", KT_ORGAN,
            "--pull-interval-ms", "300")
    hub.cli("peer", "add", "--data", hub.d, "--name", "hoabinh", "--endpoint", hb.server.endpoint,
            "--system-id", HUB_ORGAN, "--secret", SECRETS[("hub", "hoabinh")], "--inbound-system", HB_ORGAN,
            "--pull-interval-ms", "300")
    hub.cli("route", "add", "--data", hub.d, "--pattern", "*.H34", "--peer", "kontum")
    hub.cli("route", "add", "--data", hub.d, "--pattern", "*.H30", "--peer", "hoabinh")
    for p, key in ((kt, ("kontum", "hub")), (hb, ("hoabinh", "hub"))):
        p.cli("peer", "add", "--data", p.d, "--name", "hub", "--endpoint", hub.server.endpoint,
              "--system-id", p.organ, "--secret", SECRETS[key], "--inbound-system", HUB_ORGAN,
              "--pull-interval-ms", "300")
        p.cli("route", "add", "--data", p.d, "--pattern", "*", "--peer", "hub")
    return hub, kt, hb


def strip_traces(data):
    return TRACE_RE.sub(b"", data)


def traces(data):
    return [(o.decode(), t.decode()) for o, t in TRACE_RE.findall(data)]


def inbox(system, messagetype="edoc"):
    """The pending entries of a system: [(docId, bytes)]; connection errors propagate."""
    svc = system.svc()
    j = ok(svc.getReceivedEdocList(list_json(messagetype)), "getReceivedEdocList")
    out = []
    for it in j["data"]:
        g = ok(svc.getEdoc({"docId": it["docId"], "filePath": "/tmp"}), "getEdoc", op="getEdoc")
        out.append((it["docId"], vxpsdk.b64decode_std(g["data"])))
    return out


def ack(system, doc_id):
    ok(system.svc().updateStatus({"status": "done", "docId": doc_id}), "updateStatus")


def wait_for(what, fn, timeout=30.0, period=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, vxpsdk.ProtocolError) as e:
            last = e
        time.sleep(period)
    raise harness.TestFailure("%s: not within %.0f s (last: %r)" % (what, timeout, last))


def document(from_, to, note):
    d = harness.rewrite_organs(harness.sample("edoc.edxml"), from_=from_, to=to)
    return harness.add_comment(d, note)


def sent_rows(system, doc_id):
    j = ok(system.svc().getSentEdocList({"servicetype": "eDoc", "messagetype": "edoc", "docId": doc_id}),
           "getSentEdocList")
    return {r["toCode"]: r for r in j["data"]}


# ------------------------------------------------------------------------------ case 1


def t_one_document(hub, kt, hb):
    sender = kt.systems[KT_SENDER]
    doc = document(KT_SENDER, [HB_PUSHED, KT_LOCAL, HB_PULLED], "relay case 1 %08x" % random.getrandbits(32))
    # the document's identity (MessageHeader/DocumentId), which the status packages will name
    doc_ident = ("%s,2026/11/22,%d/VP-TH" % (KT_SENDER, random.randrange(1, 99999))).encode()
    doc = re.sub(rb"(<edXML:DocumentId>)[^<]*(</edXML:DocumentId>\s*</edXML:MessageHeader>)",
                 rb"\g<1>" + doc_ident + rb"\2", doc, count=1)
    check(doc_ident in doc, "the sample's MessageHeader/DocumentId was not set")
    r = ok(sender.svc().sendEdoc(send_json(sender), doc), "sendEdoc", op="sendEdoc")
    doc_id = r["DocId"]

    local = wait_for("local delivery", lambda: inbox(kt.systems[KT_LOCAL]))
    eq(len(local), 1, "local inbox entries")
    eq(local[0][1], doc, "local copy (no relay, no trace)")
    for organ in (HB_PUSHED, HB_PULLED):
        got = wait_for("delivery to %s" % organ, lambda: inbox(hb.systems[organ]), timeout=30)
        eq(len(got), 1, "entries for %s" % organ)
        data = got[0][1]
        eq(strip_traces(data), doc, "%s: bytes apart from the appended trace headers" % organ)
        hops = [o for o, _ in traces(data)]
        eq(hops, [KT_ORGAN, HUB_ORGAN], "%s: trace headers appended, one per hop" % organ)
        for _, ts in traces(data):
            check(re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", ts), "timestamp %r", ts)
        ack(hb.systems[organ], got[0][0])
    ack(kt.systems[KT_LOCAL], local[0][0])

    rows = sent_rows(sender, doc_id)
    eq(sorted(rows), sorted([HB_PUSHED, KT_LOCAL, HB_PULLED]), "sent list recipients")
    eq(rows[KT_LOCAL].get("relayPeer"), None, "local row has no relay")
    for organ in (HB_PUSHED, HB_PULLED):
        eq(rows[organ]["relayPeer"], "hub", "%s relayed to" % organ)
        eq(rows[organ]["sendStatus"], "sent", "%s sendStatus" % organ)

    # status packages back along the path, from both Hoa Binh recipients
    for organ, code in ((HB_PUSHED, "03"), (HB_PULLED, "01")):
        sysm = hb.systems[organ]
        st = harness.sample("status.edxml")
        st = harness.rewrite_organs(st, from_=organ, response_for=KT_SENDER)
        st = re.sub(rb"(<(?:edXML:)?StatusCode>)[^<]*(</)", rb"\g<1>" + code.encode() + rb"\2", st)
        # the status names the document it answers: its DocumentId
        st = re.sub(rb"(<(?:edXML:)?ResponseFor>.*?<(?:edXML:)?DocumentId>)[^<]*(</)",
                    rb"\g<1>" + doc_ident + rb"\2", st, count=1, flags=re.S)
        ok(sysm.svc().sendEdoc(send_json(sysm, "status"), st), "status sendEdoc", op="sendEdoc")
    got = wait_for("status packages at the sender",
                   lambda: (lambda l: l if len(l) >= 2 else None)(inbox(sender, "status")), timeout=30)
    eq(len(got), 2, "status packages received by the sender")
    for d, _ in got:
        ack(sender, d)

    last = {}

    def across_hops():
        rows = last["rows"] = sent_rows(sender, doc_id)
        good = all(rows[o]["receiveStatus"] == "done" for o in (HB_PUSHED, HB_PULLED))
        good = good and rows[HB_PUSHED]["statusCode"] == "03" and rows[HB_PULLED]["statusCode"] == "01"
        return rows if good and rows[KT_LOCAL]["receiveStatus"] == "done" else None
    try:
        rows = wait_for("states across hops in the sender's report", across_hops, timeout=40, period=0.5)
    except harness.TestFailure as e:
        raise harness.TestFailure("%s; the report: %s" % (e, json.dumps(last.get("rows"), indent=1)))
    eq(rows[HB_PUSHED]["statusDesc"] != "", True, "statusDesc")


# ------------------------------------------------------------------------------ case 2


class Burst:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # note -> bytes
        self.stop = threading.Event()
        self.errors = []


def sender_thread(b, system, to, tag, n):
    """n documents, to the recipients of `to` in turn."""
    svc = system.svc()
    for i in range(n):
        if b.stop.is_set():
            return
        note = "burst %s %d %08x" % (tag, i, random.getrandbits(32))
        doc = document(system.id, [to[i % len(to)]], note)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = svc.sendEdoc(send_json(system), doc)
            except (OSError, vxpsdk.ProtocolError):
                time.sleep(0.2)
                svc = system.svc()
                continue
            j = r.json or {}
            if j.get("status") == "OK":
                with b.lock:
                    b.acked[note] = doc
                break
            if j.get("ErrorCode") in ("501", "502", "503"):
                time.sleep(0.2)
                continue
            b.errors.append("%s: %r" % (note, j))
            break
        time.sleep(0.02)


def drain(system, seen, lock):
    """Takes everything in the inbox (getEdoc + done), recording note -> [bytes]."""
    for doc_id, data in inbox(system):
        m = re.search(rb"<!-- (burst [^>]*?) -->", data)
        with lock:
            seen.setdefault(m.group(1).decode() if m else "? %r" % data[:160], []).append(data)
        ack(system, doc_id)


def t_burst_with_kills(hub, kt, hb):
    b = Burst()
    per_thread = 25
    # Kon Tum's documents alternate between the recipient the hub pushes to and the one Hoa
    # Binh pulls from the hub; Hoa Binh's go to two agencies of Kon Tum.
    threads = [threading.Thread(target=sender_thread,
                                args=(b, kt.systems[KT_SENDER], [HB_PUSHED, HB_PULLED], "kt", per_thread)),
               threading.Thread(target=sender_thread, args=(b, hb.systems[HB_PUSHED], [KT_LOCAL], "hb", per_thread)),
               threading.Thread(target=sender_thread,
                                args=(b, hb.systems[HB_PULLED], [KT_SENDER], "hb2", per_thread))]
    for t in threads:
        t.start()
    time.sleep(1.0)
    hub.server.kill()
    time.sleep(1.0)
    hub.server.start()
    time.sleep(1.5)
    hb.server.kill()  # the province that pulls: a crash between its commit and its acknowledgement
    time.sleep(1.0)
    hb.server.start()
    for t in threads:
        t.join(120)
    check(not b.errors, "unexpected refusals: %s", b.errors[:5])
    check(len(b.acked) == 3 * per_thread, "acknowledged %d of %d", len(b.acked), 3 * per_thread)

    seen, lock = {}, threading.Lock()
    receivers = [(hb, HB_PUSHED), (hb, HB_PULLED), (kt, KT_LOCAL), (kt, KT_SENDER)]

    def all_arrived():
        for p, organ in receivers:
            drain(p.systems[organ], seen, lock)
        return len([k for k in seen if k in b.acked]) == len(b.acked)
    wait_for("every acknowledged package delivered", all_arrived, timeout=90, period=0.5)
    time.sleep(2.0)  # anything duplicated would show up now
    for p, organ in receivers:
        drain(p.systems[organ], seen, lock)
    for note, doc in b.acked.items():
        copies = seen.get(note, [])
        eq(len(copies), 1, "copies of %s" % note)
        eq(strip_traces(copies[0]), doc, "%s: bytes apart from the trace headers" % note)
        eq(len(traces(copies[0])) - len(traces(doc)), 2, "%s: hops appended" % note)
    extra = [k for k in seen if k not in b.acked]
    check(not extra, "delivered but never acknowledged to a sender: %s", extra[:5])

    # statistics agree across instances (no package still on its way)
    def agree():
        s = {p.name: {r["peer"]: r for r in p.stats()["peers"]} for p in (hub, kt, hb)}
        pairs = [(s["kontum"]["hub"]["documents_sent"], s["hub"]["kontum"]["documents_received"]),
                 (s["hub"]["kontum"]["documents_sent"], s["kontum"]["hub"]["documents_received"]),
                 (s["hoabinh"]["hub"]["documents_sent"], s["hub"]["hoabinh"]["documents_received"]),
                 (s["hub"]["hoabinh"]["documents_sent"], s["hoabinh"]["hub"]["documents_received"]),
                 (s["kontum"]["hub"]["status_sent"], s["hub"]["kontum"]["status_received"]),
                 (s["hub"]["hoabinh"]["status_sent"], s["hoabinh"]["hub"]["status_received"])]
        pending = sum(r["pending"] for p in s.values() for r in p.values())
        return s if all(a == b_ for a, b_ in pairs) and pending == 0 else None
    s = wait_for("relay figures agreeing across the three instances", agree, timeout=30, period=0.5)
    # case 1 (1 document out of Kon Tum) + 25 from Kon Tum; 50 from Hoa Binh
    eq(s["kontum"]["hub"]["documents_sent"], 1 + per_thread, "Kon Tum -> hub documents")
    eq(s["hoabinh"]["hub"]["documents_sent"], 2 * per_thread, "Hoa Binh -> hub documents")
    eq(s["hub"]["kontum"]["documents_sent"], 2 * per_thread, "hub -> Kon Tum documents")
    # case 1: one pushed, one pulled; then 25, each pushed or pulled
    eq(s["hub"]["hoabinh"]["documents_sent"], 2 + per_thread, "hub -> Hoa Binh documents")
    # case 1's two status packages
    eq(s["hoabinh"]["hub"]["status_sent"], 2, "Hoa Binh -> hub status packages")
    for p in (hub, kt, hb):
        check(p.server.healthy(), "%s not healthy after the burst", p.name)


# ------------------------------------------------------------------------------ case 3


def t_pull_skips_refused(hub, kt, hb):
    """More packages Hoa Binh must refuse than one pull takes (64), then a good one: the refused
    stay listed at the hub (acknowledged "fail"), and the good one still arrives."""
    sender = hub.systems[HUB_SENDER]
    n_bad = 70
    ids = []
    for i in range(n_bad):
        # its trace says it passed Hoa Binh already, and Hoa Binh would route it on: a loop
        doc = document(HUB_SENDER, [HB_UNKNOWN], "looping %d %08x" % (i, random.getrandbits(32)))
        doc = doc.replace(b"<edXML:OrganId>01.02.G22</edXML:OrganId>",
                          b"<edXML:OrganId>" + HB_ORGAN.encode() + b"</edXML:OrganId>", 1)
        check(HB_ORGAN.encode() in doc, "the sample's TraceHeader was not rewritten")
        ids.append(ok(sender.svc().sendEdoc(send_json(sender), doc), "sendEdoc", op="sendEdoc")["DocId"])
    good = document(HUB_SENDER, [HB_PULLED], "after the refused %08x" % random.getrandbits(32))
    ok(sender.svc().sendEdoc(send_json(sender), good), "sendEdoc", op="sendEdoc")
    got = wait_for("the package behind %d refused ones" % n_bad, lambda: inbox(hb.systems[HB_PULLED]),
                   timeout=60)
    eq(len(got), 1, "entries for %s" % HB_PULLED)
    eq(strip_traces(got[0][1]), good, "bytes apart from the trace headers")
    ack(hb.systems[HB_PULLED], got[0][0])

    def all_failed():
        states = [sent_rows(sender, d)[HB_UNKNOWN]["receiveStatus"] for d in ids]
        return states if all(st == "fail" for st in states) else None
    wait_for("every looping package acknowledged fail at the hub", all_failed, timeout=30)


def t_refusals_and_undeliverable(hub, kt, hb):
    # Hoa Binh's own organ space: an unknown H30 agency reaches the hub and Hoa Binh, which
    # refuses it; the hub gives up after the attempts bound... too slow with the defaults, so
    # the bound is tested on a platform of its own with a dead peer.
    d = harness.new_data_dir("relay-dead")
    cfg = harness.write_config(d, relay_backoff_ms=50, relay_backoff_max_ms=200, relay_max_attempts=3,
                               relay_call_timeout_ms=1000)
    p = harness.Server(d, config=cfg, tag="dead")
    p.cli("platform", "set", "--data", d, "--organ-id", "000.00.99.H41", "--name", "Nghe An")
    p.add_agency(KT_SENDER.replace("H34", "H41"), "Sender")
    s = harness.System(p, KT_SENDER.replace("H34", "H41"), "s-secret", [])
    p.add_system(s.id, s.id, "s-secret", status="official")
    p.start()
    try:
        # nothing routes H30 yet: refused at once, nothing stored
        doc = document(s.id, [HB_PUSHED], "unroutable")
        r = s.svc().sendEdoc(send_json(s), doc)
        harness.fail(r, "unroutable sendEdoc", code=301, op="sendEdoc")
        dead = "http://127.0.0.1:%d" % harness.free_port()
        p.cli("peer", "add", "--data", d, "--name", "gone", "--endpoint", dead, "--system-id", s.id,
              "--secret", "x", "--weak-secret", "--pull-interval-ms", "100000")
        p.cli("route", "add", "--data", d, "--pattern", "*.H30", "--peer", "gone")
        time.sleep(0.8)  # the running server starts the peer
        r = ok(s.svc().sendEdoc(send_json(s), doc), "sendEdoc to a dead peer", op="sendEdoc")

        def given_up():
            row = sent_rows(s, r["DocId"])[HB_PUSHED]
            return row if row["sendStatus"] == "undeliverable" else None
        row = wait_for("undeliverable after the attempts bound", given_up, timeout=30)
        eq(row["relayAttempts"], 3, "attempts")
        check("Khong chuyen duoc" in row["sendStatusDesc"], "desc %r", row["sendStatusDesc"])
        out = p.cli("peer", "list", "--data", d).stdout.decode()
        check("failing" in out or "backing-off" in out, "peer health not shown: %r", out)
        p.check_clean_shutdown()
    finally:
        p.kill()


def main():
    harness.require_binary()
    run = harness.Runner("relay", time_limit=420)
    hub = kt = hb = None
    try:
        hub, kt, hb = build()
        run.run("one document, three hops, statuses back", t_one_document, hub, kt, hb)
        run.run("burst with SIGKILL of the hub and a province", t_burst_with_kills, hub, kt, hb)
        run.run("a pull is not stopped by packages it refused", t_pull_skips_refused, hub, kt, hb)
        run.run("unroutable refused, dead peer undeliverable", t_refusals_and_undeliverable, hub, kt, hb)
        for p in (hub, kt, hb):
            run.run("%s clean shutdown" % p.name, p.server.check_clean_shutdown)
    except Exception as e:  # setup failure
        print("FAIL setup: %s: %s" % (type(e).__name__, e), flush=True)
        run.failed += 1
    finally:
        run.finish()


if __name__ == "__main__":
    main()
