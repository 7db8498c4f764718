#!/usr/bin/env python3
"""test_audit_trust — the stored bytes are verifiable, and so is the log itself.

A server with frequent anchors takes documents and gateway calls. Then, as someone with access
to the database would:
  - flip a byte of a stored package: getEdoc cuts the reply short (never a complete document),
    logs the corruption and counts it; `audit verify` names the package;
  - alter a gateway call row, or insert one: `audit verify` finds it;
  - rewrite a record of the log and recompute the whole chain and its head: the chain alone
    (`audit verify --quick`) still holds, the signed anchors do not;
and a third party checks a copy of the store with the public key `audit key` prints."""

import hashlib
import http.server
import json
import os
import sqlite3
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import vxpsdk  # noqa: E402
from harness import check, eq, list_json, ok, send_json  # noqa: E402

A_ID, A_SECRET = "000.00.01.H34", "secret-of-the-provincial-office"
B_ID, B_SECRET = "000.00.13.H34", "secret-of-the-information-department"


class Ctx:
    server = None
    upstream = None
    docs = []


C = Ctx()


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def db():
    return sqlite3.connect(os.path.join(C.server.data_dir, "lienthong.db"))


def cli(*args, check_rc=None):
    p = C.server.cli(*args, check=False)
    if check_rc is not None:
        eq(p.returncode, check_rc, "%s: exit status (stdout %r, stderr %r)" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout.decode(), p.stderr.decode(), p.returncode


def verify(*extra, data=None):
    return cli("audit", "verify", "--data", data or C.server.data_dir, *extra)


def setup():
    C.upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=C.upstream.serve_forever, daemon=True).start()
    srv = harness.Server(tag="audittrust")
    C.server = srv
    d = srv.data_dir
    srv.config = harness.write_config(d, anchor_every_records=5, anchor_every_ms=200)
    srv.add_agency("000.00.00.H34", "UBND tinh")
    srv.add_agency(A_ID, "Van phong", "000.00.00.H34")
    srv.add_agency(B_ID, "So TT&TT", "000.00.00.H34")
    srv.add_system(A_ID, A_ID, A_SECRET)
    srv.add_system(B_ID, B_ID, B_SECRET)
    srv.cli("service", "add", "--data", d, "--code", "echo", "--version", "v1", "--provider", B_ID,
            "--url", "http://127.0.0.1:%d/echo" % C.upstream.server_address[1])
    srv.cli("access", "grant", "--data", d, "--consumer", A_ID, "--service", "echo/v1")
    srv.start()
    a = harness.System(srv, A_ID, A_SECRET, [])
    for i in range(6):
        data = harness.add_comment(harness.rewrite_organs(harness.sample("edoc.edxml"), from_=A_ID, to=[B_ID]),
                                   "audit-%d" % i)
        C.docs.append(ok(a.svc().sendEdoc(send_json(a), data), "sendEdoc", "sendEdoc")["DocId"])
    tok = token()
    for i in range(3):
        r = raw_http(("GET /gw/echo/v1/item/%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Connection: close\r\n\r\n" % (i, tok)).encode())
        check(r.startswith(b"HTTP/1.1 200"), "gateway call: %r", r[:200])
    time.sleep(1.0)  # the anchors follow (every 5 records or 200 ms)


def raw_http(data, timeout=10.0):
    return harness.raw_exchange(C.server.port, data, timeout=timeout)[2]


def token():
    body = ("grant_type=client_credentials&client_id=%s&client_secret=%s" % (A_ID, A_SECRET)).encode()
    r = raw_http(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    return json.loads(r.split(b"\r\n\r\n", 1)[1])["access_token"]


def t_all_intact():
    out, err, rc = verify()
    eq(rc, 0, "audit verify on an untouched store (%r)" % out)
    check("chain intact" in out, out)
    check("anchors verified" in out and "6 packages re-read, all match" in out, out)
    check("3 gateway calls checked, all match" in out, out)
    key = os.path.join(C.server.data_dir, "audit.key")
    eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, "audit.key mode")
    out, err, rc = cli("audit", "key", "--data", C.server.data_dir, check_rc=0)
    check(out.startswith("-----BEGIN PUBLIC KEY-----") and "PRIVATE" not in out, "audit key: %r" % out)
    with open(os.path.join(harness.TMP, "audit-trust.pub"), "w") as f:
        f.write(out)
    # a third party: a copy of the store without the key file, and the public key
    copy = harness.new_data_dir("audittrust-copy")
    src, dst = db(), sqlite3.connect(os.path.join(copy, "lienthong.db"))
    src.backup(dst)  # a consistent copy, WAL included
    src.close()
    dst.close()
    out, err, rc = verify("--public-key", os.path.join(harness.TMP, "audit-trust.pub"), data=copy)
    eq(rc, 0, "verify of a copy with the public key: %r %r" % (out, err))
    check("anchors verified" in out and " 0 anchors" not in out, out)
    out, err, rc = verify(data=copy)
    eq(rc, 1, "verify of a copy without any key")
    check("anchors NOT checked" in out, out)


def t_corrupt_package():
    pid = C.docs[2]
    con = db()
    data, = con.execute("SELECT data FROM package_chunk WHERE package_id = ? AND seq = 0", (pid,)).fetchone()
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x01
    con.execute("UPDATE package_chunk SET data = ? WHERE package_id = ? AND seq = 0", (bytes(bad), pid))
    con.commit()
    con.close()
    b = harness.System(C.server, B_ID, B_SECRET, [])
    inbox = ok(b.svc().getReceivedEdocList(list_json()), "inbox")["data"]
    rid = [it["docId"] for it in inbox][2]
    try:
        r = b.svc().getEdoc({"docId": rid})
        length = int(dict((k.lower(), v) for k, v in r.headers).get("content-length", "0"))
        check(r.json is None and len(r.raw_body) < length,
              "a corrupted package was served whole (status %r, %d bytes)" % (r.status, len(r.raw_body)))
    except (vxpsdk.ProtocolError, OSError):
        pass  # the connection was cut before the end: what a client must see
    metrics = raw_http(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    check("lienthong_corruption_total 1" in metrics, "corruption not counted")
    with open(C.server.log_path, "rb") as f:
        check(b"CORRUPTION: package " + pid.encode() in f.read(), "corruption not logged")
    out, err, rc = verify()
    eq(rc, 1, "audit verify with a corrupted package")
    check("packages: 1 of 6 do not match; first: package %s" % pid in out and "bytes altered" in out, out)
    con = db()
    con.execute("UPDATE package_chunk SET data = ? WHERE package_id = ? AND seq = 0", (data, pid))
    con.commit()
    con.close()
    eq(verify()[2], 0, "audit verify once the bytes are back")


def t_tampered_calls():
    con = db()
    rid, status = con.execute("SELECT request_id, status FROM gateway_call ORDER BY time_ms LIMIT 1").fetchone()
    con.execute("UPDATE gateway_call SET status = 500 WHERE request_id = ?", (rid,))
    con.commit()
    out, err, rc = verify()
    eq(rc, 1, "audit verify with an altered call row")
    check("gateway calls: 1 of 3 do not match; first: gateway call %s" % rid in out and "altered" in out, out)
    con.execute("UPDATE gateway_call SET status = ? WHERE request_id = ?", (status, rid))
    old = int(time.time() * 1000) - 86400 * 1000
    con.execute("INSERT INTO gateway_call VALUES (?, 'forged-call', ?, ?, 'echo', 'v1', 'GET', '/x', 200, '',"
                " 1, 1, 0, 0, '', '')", (old, A_ID, B_ID))
    con.commit()
    out, err, rc = verify()
    eq(rc, 1, "audit verify with an inserted call row")
    check("first: gateway call forged-call" in out and "row inserted" in out, out)
    con.execute("DELETE FROM gateway_call WHERE request_id = 'forged-call'")
    con.commit()
    con.close()
    eq(verify()[2], 0, "audit verify once the rows are back")


def t_anchors_removed():
    """Removing the anchors is seen; an anchor kept outside the store must still be in it."""
    kept, err, rc = cli("audit", "anchor", "--data", C.server.data_dir, check_rc=0)
    kept = kept.strip()
    check(":" in kept, "audit anchor printed %r" % kept)
    eq(verify("--expect-anchor", kept)[2], 0, "verify with the anchor kept outside")
    seq = kept.split(":")[0]
    out, err, rc = verify("--expect-anchor", seq + ":" + "A" * 86 + "==")
    eq(rc, 1, "verify with an anchor the store does not hold")
    check("kept outside the store is not in it" in out, out)
    con = db()
    saved = con.execute("SELECT * FROM txlog_anchor").fetchall()
    con.execute("DELETE FROM txlog_anchor")
    con.commit()
    out, err, rc = verify()
    eq(rc, 1, "audit verify with every anchor removed")
    check("no signed anchor (anchors removed?)" in out, out)
    con.executemany("INSERT INTO txlog_anchor VALUES (?, ?, ?, ?, ?, ?)", saved)
    con.commit()
    con.close()
    eq(verify()[2], 0, "audit verify once the anchors are back")


def chain_hash(prev, seq, time_ms, actor, operation, package_id, content, outcome):
    h = hashlib.sha256()
    for v in (prev, str(seq), str(time_ms), actor, operation, package_id, content, outcome):
        b = v.encode()
        h.update(str(len(b)).encode() + b":" + b)
    return h.hexdigest()


def t_rewritten_chain():
    """What an attacker with the database does: change a record and recompute the chain."""
    C.server.stop()
    con = db()
    rows = con.execute("SELECT seq, time_ms, actor, operation, package_id, content_sha256, outcome FROM txlog"
                       " ORDER BY seq").fetchall()
    target = [r for r in rows if r[3] == "send.edoc"][1][0]
    prev = "0" * 64
    for seq, t, actor, op, pid, content, outcome in rows:
        if seq == target:
            actor = "000.00.99.H34"  # someone else sent it
            con.execute("UPDATE txlog SET actor = ? WHERE seq = ?", (actor, seq))
        h = chain_hash(prev, seq, t, actor, op, pid, content, outcome)
        con.execute("UPDATE txlog SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h
    con.execute("UPDATE meta SET value = ? WHERE key = 'txlog.head'", ("%d %s" % (rows[-1][0], prev),))
    con.commit()
    con.close()
    out, err, rc = verify("--quick")
    eq(rc, 0, "the chain alone cannot tell (%r)" % out)
    out, err, rc = verify()
    eq(rc, 1, "audit verify of a rewritten chain")
    check("anchors:" in out and "rewritten" in out, out)


def main():
    harness.require_binary()
    run = harness.Runner("audit: stored bytes and signed anchors", time_limit=200)
    try:
        if not run.run("documents and gateway calls under frequent anchors", setup):
            run.finish()
        for name, fn in [
            ("audit verify: all intact; audit key; a copy checked with the public key", t_all_intact),
            ("a corrupted package: getEdoc cut short, logged, counted; audit names it", t_corrupt_package),
            ("an altered or inserted gateway call row is found", t_tampered_calls),
            ("removed anchors are seen; an anchor kept outside must still be there", t_anchors_removed),
            ("a rewritten and recomputed chain: --quick passes, the anchors do not", t_rewritten_chain),
        ]:
            run.run(name, fn)
    finally:
        if C.server is not None:
            C.server.stop()
        if C.upstream is not None:
            C.upstream.shutdown()
    run.finish()


if __name__ == "__main__":
    main()
