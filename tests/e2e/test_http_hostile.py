#!/usr/bin/env python3
"""test_http_hostile — HTTP that a careful server refuses, sent as raw bytes to the real binary
on every listener (the VXP API, the gateway, the admin API): header lines with a bare CR or LF,
NUL, whitespace before the colon, names that are not tokens, obs-fold; ambiguous framing (two
Content-Length values, Content-Length with Transfer-Encoding, unknown codings, negative or listed
lengths); on a connection's first request and on a kept-alive one. Each gets a prompt 400 in
the JSON error shape and a closed connection, and nothing behind it is smuggled through.

The gateway passes on none of the identity headers a client sends (X-Consumer-Id in any case,
with "_" for "-"; X-Forwarded-For, Forwarded) and sets X-Forwarded-For/Forwarded from the real
peer address, keeping the client's chain only from a trusted proxy.

Slow clients: 1,000 connections from 127.0.0.1 trickle their heads; /healthz from 127.0.0.2
still answers within 100 ms, the connections over the per-address limit get 503 at once, the
others 408 when head_timeout_ms passes, and the refusals are logged (rate-limited) and counted.
"""

import json
import os
import resource
import socket
import sys
import threading
import time
import base64

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, eq  # noqa: E402

SYS_ID, SECRET = "000.00.01.H34", "secret-of-the-provincial-office"
PROV_ID, PROV_SECRET = "000.00.06.H34", "secret-of-the-justice-department"
HEAD_TIMEOUT_MS = 1500
PER_IP = 200


class Ctx:
    server = None
    upstream = None
    token = None


C = Ctx()


class RawUpstream:
    """A provider that records the raw head of every request it receives and answers 200."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.heads = []
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        conn.settimeout(10)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = conn.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":", 1)[1])
                while len(buf) < n:
                    buf += conn.recv(65536)
                buf = buf[n:]
                with self.lock:
                    self.heads.append(head)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            return
        finally:
            conn.close()

    def last_head(self):
        with self.lock:
            return self.heads[-1] if self.heads else None

    def count(self):
        with self.lock:
            return len(self.heads)

    def close(self):
        self.stopped = True
        self.sock.close()


def raw(data, port=None, wait=3.0, source=None):
    return harness.raw_exchange(port or C.server.port, data, timeout=wait, source=source)


responses = harness.raw_responses


def setup():
    C.upstream = RawUpstream()
    srv = harness.Server(tag="hostile")
    C.server = srv
    d = srv.data_dir
    srv.config = harness.write_config(d, head_timeout_ms=HEAD_TIMEOUT_MS, max_connections_per_ip=PER_IP,
                                      max_connections=2000)
    srv.add_agency("000.00.00.H34", "UBND tinh")
    srv.add_agency(SYS_ID, "Van phong", "000.00.00.H34")
    srv.add_agency(PROV_ID, "So Tu phap", "000.00.00.H34")
    srv.add_system(SYS_ID, SYS_ID, SECRET, status="official")
    srv.add_system(PROV_ID, PROV_ID, PROV_SECRET, status="official")
    srv.cli("service", "add", "--data", d, "--code", "echo", "--version", "v1", "--provider", PROV_ID,
            "--url", "http://127.0.0.1:%d/echo" % C.upstream.port)
    srv.cli("access", "grant", "--data", d, "--consumer", SYS_ID, "--service", "echo/v1")
    srv.start()
    C.token = get_token()


def get_token():
    basic = base64.b64encode(("%s:%s" % (SYS_ID, SECRET)).encode()).decode()
    body = b"grant_type=client_credentials"
    head = ("POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: "
            "application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (basic, len(body))).encode()
    _, _, out = raw(head + body)
    r = responses(out)
    eq(r[0][0], 200, "POST /token status")
    return json.loads(r[0][2])["access_token"]


def targets():
    """One request line and headers per listener: (name, method, path, extra header lines)."""
    auth = "Authorization: Bearer %s\r\n" % C.token
    admin = "Authorization: Bearer %s\r\n" % C.server.admin_token()
    return [("VXP API", "POST", "/vxp/getReceivedEdocList", ""),
            ("gateway", "GET", "/gw/echo/v1/ping", auth),
            ("admin API", "GET", "/api/v1/stats?from=2026-01-01&to=2026-12-31", admin)]


MALFORMED = [
    ("a bare CR in a value", b"X-Note: a\rX-Consumer-Id: forged\r\n"),
    ("a bare LF ending a line", b"X-Note: a\nX-Consumer-Id: forged\r\n"),
    ("a NUL in a value", b"X-Note: a\x00b\r\n"),
    ("whitespace before the colon", b"X-Consumer-Id : forged\r\n"),
    ("a name that is not a token", b"X(Consumer): forged\r\n"),
    ("an obs-fold", b"X-Note: a\r\n  folded\r\n"),
    ("a line without a colon", b"X-Consumer-Id forged\r\n"),
    ("two different Content-Length", b"Content-Length: 0\r\nContent-Length: 40\r\n"),
    ("Content-Length with Transfer-Encoding", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
    ("an unknown transfer coding", b"Transfer-Encoding: gzip\r\n"),
    ("a layered transfer coding", b"Transfer-Encoding: gzip, chunked\r\n"),
    ("a negative Content-Length", b"Content-Length: -1\r\n"),
    ("a listed Content-Length", b"Content-Length: 0, 0\r\n"),
]
# On a kept-alive connection libmicrohttpd reads the request itself (the gate sees only a
# connection's first head): it takes a bare LF as a line end, joins an obs-fold and cuts a value
# at a NUL (nothing of these reaches a provider as a field of its own), and answers a negative
# or listed Content-Length, or a line without a colon, with its own HTML 400 and a closed connection (docs/security.md).
LIBRARY_LENIENT = ("a bare LF ending a line", "an obs-fold", "a NUL in a value")
LIBRARY_REFUSES = ("a negative Content-Length", "a listed Content-Length", "a line without a colon")
SMUGGLED = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


def check_refusal(what, t, closed, out):
    check(closed, "%s: the connection was not closed (got %r)", what, out[:300])
    check(t < 1.0, "%s: answered after %.2f s", what, t)
    rs = responses(out)
    check(rs, "%s: no response", what)
    status, hs, body = rs[-1]
    eq(status, 400, "%s: status" % what)
    eq(hs.get("connection", "").lower(), "close", "%s: Connection header" % what)
    check(hs.get("content-type", "").startswith("application/json"), "%s: content type %r", what,
          hs.get("content-type"))
    j = json.loads(body)
    eq((j.get("code"), j.get("error")), (118, "BAD_HTTP"), "%s: error" % what)
    check(isinstance(j.get("message"), str) and j["message"], "%s: no message", what)
    check(b"lienthong_" not in out, "%s: the request behind it was answered (smuggled)", what)
    return rs


def t_first_request():
    before = C.upstream.count()
    for name, method, path, extra in targets():
        for what, lines in MALFORMED:
            head = ("%s %s HTTP/1.1\r\nHost: x\r\n%s" % (method, path, extra)).encode() + lines + b"\r\n"
            check_refusal("%s, %s" % (name, what), *raw(head + b"0\r\n\r\n" + SMUGGLED))
    eq(C.upstream.count(), before, "requests that reached the provider")


def t_keep_alive_request():
    """The same checks on the second request of a kept-alive connection (libmicrohttpd parsed it)."""
    before = C.upstream.count()
    for name, method, path, extra in targets():
        good = ("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n%s\r\n" % (method, path, extra)).encode()
        for what, lines in MALFORMED:
            if what in LIBRARY_LENIENT:
                continue
            head = ("%s %s HTTP/1.1\r\nHost: x\r\n%s" % (method, path, extra)).encode() + lines + b"\r\n"
            data = good + head + b"0\r\n\r\n" + SMUGGLED
            if what in LIBRARY_REFUSES:
                t, closed, out = raw(data)
                check(closed and t < 1.0, "%s, kept-alive, %s: not closed promptly", name, what)
                check(out.count(b"HTTP/1.1 400 ") >= 1 and b"lienthong_" not in out,
                      "%s, kept-alive, %s: %r", name, what, out[-300:])
                continue
            rs = check_refusal("%s, kept-alive, %s" % (name, what), *raw(data))
            eq(len(rs), 2, "%s, kept-alive, %s: responses" % (name, what))
            check(rs[0][0] != 400, "%s: the good first request was refused: %r", name, rs[0])
    good_gateway_calls = len([w for w, _ in MALFORMED if w not in LIBRARY_LENIENT])
    eq(C.upstream.count() - before, good_gateway_calls, "requests that reached the provider (the good ones only)")


def t_missing_host():
    for data in (b"GET /healthz HTTP/1.1\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"):
        check_refusal("Host", *raw(data))
    t, closed, out = raw(b"GET /healthz HTTP/1.0\r\n\r\n")
    eq(responses(out)[0][0], 200, "HTTP/1.0 without Host")


def gw_call(extra_headers, source=None):
    head = ("GET /gw/echo/v1/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%sConnection: close\r\n\r\n"
            % (C.token, extra_headers)).encode()
    _, _, out = raw(head, source=source)
    eq(responses(out)[0][0], 200, "gateway call status")
    h = C.upstream.last_head().decode("latin-1").split("\r\n")
    return [line.split(":", 1) for line in h[1:]]


def t_identity_headers():
    fields = gw_call("X-Consumer-Id: forged\r\nX_Consumer_Id: forged\r\nx-consumer-id: forged\r\n"
                     "X-CONSUMER_ID: forged\r\nX-Forwarded-For: 6.6.6.6\r\nX_Forwarded_For: 6.6.6.6\r\n"
                     "Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n")
    names = [n.strip().lower().replace("_", "-") for n, _ in fields]
    eq(names.count("x-consumer-id"), 1, "X-Consumer-Id fields at the provider")
    got = {n.strip().lower(): v.strip() for n, v in fields}
    eq(got["x-consumer-id"], SYS_ID, "X-Consumer-Id")
    eq(got["x-forwarded-for"], "127.0.0.1", "X-Forwarded-For from an untrusted peer")
    eq(got["forwarded"], "for=127.0.0.1;proto=http", "Forwarded")
    eq(got["x-forwarded-proto"], "http", "X-Forwarded-Proto")
    check("x-real-ip" not in got, "X-Real-IP passed on")
    check(b"6.6.6.6" not in C.upstream.last_head(), "a client-claimed address reached the provider")


def t_trusted_proxy():
    srv = C.server
    srv.stop()
    srv.config = harness.write_config(srv.data_dir, head_timeout_ms=HEAD_TIMEOUT_MS, max_connections_per_ip=PER_IP,
                                      max_connections=2000, trusted_proxies="127.0.0.2/32, ::1")
    srv.start()
    C.token = get_token()
    fields = gw_call("X-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7\r\n", source="127.0.0.2")
    got = {n.strip().lower(): v.strip() for n, v in fields}
    eq(got["x-forwarded-for"], "203.0.113.7, 127.0.0.2", "X-Forwarded-For through a trusted proxy")
    eq(got["forwarded"], "for=203.0.113.7, for=127.0.0.2;proto=http", "Forwarded through a trusted proxy")
    fields = gw_call("X-Forwarded-For: 203.0.113.7\r\n", source="127.0.0.1")
    got = {n.strip().lower(): v.strip() for n, v in fields}
    eq(got["x-forwarded-for"], "127.0.0.1", "X-Forwarded-For from a peer that is not trusted")


def metric(name_and_labels):
    _, _, out = raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", source="127.0.0.3")
    for line in responses(out)[0][2].decode().splitlines():
        if line.startswith(name_and_labels + " "):
            return int(line.split()[-1])
    raise harness.TestFailure("metric %s not found" % name_and_labels)


def healthz_ms(source):
    best = None
    for _ in range(3):
        t, closed, out = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", source=source)
        eq(responses(out)[0][0], 200, "/healthz from %s" % source)
        best = t if best is None else min(best, t)
    return best * 1000


def t_slow_clients():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    timeouts0 = metric('lienthong_http_refused_total{reason="head_timeout"}')
    per_ip0 = metric('lienthong_http_refused_total{reason="per_ip_limit"}')
    socks = []
    try:
        for _ in range(1000):
            s = socket.socket()
            s.connect(("127.0.0.1", C.server.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
            socks.append(s)
        start = time.monotonic()
        worst = 0.0
        while time.monotonic() - start < HEAD_TIMEOUT_MS / 1000.0 * 0.6:
            for s in socks:
                try:
                    s.send(b"s")
                except OSError:
                    pass
            worst = max(worst, healthz_ms("127.0.0.2"))
            time.sleep(0.1)
        check(worst < 100, "/healthz from another address took %.1f ms with 1,000 trickling connections", worst)
        time.sleep(HEAD_TIMEOUT_MS / 1000.0 + 0.5)
        got = {"503": 0, "408": 0, "other": 0}
        for s in socks:
            s.settimeout(2)
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            code = d[9:12].decode(errors="replace")
            got[code if code in got else "other"] += 1
        eq(got, {"503": 1000 - PER_IP, "408": PER_IP, "other": 0}, "answers to the trickling connections")
    finally:
        for s in socks:
            s.close()
    eq(metric('lienthong_http_refused_total{reason="per_ip_limit"}') - per_ip0, 1000 - PER_IP, "per-address refusals")
    eq(metric('lienthong_http_refused_total{reason="head_timeout"}') - timeouts0, PER_IP, "head timeouts counted")
    with open(C.server.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    lines = [l for l in log.splitlines() if "refused client=127.0.0.1: max_connections_per_ip" in l]
    check(lines, "no log line for the per-address refusals")
    check(len(lines) <= 5, "per-address refusals logged %d times: not rate-limited", len(lines))


def main():
    harness.require_binary()
    run = harness.Runner("hostile HTTP", time_limit=300)
    try:
        if not run.run("registry, a raw provider, the server", setup):
            run.finish()
        for name, fn in [
            ("first request: malformed and ambiguous heads -> 400 JSON, closed", t_first_request),
            ("kept-alive request: the same -> 400 JSON, closed", t_keep_alive_request),
            ("HTTP/1.1 needs exactly one Host", t_missing_host),
            ("gateway: identity headers from the client never reach the provider", t_identity_headers),
            ("gateway: a trusted proxy's X-Forwarded-For is kept", t_trusted_proxy),
            ("slow clients: per-address limit, head deadline, /healthz answers", t_slow_clients),
            ("clean shutdown, no sanitizer report", lambda: C.server.check_clean_shutdown()),
        ]:
            run.run(name, fn)
    finally:
        if C.server is not None:
            C.server.stop()
        if C.upstream is not None:
            C.upstream.close()
    run.finish()


if __name__ == "__main__":
    main()
