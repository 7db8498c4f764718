#!/usr/bin/env python3
"""test_gateway_admin — the administration of the data-sharing gateway, end to end: the CLI
(service add|list|update|remove, access grant|revoke|list, token list|revoke), the same through
the JSON API (/api/v1/services, /api/v1/access, /api/v1/tokens) of a running server, and the demo
province's services and rights. The gateway's call path (/token, /gw/...) is tested elsewhere.

Tokens are only ever issued by the running gateway; to exercise token list/revoke without it,
a few token rows (hashes of known strings) are put into the store's table directly, found by its
columns the way test_cli.py finds the transaction log. Python 3 standard library only.
"""

import hashlib
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, eq  # noqa: E402

LT = harness.BINARY
PROVINCE, OFFICE, JUSTICE, DIC = "000.00.00.H34", "000.00.01.H34", "000.00.06.H34", "000.00.13.H34"


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
    """A province with three systems: two consumers-to-be and a provider."""
    ok("agency", "add", "--data", d, "--id", PROVINCE, "--name", "UBND tỉnh Kon Tum")
    for organ, name in ((OFFICE, "Văn phòng UBND tỉnh"), (JUSTICE, "Sở Tư pháp"),
                        (DIC, "Sở Thông tin và Truyền thông")):
        ok("agency", "add", "--data", d, "--id", organ, "--name", name, "--parent", PROVINCE)
        ok("system", "add", "--data", d, "--id", organ, "--agency", organ, "--secret", "secret-of-" + organ)


def services(d, *extra):
    return {"%s/%s" % (s["code"], s["version"]): s
            for s in json.loads(ok("service", "list", "--data", d, "--json", *extra).stdout)}


def grants(d, *extra):
    return {(g["consumer"], g["service"]): g
            for g in json.loads(ok("access", "list", "--data", d, "--json", *extra).stdout)}


def tokens(d, *extra):
    return json.loads(ok("token", "list", "--data", d, "--json", *extra).stdout)


def db_path(d):
    return os.path.join(d, "lienthong.db")


def txlog(d):
    """(operation, object) of every transaction-log record, in order."""
    db = sqlite3.connect(db_path(d))
    try:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            cols = [r[1] for r in db.execute("PRAGMA table_info(\"%s\")" % name)]
            if "operation" in cols and "outcome" in cols:
                obj = "package_id" if "package_id" in cols else cols[cols.index("operation") + 1]
                seq = "seq" if "seq" in cols else "rowid"
                return [(r[0], r[1]) for r in db.execute(
                    "SELECT operation, %s FROM \"%s\" ORDER BY %s" % (obj, name, seq))]
    finally:
        db.close()
    raise harness.TestFailure("no transaction-log table in %s" % db_path(d))


def audit_ok(d):
    p = ok("audit", "verify", "--data", d)
    check("chain intact" in p.stdout, "audit: %r", p.stdout)


def put_tokens(d, rows):
    """Inserts token rows (token string, system, issued_ms, expires_ms, revoked_ms) behind the
    store's back; returns the hashes."""
    db = sqlite3.connect(db_path(d))
    try:
        table = None
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            cols = [r[1] for r in db.execute("PRAGMA table_info(\"%s\")" % name)]
            if {"sha256", "system_id", "expires_ms", "revoked_ms"} <= set(cols):
                table = name
        check(table is not None, "no token table in %s", db_path(d))
        hashes = []
        for tok, system, issued, expires, revoked in rows:
            h = hashlib.sha256(tok.encode()).hexdigest()
            db.execute("INSERT INTO \"%s\" (sha256, system_id, issued_ms, expires_ms, revoked_ms) "
                       "VALUES (?, ?, ?, ?, ?)" % table, (h, system, issued, expires, revoked))
            hashes.append(h)
        db.commit()
        return hashes
    finally:
        db.close()


def now_ms():
    return int(time.time() * 1000)


def add_hotich(d, *extra):
    return ok("service", "add", "--data", d, "--code", "hotich", "--version", "v1", "--provider",
              JUSTICE, "--url", "http://127.0.0.1:8081/hotich", "--name", "Tra cứu hộ tịch", *extra)


# ------------------------------------------------------------------------------ CLI


HELP_FORMS = [
    ["service", "--help"], ["service", "add", "--help"], ["service", "list", "--help"],
    ["service", "update", "--help"], ["service", "remove", "--help"], ["access", "--help"],
    ["access", "grant", "--help"], ["access", "revoke", "--help"], ["access", "list", "--help"],
    ["token", "--help"], ["token", "list", "--help"], ["token", "revoke", "--help"],
    ["demo", "--help"], ["service", "add", "--code", "x", "--help"],
]


def t_help():
    for form in HELP_FORMS:
        p = run(*form)
        check(p.returncode == 0, "%s: %s", " ".join(form), show(p))
        check("Usage" in p.stdout, "%s: no usage on stdout: %r", " ".join(form), p.stdout)
        check(p.stderr == "", "%s: unexpected stderr %r", " ".join(form), p.stderr)
    p = run("service", "add", "--help")
    for opt in ("--code", "--version", "--provider", "--url", "--protocol", "--timeout-ms", "--name"):
        check(opt in p.stdout, "service add --help does not mention %s", opt)
    p = run("access", "grant", "--help")
    for opt in ("--consumer", "--service", "--methods", "--path-prefix"):
        check(opt in p.stdout, "access grant --help does not mention %s", opt)


def t_misuse():
    d = harness.new_data_dir("gwadm-misuse")
    registry(d)
    add = ["service", "add", "--data", d, "--code", "c", "--version", "v1", "--provider", JUSTICE]
    url = ["--url", "http://h/x"]
    grant = ["access", "grant", "--data", d, "--consumer", OFFICE]
    forms = [
        ["service"], ["service", "publish", "--data", d], ["access"], ["access", "give"], ["token"],
        ["token", "burn", "--data", d],
        add,                                          # no --url
        add + url + ["--bogus"],
        add + url + ["extra"],
        ["service", "add", "--data", d, "--code", "a/b", "--version", "v1", "--provider", JUSTICE] + url,
        ["service", "add", "--data", d, "--code", "c", "--version", "..", "--provider", JUSTICE] + url,
        add + ["--url", "ftp://h/x"], add + ["--url", "http://u:p@h/"], add + ["--url", "http://h/#f"],
        add + url + ["--protocol", "grpc"], add + url + ["--timeout-ms", "abc"],
        add + url + ["--timeout-ms", "0"], add + url + ["--timeout-ms", "600001"],
        add + url + ["--timeout-ms", "-5"], add + url + ["--max-request-bytes", "0"],
        add + url + ["--rate", "1.5"], add + url + ["--name", "tab\there"],
        ["service", "update", "--data", d, "--code", "c", "--version", "v1"],  # nothing to change
        ["service", "update", "--data", d, "--code", "c", "--version", "v1", "--url", "nope"],
        ["service", "remove", "--data", d, "--code", "c"],
        ["service", "list"],
        grant,                                        # no --service
        grant + ["--service", "hotich"], grant + ["--service", "a/b/c"],
        grant + ["--service", "hotich/v1", "--methods", "GE T"],
        grant + ["--service", "hotich/v1", "--methods", "GET,,POST"],
        grant + ["--service", "hotich/v1", "--path-prefix", "noslash"],
        grant + ["--service", "hotich/v1", "--path-prefix", "/a/../b"],
        grant + ["--service", "hotich/v1", "--rate", "x"],
        ["access", "revoke", "--data", d, "--consumer", OFFICE],
        ["access", "list", "--data", d, "--service", "bad"],
        ["token", "revoke", "--data", d],
        ["token", "revoke", "--data", d, "--system", OFFICE, "--id", "0123456789ab"],
        ["token", "revoke", "--data", d, "--id", "0123"],
        ["token", "revoke", "--data", d, "--id", "0123456789xz"],
        ["token", "list", "--data", d, "--json", "x"],
        ["demo", "--data", d, "--upstream", "ftp://127.0.0.1:8081"],
    ]
    before = txlog(d)
    for form in forms:
        p = run(*form)
        check(p.returncode == 2, "%s: expected exit 2, got %s", " ".join(form), show(p))
        check("Usage" in p.stderr, "%s: no usage on stderr: %r", " ".join(form), p.stderr)
        check(p.stdout == "", "%s: unexpected stdout %r", " ".join(form), p.stdout)
    check(services(d) == {} and grants(d) == {}, "misuse changed the catalogue")
    eq(txlog(d), before, "transaction log after misuse")


def t_unknown_references():
    d = harness.new_data_dir("gwadm-unknown")
    registry(d)
    fails(1, "service", "add", "--data", d, "--code", "x", "--version", "v1", "--provider",
          "000.00.99.H34", "--url", "http://h/", text="000.00.99.H34")
    add_hotich(d)
    before, svcs = txlog(d), services(d)
    fails(1, "service", "add", "--data", d, "--code", "hotich", "--version", "v1", "--provider",
          JUSTICE, "--url", "http://other/", text="update")
    fails(1, "service", "update", "--data", d, "--code", "nope", "--version", "v1", "--timeout-ms", "5")
    fails(1, "service", "update", "--data", d, "--code", "hotich", "--version", "v1", "--provider",
          "000.00.99.H34", text="000.00.99.H34")
    fails(1, "service", "remove", "--data", d, "--code", "nope", "--version", "v1")
    fails(1, "access", "grant", "--data", d, "--consumer", "000.00.99.H34", "--service", "hotich/v1",
          text="000.00.99.H34")
    fails(1, "access", "grant", "--data", d, "--consumer", OFFICE, "--service", "nope/v1",
          text="nope/v1")
    fails(1, "access", "revoke", "--data", d, "--consumer", OFFICE, "--service", "hotich/v1")
    fails(1, "token", "revoke", "--data", d, "--id", "0123456789ab")
    eq(services(d), svcs, "services after refused commands")
    eq(grants(d), {}, "grants after refused commands")
    eq(txlog(d), before, "transaction log after refused commands")


def t_service_lifecycle():
    d = harness.new_data_dir("gwadm-svc")
    registry(d)
    p = add_hotich(d)
    check("hotich/v1" in p.stdout and "access grant" in p.stdout,
          "service add output does not say nothing is granted: %r", p.stdout)
    ok("service", "add", "--data", d, "--code", "dkkd", "--version", "v1", "--provider", OFFICE,
       "--url", "https://dkkd.example.gov.vn/ws", "--protocol", "soap", "--timeout-ms", "5000",
       "--description", "SOAP", "--max-request-bytes", "1000", "--max-response-bytes", "2000",
       "--rate", "7", "--burst", "9")
    s = services(d)
    eq(sorted(s), ["dkkd/v1", "hotich/v1"], "services")
    h = s["hotich/v1"]
    eq((h["provider"], h["url"], h["protocol"], h["timeout_ms"], h["name"]),
       (JUSTICE, "http://127.0.0.1:8081/hotich", "rest", 30000, "Tra cứu hộ tịch"), "hotich defaults")
    eq((h["max_request_bytes"], h["max_response_bytes"], h["rate_per_s"], h["burst"]),
       (10485760, 52428800, 100, 0), "hotich default limits")
    k = s["dkkd/v1"]
    eq((k["protocol"], k["timeout_ms"], k["description"], k["max_request_bytes"],
        k["max_response_bytes"], k["rate_per_s"], k["burst"]),
       ("soap", 5000, "SOAP", 1000, 2000, 7, 9), "dkkd as given")
    check(not any("secret" in json.dumps(x) for x in s.values()), "a secret in the service list")
    eq(sorted(services(d, "--provider", JUSTICE)), ["hotich/v1"], "--provider filter")
    eq(services(d, "--provider", DIC), {}, "--provider filter without services")

    # text table: a header and one aligned row per service
    lines = ok("service", "list", "--data", d).stdout.splitlines()
    eq(len(lines), 3, "text lines %r" % lines)
    for col in ("service", "provider", "protocol", "url", "timeout", "name"):
        check(col in lines[0], "column %s missing in %r", col, lines[0])
    row = [l for l in lines if l.startswith("hotich/v1")]
    check(row and JUSTICE in row[0] and "rest" in row[0] and "Tra cứu hộ tịch" in row[0],
          "hotich row %r", lines)
    check(lines[0].index("provider") == lines[1].index(lines[1].split()[1]), "not aligned: %r", lines)

    # update: only the given fields change
    ok("service", "update", "--data", d, "--code", "hotich", "--version", "v1", "--timeout-ms", "1500",
       "--url", "http://10.0.0.5:8080/hotich/api")
    h2 = services(d)["hotich/v1"]
    eq((h2["timeout_ms"], h2["url"]), (1500, "http://10.0.0.5:8080/hotich/api"), "updated fields")
    for k2 in ("provider", "protocol", "name", "max_request_bytes", "rate_per_s", "created"):
        eq(h2[k2], h[k2], "unchanged %s" % k2)
    ok("service", "update", "--data", d, "--code", "hotich", "--version", "v1", "--provider", DIC)
    eq(services(d)["hotich/v1"]["provider"], DIC, "provider changed")

    # remove also removes the service's rights, not the others'
    ok("access", "grant", "--data", d, "--consumer", OFFICE, "--service", "hotich/v1")
    ok("access", "grant", "--data", d, "--consumer", DIC, "--service", "hotich/v1")
    ok("access", "grant", "--data", d, "--consumer", OFFICE, "--service", "dkkd/v1")
    p = ok("service", "remove", "--data", d, "--code", "hotich", "--version", "v1")
    check("2 access rights" in p.stdout, "remove output %r", p.stdout)
    eq(sorted(services(d)), ["dkkd/v1"], "services after remove")
    eq(sorted(grants(d)), [(OFFICE, "dkkd/v1")], "grants after remove")
    ops = [op for op, _ in txlog(d) if op.startswith(("service.", "access."))]
    eq(ops, ["service.add", "service.add", "service.update", "service.update", "access.grant",
             "access.grant", "access.grant", "service.remove"], "transaction-log operations")
    check(("service.remove", "hotich/v1") in txlog(d), "service.remove record names the service")
    audit_ok(d)


def t_access():
    d = harness.new_data_dir("gwadm-access")
    registry(d)
    add_hotich(d)
    ok("service", "add", "--data", d, "--code", "lylich", "--version", "v1", "--provider", JUSTICE,
       "--url", "http://127.0.0.1:8081/lylich")
    eq(grants(d), {}, "publishing granted something")
    p = ok("access", "grant", "--data", d, "--consumer", OFFICE, "--service", "hotich/v1",
           "--methods", "get, post,GET", "--path-prefix", "/khaisinh", "--rate", "5", "--burst", "10")
    check("granted" in p.stdout, "grant output %r", p.stdout)
    ok("access", "grant", "--data", d, "--consumer", DIC, "--service", "lylich/v1")
    g = grants(d)
    eq(sorted(g), [(OFFICE, "hotich/v1"), (DIC, "lylich/v1")], "grants")
    o = g[(OFFICE, "hotich/v1")]
    eq((o["methods"], o["path_prefix"], o["rate_per_s"], o["burst"], o["code"], o["version"]),
       ("GET,POST", "/khaisinh", 5, 10, "hotich", "v1"), "normalised right")
    eq((g[(DIC, "lylich/v1")]["methods"], g[(DIC, "lylich/v1")]["path_prefix"]), ("", ""),
       "unrestricted right")
    eq(sorted(grants(d, "--consumer", DIC)), [(DIC, "lylich/v1")], "--consumer filter")
    eq(sorted(grants(d, "--service", "hotich/v1")), [(OFFICE, "hotich/v1")], "--service filter")
    eq(grants(d, "--consumer", DIC, "--service", "hotich/v1"), {}, "both filters")

    lines = ok("access", "list", "--data", d).stdout.splitlines()
    eq(len(lines), 3, "text lines %r" % lines)
    check("consumer" in lines[0] and "service" in lines[0] and "methods" in lines[0], "header %r", lines[0])
    check(any("GET,POST" in l and "/khaisinh" in l for l in lines), "restricted row %r", lines)

    # granting again replaces the right (created stays)
    p = ok("access", "grant", "--data", d, "--consumer", OFFICE, "--service", "hotich/v1",
           "--methods", "GET")
    check("updated" in p.stdout, "re-grant output %r", p.stdout)
    o2 = grants(d)[(OFFICE, "hotich/v1")]
    eq((o2["methods"], o2["path_prefix"], o2["rate_per_s"]), ("GET", "", 0), "replaced right")
    eq(o2["created"], o["created"], "created of a replaced right")
    eq(len(grants(d)), 2, "re-grant added a row")

    p = ok("access", "revoke", "--data", d, "--consumer", OFFICE, "--service", "hotich/v1")
    eq(sorted(grants(d)), [(DIC, "lylich/v1")], "grants after revoke")
    fails(1, "access", "revoke", "--data", d, "--consumer", OFFICE, "--service", "hotich/v1")
    ops = [(op, obj) for op, obj in txlog(d) if op.startswith("access.")]
    eq(ops, [("access.grant", OFFICE + ":hotich/v1"), ("access.grant", DIC + ":lylich/v1"),
             ("access.grant", OFFICE + ":hotich/v1"), ("access.revoke", OFFICE + ":hotich/v1")],
       "access records")
    audit_ok(d)


def t_tokens_empty_store():
    d = harness.new_data_dir("gwadm-tok0")
    ok("agency", "add", "--data", d, "--id", "000.00.00.H34", "--name", "a store to read")
    p = ok("token", "list", "--data", d)
    eq(len(p.stdout.splitlines()), 1, "empty token table %r" % p.stdout)
    check("system" in p.stdout and "expires" in p.stdout, "token header %r", p.stdout)
    eq(tokens(d), [], "token list --json")
    p = ok("token", "revoke", "--data", d, "--system", OFFICE)
    check("nothing" in p.stdout, "revoke with no token: %r", p.stdout)
    fails(1, "token", "revoke", "--data", d, "--id", "0123456789abcdef")
    eq(ok("access", "list", "--data", d, "--json").stdout.strip(), "[]", "access list --json")
    eq(ok("service", "list", "--data", d, "--json").stdout.strip(), "[]", "service list --json")
    eq(len(ok("service", "list", "--data", d).stdout.splitlines()), 1, "empty service table")
    eq(len(ok("access", "list", "--data", d).stdout.splitlines()), 1, "empty access table")


def t_tokens():
    d = harness.new_data_dir("gwadm-tok")
    registry(d)
    now = now_ms()
    # two hashes sharing their first 12 hex digits cannot be made on demand: ambiguity is
    # exercised with a shorter common prefix below
    rows = [("tok-office-1", OFFICE, now - 1000, now + 3600_000, 0),
            ("tok-office-2", OFFICE, now - 900, now + 3600_000, 0),
            ("tok-dic", DIC, now - 800, now + 3600_000, 0),
            ("tok-expired", DIC, now - 7200_000, now - 3600_000, 0),
            ("tok-revoked", DIC, now - 700, now + 3600_000, now - 100)]
    h = put_tokens(d, rows)
    t = tokens(d)
    eq(sorted(x["id"] for x in t), sorted(x[:12] for x in h[:3]), "active token ids")
    for x in t:
        eq(sorted(x), ["expires", "id", "issued", "system"], "token members")
    text = ok("token", "list", "--data", d).stdout + json.dumps(t)
    for full in h:
        check(full not in text, "a whole token hash is shown")
    for tok, *_ in rows:
        check(tok not in text, "a token is shown")
    eq([x["system"] for x in tokens(d, "--system", DIC)], [DIC], "--system filter")

    # --id: at least 12 hex digits, unique among active tokens, any case
    before = len(txlog(d))
    fails(1, "token", "revoke", "--data", d, "--id", h[3][:12], text="no active token")  # expired
    p = ok("token", "revoke", "--data", d, "--id", h[2][:16].upper())
    check(h[2][:12] in p.stdout, "revoke output %r", p.stdout)
    eq(sorted(x["id"] for x in tokens(d)), sorted(x[:12] for x in h[:2]), "after revoke --id")
    fails(1, "token", "revoke", "--data", d, "--id", h[2][:12])
    # --system: every active token of the system
    p = ok("token", "revoke", "--data", d, "--system", OFFICE)
    eq(tokens(d), [], "after revoke --system")
    eq([r for r in txlog(d)[before:]], [("token.revoke", h[2][:12]), ("token.revoke", OFFICE)],
       "token records")

    # rotate-secret and system remove revoke the system's tokens too
    h2 = put_tokens(d, [("tok-office-3", OFFICE, now, now + 3600_000, 0),
                        ("tok-dic-2", DIC, now, now + 3600_000, 0)])
    eq(len(tokens(d)), 2, "new tokens")
    ok("system", "rotate-secret", "--data", d, "--id", OFFICE)
    eq([x["id"] for x in tokens(d)], [h2[1][:12]], "tokens after rotate-secret")
    ok("system", "remove", "--data", d, "--id", DIC)
    eq(tokens(d), [], "tokens after system remove")
    audit_ok(d)


def t_demo_twice():
    d = harness.new_data_dir("gwadm-demo")
    p = ok("demo", "--data", d)
    for frag in ("hotich/v1", "/token", "grant_type=client_credentials", "Authorization: Bearer",
                 "/gw/hotich/v1/", OFFICE + ":demo-secret-vpubnd"):
        check(frag in p.stdout, "demo output lacks %r:\n%s", frag, p.stdout)
    s = services(d)
    eq(sorted(s), ["dkkd/v1", "hotich/v1", "lylich/v1", "mqhns/v1"], "demo services")
    eq(s["dkkd/v1"]["protocol"], "soap", "dkkd protocol")
    for key in ("hotich", "lylich", "dkkd", "mqhns"):
        eq(s[key + "/v1"]["url"], "http://127.0.0.1:8081/" + key, "%s upstream" % key)
    eq(s["hotich/v1"]["provider"], JUSTICE, "hotich provider")
    g = grants(d)
    for key in s:
        check((OFFICE, key) in g, "the office may not call %s: %r", key, sorted(g))
    check(("000.00.31.H34", "hotich/v1") in g and ("000.00.31.H34", "dkkd/v1") in g,
          "one-stop shop rights: %r", sorted(g))
    log = txlog(d)
    eq(sum(1 for op, _ in log if op == "service.add"), 4, "service records")
    eq(sum(1 for op, _ in log if op == "access.grant"), len(g), "grant records")

    p2 = ok("demo", "--data", d)
    check("already loaded" in p2.stdout and "demo-secret-vpubnd" in p2.stdout, "second demo %r", p2.stdout)
    eq(services(d), s, "services after the second demo")
    eq(grants(d), g, "grants after the second demo")
    eq(txlog(d), log, "second demo wrote to the log")
    audit_ok(d)

    # another upstream base for a fresh directory; a trailing slash is fine
    d2 = harness.new_data_dir("gwadm-demo2")
    ok("demo", "--data", d2, "--upstream", "http://10.1.2.3:9000/")
    eq(services(d2)["mqhns/v1"]["url"], "http://10.1.2.3:9000/mqhns", "--upstream base")


# ------------------------------------------------------------------------------ API


class Api:
    def __init__(self, server):
        self.server = server
        self.token = server.admin_token()

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


def t_api(server):
    api = Api(server)
    d = server.data_dir
    # authentication first, for every route and method
    for method, path in (("GET", "/api/v1/services"), ("POST", "/api/v1/services"),
                         ("GET", "/api/v1/services/hotich/v1"), ("PUT", "/api/v1/services/hotich/v1"),
                         ("DELETE", "/api/v1/services/hotich/v1"), ("GET", "/api/v1/access"),
                         ("POST", "/api/v1/access"), ("DELETE", "/api/v1/access"),
                         ("GET", "/api/v1/tokens"), ("POST", "/api/v1/tokens/revoke")):
        j = api.error(401, "UNAUTHORIZED", method, path, {}, token=False)
        eq(j["code"], 114, "UNAUTHORIZED code")
        api.error(401, "UNAUTHORIZED", method, path, {}, token="wrong")

    eq(api.expect(200, "GET", "/api/v1/services"), {"services": []}, "empty catalogue")
    svc = {"code": "hotich", "version": "v1", "provider": JUSTICE, "url": "http://127.0.0.1:8081/hotich",
           "protocol": "rest", "timeout_ms": 2000, "name": "Tra cứu hộ tịch",
           "description": "khai sinh", "max_request_bytes": 4096, "max_response_bytes": 8192,
           "rate_per_s": 3, "burst": 6}
    j = api.expect(201, "POST", "/api/v1/services", svc)
    for k, v in svc.items():
        eq(j[k], v, "created service %s" % k)
    j = api.expect(201, "POST", "/api/v1/services", {"code": "mqhns", "version": "v1",
                                                     "provider": DIC, "url": "http://h/mqhns"})
    eq((j["protocol"], j["timeout_ms"], j["rate_per_s"], j["name"]), ("rest", 30000, 100, ""), "defaults")
    api.error(400, "BAD_PARAMETER", "POST", "/api/v1/services", svc)  # exists
    api.error(404, "UNKNOWN_SYSTEM", "POST", "/api/v1/services",
              dict(svc, code="x", provider="000.00.99.H34"))
    for bad in ({"code": "x", "version": "v1", "provider": JUSTICE},              # no url
                dict(svc, code="x", timeout_ms="30"), dict(svc, code="x", timeout_ms=1.5),
                dict(svc, code="x", url="ftp://h/"), dict(svc, code="x", protocol="grpc"),
                dict(svc, code="a/b"), dict(svc, code="x", name=5), dict(svc, code="x", burst=-1)):
        api.error(400, "BAD_PARAMETER", "POST", "/api/v1/services", bad)
    for raw in (b"[]", b"\"x\"", b"{", b"", b"{\"code\":\"a\",\"code\":\"b\"}"):
        api.error(400, "BAD_PARAMETER", "POST", "/api/v1/services", raw=raw)
    eq(sorted(services(d)), ["hotich/v1", "mqhns/v1"], "the CLI sees what the API published")

    eq(sorted(x["code"] for x in api.expect(200, "GET", "/api/v1/services")["services"]),
       ["hotich", "mqhns"], "service list")
    eq([x["code"] for x in api.expect(200, "GET", "/api/v1/services?provider=" + DIC)["services"]],
       ["mqhns"], "provider filter")
    eq(api.expect(200, "GET", "/api/v1/services/hotich/v1")["url"], svc["url"], "one service")
    api.error(404, "UNKNOWN_SERVICE", "GET", "/api/v1/services/hotich/v2")
    api.error(404, "UNKNOWN_SERVICE", "GET", "/api/v1/services/hotich")
    j = api.expect(200, "PUT", "/api/v1/services/hotich/v1", {"timeout_ms": 900, "protocol": "soap"})
    eq((j["timeout_ms"], j["protocol"], j["url"], j["rate_per_s"]), (900, "soap", svc["url"], 3), "PUT partial")
    api.expect(200, "PUT", "/api/v1/services/hotich/v1", j)  # a GET reply sent back as it is
    api.error(404, "UNKNOWN_SERVICE", "PUT", "/api/v1/services/nope/v1", {"timeout_ms": 5})
    api.error(400, "BAD_PARAMETER", "PUT", "/api/v1/services/hotich/v1", {"timeout_ms": 0})
    api.error(400, "BAD_PARAMETER", "PUT", "/api/v1/services/hotich/v1", {"code": "other"})
    api.error(404, "UNKNOWN_SYSTEM", "PUT", "/api/v1/services/hotich/v1", {"provider": "000.00.99.H34"})
    api.error(405, "METHOD_NOT_ALLOWED", "PATCH", "/api/v1/services/hotich/v1", {})
    api.error(405, "METHOD_NOT_ALLOWED", "DELETE", "/api/v1/services", {})

    # access rights
    eq(api.expect(200, "GET", "/api/v1/access"), {"grants": []}, "no rights")
    j = api.expect(201, "POST", "/api/v1/access", {"consumer": OFFICE, "service": "hotich/v1",
                                                   "methods": "get,POST", "path_prefix": "/khaisinh",
                                                   "rate_per_s": 2, "burst": 4})
    eq((j["consumer"], j["service"], j["methods"], j["path_prefix"], j["rate_per_s"], j["burst"]),
       (OFFICE, "hotich/v1", "GET,POST", "/khaisinh", 2, 4), "granted right")
    api.expect(201, "POST", "/api/v1/access", {"consumer": DIC, "service": "hotich/v1"})
    api.expect(201, "POST", "/api/v1/access", {"consumer": OFFICE, "service": "mqhns/v1"})
    j = api.expect(201, "POST", "/api/v1/access", {"consumer": OFFICE, "service": "hotich/v1",
                                                   "methods": "GET"})
    eq((j["methods"], j["path_prefix"]), ("GET", ""), "replaced right")
    api.error(404, "UNKNOWN_SYSTEM", "POST", "/api/v1/access", {"consumer": "000.00.99.H34",
                                                                "service": "hotich/v1"})
    api.error(404, "UNKNOWN_SERVICE", "POST", "/api/v1/access", {"consumer": OFFICE,
                                                                 "service": "nope/v1"})
    for bad in ({"service": "hotich/v1"}, {"consumer": OFFICE}, {"consumer": OFFICE, "service": "hotich"},
                {"consumer": OFFICE, "service": "hotich/v1", "methods": ["GET"]},
                {"consumer": OFFICE, "service": "hotich/v1", "path_prefix": "x"},
                {"consumer": OFFICE, "service": "hotich/v1", "rate_per_s": "1"}):
        api.error(400, "BAD_PARAMETER", "POST", "/api/v1/access", bad)
    eq(len(api.expect(200, "GET", "/api/v1/access")["grants"]), 3, "rights")
    eq(len(api.expect(200, "GET", "/api/v1/access?consumer=" + OFFICE)["grants"]), 2, "consumer filter")
    eq(len(api.expect(200, "GET", "/api/v1/access?service=hotich/v1")["grants"]), 2, "service filter")
    api.error(400, "BAD_PARAMETER", "GET", "/api/v1/access?service=hotich")
    eq(sorted(grants(d)), sorted([(OFFICE, "hotich/v1"), (DIC, "hotich/v1"), (OFFICE, "mqhns/v1")]),
       "the CLI sees the API's rights")
    j = api.expect(200, "DELETE", "/api/v1/access?consumer=%s&service=hotich/v1" % DIC)
    eq(j.get("revoked"), True, "revoke reply")
    api.error(404, "UNKNOWN_GRANT", "DELETE", "/api/v1/access?consumer=%s&service=hotich/v1" % DIC)
    api.error(400, "BAD_PARAMETER", "DELETE", "/api/v1/access?consumer=" + DIC)

    # a change by the CLI is visible to the running server at once
    ok("access", "grant", "--data", d, "--consumer", DIC, "--service", "mqhns/v1")
    eq(len(api.expect(200, "GET", "/api/v1/access?consumer=" + DIC)["grants"]), 1, "CLI grant via API")

    # removing a service removes its rights
    j = api.expect(200, "DELETE", "/api/v1/services/hotich/v1")
    eq(j.get("grants_removed"), 1, "rights removed with the service")
    api.error(404, "UNKNOWN_SERVICE", "DELETE", "/api/v1/services/hotich/v1")
    eq([g["service"] for g in api.expect(200, "GET", "/api/v1/access")["grants"]],
       ["mqhns/v1", "mqhns/v1"], "rights left")

    # tokens
    eq(api.expect(200, "GET", "/api/v1/tokens"), {"tokens": []}, "no tokens")
    eq(api.expect(200, "POST", "/api/v1/tokens/revoke", {"system": OFFICE}).get("revoked"), False,
       "revoke without tokens")
    now = now_ms()
    h = put_tokens(d, [("api-tok-1", OFFICE, now, now + 3600_000, 0),
                       ("api-tok-2", DIC, now, now + 3600_000, 0)])
    t = api.expect(200, "GET", "/api/v1/tokens")["tokens"]
    eq(sorted(x["id"] for x in t), sorted(x[:12] for x in h), "token ids")
    check(not any(x in json.dumps(t) for x in h + ["api-tok-1", "api-tok-2"]), "a secret in the tokens")
    eq([x["system"] for x in api.expect(200, "GET", "/api/v1/tokens?system=" + DIC)["tokens"]], [DIC],
       "system filter")
    eq(api.expect(200, "POST", "/api/v1/tokens/revoke", {"token": "api-tok-2"}).get("revoked"), True,
       "revoke by token")
    eq(api.expect(200, "POST", "/api/v1/tokens/revoke", {"token": "api-tok-2"}).get("revoked"), False,
       "revoke again")
    eq(api.expect(200, "POST", "/api/v1/tokens/revoke", {"system": OFFICE}).get("revoked"), True,
       "revoke by system")
    eq(api.expect(200, "GET", "/api/v1/tokens"), {"tokens": []}, "tokens after revoke")
    for bad in ({}, {"system": OFFICE, "token": "x"}, {"system": 5}, {"token": ""}):
        api.error(400, "BAD_PARAMETER", "POST", "/api/v1/tokens/revoke", bad)
    api.error(405, "METHOD_NOT_ALLOWED", "GET", "/api/v1/tokens/revoke")
    api.error(405, "METHOD_NOT_ALLOWED", "POST", "/api/v1/tokens", {})

    ops = [op for op, _ in txlog(d) if op.split(".")[0] in ("service", "access", "token")]
    eq(ops, ["service.add", "service.add", "service.update", "service.update", "access.grant",
             "access.grant", "access.grant", "access.grant", "access.revoke", "access.grant",
             "service.remove", "token.revoke", "token.revoke"], "API transaction-log records")
    audit_ok(d)


def main():
    harness.require_binary()
    r = harness.Runner("gateway administration", time_limit=500)
    for name, fn in [
        ("--help on every form", t_help),
        ("misuse exits 2 and changes nothing", t_misuse),
        ("unknown provider, consumer, service exit 1 and change nothing", t_unknown_references),
        ("service add, list, update, remove (rights go with it)", t_service_lifecycle),
        ("access grant, re-grant, list, revoke", t_access),
        ("token list and revoke on an empty store", t_tokens_empty_store),
        ("token list and revoke; rotate-secret and system remove revoke", t_tokens),
        ("demo twice: four services and their rights, once", t_demo_twice),
    ]:
        r.run(name, fn)
    server = harness.Server(tag="gwadm-api")
    try:
        registry(server.data_dir)
        server.start()
        r.run("JSON API: services, access, tokens", t_api, server)
        r.run("clean shutdown, no sanitizer report", server.check_clean_shutdown)
    finally:
        server.stop()
    r.finish()


if __name__ == "__main__":
    main()
