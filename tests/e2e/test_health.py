#!/usr/bin/env python3
"""test_health — /healthz tells the truth. While the store cannot write (here: a file size limit
of one byte put on the running server with prlimit, which makes every write fail as a full disk
does), /healthz answers 503 with the reason, documents get their FAIL reply, a body too big to
keep in memory (over 1 MB) that cannot be spooled gets its FAIL reply too, and /metrics counts
the failed commits. Once the limit is lifted, health comes back by itself (its probe commits)
and documents are accepted again."""

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, eq, ok, send_json  # noqa: E402

A_ID, A_SECRET = "000.00.01.H34", "secret-of-the-provincial-office"
B_ID, B_SECRET = "000.00.13.H34", "secret-of-the-information-department"


class Ctx:
    server = None
    a = None
    n = 0


C = Ctx()


def doc(big=False):
    C.n += 1
    d = harness.rewrite_organs(harness.sample("edoc_update.edxml" if big else "edoc.edxml"), from_=A_ID, to=[B_ID])
    d = harness.add_comment(d, "health-%d" % C.n)
    if big:  # over the 1 MB kept in memory: the body is spooled to a file
        d = d.replace(b"<!-- health", b"<!-- " + b"x" * (1200 * 1024) + b" health", 1)
    return d


def health():
    r = harness.http_get(C.server.port, "/healthz")
    return r.status, r.json


def metric(name):
    r = harness.http_get(C.server.port, "/metrics")
    for line in r.raw_body.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[-1])
    raise harness.TestFailure("no metric " + name)


def setup():
    srv = harness.Server(tag="health")
    C.server = srv
    srv.add_agency("000.00.00.H34", "UBND tinh")
    srv.add_agency(A_ID, "Van phong", "000.00.00.H34")
    srv.add_agency(B_ID, "So TT&TT", "000.00.00.H34")
    srv.add_system(A_ID, A_ID, A_SECRET)
    srv.add_system(B_ID, B_ID, B_SECRET)
    srv.start()
    C.a = harness.System(srv, A_ID, A_SECRET, [])
    ok(C.a.svc().sendEdoc(send_json(C.a), doc()), "sendEdoc before", "sendEdoc")
    eq(health()[0], 200, "healthz before")
    check(metric("lienthong_data_free_bytes") > 0, "free space not reported")


def t_store_cannot_write():
    pid = C.server.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))  # the soft limit only: it can be lifted
    try:
        r = C.a.svc().sendEdoc(send_json(C.a), doc())
        j = harness.fail(r, "sendEdoc while the store cannot write", op="sendEdoc")
        check(j["ErrorCode"] in ("502", "504"), "ErrorCode %r", j["ErrorCode"])
        status, body = health()
        eq(status, 503, "healthz while the store cannot write")
        check(body["status"] == "failing" and "cannot commit" in body["reason"], "healthz body %r" % body)
        r = C.a.svc().sendEdoc(send_json(C.a), doc(big=True))
        j = harness.fail(r, "a 1.5 MB sendEdoc that cannot be spooled", op="sendEdoc")
        eq(j["ErrorCode"], "504", "ErrorCode of a body that could not be stored")
        check(metric("lienthong_commit_failures_total") >= 1, "commit failures not counted")
        eq(metric("lienthong_store_failing"), 1, "lienthong_store_failing")
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


def t_recovers():
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        status, body = health()
        if status == 200:
            break
        time.sleep(0.1)
    eq(status, 200, "healthz after the store can write again (no traffic needed)")
    eq(metric("lienthong_store_failing"), 0, "lienthong_store_failing after")
    ok(C.a.svc().sendEdoc(send_json(C.a), doc()), "sendEdoc after", "sendEdoc")
    ok(C.a.svc().sendEdoc(send_json(C.a), doc(big=True)), "a big sendEdoc after", "sendEdoc")
    out = C.server.cli("audit", "verify", "--data", C.server.data_dir, check=False)
    eq(out.returncode, 0, "audit verify after the failures: %r" % out.stdout)


def main():
    harness.require_binary()
    run = harness.Runner("health", time_limit=120)
    try:
        if not run.run("server with documents", setup):
            run.finish()
        for name, fn in [
            ("the store cannot write: 503 with the reason, FAIL replies, counted", t_store_cannot_write),
            ("health comes back by itself", t_recovers),
            ("clean shutdown, no sanitizer report", lambda: C.server.check_clean_shutdown()),
        ]:
            run.run(name, fn)
    finally:
        if C.server is not None:
            C.server.stop()
    run.finish()


if __name__ == "__main__":
    main()
