#!/usr/bin/env python3
"""test_relay_admin — the configuration of the relay between platforms, end to end: the CLI
(platform set|show, peer add|list|remove, route add|list|remove|which) with --help, misuse and
refusals that change nothing, a peer's inbound system and its health as listed, and the same
through the JSON API of a running server (/api/v1/platform, /api/v1/peers, /api/v1/routes,
/api/v1/routes/which): authentication, the error shape and codes, percent-encoded patterns,
secrets never shown, one transaction-log record per change. Python 3 standard library only.
"""

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, eq  # noqa: E402

LT = harness.BINARY
PROVINCE, OFFICE, JUSTICE = "000.00.00.H34", "000.00.01.H34", "000.00.06.H34"
SERVED = "000.00.07.H34"  # served by the office's system, not a registered agency
PLATFORM = "000.00.99.H34"  # the platform's own organ id, in no registry table
SECRET_NDXP = "A7TK-ndxp-secret-0123456789abcdefghijklmn81Ve="
SECRET_HB = "hoabinh-secret-xyz"


# ------------------------------------------------------------------------------ helpers


def run(*args, timeout=60):
    return subprocess.run([LT, *args], capture_output=True, text=True, timeout=timeout)


def show(p):
    return "exit %d\nstdout: %s\nstderr: %s" % (p.returncode, p.stdout[-2000:], p.stderr[-2000:])


def ok(*args):
    p = run(*args)
    check(p.returncode == 0, "%s: expected exit 0, got %s", " ".join(args), show(p))
    return p


def fails(code, *args, text=None):
    p = run(*args)
    check(p.returncode == code, "%s: expected exit %d, got %s", " ".join(args), code, show(p))
    check(p.stderr.strip() != "", "%s: no message on stderr", " ".join(args))
    check(p.stdout == "", "%s: unexpected stdout %r", " ".join(args), p.stdout)
    if text:
        check(text in p.stderr, "%s: %r not in the message %r", " ".join(args), text, p.stderr)
    return p


def registry(d):
    """The province, two agencies, and the office's system serving one more organ."""
    ok("agency", "add", "--data", d, "--id", PROVINCE, "--name", "UBND tỉnh Kon Tum")
    ok("agency", "add", "--data", d, "--id", OFFICE, "--name", "Văn phòng UBND tỉnh", "--parent", PROVINCE)
    ok("agency", "add", "--data", d, "--id", JUSTICE, "--name", "Sở Tư pháp", "--parent", PROVINCE)
    ok("system", "add", "--data", d, "--id", OFFICE, "--agency", OFFICE, "--serves", SERVED,
       "--secret", "secret-of-the-office")


def peers(d):
    return {p["name"]: p for p in json.loads(ok("peer", "list", "--data", d, "--json").stdout)}


def routes(d):
    """The routes as listed: [(pattern, peer)] in the order they are tried."""
    return [(r["pattern"], r["peer"]) for r in json.loads(ok("route", "list", "--data", d, "--json").stdout)]


def which(d, organ):
    return ok("route", "which", "--data", d, "--organ-id", organ).stdout.strip()


def txlog(d):
    """(operation, object) of every transaction-log record, in order (found by its columns)."""
    db = sqlite3.connect(os.path.join(d, "lienthong.db"))
    try:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            cols = [r[1] for r in db.execute("PRAGMA table_info(\"%s\")" % name)]
            if "operation" in cols and "outcome" in cols:
                return [(r[0], r[1]) for r in db.execute(
                    "SELECT operation, package_id FROM \"%s\" ORDER BY seq" % name)]
    finally:
        db.close()
    raise harness.TestFailure("no transaction-log table in %s" % d)


def relay_log(d):
    return [r for r in txlog(d) if r[0].split(".")[0] in ("platform", "peer", "route")]


def audit_ok(d):
    p = ok("audit", "verify", "--data", d)
    check("chain intact" in p.stdout, "audit: %r", p.stdout)


def add_ndxp(d, *extra):
    return ok("peer", "add", "--data", d, "--name", "ndxp", "--endpoint", "https://vdxp.gov.vn/vxp",
              "--system-id", PROVINCE, "--secret", SECRET_NDXP, *extra)


def add_hoabinh(d):
    return ok("peer", "add", "--data", d, "--name", "hoabinh", "--endpoint", "http://10.30.0.5:8080/",
              "--system-id", "000.00.00.H34", "--secret", SECRET_HB, "--pull-interval-ms", "5000")


# ------------------------------------------------------------------------------ CLI


HELP_FORMS = [
    ["platform", "--help"], ["platform", "set", "--help"], ["platform", "show", "--help"],
    ["peer", "--help"], ["peer", "add", "--help"], ["peer", "list", "--help"], ["peer", "remove", "--help"],
    ["route", "--help"], ["route", "add", "--help"], ["route", "list", "--help"],
    ["route", "remove", "--help"], ["route", "which", "--help"], ["route", "add", "--pattern", "x", "-h"],
]


def t_help():
    for form in HELP_FORMS:
        p = run(*form)
        check(p.returncode == 0, "%s: %s", " ".join(form), show(p))
        check("Usage" in p.stdout, "%s: no usage on stdout: %r", " ".join(form), p.stdout)
        check(p.stderr == "", "%s: unexpected stderr %r", " ".join(form), p.stderr)
    p = run("peer", "add", "--help")
    for opt in ("--name", "--endpoint", "--system-id", "--secret", "--pull-interval-ms",
                "--inbound-system", "system add", "received from the peer"):
        check(opt in p.stdout, "peer add --help does not mention %s", opt)
    p = run("route", "--help")
    for frag in ("add", "list", "remove", "which", "one or more", "most specific", "locally"):
        check(frag in p.stdout, "route --help does not mention %r", frag)
    p = run("route", "which", "--help")
    for frag in ("local", "peer NAME (pattern P)", "none"):
        check(frag in p.stdout, "route which --help does not mention %r", frag)
    p = ok("--help")
    for word in ("platform", "peer", "route"):
        check("\n  %s " % word in p.stdout, "lienthong --help does not list %s: %r", word, p.stdout)


def t_misuse():
    d = harness.new_data_dir("relay-misuse")
    registry(d)
    add_ndxp(d)
    ok("route", "add", "--data", d, "--pattern", "*.H30", "--peer", "ndxp")
    ok("platform", "set", "--data", d, "--organ-id", PLATFORM, "--name", "LGSP Kon Tum")
    padd = ["peer", "add", "--data", d, "--name", "p2", "--endpoint", "http://h/", "--system-id", PROVINCE]
    sec = ["--secret", "s", "--weak-secret"]
    radd = ["route", "add", "--data", d, "--peer", "ndxp"]
    forms = [
        ["platform"], ["platform", "get", "--data", d], ["peer"], ["peer", "update", "--data", d],
        ["route"], ["route", "test", "--data", d],
        ["platform", "set", "--data", d, "--organ-id", PROVINCE],           # no --name
        ["platform", "set", "--data", d, "--name", "x"],                     # no --organ-id
        ["platform", "set", "--data", d, "--organ-id", "000.00.00 H34", "--name", "x"],
        ["platform", "set", "--data", d, "--organ-id", "*.H34", "--name", "x"],
        ["platform", "set", "--data", d, "--organ-id", PROVINCE, "--name", "line\nbreak"],
        ["platform", "show"], ["platform", "show", "--data", d, "--json"],
        padd,                                                                # no --secret
        padd + sec + ["--bogus"], padd + sec + ["extra"],
        ["peer", "add", "--data", d, "--name", "a/b", "--endpoint", "http://h/", "--system-id", PROVINCE] + sec,
        ["peer", "add", "--data", d, "--name", "..", "--endpoint", "http://h/", "--system-id", PROVINCE] + sec,
        ["peer", "add", "--data", d, "--name", "p2", "--endpoint", "ftp://h/", "--system-id", PROVINCE] + sec,
        ["peer", "add", "--data", d, "--name", "p2", "--endpoint", "http://u:p@h/", "--system-id", PROVINCE] + sec,
        ["peer", "add", "--data", d, "--name", "p2", "--endpoint", "http://h/?a=b", "--system-id", PROVINCE] + sec,
        ["peer", "add", "--data", d, "--name", "p2", "--endpoint", "vdxp.gov.vn", "--system-id", PROVINCE] + sec,
        ["peer", "add", "--data", d, "--name", "p2", "--endpoint", "http://h/", "--system-id", "a b"] + sec,
        padd + ["--secret", "tab\there"], padd + ["--secret", "********"],
        padd + sec + ["--pull-interval-ms", "99"], padd + sec + ["--pull-interval-ms", "3600001"],
        padd + sec + ["--pull-interval-ms", "-5"], padd + sec + ["--pull-interval-ms", "2s"],
        padd + sec + ["--inbound-system", "a b"], padd + sec + ["--inbound-system", "x" * 65],
        padd + sec + ["--inbound-system", ""],
        ["peer", "list"], ["peer", "list", "--data", d, "--json", "x"],
        ["peer", "remove", "--data", d], ["peer", "remove", "--data", d, "--name", "a b"],
        radd,                                                                # no --pattern
        radd + ["--pattern", "a/b"], radd + ["--pattern", "*.H3?"], radd + ["--pattern", "a b"],
        radd + ["--pattern", "*" * 65], radd + ["--pattern", "Đ*"],
        ["route", "add", "--data", d, "--pattern", "*.H41", "--peer", "a/b"],
        ["route", "add", "--data", d, "--pattern", "*.H41"],                 # no --peer
        ["route", "list"], ["route", "remove", "--data", d],
        ["route", "remove", "--data", d, "--pattern", "a b"],
        ["route", "which", "--data", d], ["route", "which", "--data", d, "--organ-id", "*.H30"],
        ["route", "which", "--data", d, "--organ-id", "a b"],
        ["route", "which", "--data", d, "--organ-id", "x" * 65],
    ]
    before, p0, r0 = txlog(d), peers(d), routes(d)
    for form in forms:
        p = run(*form)
        check(p.returncode == 2, "%s: expected exit 2, got %s", " ".join(form), show(p))
        check("Usage" in p.stderr, "%s: no usage on stderr: %r", " ".join(form), p.stderr)
        check(p.stdout == "", "%s: unexpected stdout %r", " ".join(form), p.stdout)
    eq(peers(d), p0, "peers after misuse")
    eq(routes(d), r0, "routes after misuse")
    eq(txlog(d), before, "transaction log after misuse")
    check("LGSP Kon Tum" in ok("platform", "show", "--data", d).stdout, "platform after misuse")


def t_platform():
    d = harness.new_data_dir("relay-platform")
    fails(1, "platform", "show", "--data", d, text="no lienthong data")
    ok("agency", "add", "--data", d, "--id", "000.00.00.H30", "--name", "a store to read")
    fails(1, "platform", "show", "--data", d, text="not set")
    p = ok("platform", "set", "--data", d, "--organ-id", PROVINCE, "--name", "UBND tỉnh Kon Tum")
    check(PROVINCE in p.stdout, "set output %r", p.stdout)
    lines = ok("platform", "show", "--data", d).stdout.splitlines()
    eq([l.split()[0] for l in lines], ["organ", "name", "created", "updated"], "show lines %r" % lines)
    check(PROVINCE in lines[0] and "UBND tỉnh Kon Tum" in lines[1], "show %r", lines)
    created = lines[2].split()[-1]
    ok("platform", "set", "--data", d, "--organ-id", PLATFORM, "--name", "LGSP tỉnh Kon Tum")
    lines = ok("platform", "show", "--data", d).stdout.splitlines()
    check(PLATFORM in lines[0] and "LGSP tỉnh Kon Tum" in lines[1], "replaced %r", lines)
    eq(lines[2].split()[-1], created, "created of a replaced identity")
    eq(relay_log(d), [("platform.set", PROVINCE), ("platform.set", PLATFORM)], "platform records")
    audit_ok(d)


def t_peers():
    d = harness.new_data_dir("relay-peers")
    ok("agency", "add", "--data", d, "--id", "000.00.00.H30", "--name", "a store to read")
    eq(len(ok("peer", "list", "--data", d).stdout.splitlines()), 1, "empty peer table")
    eq(ok("peer", "list", "--data", d, "--json").stdout.strip(), "[]", "empty peer list --json")
    p = add_ndxp(d)
    check("ndxp" in p.stdout and "route add" in p.stdout, "peer add output %r", p.stdout)
    check(SECRET_NDXP not in p.stdout + p.stderr, "peer add printed the secret")
    add_hoabinh(d)
    ps = peers(d)
    eq(sorted(ps), ["hoabinh", "ndxp"], "peers")
    n = ps["ndxp"]
    eq((n["endpoint"], n["system_id"], n["pull_interval_ms"], n["secret"]),
       ("https://vdxp.gov.vn/vxp", PROVINCE, 2000, "********"), "ndxp as listed (default interval)")
    eq(ps["hoabinh"]["pull_interval_ms"], 5000, "explicit interval")
    eq(n["inbound_system"], "", "no inbound system")
    eq(n["health"], {"state": "up", "since": "", "failures": 0, "last_error": "", "next": ""},
       "health of a peer never tried")
    check(n["created"].endswith("Z") and n["updated"], "times %r", n)
    text = ok("peer", "list", "--data", d).stdout
    lines = text.splitlines()
    eq(len(lines), 3, "text lines %r" % lines)
    for col in ("name", "endpoint", "system id", "secret", "pull interval", "inbound system", "health",
                "since", "failures", "last error", "created"):
        check(col in lines[0], "column %s missing in %r", col, lines[0])
    check(lines[1].startswith("hoabinh") and lines[2].startswith("ndxp"), "order by name %r", lines)
    check(lines[0].index("endpoint") == lines[2].index("https://"), "not aligned: %r", lines)
    listing = text + json.dumps(ps)
    for s in (SECRET_NDXP, SECRET_HB):
        check(s not in listing, "a secret is listed")
    # the secret is stored as given (requests to the peer are signed with it)
    db = sqlite3.connect(os.path.join(d, "lienthong.db"))
    try:
        stored = dict(db.execute("SELECT name, secret FROM peer"))
    finally:
        db.close()
    eq(stored, {"ndxp": SECRET_NDXP, "hoabinh": SECRET_HB}, "stored secrets")

    before = txlog(d)
    fails(1, "peer", "add", "--data", d, "--name", "ndxp", "--endpoint", "http://other/",
          "--system-id", PROVINCE, "--secret", "x", "--weak-secret", text="already exists")
    fails(1, "peer", "remove", "--data", d, "--name", "nobody", text="nobody")
    eq(peers(d), ps, "peers after refusals")
    eq(txlog(d), before, "log after refusals")

    ok("route", "add", "--data", d, "--pattern", "*", "--peer", "ndxp")
    ok("route", "add", "--data", d, "--pattern", "000.00.*.H30", "--peer", "ndxp")
    ok("route", "add", "--data", d, "--pattern", "*.H30", "--peer", "hoabinh")
    before = txlog(d)
    p = fails(1, "peer", "remove", "--data", d, "--name", "ndxp", text="2 routes")
    check("*" in p.stderr and "000.00.*.H30" in p.stderr and "route remove" in p.stderr,
          "in-use message does not list the routes: %r", p.stderr)
    eq(sorted(peers(d)), ["hoabinh", "ndxp"], "peers after refused remove")
    eq(txlog(d), before, "log after refused remove")
    ok("route", "remove", "--data", d, "--pattern", "*")
    ok("route", "remove", "--data", d, "--pattern", "000.00.*.H30")
    p = ok("peer", "remove", "--data", d, "--name", "ndxp")
    check("ndxp" in p.stdout, "remove output %r", p.stdout)
    eq(sorted(peers(d)), ["hoabinh"], "peers after remove")
    eq(relay_log(d), [("peer.add", "ndxp"), ("peer.add", "hoabinh"), ("route.add", "*:ndxp"),
                      ("route.add", "000.00.*.H30:ndxp"), ("route.add", "*.H30:hoabinh"),
                      ("route.remove", "*:ndxp"), ("route.remove", "000.00.*.H30:ndxp"),
                      ("peer.remove", "ndxp")], "relay records")
    audit_ok(d)


def t_peer_inbound():
    d = harness.new_data_dir("relay-inbound")
    registry(d)
    p = add_ndxp(d, "--inbound-system", OFFICE)
    check("received from peer ndxp" in p.stdout and "note" not in p.stdout, "peer add output %r", p.stdout)
    p = ok("peer", "add", "--data", d, "--name", "hoabinh", "--endpoint", "http://10.30.0.5:8080/",
           "--system-id", PROVINCE, "--secret", SECRET_HB, "--inbound-system", "000.00.00.H30")
    check("note" in p.stdout and "system add" in p.stdout, "no note for an unregistered system: %r",
          p.stdout)
    ps = peers(d)
    eq((ps["ndxp"]["inbound_system"], ps["hoabinh"]["inbound_system"]), (OFFICE, "000.00.00.H30"),
       "inbound systems")
    before = txlog(d)
    fails(2, "peer", "add", "--data", d, "--name", "p3", "--endpoint", "http://h/", "--system-id",
          PROVINCE, "--secret", "s", "--weak-secret", "--inbound-system", "*.H34", text="--inbound-system")
    eq(peers(d), ps, "peers after an invalid inbound system")
    eq(txlog(d), before, "log after an invalid inbound system")

    # the health as the running relay stores it (written here as it would be)
    db = sqlite3.connect(os.path.join(d, "lienthong.db"))
    try:
        db.execute("INSERT INTO peer_state VALUES ('hoabinh', 2, 1767225600000, 7, 'HTTP 502',"
                   " 1767225664000, 1767225630000)")
        db.commit()
    finally:
        db.close()
    ps = peers(d)
    eq(ps["hoabinh"]["health"], {"state": "failing", "since": "2026-01-01T00:00:00.000Z", "failures": 7,
                                 "last_error": "HTTP 502", "next": "2026-01-01T00:01:04.000Z"},
       "health as stored")
    eq(ps["ndxp"]["health"]["state"], "up", "health never stored")
    lines = ok("peer", "list", "--data", d).stdout.splitlines()
    eq(len(lines), 3, "text lines %r" % lines)
    hb, nd = lines[1], lines[2]
    for frag in ("000.00.00.H30", "failing", "2026-01-01T00:00:00", " 7 ", "HTTP 502"):
        check(frag in hb, "%r not in %r", frag, hb)
    check(OFFICE in nd and " up " in nd, "ndxp line %r", nd)
    col = lines[0].index("health")
    eq((hb[col:].split()[0], nd[col:].split()[0]), ("failing", "up"), "health column")
    # removing the peer removes its health: added again, it is up
    ok("peer", "remove", "--data", d, "--name", "hoabinh")
    add_hoabinh(d)
    eq(peers(d)["hoabinh"]["health"]["state"], "up", "health after remove and add")
    eq(peers(d)["hoabinh"]["inbound_system"], "", "no inbound system given")
    audit_ok(d)


def t_routes():
    d = harness.new_data_dir("relay-routes")
    registry(d)
    ok("platform", "set", "--data", d, "--organ-id", PLATFORM, "--name", "LGSP Kon Tum")
    add_ndxp(d)
    add_hoabinh(d)
    eq(routes(d), [], "no routes")
    eq(len(ok("route", "list", "--data", d).stdout.splitlines()), 1, "empty route table")
    eq(which(d, "000.00.00.G22"), "none", "no route")
    eq(which(d, OFFICE), "local", "local without routes")

    p = ok("route", "add", "--data", d, "--pattern", "*", "--peer", "ndxp")
    check("*" in p.stdout and "ndxp" in p.stdout and "note" not in p.stdout, "add output %r", p.stdout)
    ok("route", "add", "--data", d, "--pattern", "*.H30", "--peer", "hoabinh")
    ok("route", "add", "--data", d, "--pattern", "000.00.*.H30", "--peer", "ndxp")
    ok("route", "add", "--data", d, "--pattern", "*.H34", "--peer", "ndxp")
    ok("route", "add", "--data", d, "--pattern", "000.*", "--peer", "hoabinh")
    p = ok("route", "add", "--data", d, "--pattern", JUSTICE, "--peer", "hoabinh")
    check("note" in p.stdout and "delivered here" in p.stdout, "no note for a local organ: %r", p.stdout)
    # the order they are tried: literals, then fewer '*', then byte order ("*.H34" < "000.*")
    eq(routes(d), [(JUSTICE, "hoabinh"), ("000.00.*.H30", "ndxp"), ("*.H30", "hoabinh"),
                   ("*.H34", "ndxp"), ("000.*", "hoabinh"), ("*", "ndxp")], "route order")
    lines = ok("route", "list", "--data", d).stdout.splitlines()
    eq(len(lines), 7, "text lines %r" % lines)
    check(all(c in lines[0] for c in ("pattern", "peer", "created")), "header %r", lines[0])
    check(lines[1].startswith(JUSTICE) and lines[-1].startswith("* "), "text order %r", lines)

    # local agencies always win: registered (even an exact route), served, the platform itself
    for organ in (PROVINCE, OFFICE, JUSTICE, SERVED, PLATFORM):
        eq(which(d, organ), "local", "which %s" % organ)
    eq(which(d, "000.00.08.H34"), "peer ndxp (pattern *.H34)", "province organ nobody serves")
    eq(which(d, "000.00.00.H30"), "peer ndxp (pattern 000.00.*.H30)", "most literals")
    eq(which(d, "001.00.00.H30"), "peer hoabinh (pattern *.H30)", "suffix")
    eq(which(d, "000.00.00.G22"), "peer hoabinh (pattern 000.*)", "tie on literals and stars")
    eq(which(d, "vxp.saas.03"), "peer ndxp (pattern *)", "catch-all")
    eq(which(d, ".H30"), "peer ndxp (pattern *)", "'*' is one or more characters")

    before = txlog(d)
    fails(1, "route", "add", "--data", d, "--pattern", "*.H30", "--peer", "ndxp", text="already routes")
    fails(1, "route", "add", "--data", d, "--pattern", "*.H41", "--peer", "nghean", text="nghean")
    fails(1, "route", "remove", "--data", d, "--pattern", "*.H41", text="*.H41")
    eq(txlog(d), before, "log after refusals")
    eq(len(routes(d)), 6, "routes after refusals")

    ok("route", "remove", "--data", d, "--pattern", "000.*")
    eq(which(d, "000.00.00.G22"), "peer ndxp (pattern *)", "after removing 000.*")
    ok("route", "remove", "--data", d, "--pattern", "*")
    eq(which(d, "000.00.00.G22"), "none", "after removing the catch-all")
    ops = [r for r in relay_log(d) if r[0].startswith("route.")]
    eq(ops, [("route.add", "*:ndxp"), ("route.add", "*.H30:hoabinh"),
             ("route.add", "000.00.*.H30:ndxp"), ("route.add", "*.H34:ndxp"),
             ("route.add", "000.*:hoabinh"), ("route.add", JUSTICE + ":hoabinh"),
             ("route.remove", "000.*:hoabinh"), ("route.remove", "*:ndxp")], "route records")
    audit_ok(d)


# ------------------------------------------------------------------------------ API


class Api:
    def __init__(self, server):
        self.server = server
        self.token = server.admin_token()
        self.replies = []  # every reply body, to look for secrets

    def call(self, method, path, body=None, token=True, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + (token if isinstance(token, str) else self.token)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read()
        finally:
            conn.close()
        self.replies.append(text.decode("utf-8", "replace"))
        try:
            j = json.loads(text) if text else None
        except ValueError:
            j = None
        return r.status, j

    def expect(self, status, method, path, body=None, **kw):
        st, j = self.call(method, path, body, **kw)
        check(st == status, "%s %s: HTTP %d, expected %d: %r", method, path, st, status, j)
        return j

    def error(self, status, name, method, path, body=None, **kw):
        j = self.expect(status, method, path, body, **kw)
        check(isinstance(j, dict) and sorted(j) == ["code", "error", "message"],
              "%s %s: not the error shape: %r", method, path, j)
        eq(j["error"], name, "%s %s: error" % (method, path))
        check(isinstance(j["code"], int) and isinstance(j["message"], str), "error types %r", j)
        return j


def q(pattern):
    return urllib.parse.quote(pattern, safe="")


def t_api(server):
    api = Api(server)
    d = server.data_dir
    for method, path in (("GET", "/api/v1/platform"), ("PUT", "/api/v1/platform"),
                         ("GET", "/api/v1/peers"), ("POST", "/api/v1/peers"),
                         ("GET", "/api/v1/peers/ndxp"), ("DELETE", "/api/v1/peers/ndxp"),
                         ("GET", "/api/v1/routes"), ("POST", "/api/v1/routes"),
                         ("DELETE", "/api/v1/routes/%2A"), ("GET", "/api/v1/routes/which?organ_id=" + OFFICE)):
        j = api.error(401, "UNAUTHORIZED", method, path, {}, token=False)
        eq(j["code"], 114, "UNAUTHORIZED code")
        api.error(401, "UNAUTHORIZED", method, path, {}, token="wrong")

    # platform
    j = api.error(404, "PLATFORM_NOT_SET", "GET", "/api/v1/platform")
    eq(j["code"], 315, "PLATFORM_NOT_SET code")
    j = api.expect(200, "PUT", "/api/v1/platform", {"organ_id": PLATFORM, "name": "LGSP tỉnh Kon Tum"})
    eq((j["organ_id"], j["name"]), (PLATFORM, "LGSP tỉnh Kon Tum"), "platform set")
    j2 = api.expect(200, "GET", "/api/v1/platform")
    eq(j2, j, "platform get")
    api.expect(200, "PUT", "/api/v1/platform", j2)  # a GET reply sent back as it is
    api.error(400, "BAD_ORGAN_ID", "PUT", "/api/v1/platform", {"organ_id": "a b", "name": "x"})
    api.error(400, "BAD_ORGAN_ID", "PUT", "/api/v1/platform", {"organ_id": "*", "name": "x"})
    for bad in ({"name": "x"}, {"organ_id": PLATFORM}, {"organ_id": PLATFORM, "name": ""},
                {"organ_id": PLATFORM, "name": 5}, {"organ_id": 5, "name": "x"}):
        api.error(400, "BAD_PARAMETER", "PUT", "/api/v1/platform", bad)
    for raw in (b"[]", b"{", b"", b"{\"name\":\"a\",\"name\":\"b\"}"):
        api.error(400, "BAD_PARAMETER", "PUT", "/api/v1/platform", raw=raw)
    check(PLATFORM in ok("platform", "show", "--data", d).stdout, "the CLI sees the API's identity")
    api.error(405, "METHOD_NOT_ALLOWED", "POST", "/api/v1/platform", {})

    # peers
    eq(api.expect(200, "GET", "/api/v1/peers"), {"peers": []}, "no peers")
    peer = {"name": "ndxp", "endpoint": "https://vdxp.gov.vn/vxp", "system_id": PROVINCE,
            "secret": SECRET_NDXP, "pull_interval_ms": 1500}
    j = api.expect(201, "POST", "/api/v1/peers", peer)
    eq((j["name"], j["endpoint"], j["system_id"], j["pull_interval_ms"], j["secret"]),
       ("ndxp", peer["endpoint"], PROVINCE, 1500, "********"), "created peer")
    eq((j["inbound_system"], j["health"]),
       ("", {"state": "up", "since": "", "failures": 0, "last_error": "", "next": ""}), "created peer's extras")
    j = api.expect(201, "POST", "/api/v1/peers", {"name": "hoabinh", "endpoint": "http://10.30.0.5:8080/",
                                                  "system_id": PROVINCE, "secret": SECRET_HB,
                                                  "inbound_system": OFFICE})
    eq(j["pull_interval_ms"], 2000, "default pull interval")
    eq(j["inbound_system"], OFFICE, "inbound system")
    j = api.error(409, "PEER_EXISTS", "POST", "/api/v1/peers", dict(peer, secret="other"))
    eq(j["code"], 311, "PEER_EXISTS code")
    for bad in ({k: v for k, v in peer.items() if k != "secret"}, dict(peer, name="x", secret=""),
                dict(peer, name="a/b"), dict(peer, name="x", endpoint="ftp://h/"),
                dict(peer, name="x", endpoint="http://h/#f"), dict(peer, name="x", system_id="a b"),
                dict(peer, name="x", pull_interval_ms=50), dict(peer, name="x", pull_interval_ms="2000"),
                dict(peer, name="x", secret="********"), dict(peer, name="x", secret=7),
                dict(peer, name="x", inbound_system="a b"), dict(peer, name="x", inbound_system=7)):
        api.error(400, "BAD_PARAMETER", "POST", "/api/v1/peers", bad)
    eq(sorted(p["name"] for p in api.expect(200, "GET", "/api/v1/peers")["peers"]), ["hoabinh", "ndxp"],
       "peer list")
    eq(api.expect(200, "GET", "/api/v1/peers/ndxp")["endpoint"], peer["endpoint"], "one peer")
    j = api.expect(200, "GET", "/api/v1/peers/hoabinh")
    eq((j["inbound_system"], j["health"]["state"]), (OFFICE, "up"), "one peer's extras")
    eq({p["name"]: p["inbound_system"] for p in api.expect(200, "GET", "/api/v1/peers")["peers"]},
       {"ndxp": "", "hoabinh": OFFICE}, "inbound systems listed")
    eq(peers(d)["hoabinh"]["inbound_system"], OFFICE, "the CLI sees the API's inbound system")
    api.error(404, "UNKNOWN_PEER", "GET", "/api/v1/peers/nobody")
    api.error(404, "UNKNOWN_PEER", "GET", "/api/v1/peers/a%20b")
    api.error(404, "UNKNOWN_PEER", "DELETE", "/api/v1/peers/nobody")
    api.error(405, "METHOD_NOT_ALLOWED", "PUT", "/api/v1/peers/ndxp", {})
    api.error(405, "METHOD_NOT_ALLOWED", "DELETE", "/api/v1/peers", {})
    eq(sorted(peers(d)), ["hoabinh", "ndxp"], "the CLI sees the API's peers")

    # routes
    eq(api.expect(200, "GET", "/api/v1/routes"), {"routes": []}, "no routes")
    j = api.expect(201, "POST", "/api/v1/routes", {"pattern": "*", "peer": "ndxp"})
    eq((j["pattern"], j["peer"]), ("*", "ndxp"), "created route")
    api.expect(201, "POST", "/api/v1/routes", {"pattern": "*.H30", "peer": "hoabinh"})
    api.expect(201, "POST", "/api/v1/routes", {"pattern": "000.00.*.H30", "peer": "ndxp"})
    api.expect(201, "POST", "/api/v1/routes", {"pattern": "which", "peer": "ndxp"})
    j = api.error(409, "ROUTE_EXISTS", "POST", "/api/v1/routes", {"pattern": "*.H30", "peer": "ndxp"})
    check("hoabinh" in j["message"], "ROUTE_EXISTS names the current peer: %r", j)
    api.error(404, "UNKNOWN_PEER", "POST", "/api/v1/routes", {"pattern": "*.H41", "peer": "nghean"})
    for bad in ({"pattern": "*.H41"}, {"peer": "ndxp"}, {"pattern": "", "peer": "ndxp"},
                {"pattern": "a/b", "peer": "ndxp"}, {"pattern": "*" * 65, "peer": "ndxp"},
                {"pattern": "*.H41", "peer": "a b"}, {"pattern": 5, "peer": "ndxp"}):
        api.error(400, "BAD_PARAMETER", "POST", "/api/v1/routes", bad)
    eq([(r["pattern"], r["peer"]) for r in api.expect(200, "GET", "/api/v1/routes")["routes"]],
       [("000.00.*.H30", "ndxp"), ("which", "ndxp"), ("*.H30", "hoabinh"), ("*", "ndxp")],
       "routes, most specific first")
    eq(routes(d), [("000.00.*.H30", "ndxp"), ("which", "ndxp"), ("*.H30", "hoabinh"), ("*", "ndxp")],
       "the CLI sees the API's routes")

    # which
    def decide(organ):
        return api.expect(200, "GET", "/api/v1/routes/which?organ_id=" + urllib.parse.quote(organ))

    j = decide(OFFICE)
    eq(j, {"organ_id": OFFICE, "decision": "local", "peer": None, "pattern": None}, "which local")
    eq(decide(PLATFORM)["decision"], "local", "the platform's own id is local")
    eq(decide(SERVED)["decision"], "local", "a served organ is local")
    j = decide("000.00.00.H30")
    eq((j["decision"], j["peer"], j["pattern"]), ("peer", "ndxp", "000.00.*.H30"), "which peer")
    eq(decide("001.00.00.H30")["peer"], "hoabinh", "which suffix")
    eq(decide("000.00.00.G22")["pattern"], "*", "which catch-all")
    for organ in ("", "a b", "*.H30"):
        j = api.error(400, "BAD_ORGAN_ID", "GET", "/api/v1/routes/which?organ_id=" + urllib.parse.quote(organ))
        eq(j["code"], 305, "BAD_ORGAN_ID code")
    api.error(400, "BAD_ORGAN_ID", "GET", "/api/v1/routes/which")
    api.error(405, "METHOD_NOT_ALLOWED", "POST", "/api/v1/routes/which", {})
    api.error(405, "METHOD_NOT_ALLOWED", "GET", "/api/v1/routes/" + q("*.H30"))
    api.error(405, "METHOD_NOT_ALLOWED", "PUT", "/api/v1/routes", {})

    # a peer in use cannot go; the message names its routes
    j = api.error(409, "PEER_IN_USE", "DELETE", "/api/v1/peers/ndxp")
    eq(j["code"], 312, "PEER_IN_USE code")
    for pat in ("000.00.*.H30", "which", "*"):
        check(pat in j["message"], "PEER_IN_USE message does not list %s: %r", pat, j["message"])
    # removal by percent-encoded pattern (and the route named "which")
    j = api.expect(200, "DELETE", "/api/v1/routes/" + q("000.00.*.H30"))
    eq((j["pattern"], j["peer"], j["removed"]), ("000.00.*.H30", "ndxp", True), "route removed")
    api.expect(200, "DELETE", "/api/v1/routes/which")
    api.expect(200, "DELETE", "/api/v1/routes/*")  # '*' as it is is fine in a path
    api.error(404, "UNKNOWN_ROUTE", "DELETE", "/api/v1/routes/%2A")
    api.error(404, "UNKNOWN_ROUTE", "DELETE", "/api/v1/routes/" + q("a/b"))
    eq(decide("000.00.00.G22")["decision"], "none", "no route left for it")
    j = api.expect(200, "DELETE", "/api/v1/peers/ndxp")
    eq((j["name"], j["removed"]), ("ndxp", True), "peer removed")
    api.error(404, "UNKNOWN_PEER", "GET", "/api/v1/peers/ndxp")

    # a change by the CLI is seen by the running server at once
    ok("route", "add", "--data", d, "--pattern", "*.H41", "--peer", "hoabinh")
    eq(decide("000.00.00.H41")["peer"], "hoabinh", "CLI route via the API")

    for s in (SECRET_NDXP, SECRET_HB):
        check(not any(s in r for r in api.replies), "a secret in an API reply")
    eq(relay_log(d), [("platform.set", PLATFORM), ("platform.set", PLATFORM), ("peer.add", "ndxp"),
                      ("peer.add", "hoabinh"), ("route.add", "*:ndxp"), ("route.add", "*.H30:hoabinh"),
                      ("route.add", "000.00.*.H30:ndxp"), ("route.add", "which:ndxp"),
                      ("route.remove", "000.00.*.H30:ndxp"), ("route.remove", "which:ndxp"),
                      ("route.remove", "*:ndxp"), ("peer.remove", "ndxp"),
                      ("route.add", "*.H41:hoabinh")], "API transaction-log records")

    # a peer behind many routes: all counted, the message bounded
    j = api.expect(201, "POST", "/api/v1/peers", {"name": "busy", "endpoint": "http://h/", "system_id": PROVINCE,
                                                  "secret": "s", "inbound_system": ""})
    eq(j["inbound_system"], "", "an empty inbound system is none")
    for i in range(40):
        api.expect(201, "POST", "/api/v1/routes", {"pattern": "000.%02d.*.G%02d" % (i, i), "peer": "busy"})
    j = api.error(409, "PEER_IN_USE", "DELETE", "/api/v1/peers/busy")
    check("40 routes" in j["message"] and j["message"].endswith(", ...") and len(j["message"]) < 1000,
          "long PEER_IN_USE message %r", j["message"])
    audit_ok(d)


def main():
    harness.require_binary()
    r = harness.Runner("relay administration", time_limit=500)
    for name, fn in [
        ("--help on every form", t_help),
        ("misuse exits 2 and changes nothing", t_misuse),
        ("platform set and show", t_platform),
        ("peer add, list (secrets masked), remove (refused while routed)", t_peers),
        ("peer add --inbound-system, health in peer list", t_peer_inbound),
        ("route add, list in specificity order, remove, which (local wins)", t_routes),
    ]:
        r.run(name, fn)
    server = harness.Server(tag="relay-api")
    try:
        registry(server.data_dir)
        server.start()
        r.run("JSON API: platform, peers, routes, which", t_api, server)
        r.run("clean shutdown, no sanitizer report", server.check_clean_shutdown)
    finally:
        server.stop()
    r.finish()


if __name__ == "__main__":
    main()
