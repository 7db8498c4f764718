#!/usr/bin/env python3
"""test_trust_ops — files, secrets, tokens and logs, as an operator and an attacker meet them:
one server per data directory (a lock), secrets that never need the command line and are not
guessable by accident, a bounded number of live access tokens per client with dead ones purged,
log lines that no client input can forge or use to drive a terminal and that say who asked, and
`Authorization: bearer` in any case (RFC 6750)."""

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import vxpsdk  # noqa: E402
from harness import check, eq  # noqa: E402

SYS_ID, SECRET = "000.00.01.H34", "secret-of-the-provincial-office"
TOKENS_PER_CLIENT = 3


class Ctx:
    server = None


C = Ctx()


def raw(data, timeout=5.0):
    _, _, out = harness.raw_exchange(C.server.port, data, timeout=timeout)
    return harness.raw_responses(out)[0]


def token_request(client_id=SYS_ID, secret=SECRET):
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client_id,
                                   "client_secret": secret}).encode()
    return raw(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def setup():
    srv = harness.Server(tag="trustops")
    C.server = srv
    srv.config = harness.write_config(srv.data_dir, gateway_tokens_per_client=TOKENS_PER_CLIENT,
                                      gateway_token_ttl_seconds=2)
    srv.add_agency("000.00.00.H34", "UBND tinh")
    srv.add_agency(SYS_ID, "Van phong", "000.00.00.H34")
    srv.add_system(SYS_ID, SYS_ID, SECRET, status="official")
    srv.start()


def t_one_server_per_directory():
    second = harness.Server(data_dir=C.server.data_dir, config=C.server.config, tag="trustops2")
    cmd = [harness.BINARY, "serve", "--data", second.data_dir, "--listen", "127.0.0.1:%d" % second.port]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    check(p.returncode != 0, "a second server on the same data directory started")
    err = p.stderr.decode()
    check("another lienthong server is running" in err and str(C.server.proc.pid) in err,
          "unclear refusal: %r", err[-500:])
    check(C.server.healthy(), "the first server suffered")


def t_secrets_off_the_command_line():
    d = C.server.data_dir
    srv = C.server
    srv.add_agency("000.00.02.H34", "So A", "000.00.00.H34")
    path = os.path.join(d, "secret.txt")
    with open(path, "w") as f:
        f.write("a-secret-from-a-file-0123456789\n")
    srv.cli("system", "add", "--data", d, "--id", "000.00.02.H34", "--agency", "000.00.02.H34",
            "--secret-file", path)
    p = subprocess.run([harness.BINARY, "system", "rotate-secret", "--data", d, "--id", "000.00.02.H34",
                        "--secret", "-"], input=b"a-secret-from-stdin-0123456789\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    eq(p.returncode, 0, "rotate-secret --secret - (stderr %r)" % p.stderr)
    time.sleep(0.1)  # the server's view follows the configuration generation
    eq(token_request("000.00.02.H34", "a-secret-from-stdin-0123456789")[0], 200, "token with the stdin secret")
    eq(token_request("000.00.02.H34", "a-secret-from-a-file-0123456789")[0], 401, "token with the replaced secret")
    for args, what in ((["--secret", "short-secret"], "a 12-character secret"),
                       (["--secret", "x", "--secret-file", path], "both --secret and --secret-file")):
        p = srv.cli("system", "rotate-secret", "--data", d, "--id", "000.00.02.H34", *args, check=False)
        eq(p.returncode, 2, what)
    check(b"16 characters" in srv.cli("system", "rotate-secret", "--data", d, "--id", "000.00.02.H34", "--secret",
                                      "short-secret", check=False).stderr, "the refusal does not say why")
    srv.cli("system", "rotate-secret", "--data", d, "--id", "000.00.02.H34", "--secret", "short-secret",
            "--weak-secret")


def live_rows():
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(C.server.data_dir, "lienthong.db"), uri=True)
    try:
        return con.execute("SELECT COUNT(*) FROM access_token WHERE system_id = ?", (SYS_ID,)).fetchone()[0]
    finally:
        con.close()


def t_token_cap_and_purge():
    got = [token_request() for _ in range(TOKENS_PER_CLIENT)]
    eq([g[0] for g in got], [200] * TOKENS_PER_CLIENT, "tokens up to the cap")
    status, hs, body = token_request()
    eq(status, 429, "one token over the cap")
    check(1 <= int(hs.get("retry-after", "0")) <= 3, "Retry-After %r", hs.get("retry-after"))
    eq(json.loads(body)["code"], 117, "code of the refusal")
    # the tokens issued still work
    tok = json.loads(got[0][2])["access_token"]
    st, _, _ = raw(("GET /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: bearer %s\r\nConnection: close\r\n\r\n"
                    % C.server.admin_token()).encode())
    eq(st, 200, "admin API with 'bearer' in lower case")
    st, _, _ = raw(("GET /gw/none/v1/x HTTP/1.1\r\nHost: x\r\nAuthorization: BEARER %s\r\nConnection: close\r\n\r\n"
                    % tok).encode())
    eq(st, 404, "gateway with 'BEARER' (authenticated: the service does not exist)")
    time.sleep(2.2)  # the tokens expire
    eq(token_request()[0], 200, "a token once the old ones expired")
    eq(live_rows(), 1, "token rows after the expired ones were purged")


def t_log_lines():
    before = os.path.getsize(C.server.log_path)
    # a header value may carry bytes >= 0x80: a raw CSI (0x9b) or a UTF-8 C1 control drives some
    # terminals, and invalid UTF-8 garbles the file for every reader
    claimed = b"evil\x9b31m\xc2\x9b2J\xff"
    st, _, body = raw(b"POST /vxp/getReceivedEdocList HTTP/1.1\r\nHost: x\r\nXroadVnpt-systemid: " + claimed +
                      b"\r\nXroadVnpt-sign-header: {}\r\nXroadVnpt-hash-header: x\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")
    eq(json.loads(body)["ErrorCode"], "102", "unknown system")
    eq(token_request("000.00.77.H34", "wrong-secret-0123456789")[0], 401, "token for a claimed client")
    bad = vxpsdk.Service(C.server.endpoint, "000.00.09.H34", "not-the-secret-0123456789")
    r = bad.getReceivedEdocList({"servicetype": "eDoc", "messagetype": "edoc"})
    eq(r.json["ErrorCode"], "102", "unknown system")
    st, _, _ = raw(b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n")
    eq(st, 401, "admin API with a wrong token")
    time.sleep(0.2)
    with open(C.server.log_path, "rb") as f:
        f.seek(before)
        text = f.read()
    check(b"\x9b" not in text and b"\xc2\x9b" not in text and b"\xff" not in text,
          "a terminal control or invalid UTF-8 reached the log: %r", text[-600:])
    text.decode("utf-8")  # the log stays valid UTF-8
    lines = text.decode("utf-8").splitlines()
    esc = [l for l in lines if "claimed=evil" in l]
    check(esc and "claimed=evil\\x9b31m\\xc2\\x9b2J\\xff" in esc[0], "escaped claim: %r", esc)
    tok = [l for l in lines if "token refused" in l]
    check(tok and "client=127.0.0.1" in tok[0] and "claimed=000.00.77.H34" in tok[0], "token refusal line: %r", tok)
    vxp = [l for l in lines if "vxp getReceivedEdocList refused" in l and "claimed=000.00.09.H34" in l]
    check(vxp and "client=127.0.0.1" in vxp[0], "VXP refusal line: %r", vxp)
    api = [l for l in lines if "api: GET /api/v1/stats refused" in l]
    check(api and "client=127.0.0.1" in api[0], "admin API refusal line: %r", api)
    for l in lines:
        check(len(l.encode()) <= 2200, "a log line of %d bytes", len(l.encode()))


def main():
    harness.require_binary()
    run = harness.Runner("trust: files, secrets, tokens, logs", time_limit=200)
    try:
        if not run.run("registry and server", setup):
            run.finish()
        for name, fn in [
            ("a second server on the same data directory refuses to start", t_one_server_per_directory),
            ("secrets from a file or standard input; short ones refused", t_secrets_off_the_command_line),
            ("live tokens per client capped, expired ones purged, bearer in any case", t_token_cap_and_purge),
            ("log lines escaped, with the client address and the claimed id", t_log_lines),
            ("clean shutdown, no sanitizer report", lambda: C.server.check_clean_shutdown()),
        ]:
            run.run(name, fn)
    finally:
        if C.server is not None:
            C.server.stop()
    run.finish()


if __name__ == "__main__":
    main()
