#!/usr/bin/env python3
"""test_gateway — the data-sharing gateway end to end, with real upstream HTTP servers started by
the test: OAuth2 client credentials at /token, bearer and VXP HMAC authentication of calls to
/gw/{code}/{version}/..., access rights (methods, path prefix, revocation), the catalogue edited
by the CLI while the server runs, forwarding (method, path, query, body, end-to-end headers;
hop-by-hop and authentication headers removed; X-Consumer-Id, X-Request-Id, Via,
X-Forwarded-For added), SOAP passthrough, retries of idempotent methods only, timeouts, the
circuit breaker per provider, rate limits, size limits, large streamed bodies, 100 concurrent
slow calls, token expiry, and the "gateway" statistics compared with a ledger of every call.

Upstreams are http.server.ThreadingHTTPServer instances (and one raw socket server that drops
connections on demand) on 127.0.0.1 ephemeral ports. Python 3 standard library only. Every wait
is bounded by a deadline.
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import vxpsdk  # noqa: E402
from harness import check, eq  # noqa: E402

AGENCY = "000.00.00.H34"
AGENCY_NAME = "UBND tỉnh Kon Tum"

BREAKER_FAILURES = 3
BREAKER_OPEN_MS = 2000

# systems: id -> (secret, status)
PROVIDERS = ["prov.echo", "prov.slow", "prov.conc", "prov.down", "prov.flaky", "prov.soap"]
CONS_A, CONS_B, CONS_C = "cons.a", "cons.b", "cons.c"
SECRETS = {
    CONS_A: "secret-of-consumer-a-0123456789",
    CONS_B: "s3cr3t+/=of b",      # sent in form fields (urlencoded) and by HMAC only
    CONS_C: "secret-of-consumer-c",
}
STATUS = {CONS_A: "official", CONS_B: "trial", CONS_C: "official"}
for _p in PROVIDERS:
    SECRETS[_p] = "secret-of-" + _p
    STATUS[_p] = "official"

BIG_SIZE = 20 * 1024 * 1024
HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
              "proxy-authorization", "transfer-encoding")

RID_RE = re.compile(r"^[\x21-\x7e]{1,200}$")


class Ctx:
    server = None
    up = None          # the main Upstream
    up_down = None     # started late on the "down" port
    flaky = None
    down_port = None
    tokens = {}        # system id -> a valid token
    owner = {}         # token -> system id
    ledger = []        # (consumer or "", "code/version" or "", status or None) per /gw call
    services = {}      # "code/version" -> provider
    big = b""


C = Ctx()


# ------------------------------------------------------------------------------------------
# upstream servers
# ------------------------------------------------------------------------------------------

def _read_request_body(rfile, headers, limit=64 * 1024 * 1024):
    te = (headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        out = []
        total = 0
        for _ in range(1 << 20):
            line = rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                for _ in range(100):
                    if rfile.readline(8192) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(out)
            total += size
            if total > limit:
                raise ValueError("request body too large")
            out.append(rfile.read(size))
            rfile.read(2)
        raise ValueError("too many chunks")
    n = int(headers.get("Content-Length") or 0)
    return rfile.read(n) if n else b""


class _UpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-upstream/1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304) and body:
            self.wfile.write(body)

    def _handle(self):
        up = self.server.upstream
        try:
            body = _read_request_body(self.rfile, self.headers)
        except ValueError:
            self.close_connection = True
            return
        u = urllib.parse.urlsplit(self.path)
        rec = {"method": self.command, "target": self.path, "path": u.path, "query": u.query,
               "headers": list(self.headers.items()), "body": body, "time": time.monotonic()}
        with up.lock:
            up.requests.append(rec)
        q = dict(urllib.parse.parse_qsl(u.query))
        last = u.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            if last == "slow":
                time.sleep(min(int(q.get("ms", "1000")), 10000) / 1000.0)
                self._send(200, json.dumps({"slept_ms": int(q.get("ms", "1000"))}).encode())
            elif last == "status":
                code = int(q.get("code", "200"))
                self._send(code, b"" if code in (204, 304) else ("upstream %d" % code).encode(),
                           "text/plain; charset=utf-8", [("X-Upstream-End", "kept")])
            elif last == "big":
                n = min(int(q.get("n", "0")), len(up.big))
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                mv = memoryview(up.big)
                for i in range(0, n, 1 << 20):
                    self.wfile.write(mv[i:min(n, i + (1 << 20))])
            elif last == "chunkedbig":
                n = min(int(q.get("n", "0")), len(up.big))
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                mv = memoryview(up.big)
                for i in range(0, n, 256 * 1024):
                    part = mv[i:min(n, i + 256 * 1024)]
                    self.wfile.write(b"%x\r\n" % len(part))
                    self.wfile.write(part)
                    self.wfile.write(b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif last == "sha":
                self._send(200, json.dumps({"sha256": hashlib.sha256(body).hexdigest(),
                                            "length": len(body)}).encode())
            elif last == "soap":
                action = self.headers.get("SOAPAction") or ""
                ctype = self.headers.get("Content-Type") or "text/xml; charset=utf-8"
                if "Fault" in action:
                    self._send(500, SOAP_FAULT, ctype)
                else:
                    self._send(200, SOAP_RESPONSE, ctype)
            else:
                echo = {"method": self.command, "target": self.path,
                        "headers": [[k, v] for k, v in self.headers.items()],
                        "body": body.decode("latin-1")}
                self._send(200, json.dumps(echo).encode(), "application/json", [
                    ("X-Upstream-End", "kept"),
                    ("Set-Cookie", "sid=e2e; Path=/"),
                    ("Connection", "X-Up-Hop"),
                    ("X-Up-Hop", "must-not-reach-the-consumer"),
                    ("Keep-Alive", "timeout=30, max=77"),
                ])
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _UpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass  # the gateway hangs up on slow or oversized answers: expected


class Upstream:
    """A ThreadingHTTPServer that records every request (method, target, headers, body)."""

    def __init__(self, port=0, big=b""):
        self.lock = threading.Lock()
        self.requests = []
        self.big = big
        self.httpd = _UpServer(("127.0.0.1", port), _UpHandler)
        self.httpd.upstream = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def url(self, base=""):
        return "http://127.0.0.1:%d%s" % (self.port, base)

    def seen(self, path_contains=None):
        with self.lock:
            return [r for r in self.requests if path_contains is None or path_contains in r["path"]]

    def wait_seen(self, path_contains, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.seen(path_contains)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        return self.seen(path_contains)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Flaky:
    """A raw upstream: counts requests; the next `drop` connections are closed after the request
    was read, without a byte of answer; the others get 200 and Connection: close."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = []   # (method, target) per request read
        self.drop = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        deadline = time.monotonic() + 900
        while not self.stopped and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            f = conn.makefile("rb")
            line = f.readline(8192)
            if not line:
                return
            parts = line.decode("latin-1").split()
            hdrs = {}
            for _ in range(200):
                h = f.readline(65536)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length", "0") or 0)
            if n:
                f.read(n)
            with self.lock:
                self.attempts.append((parts[0] if parts else "?", parts[1] if len(parts) > 1 else "?"))
                n_attempt = len(self.attempts)
                dropping = self.drop > 0
                if dropping:
                    self.drop -= 1
            if dropping:
                return
            body = json.dumps({"attempt": n_attempt}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def reset(self, drop):
        with self.lock:
            self.attempts = []
            self.drop = drop

    def count(self):
        with self.lock:
            return len(self.attempts)

    def close(self):
        self.stopped = True
        self.sock.close()


SOAP_REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?>\r\n'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:dkkd="http://dangkykinhdoanh.gov.vn/ws">\r\n'
    '  <soap:Header/>\r\n'
    '  <soap:Body>\r\n'
    '    <dkkd:TraCuuDoanhNghiep>\t<dkkd:MaSoThue>6100123456</dkkd:MaSoThue>'
    '<dkkd:Ten>Công ty TNHH Kon Tum &amp; cộng sự</dkkd:Ten></dkkd:TraCuuDoanhNghiep>\r\n'
    '  </soap:Body>\r\n'
    '</soap:Envelope>\n').encode("utf-8")
SOAP_RESPONSE = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
    'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<TraCuuDoanhNghiepResponse><TrangThai>Đang hoạt động</TrangThai></TraCuuDoanhNghiepResponse>'
    '</soap:Body></soap:Envelope>').encode("utf-8")
SOAP_FAULT = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
    'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
    '<faultcode>soap:Server</faultcode><faultstring>Không tìm thấy doanh nghiệp</faultstring>'
    '</soap:Fault></soap:Body></soap:Envelope>').encode("utf-8")


# ------------------------------------------------------------------------------------------
# client helpers
# ------------------------------------------------------------------------------------------

def request(port, method, target, headers=(), body=b"", timeout=30.0, chunked=False):
    """One request over a fresh connection; headers: [(name, value)]. Content-Length is added
    for a body (or the body is sent chunked), Connection: close unless the caller gave one."""
    hs = [("Host", "127.0.0.1:%d" % port)]
    hs += list(headers)
    names = {k.lower() for k, _ in hs}
    if chunked:
        hs.append(("Transfer-Encoding", "chunked"))
        wire = b""
        for i in range(0, len(body), 500):
            part = body[i:i + 500]
            wire += b"%x\r\n" % len(part) + part + b"\r\n"
        body = wire + b"0\r\n\r\n"
    elif body or method in ("POST", "PUT", "PATCH"):
        hs.append(("Content-Length", str(len(body))))
    if "connection" not in names:
        hs.append(("Connection", "close"))
    head = vxpsdk.build_head(method, target, hs)
    return vxpsdk.http_exchange("127.0.0.1", port, head, body, method=method, timeout=timeout)


def hmac_headers(system_id, secret, mangle=None, signed_id=None):
    """The SDK's authentication headers (vxpsdk signer): timestamp, systemid, sign-header-key,
    sign-header (flat JSON of strings with XroadVnpt-systemid), hash-header, version."""
    svc = vxpsdk.Service("http://127.0.0.1:1", signed_id or system_id, secret)
    svc.params.put("Content-Type", "application/json")
    key_list, signed, digest = svc.signature_headers()
    if mangle == "hmac":
        digest = ("0" if digest[0] != "0" else "1") + digest[1:]
    return [("XroadVnpt-timestamp", svc.timestamp), ("XroadVnpt-systemid", system_id),
            ("XroadVnpt-sign-header-key", key_list), ("XroadVnpt-sign-header", signed),
            ("XroadVnpt-hash-header", digest), ("XroadVnpt-version", vxpsdk.SDK_VERSION)]


def gw(method, target, token=None, headers=(), body=b"", hmac_as=None, timeout=30.0, chunked=False,
       record=True, port=None):
    """A call of /gw + target on the main server (or port), recorded in the ledger. Checks that
    every gateway response carries X-Request-Id."""
    hs = []
    consumer = ""
    if token is not None:
        hs.append(("Authorization", "Bearer " + token))
        consumer = C.owner.get(token, "")
    if hmac_as is not None:
        hs += hmac_headers(*hmac_as)
        consumer = hmac_as[0]
    hs += list(headers)
    r = request(port or C.server.port, method, "/gw" + target, hs, body, timeout=timeout, chunked=chunked)
    check(r.header("X-Request-Id"), "%s /gw%s -> %d without X-Request-Id (headers %r)", method, target,
          r.status, r.headers)
    if record and port is None:
        ledger_add(consumer, target, r.status, r.json if isinstance(r.json, dict) else None)
    return r


def ledger_add(consumer, target, status, j=None):
    parts = target.split("?")[0].split("/")
    ref = "%s/%s" % (parts[1], parts[2]) if len(parts) > 2 else ""
    err = j.get("error") if isinstance(j, dict) and isinstance(j.get("code"), int) else None
    if err == "TOKEN_INVALID" or (status == 401 and err) or err == "BAD_PARAMETER" or not ref:
        # refused before authentication (malformed /gw path) or by it: no consumer, and no
        # service matched yet (authentication comes before the service lookup)
        consumer = ""
        ref = ""
    if err == "UNKNOWN_SERVICE" or ref not in C.services:
        ref = ""
    C.ledger.append((consumer, ref, status))


def gw_error(r, status, name, code, what):
    """A gateway error: the status and {"code": code, "error": name, "message": text}."""
    check(r.status == status, "%s: expected HTTP %d %s, got %d %r (headers %r)", what, status, name,
          r.status, r.raw_body[:300], r.headers)
    j = r.json
    check(isinstance(j, dict), "%s: error body is not a JSON object: %r", what, r.raw_body[:300])
    eq(j.get("error"), name, "%s: error" % what)
    eq(j.get("code"), code, "%s: code" % what)
    check(isinstance(j.get("message"), str) and j["message"], "%s: no message: %r", what, j)
    check("json" in (r.header("Content-Type") or ""), "%s: Content-Type %r", what, r.header("Content-Type"))
    return j


def echo_of(r, what):
    check(r.status == 200, "%s: HTTP %d %r", what, r.status, r.raw_body[:400])
    check(isinstance(r.json, dict) and "target" in r.json, "%s: not the upstream's echo: %r", what,
          r.raw_body[:400])
    return r.json


def hget(headers, name):
    """All values of a header (case-insensitive) in a [(name, value)] list."""
    return [v for k, v in headers if k.lower() == name.lower()]


def token_request(port, form, basic=None, extra=()):
    hs = [("Content-Type", "application/x-www-form-urlencoded")]
    if basic is not None:
        user, pw = basic
        cred = "%s:%s" % (urllib.parse.quote(user, safe=""), urllib.parse.quote(pw, safe=""))
        hs.append(("Authorization", "Basic " + base64.b64encode(cred.encode()).decode()))
    hs += list(extra)
    body = form.encode() if isinstance(form, str) else urllib.parse.urlencode(form).encode()
    return request(port, "POST", "/token", hs, body)


def get_token(system_id, port=None, form=False):
    port = port or C.server.port
    if form:
        r = token_request(port, {"grant_type": "client_credentials", "client_id": system_id,
                                 "client_secret": SECRETS[system_id]})
    else:
        r = token_request(port, {"grant_type": "client_credentials"}, basic=(system_id, SECRETS[system_id]))
    check(r.status == 200, "token for %s: HTTP %d %r", system_id, r.status, r.raw_body[:300])
    tok = r.json.get("access_token") if isinstance(r.json, dict) else None
    check(isinstance(tok, str) and tok, "token for %s: no access_token in %r", system_id, r.raw_body[:300])
    C.owner[tok] = system_id
    return tok


def tok_of(system_id):
    """The current token of a consumer (obtained on first use)."""
    if system_id not in C.tokens:
        C.tokens[system_id] = get_token(system_id, form=(system_id == CONS_B))
    return C.tokens[system_id]


def cli(*args, check_rc=True):
    return C.server.cli(*args, check=check_rc)


def service_add(code, version, provider, url, *opts):
    cli("service", "add", "--data", C.server.data_dir, "--code", code, "--version", version,
        "--provider", provider, "--url", url, *opts)
    C.services["%s/%s" % (code, version)] = provider


def grant(consumer, ref, *opts, server=None):
    s = server or C.server
    s.cli("access", "grant", "--data", s.data_dir, "--consumer", consumer, "--service", ref, *opts)


def retry_after(r, what, minimum):
    v = r.header("Retry-After")
    check(v is not None and re.fullmatch(r"\d+", v.strip()) is not None,
          "%s: Retry-After %r is not an integer number of seconds", what, v)
    check(int(v) >= minimum, "%s: Retry-After %s < %d", what, v, minimum)
    return int(v)


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------

def t_setup():
    s = C.server
    s.add_agency(AGENCY, AGENCY_NAME)
    for sid in PROVIDERS + [CONS_A, CONS_B, CONS_C]:
        s.add_system(sid, AGENCY, SECRETS[sid], status=STATUS[sid])
    U = C.up
    service_add("echo", "v1", "prov.echo", U.url("/api"), "--name", "Tra cứu hồ sơ một cửa")
    service_add("echo", "v2", "prov.echo", U.url("/api/v2"))
    service_add("restricted", "v1", "prov.echo", U.url("/api"))
    service_add("revocable", "v1", "prov.echo", U.url("/api"))
    service_add("mutable", "v1", "prov.echo", U.url("/api/old"))
    service_add("limited", "v1", "prov.echo", U.url("/api"), "--max-request-bytes", "1000",
                "--max-response-bytes", "100000")
    service_add("tiny", "v1", "prov.echo", U.url("/api"), "--max-response-bytes", "1000")
    service_add("rated", "v1", "prov.echo", U.url("/api"))
    service_add("srated", "v1", "prov.echo", U.url("/api"), "--rate", "1", "--burst", "1")
    service_add("errors", "v1", "prov.echo", U.url("/api"))
    service_add("big", "v1", "prov.echo", U.url("/files"))
    service_add("soap", "v1", "prov.soap", U.url("/ws"), "--protocol", "soap")
    service_add("slow", "v1", "prov.slow", U.url("/slowsvc"), "--timeout-ms", "300")
    service_add("conc", "v1", "prov.conc", U.url("/conc"), "--rate", "1000", "--burst", "1000")
    service_add("down", "v1", "prov.down", "http://127.0.0.1:%d/x" % C.down_port, "--max-request-bytes", "100")
    service_add("down2", "v1", "prov.down", "http://127.0.0.1:%d/y" % C.down_port)
    service_add("flaky", "v1", "prov.flaky", "http://127.0.0.1:%d/f" % C.flaky.port)
    for ref in ("echo/v1", "echo/v2", "revocable/v1", "mutable/v1", "limited/v1", "tiny/v1", "srated/v1", "errors/v1",
                "big/v1", "soap/v1", "slow/v1", "conc/v1", "down/v1", "down2/v1", "flaky/v1"):
        grant(CONS_A, ref)
    grant(CONS_A, "restricted/v1", "--methods", "GET,head", "--path-prefix", "/public")
    grant(CONS_A, "rated/v1", "--rate", "2", "--burst", "2")
    grant(CONS_B, "echo/v1")
    out = cli("service", "list", "--data", s.data_dir).stdout.decode("utf-8", "replace")
    for code in ("echo", "restricted", "soap", "flaky"):
        check(code in out, "service list does not show %r:\n%s", code, out)
    out = cli("access", "list", "--data", s.data_dir).stdout.decode("utf-8", "replace")
    check(CONS_A in out and CONS_B in out and "restricted" in out, "access list:\n%s", out)


def t_token_endpoint():
    port = C.server.port
    r = token_request(port, {"grant_type": "client_credentials"}, basic=(CONS_A, SECRETS[CONS_A]))
    eq(r.status, 200, "token by Basic: status (%r)" % r.raw_body[:300])
    j = r.json
    check(isinstance(j, dict), "token reply is not JSON: %r", r.raw_body[:300])
    check(isinstance(j.get("access_token"), str) and len(j["access_token"]) >= 20,
          "access_token %r", j.get("access_token"))
    eq(j.get("token_type"), "Bearer", "token_type")
    check(type(j.get("expires_in")) is int and 3500 <= j["expires_in"] <= 3600, "expires_in %r (ttl 3600)",
          j.get("expires_in"))
    check("no-store" in (r.header("Cache-Control") or ""), "Cache-Control %r", r.header("Cache-Control"))
    check("json" in (r.header("Content-Type") or ""), "token Content-Type %r", r.header("Content-Type"))
    C.owner[j["access_token"]] = CONS_A
    C.tokens[CONS_A] = j["access_token"]
    # form fields; a secret with + / = and a space travels urlencoded
    tb = get_token(CONS_B, form=True)
    C.tokens[CONS_B] = tb
    check(tb != tok_of(CONS_A), "two systems got the same token")
    t2 = get_token(CONS_A)
    check(t2 != tok_of(CONS_A), "two tokens of one system are equal")
    C.tokens[CONS_C] = get_token(CONS_C, form=True)

    def err(r, status, error, what):
        check(r.status == status, "%s: expected %d %s, got %d %r", what, status, error, r.status, r.raw_body[:300])
        check(isinstance(r.json, dict), "%s: body not JSON: %r", what, r.raw_body[:300])
        eq(r.json.get("error"), error, "%s: error" % what)
        check(isinstance(r.json.get("error_description"), str), "%s: error_description %r", what, r.json)
        check("code" in r.json, "%s: no code member: %r", what, r.json)
        check("no-store" in (r.header("Cache-Control") or ""), "%s: Cache-Control %r", what,
              r.header("Cache-Control"))

    err(token_request(port, {"grant_type": "client_credentials"}, basic=(CONS_A, "wrong")), 401,
        "invalid_client", "wrong secret (Basic)")
    err(token_request(port, {"grant_type": "client_credentials", "client_id": CONS_A, "client_secret": "x"}),
        401, "invalid_client", "wrong secret (form)")
    err(token_request(port, {"grant_type": "client_credentials"}, basic=("no.such.system", "x")), 401,
        "invalid_client", "unknown client")
    err(token_request(port, {"grant_type": "client_credentials"}), 401, "invalid_client", "no credentials")
    err(token_request(port, {"grant_type": "password", "username": "u", "password": "p"},
                      basic=(CONS_A, SECRETS[CONS_A])), 400, "unsupported_grant_type", "grant_type=password")
    err(token_request(port, {}, basic=(CONS_A, SECRETS[CONS_A])), 400, "invalid_request", "no grant_type")
    err(token_request(port, {"grant_type": "client_credentials", "client_id": CONS_A,
                             "client_secret": SECRETS[CONS_A]}, basic=(CONS_A, SECRETS[CONS_A])),
        400, "invalid_request", "Basic and form credentials together (two mechanisms)")
    err(token_request(port, "grant_type=client_credentials&grant_type=client_credentials",
                      basic=(CONS_A, SECRETS[CONS_A])), 400, "invalid_request", "grant_type twice")
    r = request(port, "GET", "/token")
    check(r.status in (400, 405), "GET /token: %d %r", r.status, r.raw_body[:200])


def t_get_with_query():
    tok = tok_of(CONS_A)
    q = "q=h%E1%BB%93%20s%C6%A1&x=1&x=2&empty=&plus=a+b"
    r = gw("GET", "/echo/v1/items/42?" + q, tok, headers=[
        ("X-Request-Id", "e2e-get-0001"),
        ("X-Consumer-Id", CONS_C),
        ("X-Custom-E2E", "giá trị".encode("utf-8")),
        ("Accept", "application/json"),
        ("User-Agent", "e2e-client/1.0"),
    ])
    e = echo_of(r, "GET echo/v1")
    eq(e["method"], "GET", "upstream method")
    eq(e["target"], "/api/items/42?" + q, "upstream request-target (service URL + path + query)")
    hs = e["headers"]
    eq(hget(hs, "X-Consumer-Id"), [CONS_A], "X-Consumer-Id at the upstream (client's replaced)")
    eq(hget(hs, "X-Request-Id"), ["e2e-get-0001"], "X-Request-Id at the upstream")
    eq(r.header("X-Request-Id"), "e2e-get-0001", "X-Request-Id returned to the client")
    eq(hget(hs, "Authorization"), [], "Authorization at the upstream")
    eq(hget(hs, "X-Custom-E2E"), ["giá trị".encode("utf-8").decode("latin-1")], "UTF-8 header at the upstream")
    eq(hget(hs, "User-Agent"), ["e2e-client/1.0"], "User-Agent at the upstream")
    eq(hget(hs, "Accept"), ["application/json"], "Accept at the upstream")
    via = " ".join(hget(hs, "Via"))
    check("lienthong" in via.lower(), "Via at the upstream: %r", via)
    xff = ",".join(hget(hs, "X-Forwarded-For"))
    check("127.0.0.1" in xff, "X-Forwarded-For at the upstream: %r", xff)
    eq(hget(hs, "Host"), ["127.0.0.1:%d" % C.up.port], "Host at the upstream")
    # response headers: end-to-end kept, hop-by-hop removed
    eq(r.header("X-Upstream-End"), "kept", "end-to-end response header")
    check(r.header("Set-Cookie") == "sid=e2e; Path=/", "Set-Cookie not passed: %r", r.headers)
    check(r.header("X-Up-Hop") is None, "header named by the upstream's Connection reached the client: %r",
          r.headers)
    check("max=77" not in (r.header("Keep-Alive") or ""), "upstream Keep-Alive reached the client")
    check("json" in (r.header("Content-Type") or ""), "Content-Type %r", r.header("Content-Type"))
    # a second version of the same code goes to its own URL
    e = echo_of(gw("GET", "/echo/v2/items?x=1", tok), "GET echo/v2")
    eq(e["target"], "/api/v2/items?x=1", "echo/v2 upstream target")
    # the consumer B (trial) is granted echo/v1 too
    e = echo_of(gw("GET", "/echo/v1/b", tok_of(CONS_B)), "GET echo/v1 by B")
    eq(hget(e["headers"], "X-Consumer-Id"), [CONS_B], "X-Consumer-Id for B")


def t_post_and_hop_by_hop():
    tok = tok_of(CONS_A)
    body = json.dumps({"maHoSo": "H34.22-240101-0001", "ten": "Nguyễn Văn A"}, ensure_ascii=False).encode()
    r = gw("POST", "/echo/v1/hoso", tok, body=body, headers=[
        ("Content-Type", "application/json; charset=utf-8"),
        ("Connection", "keep-alive, X-Hop-Req"),
        ("X-Hop-Req", "secret-hop"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
        ("XroadVnpt-docid", "not-for-the-upstream"),
        ("X-End-To-End", "yes"),
    ])
    e = echo_of(r, "POST echo/v1")
    eq(e["method"], "POST", "upstream method")
    eq(e["target"], "/api/hoso", "upstream target")
    eq(e["body"].encode("latin-1"), body, "body at the upstream")
    hs = e["headers"]
    eq(hget(hs, "Content-Type"), ["application/json; charset=utf-8"], "Content-Type at the upstream")
    eq(hget(hs, "X-End-To-End"), ["yes"], "end-to-end header at the upstream")
    names = {k.lower() for k, _ in hs}
    leaked = [n for n in ("x-hop-req", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                          "proxy-authorization", "authorization") if n in names]
    leaked += [n for n in names if n.startswith("xroadvnpt-")]
    check(not leaked, "hop-by-hop/authentication headers reached the upstream: %r\n%r", leaked, hs)
    conn = ",".join(hget(hs, "Connection")).lower()
    check("x-hop-req" not in conn, "the client's Connection header reached the upstream: %r", conn)
    # X-Request-Id generated when absent: the upstream and the client see the same value
    rid_up = hget(hs, "X-Request-Id")
    check(len(rid_up) == 1 and RID_RE.match(rid_up[0]), "generated X-Request-Id at the upstream: %r", rid_up)
    eq(r.header("X-Request-Id"), rid_up[0], "X-Request-Id returned vs sent upstream")
    # other methods
    for method in ("PUT", "PATCH", "DELETE", "OPTIONS"):
        b = b"" if method in ("DELETE", "OPTIONS") else ("%s body" % method).encode()
        e = echo_of(gw(method, "/echo/v1/m/%s" % method.lower(), tok, body=b), method)
        eq(e["method"], method, "%s: upstream method" % method)
        eq(e["body"].encode("latin-1"), b, "%s: upstream body" % method)
    r = gw("HEAD", "/echo/v1/head", tok, timeout=15)
    eq(r.status, 200, "HEAD status")
    eq(C.up.seen("/api/head")[-1]["method"] if C.up.seen("/api/head") else None, "HEAD", "HEAD at the upstream")
    # upstream statuses pass through with the upstream's body
    for code in (201, 204, 404, 409):
        r = gw("GET", "/echo/v1/status?code=%d" % code, tok)
        eq(r.status, code, "upstream status %d passed through" % code)
        if code != 204:
            eq(r.body, b"upstream %d" % code, "upstream body of %d" % code)
        eq(r.header("X-Upstream-End"), "kept", "end-to-end header with status %d" % code)


def t_request_id():
    tok = tok_of(CONS_A)
    for sent in ("x" * 300, "bad id\twith tab"):
        r = gw("GET", "/echo/v1/rid", tok, headers=[("X-Request-Id", sent)])
        e = echo_of(r, "insane X-Request-Id")
        up = hget(e["headers"], "X-Request-Id")
        check(len(up) == 1 and up[0] != sent and RID_RE.match(up[0]),
              "X-Request-Id %r should be replaced by a generated one, upstream got %r", sent[:40], up)
        eq(r.header("X-Request-Id"), up[0], "X-Request-Id returned")
    ids = set()
    for _ in range(3):
        ids.add(gw("GET", "/echo/v1/rid", tok).header("X-Request-Id"))
    eq(len(ids), 3, "generated request ids are distinct")
    # errors carry it too
    r = gw("GET", "/nosuch/v1/x", tok, headers=[("X-Request-Id", "e2e-err-0001")])
    eq(r.header("X-Request-Id"), "e2e-err-0001", "X-Request-Id on a 404")


def t_unauthenticated():
    for what, hs in [("no Authorization", []),
                     ("garbage bearer", [("Authorization", "Bearer not-a-token-at-all")]),
                     ("empty bearer", [("Authorization", "Bearer ")]),
                     ("Basic instead of Bearer", [("Authorization", "Basic " + base64.b64encode(
                         ("%s:%s" % (CONS_A, SECRETS[CONS_A])).encode()).decode())]),
                     ("token of another scheme", [("Authorization", "Token " + tok_of(CONS_A))])]:
        n0 = len(C.up.seen())
        r = gw("GET", "/echo/v1/items", headers=hs)
        gw_error(r, 401, "TOKEN_INVALID", 115, what)
        check((r.header("WWW-Authenticate") or "").startswith("Bearer"), "%s: WWW-Authenticate %r", what,
              r.header("WWW-Authenticate"))
        eq(len(C.up.seen()), n0, "%s: requests reaching the upstream" % what)
    # authentication comes before the service lookup
    gw_error(gw("GET", "/nosuch/v1/x"), 401, "TOKEN_INVALID", 115, "no token, unknown service")


def t_unknown_service():
    tok = tok_of(CONS_A)
    for target in ("/nosuch/v1/x", "/echo/v9/x", "/echo/v1", "/echo"):
        r = gw("GET", target, tok)
        if target in ("/echo/v1",) and r.status == 200:
            continue  # the service root without a trailing path is a valid call
        gw_error(r, 404, "UNKNOWN_SERVICE", 306, "GET /gw%s" % target)


def t_not_granted():
    tc = tok_of(CONS_C)
    n0 = len(C.up.seen())
    gw_error(gw("GET", "/echo/v1/items", tc), 403, "NOT_GRANTED", 307, "C without a grant")
    gw_error(gw("POST", "/echo/v2/x", tok_of(CONS_B), body=b"{}"), 403, "NOT_GRANTED", 307,
             "B on a version it is not granted")
    # access before size: an oversize body from a consumer without the right is a 403
    gw_error(gw("POST", "/limited/v1/x", tc, body=b"z" * 5000), 403, "NOT_GRANTED", 307,
             "C oversize on limited")
    # unknown service before access
    gw_error(gw("GET", "/nosuch/v1/x", tc), 404, "UNKNOWN_SERVICE", 306, "C unknown service")
    eq(len(C.up.seen()), n0, "requests reaching the upstream")


def t_restricted_grant():
    tok = tok_of(CONS_A)
    for target in ("/restricted/v1/public", "/restricted/v1/public/a/b?x=1"):
        e = echo_of(gw("GET", target, tok), "GET " + target)
        check(e["target"].startswith("/api/public"), "upstream target %r", e["target"])
    eq(gw("HEAD", "/restricted/v1/public/h", tok, timeout=15).status, 200, "HEAD inside the grant")
    for method, target in [("POST", "/restricted/v1/public/x"), ("DELETE", "/restricted/v1/public/x"),
                           ("GET", "/restricted/v1/private"), ("GET", "/restricted/v1/publicity"),
                           ("GET", "/restricted/v1/"), ("GET", "/restricted/v1/public/../private"),
                           ("GET", "/restricted/v1/public/%2e%2e/private"),
                           ("GET", "/restricted/v1/public/..%2fprivate"),
                           ("GET", "/restricted/v1/public/..;x/private"),
                           ("GET", "/restricted/v1/public/" + "a" * 600 + "/..%2f..%2fprivate")]:
        n0 = len(C.up.seen())
        r = gw(method, target, tok, body=b"x" if method == "POST" else b"")
        if ".." in target or "%2e" in target:
            # a dot-segment escape: refused one way or another, never forwarded
            check(r.status in (400, 403, 404), "%s %s: expected a refusal, got %d %r", method, target,
                  r.status, r.raw_body[:300])
        else:
            gw_error(r, 403, "NOT_GRANTED", 307, "%s %s outside the grant" % (method, target))
        eq(len(C.up.seen()), n0, "%s %s: requests reaching the upstream" % (method, target))


def t_revoked_token():
    s = C.server
    ta = tok_of(CONS_A)
    tb1 = get_token(CONS_B, form=True)
    tb2 = get_token(CONS_B)
    echo_of(gw("GET", "/echo/v1/before-revoke", tb1), "B token 1 before revoke")
    # revoke one token by its id (a prefix of the SHA-256 of the token)
    h = hashlib.sha256(tb1.encode()).hexdigest()

    def listed():
        p = s.cli("token", "list", "--data", s.data_dir, "--system", CONS_B, "--json")
        v = json.loads(p.stdout.decode("utf-8"))
        check(isinstance(v, list), "token list --json: %r", v)
        return {t.get("id") for t in v if isinstance(t, dict)}
    ids = listed()
    check(h[:12] in ids, "token list does not show the token id %s: %r", h[:12], ids)
    check(hashlib.sha256(tb2.encode()).hexdigest()[:12] in ids, "token list lacks B's second token")
    s.cli("token", "revoke", "--data", s.data_dir, "--id", h[:16])
    gw_error(gw("GET", "/echo/v1/after-revoke", tb1), 401, "TOKEN_INVALID", 115, "token revoked by --id")
    echo_of(gw("GET", "/echo/v1/other-token", tb2), "B's other token after revoking one by --id")
    check(h[:12] not in listed(), "token list still shows the revoked token")
    # revoke every token of B
    s.cli("token", "revoke", "--data", s.data_dir, "--system", CONS_B)
    for t in (tb2, tok_of(CONS_B)):
        gw_error(gw("GET", "/echo/v1/after-revoke", t), 401, "TOKEN_INVALID", 115, "token revoked by --system")
    echo_of(gw("GET", "/echo/v1/a-unaffected", ta), "A's token after revoking B's")
    # a new token works
    C.tokens[CONS_B] = get_token(CONS_B, form=True)
    echo_of(gw("GET", "/echo/v1/new-token", tok_of(CONS_B)), "B's new token")


def t_revoked_right():
    s = C.server
    tok = tok_of(CONS_A)
    echo_of(gw("GET", "/revocable/v1/x", tok), "before access revoke")
    s.cli("access", "revoke", "--data", s.data_dir, "--consumer", CONS_A, "--service", "revocable/v1")
    n0 = len(C.up.seen())
    gw_error(gw("GET", "/revocable/v1/x", tok), 403, "NOT_GRANTED", 307, "the very next call after revoke")
    eq(len(C.up.seen()), n0, "requests reaching the upstream after revoke")
    out = s.cli("access", "list", "--data", s.data_dir).stdout.decode("utf-8", "replace")
    check("revocable" not in out, "access list still shows the revoked right:\n%s", out)
    grant(CONS_A, "revocable/v1")
    echo_of(gw("GET", "/revocable/v1/x", tok), "the very next call after a new grant")


def t_catalogue_changes():
    s = C.server
    tok = tok_of(CONS_A)
    eq(echo_of(gw("GET", "/mutable/v1/p", tok), "mutable before")["target"], "/api/old/p", "target before update")
    s.cli("service", "update", "--data", s.data_dir, "--code", "mutable", "--version", "v1",
          "--url", C.up.url("/api/new"))
    eq(echo_of(gw("GET", "/mutable/v1/p", tok), "mutable after update")["target"], "/api/new/p",
       "target on the next call after service update")
    s.cli("service", "remove", "--data", s.data_dir, "--code", "mutable", "--version", "v1")
    gw_error(gw("GET", "/mutable/v1/p", tok), 404, "UNKNOWN_SERVICE", 306, "next call after service remove")
    out = s.cli("service", "list", "--data", s.data_dir).stdout.decode("utf-8", "replace")
    check("mutable" not in out, "service list still shows the removed service:\n%s", out)


def t_hmac():
    a = (CONS_A, SECRETS[CONS_A])
    r = gw("GET", "/echo/v1/signed?x=1", hmac_as=a)
    e = echo_of(r, "HMAC-signed GET")
    eq(e["target"], "/api/signed?x=1", "upstream target")
    hs = e["headers"]
    eq(hget(hs, "X-Consumer-Id"), [CONS_A], "X-Consumer-Id of a signed call")
    leaked = [k for k, _ in hs if k.lower().startswith("xroadvnpt-") or k.lower() == "authorization"]
    check(not leaked, "XroadVnpt-* headers reached the upstream: %r", leaked)
    body = b'{"a": 1}'
    e = echo_of(gw("POST", "/echo/v1/signed", hmac_as=(CONS_B, SECRETS[CONS_B]), body=body,
                   headers=[("Content-Type", "application/json")]), "HMAC-signed POST by B")
    eq(e["body"].encode("latin-1"), body, "signed POST body at the upstream")
    eq(hget(e["headers"], "X-Consumer-Id"), [CONS_B], "X-Consumer-Id of B's signed call")
    n0 = len(C.up.seen())
    for what, hs in [
        ("wrong HMAC", hmac_headers(CONS_A, SECRETS[CONS_A], mangle="hmac")),
        ("wrong secret", hmac_headers(CONS_A, "not-the-secret")),
        ("signed systemid differs", hmac_headers(CONS_A, SECRETS[CONS_A], signed_id=CONS_B)),
        ("unknown system", hmac_headers("no.such.system", "x")),
        ("no hash-header", [h for h in hmac_headers(CONS_A, SECRETS[CONS_A]) if h[0] != "XroadVnpt-hash-header"]),
    ]:
        r = gw("GET", "/echo/v1/signed", headers=hs)
        check(r.status == 401, "%s: expected 401, got %d %r", what, r.status, r.raw_body[:300])
        check(isinstance(r.json, dict) and isinstance(r.json.get("code"), int) and r.json.get("error"),
              "%s: error body %r", what, r.raw_body[:300])
    eq(len(C.up.seen()), n0, "refused signed calls reaching the upstream")
    # a signed call without a grant
    gw_error(gw("GET", "/echo/v1/signed", hmac_as=(CONS_C, SECRETS[CONS_C])), 403, "NOT_GRANTED", 307,
             "signed call of C without a grant")


def t_upstream_500_not_breaker():
    tok = tok_of(CONS_A)
    for i in range(BREAKER_FAILURES + 3):
        r = gw("GET", "/errors/v1/status?code=500&i=%d" % i, tok)
        eq(r.status, 500, "upstream 500 #%d passed through (not a breaker failure)" % (i + 1))
        eq(r.body, b"upstream 500", "upstream 500 body #%d" % (i + 1))
    for i in range(2):
        r = gw("GET", "/errors/v1/status?code=502&i=%d" % i, tok)
        eq(r.status, 502, "upstream 502 passed through")
        eq(r.body, b"upstream 502", "upstream 502 body (not a gateway error)")
    echo_of(gw("GET", "/errors/v1/after", tok), "prov.echo after repeated upstream 5xx")


def t_timeout():
    tok = tok_of(CONS_A)
    echo_of(gw("GET", "/slow/v1/fast", tok), "slow service, fast path")
    t0 = time.monotonic()
    gw_error(gw("GET", "/slow/v1/slow?ms=3000", tok, timeout=30), 504, "UPSTREAM_TIMEOUT", 604,
             "GET to an upstream that answers after 3 s (timeout 300 ms)")
    took = time.monotonic() - t0
    check(took < 2.9, "the 504 came after %.2f s: the 300 ms timeout was not applied", took)
    gw_error(gw("POST", "/slow/v1/slow?ms=3000", tok, body=b"{}", timeout=30), 504, "UPSTREAM_TIMEOUT", 604,
             "POST to a slow upstream")
    echo_of(gw("GET", "/slow/v1/fast2", tok), "slow service, fast path after timeouts")
    # timeouts are breaker failures: BREAKER_FAILURES in a row open prov.slow's breaker
    for i in range(BREAKER_FAILURES):
        t_last = time.monotonic()
        gw_error(gw("GET", "/slow/v1/slow?ms=3000&n=%d" % i, tok, timeout=30), 504, "UPSTREAM_TIMEOUT", 604,
                 "timeout %d of %d in a row" % (i + 1, BREAKER_FAILURES))
    r = gw("GET", "/slow/v1/fast3", tok)
    if time.monotonic() - t_last < BREAKER_OPEN_MS / 1000.0 - 0.2:
        gw_error(r, 503, "BREAKER_OPEN", 603, "call after %d timeouts in a row" % BREAKER_FAILURES)
    deadline = time.monotonic() + BREAKER_OPEN_MS / 1000.0 + 15
    while r.status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        r = gw("GET", "/slow/v1/fast4", tok)
    echo_of(r, "prov.slow after its open period (probe on a fast path)")


def t_retries():
    tok = tok_of(CONS_A)
    fl = C.flaky
    for method, drop, want_status, want_attempts in [
            ("GET", 1, 200, 2), ("PUT", 1, 200, 2), ("DELETE", 1, 200, 2),
            ("POST", 1, 502, 1), ("GET", 0, 200, 1), ("PATCH", 1, 502, 1),
            ("GET", 2, 502, 2)]:
        fl.reset(drop)
        body = b'{"k": 1}' if method in ("POST", "PUT", "PATCH") else b""
        r = gw(method, "/flaky/v1/r", tok, body=body)
        # let a late (wrong) retry arrive before counting
        time.sleep(0.3)
        n = fl.count()
        what = "%s with %d dropped connection(s)" % (method, drop)
        if want_status == 200:
            check(r.status == 200, "%s: expected 200 after a retry, got %d %r", what, r.status, r.raw_body[:300])
        else:
            check(r.status == 502 and isinstance(r.json, dict) and r.json.get("code") in (601, 602),
                  "%s: expected 502 UPSTREAM_UNREACHABLE/BAD_RESPONSE, got %d %r", what, r.status, r.raw_body[:300])
        eq(n, want_attempts, "%s: attempts seen by the upstream" % what)
        if method != "GET" or drop == 0:
            # a success between failures keeps the provider's breaker closed
            fl.reset(0)
            eq(gw("GET", "/flaky/v1/ok", tok).status, 200, "flaky upstream answering")


def t_breaker():
    tok = tok_of(CONS_A)
    port = C.down_port
    what = "down upstream (closed port %d)" % port
    r = gw("GET", "/down/v1/a", tok)
    gw_error(r, 502, "UPSTREAM_UNREACHABLE", 601, what + ", first call")
    statuses = [502]
    t_last_502 = time.monotonic()
    for _ in range(2 * BREAKER_FAILURES + 2):
        t = time.monotonic()
        r = gw("GET", "/down/v1/a", tok)
        statuses.append(r.status)
        if r.status == 503:
            break
        gw_error(r, 502, "UPSTREAM_UNREACHABLE", 601, what)
        t_last_502 = t
    check(statuses[-1] == 503, "breaker did not open after %d consecutive failures: statuses %r",
          BREAKER_FAILURES, statuses)
    check(len(statuses) <= BREAKER_FAILURES + 1, "breaker opened only after %d failures (setting %d): %r",
          len(statuses) - 1, BREAKER_FAILURES, statuses)
    gw_error(r, 503, "BREAKER_OPEN", 603, "call while the breaker is open")
    retry_after(r, "503 BREAKER_OPEN", 0)
    # every service of the provider is refused; other providers are not affected
    gw_error(gw("GET", "/down2/v1/b", tok), 503, "BREAKER_OPEN", 603, "another service of the provider")
    gw_error(gw("POST", "/down/v1/a", tok, body=b"{}"), 503, "BREAKER_OPEN", 603, "POST while open")
    echo_of(gw("GET", "/echo/v1/other-provider", tok), "another provider while prov.down is open")
    # checks before the breaker: size (413) and access (403)
    gw_error(gw("POST", "/down/v1/a", tok, body=b"x" * 200), 413, "BODY_TOO_LARGE", 108,
             "oversize request while the breaker is open")
    gw_error(gw("GET", "/down/v1/a", tok_of(CONS_C)), 403, "NOT_GRANTED", 307,
             "ungranted consumer while the breaker is open")

    # the open period ends: one probe is let through; the upstream is still down -> re-opens
    def until_not_503(label):
        deadline = time.monotonic() + BREAKER_OPEN_MS / 1000.0 + 15
        n = 0
        while time.monotonic() < deadline:
            r = gw("GET", "/down/v1/probe", tok)
            n += 1
            if r.status != 503:
                return r, time.monotonic(), n
            gw_error(r, 503, "BREAKER_OPEN", 603, label)
            time.sleep(0.1)
        raise harness.TestFailure("%s: still 503 %.0f s after the open period (%d ms)" % (
            label, BREAKER_OPEN_MS / 1000.0 + 15, BREAKER_OPEN_MS))

    r, t_probe, n = until_not_503("waiting for the probe (upstream still down)")
    gw_error(r, 502, "UPSTREAM_UNREACHABLE", 601, "probe call to a still-down upstream")
    check(t_probe - t_last_502 >= BREAKER_OPEN_MS / 1000.0 - 0.05,
          "the breaker let a call through %.2f s after opening (open period %d ms)", t_probe - t_last_502,
          BREAKER_OPEN_MS)
    t_reopen = time.monotonic()
    r = gw("GET", "/down/v1/again", tok)
    gw_error(r, 503, "BREAKER_OPEN", 603, "the call after a failed probe (breaker re-opened)")
    # the upstream comes back on the same port; nothing reaches it while the breaker is open
    C.up_down = Upstream(port)
    r = gw("GET", "/down/v1/while-open", tok)
    if time.monotonic() - t_reopen < BREAKER_OPEN_MS / 1000.0 - 0.2:
        gw_error(r, 503, "BREAKER_OPEN", 603, "call while re-opened, upstream back")
        eq(len(C.up_down.seen()), 0, "requests reaching the upstream while the breaker is open")
    r, _, _ = until_not_503("waiting for the probe (upstream back)")
    e = echo_of(r, "the probe call once the upstream is back")
    check(e["target"].startswith("/x/probe"), "probe target %r", e["target"])
    echo_of(gw("GET", "/down/v1/closed", tok), "call after a successful probe (breaker closed)")
    echo_of(gw("GET", "/down2/v1/closed", tok), "other service of the provider after recovery")
    echo_of(gw("POST", "/down/v1/closed", tok, body=b"{}"), "POST after recovery")


def t_rate_limit():
    tok = tok_of(CONS_A)
    n0 = len(C.up.seen("/api/rated"))
    rs = [gw("GET", "/rated/v1/rated/%d" % i, tok) for i in range(6)]
    st = [r.status for r in rs]
    check(set(st) <= {200, 429}, "statuses of 6 quick calls (grant rate 2 burst 2): %r", st)
    check(st[:2] == [200, 200], "the first 2 calls (burst 2) should pass: %r", st)
    check(st.count(429) >= 1, "6 quick calls at rate 2 burst 2 got no 429: %r", st)
    for r in rs:
        if r.status == 429:
            gw_error(r, 429, "RATE_LIMITED", 117, "over the grant's rate")
            retry_after(r, "429", 1)
    time.sleep(0.3)
    eq(len(C.up.seen("/api/rated")) - n0, st.count(200), "calls reaching the upstream (only the admitted)")
    # the bucket refills: after Retry-After a call passes
    wait = min(max(int(rs[st.index(429)].header("Retry-After")), 1), 5)
    time.sleep(wait + 0.1)
    echo_of(gw("GET", "/rated/v1/rated/after", tok), "call after Retry-After")
    # the limit is per (consumer, service): another service of A is not limited by it
    echo_of(gw("GET", "/echo/v1/not-rated", tok), "another service during the rate limit")
    # without a rate in the grant the service's applies (rate 1 burst 1)
    st = [gw("GET", "/srated/v1/x%d" % i, tok).status for i in range(4)]
    check(st[0] == 200 and 429 in st and set(st) <= {200, 429},
          "4 quick calls at the service's rate 1 burst 1: %r", st)


def t_sizes():
    tok = tok_of(CONS_A)
    e = echo_of(gw("POST", "/limited/v1/sz-exact", tok, body=b"a" * 1000), "body of exactly max-request-bytes")
    eq(len(e["body"]), 1000, "upstream body length")
    for what, kw in [("Content-Length 1001", {}), ("chunked 1500", {"chunked": True})]:
        n0 = len(C.up.seen())
        body = b"b" * (1001 if not kw else 1500)
        r = gw("POST", "/limited/v1/sz-over", tok, body=body, **kw)
        gw_error(r, 413, "BODY_TOO_LARGE", 108, "oversize request (%s)" % what)
        time.sleep(0.2)
        eq(len(C.up.seen()) - n0, 0, "%s: requests reaching the upstream" % what)
    echo_of(gw("GET", "/limited/v1/after", tok), "call after a 413")
    # a response over max-response-bytes: 502 when the gateway can know it before answering
    # (a small limit, or a Content-Length over it); a chunked one may be cut mid-stream instead
    gw_error(gw("GET", "/tiny/v1/chunkedbig?n=5000", tok), 502, "UPSTREAM_BAD_RESPONSE", 602,
             "chunked 5000-byte response over max-response-bytes 1000")
    gw_error(gw("GET", "/tiny/v1/big?n=5000", tok), 502, "UPSTREAM_BAD_RESPONSE", 602,
             "5000-byte response (Content-Length) over max-response-bytes 1000")
    eq(gw("GET", "/tiny/v1/big?n=1000", tok).body, C.big[:1000], "response of exactly max-response-bytes 1000")
    problems = []
    for last in ("chunkedbig", "big"):
        target = "/limited/v1/%s?n=200000" % last
        try:
            r = gw("GET", target, tok, record=False)
        except (OSError, vxpsdk.ProtocolError) as ex:
            ledger_add(CONS_A, target, None)
            if last == "big":
                problems.append("GET /gw%s (upstream Content-Length 200000 > max-response-bytes 100000): "
                                "expected 502 UPSTREAM_BAD_RESPONSE before any byte, got a response cut "
                                "mid-body (%s: %s)" % (target, type(ex).__name__, ex))
            continue
        ledger_add(CONS_A, target, r.status, r.json if isinstance(r.json, dict) else None)
        if r.status == 502:
            gw_error(r, 502, "UPSTREAM_BAD_RESPONSE", 602, "oversize response (%s)" % last)
        else:
            problems.append("GET /gw%s over the 100000 limit: HTTP %d with %d body bytes" % (
                target, r.status, len(r.body)))
    e = echo_of(gw("GET", "/limited/v1/after-big", tok), "call after an oversize response")
    r = gw("GET", "/limited/v1/big?n=100000", tok)
    eq(r.status, 200, "a response of exactly max-response-bytes")
    eq(r.body, C.big[:100000], "response of exactly max-response-bytes")
    check(not problems, "%s", "\n  ".join(problems))


def _big_get(target, tok):
    conn = http.client.HTTPConnection("127.0.0.1", C.server.port, timeout=120)
    try:
        conn.request("GET", "/gw" + target, headers={"Authorization": "Bearer " + tok})
        resp = conn.getresponse()
        h = hashlib.sha256()
        n = 0
        for _ in range(1 << 20):
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        rid = resp.getheader("X-Request-Id")
        ledger_add(CONS_A, target, resp.status)
        return resp.status, n, h.hexdigest(), rid
    finally:
        conn.close()


def t_large_bodies():
    tok = tok_of(CONS_A)
    want = hashlib.sha256(C.big).hexdigest()
    status, n, digest, rid = _big_get("/big/v1/big?n=%d" % BIG_SIZE, tok)
    eq(status, 200, "20 MB response status")
    check(rid, "20 MB response without X-Request-Id")
    eq(n, BIG_SIZE, "20 MB response length")
    eq(digest, want, "20 MB response SHA-256")
    n8 = 8 * 1024 * 1024
    status, n, digest, _ = _big_get("/big/v1/chunkedbig?n=%d" % n8, tok)
    eq((status, n), (200, n8), "8 MB chunked response status and length")
    eq(digest, hashlib.sha256(C.big[:n8]).hexdigest(), "8 MB chunked response SHA-256")
    # a 5 MB request body arrives intact
    body = C.big[-5 * 1024 * 1024:]
    r = gw("POST", "/big/v1/sha", tok, body=body, headers=[("Content-Type", "application/octet-stream")],
           timeout=120)
    eq(r.status, 200, "5 MB upload status (%r)" % r.raw_body[:200])
    eq(r.json, {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body)}, "5 MB upload at the upstream")


def t_soap():
    tok = tok_of(CONS_A)
    action = '"http://dangkykinhdoanh.gov.vn/ws/TraCuuDoanhNghiep"'
    ctype = "text/xml; charset=utf-8"
    r = gw("POST", "/soap/v1/soap", tok, body=SOAP_REQUEST,
           headers=[("Content-Type", ctype), ("SOAPAction", action)])
    eq(r.status, 200, "SOAP call status (%r)" % r.raw_body[:300])
    eq(r.body, SOAP_RESPONSE, "SOAP response bytes")
    eq(r.header("Content-Type"), ctype, "SOAP response Content-Type")
    rec = C.up.seen("/ws/soap")[-1]
    eq(rec["method"], "POST", "SOAP method at the upstream")
    eq(rec["body"], SOAP_REQUEST, "SOAP request bytes at the upstream")
    eq([v for k, v in rec["headers"] if k.lower() == "soapaction"], [action], "SOAPAction at the upstream")
    eq([v for k, v in rec["headers"] if k.lower() == "content-type"], [ctype], "Content-Type at the upstream")
    # a fault (HTTP 500) passes through unchanged
    fault_action = '"http://dangkykinhdoanh.gov.vn/ws/Fault"'
    r = gw("POST", "/soap/v1/soap", tok, body=SOAP_REQUEST,
           headers=[("Content-Type", ctype), ("SOAPAction", fault_action)])
    eq(r.status, 500, "SOAP fault status")
    eq(r.body, SOAP_FAULT, "SOAP fault bytes")
    eq(r.header("Content-Type"), ctype, "SOAP fault Content-Type")
    # SOAP 1.2: the action inside the Content-Type
    ctype12 = 'application/soap+xml; charset=utf-8; action="urn:TraCuu"'
    r = gw("POST", "/soap/v1/soap", tok, body=SOAP_REQUEST, headers=[("Content-Type", ctype12)])
    eq(r.status, 200, "SOAP 1.2 status")
    rec = C.up.seen("/ws/soap")[-1]
    eq([v for k, v in rec["headers"] if k.lower() == "content-type"], [ctype12], "SOAP 1.2 Content-Type")
    eq(rec["body"], SOAP_REQUEST, "SOAP 1.2 request bytes")


def t_concurrency():
    tok = tok_of(CONS_A)
    n_calls = 100
    n0 = len(C.up.seen("/conc/slow"))
    results = [None] * n_calls
    done = [0]
    lock = threading.Lock()

    def one(i):
        try:
            r = request(C.server.port, "GET", "/gw/conc/v1/slow?ms=1000&i=%d" % i,
                        [("Authorization", "Bearer " + tok)], timeout=60)
            results[i] = (r.status, r.header("X-Request-Id"), r.raw_body[:200])
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = (None, None, repr(e))
        with lock:
            done[0] += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n_calls)]
    for t in threads:
        t.start()
    # while at least 50 calls wait at the upstream, the server still answers /healthz
    C.up.wait_seen("/conc/slow", n0 + 50, timeout=20)
    th = time.monotonic()
    hr = harness.http_get(C.server.port, "/healthz", timeout=10)
    th = time.monotonic() - th
    with lock:
        done_at_health = done[0]
    for t in threads:
        t.join(max(0.1, t0 + 90 - time.monotonic()))
    took = time.monotonic() - t0
    for i, r in enumerate(results):
        ledger_add(CONS_A, "/conc/v1/slow", r[0] if r else None)
    eq(hr.status, 200, "/healthz during 100 slow calls")
    check(done_at_health < n_calls, "/healthz answered only after every slow call ended (%.2f s)", th)
    bad = [(i, r) for i, r in enumerate(results) if not r or r[0] != 200]
    check(not bad, "%d of %d concurrent calls failed, e.g. %r", len(bad), n_calls, bad[:3])
    eq(len({r[1] for r in results}), n_calls, "distinct X-Request-Id over the concurrent calls")
    check(took < 20.0, "100 concurrent calls to an upstream sleeping 1 s took %.1f s (serialised?)", took)


def t_expiry():
    """A second server with gateway_token_ttl_seconds = 1."""
    d = harness.new_data_dir("gateway-ttl")
    cfg = harness.write_config(d, gateway_token_ttl_seconds=1)
    s2 = harness.Server(data_dir=d, config=cfg, tag="gateway-ttl")
    s2.add_agency(AGENCY, AGENCY_NAME)
    s2.add_system("prov.echo", AGENCY, SECRETS["prov.echo"])
    s2.add_system(CONS_A, AGENCY, SECRETS[CONS_A])
    s2.cli("service", "add", "--data", d, "--code", "echo", "--version", "v1", "--provider", "prov.echo",
           "--url", C.up.url("/ttl"))
    grant(CONS_A, "echo/v1", server=s2)
    s2.start()
    try:
        t_issue = time.monotonic()
        r = token_request(s2.port, {"grant_type": "client_credentials"}, basic=(CONS_A, SECRETS[CONS_A]))
        eq(r.status, 200, "token from the ttl=1 server (%r)" % r.raw_body[:200])
        eq(r.json.get("expires_in"), 1, "expires_in with gateway_token_ttl_seconds = 1")
        tok = r.json["access_token"]
        r = gw("GET", "/echo/v1/fresh", tok, port=s2.port)
        if time.monotonic() - t_issue < 0.7:
            eq(r.status, 200, "call with a fresh 1-second token")
        time.sleep(max(0.0, t_issue + 2.2 - time.monotonic()))
        r = gw("GET", "/echo/v1/expired", tok, port=s2.port)
        gw_error(r, 401, "TOKEN_INVALID", 115, "call with a token expired 1 s ago")
        check((r.header("WWW-Authenticate") or "").startswith("Bearer"), "WWW-Authenticate %r",
              r.header("WWW-Authenticate"))
        eq(len(C.up.seen("/ttl/expired")), 0, "expired-token calls reaching the upstream")
    finally:
        s2.check_clean_shutdown()


def _ledger_figures():
    def fig():
        return {"calls": 0, "ok": 0, "client_errors": 0, "server_errors": 0, "unknown": 0}
    by_service, by_consumer, total = {}, {}, fig()
    for consumer, ref, status in C.ledger:
        for f in (by_service.setdefault(ref, fig()), by_consumer.setdefault(consumer, fig()), total):
            f["calls"] += 1
            if status is None:
                f["unknown"] += 1
            elif status < 400:
                f["ok"] += 1
            elif status < 500:
                f["client_errors"] += 1
            else:
                f["server_errors"] += 1
    return by_service, by_consumer, total


def _compare(got, want, what, problems):
    if not isinstance(got, dict):
        problems.append("%s: missing (expected %r)" % (what, want))
        return
    eq_calls = got.get("calls") == want["calls"]
    if not eq_calls:
        problems.append("%s calls: expected %d, got %r" % (what, want["calls"], got.get("calls")))
    u = want["unknown"]
    for k in ("ok", "client_errors", "server_errors"):
        v = got.get(k)
        if type(v) is not int or not (want[k] <= v <= want[k] + u):
            problems.append("%s %s: expected %d%s, got %r" % (what, k, want[k], " (+%d)" % u if u else "", v))
    if all(type(got.get(k)) is int for k in ("ok", "client_errors", "server_errors")) and \
            got["ok"] + got["client_errors"] + got["server_errors"] != got.get("calls"):
        problems.append("%s: ok + client_errors + server_errors != calls: %r" % (what, got))
    lat = got.get("latency_us")
    if not isinstance(lat, dict) or not all(type(lat.get(k)) is int for k in ("p50", "p90", "p99", "max")):
        problems.append("%s latency_us: %r" % (what, lat))
    elif got.get("calls") and not (0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]):
        problems.append("%s latency percentiles not ordered: %r" % (what, lat))


def t_stats():
    s = C.server
    by_service, by_consumer, total = _ledger_figures()
    deadline = time.monotonic() + 15
    g = None
    for _ in range(200):
        p = s.cli("stats", "--data", s.data_dir, "--json", check=False)
        check(p.returncode == 0, "stats --json: exit %d %s", p.returncode, p.stderr.decode(errors="replace"))
        j = json.loads(p.stdout.decode("utf-8"))
        g = j.get("gateway")
        check(isinstance(g, dict), "stats --json has no \"gateway\" object: %r", list(j))
        if isinstance(g.get("total"), dict) and g["total"].get("calls") == total["calls"]:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    problems = []
    _compare(g.get("total"), total, "total", problems)
    services = {row.get("service"): row for row in g.get("services") or []}
    for ref, want in sorted(by_service.items()):
        _compare(services.get(ref), want, "service %r" % ref, problems)
        row = services.get(ref)
        if ref and isinstance(row, dict):
            code, version = ref.split("/")
            if (row.get("code"), row.get("version"), row.get("provider")) != (code, version, C.services[ref]):
                problems.append("service %r: code/version/provider %r" % (
                    ref, (row.get("code"), row.get("version"), row.get("provider"))))
    extra = set(services) - set(by_service)
    if extra:
        problems.append("services in the statistics without calls of the test: %r" % sorted(extra))
    consumers = {row.get("consumer"): row for row in g.get("consumers") or []}
    for c, want in sorted(by_consumer.items()):
        _compare(consumers.get(c), want, "consumer %r" % c, problems)
    extra = set(consumers) - set(by_consumer)
    if extra:
        problems.append("consumers in the statistics without calls of the test: %r" % sorted(extra))
    providers = {row.get("provider"): row for row in g.get("providers") or []}
    want_providers = {}
    for ref, f in by_service.items():
        prov = C.services.get(ref, "") if ref else ""
        acc = want_providers.setdefault(prov, 0)
        want_providers[prov] = acc + f["calls"]
    for prov, n in want_providers.items():
        got = providers.get(prov, {}).get("calls") if isinstance(providers.get(prov), dict) else None
        if got != n:
            problems.append("provider %r calls: expected %d, got %r" % (prov, n, got))
    periods = g.get("periods") or []
    if sum(p.get("calls", 0) for p in periods if isinstance(p, dict)) != total["calls"]:
        problems.append("periods do not sum to the total: %r" % periods)
    systems = g.get("systems") or {}
    n_off = sum(1 for v in STATUS.values() if v == "official")
    n_trial = sum(1 for v in STATUS.values() if v == "trial")
    want_sys = {"total": len(STATUS), "official": n_off, "trial": n_trial}
    for k, v in want_sys.items():
        if systems.get(k) != v:
            problems.append("systems %s: expected %d, got %r" % (k, v, systems.get(k)))
    active = {c for c in by_consumer if c} | {p for p in want_providers if p}
    if systems.get("active") != len(active):
        problems.append("systems active: expected %d %r, got %r" % (len(active), sorted(active),
                                                                     systems.get("active")))
    check(not problems, "gateway statistics differ from the calls made:\n  " + "\n  ".join(problems))


def t_still_healthy():
    check(C.server.healthy(), "server not healthy at the end\n%s", C.server.log_tail())


def main():
    harness.require_binary()
    run = harness.Runner("gateway", time_limit=480)
    cfg_dir = harness.new_data_dir("gateway")
    cfg = harness.write_config(cfg_dir, gateway_breaker_failures=BREAKER_FAILURES,
                               gateway_breaker_open_ms=BREAKER_OPEN_MS, gateway_retries=1)
    server = harness.Server(data_dir=cfg_dir, config=cfg, tag="gateway")
    C.server = server
    C.big = os.urandom(BIG_SIZE)
    C.up = Upstream(big=C.big)
    C.flaky = Flaky()
    C.down_port = harness.free_port()
    try:
        if not run.run("registry, services and grants via the CLI", t_setup):
            run.finish()
        server.start()
        for name, fn in [
            ("POST /token: client credentials, errors of RFC 6749 5.2", t_token_endpoint),
            ("granted GET with query: target, headers at the upstream and back", t_get_with_query),
            ("POST and other methods, hop-by-hop headers, upstream statuses", t_post_and_hop_by_hop),
            ("X-Request-Id: kept, generated, replaced when insane", t_request_id),
            ("no or garbage token: 401 TOKEN_INVALID", t_unauthenticated),
            ("unknown service: 404", t_unknown_service),
            ("no grant: 403, checks in order", t_not_granted),
            ("grant restricted by methods and path prefix", t_restricted_grant),
            ("revoked tokens: 401 on the next call", t_revoked_token),
            ("revoked right: 403 on the very next call", t_revoked_right),
            ("service update/remove apply to the next call", t_catalogue_changes),
            ("VXP HMAC-signed calls", t_hmac),
            ("upstream 5xx passes through, breaker stays closed", t_upstream_500_not_breaker),
            ("slow upstream: 504 after the service timeout", t_timeout),
            ("retries: idempotent methods only, connection failures only", t_retries),
            ("upstream down: 502, breaker 503, probe, recovery", t_breaker),
            ("rate limit: 429 with Retry-After", t_rate_limit),
            ("size limits: 413 nothing forwarded, oversize response 502", t_sizes),
            ("large bodies streamed intact (20 MB down, 5 MB up)", t_large_bodies),
            ("SOAP passthrough with SOAPAction and faults", t_soap),
            ("100 concurrent slow calls, /healthz meanwhile", t_concurrency),
            ("expired token (ttl 1 s): 401", t_expiry),
            ("stats --json gateway figures equal the calls made", t_stats),
            ("server still healthy", t_still_healthy),
            ("clean shutdown, no sanitizer report", server.check_clean_shutdown),
        ]:
            run.run(name, fn)
    finally:
        server.stop()
        for u in (C.up, C.up_down, C.flaky):
            if u is not None:
                try:
                    u.close()
                except OSError:
                    pass
    run.finish()


if __name__ == "__main__":
    main()
