"""harness — start and stop the real lienthong binary for the end-to-end tests, register agencies
and systems through its CLI, rewrite edXML samples between test organs, and run test cases.

Environment (set by ctest, see tests/CMakeLists.txt):
  LIENTHONG    path of the binary
  LT_TESTDATA  directory of the sample .edxml files (used as they are)
  LT_TMP       scratch directory (data directories and logs go below it)

Servers listen on 127.0.0.1 only, every wait is bounded, and every server started here is killed
at exit (try/finally in the tests, and an atexit hook as a last resort).
"""

import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

import vxpsdk

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get("LIENTHONG", "")
TESTDATA = os.environ.get("LT_TESTDATA") or os.path.join(HERE, "..", "..", "..", "shared", "testdata", "edxml")
TMP = os.environ.get("LT_TMP") or tempfile.gettempdir()

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

_live_servers = set()


def _kill_all():
    for s in list(_live_servers):
        try:
            s.kill()
        except Exception:
            pass


atexit.register(_kill_all)


def sample(name):
    with open(os.path.join(TESTDATA, name), "rb") as f:
        return f.read()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_data_dirs = []


def new_data_dir(tag):
    """A fresh directory under LT_TMP; removed at the end when every case passed, kept (with
    the server log) for inspection otherwise."""
    os.makedirs(TMP, exist_ok=True)
    d = tempfile.mkdtemp(prefix="e2e-%s-" % tag, dir=TMP)
    _data_dirs.append(d)
    return d


def write_config(data_dir, **values):
    """A config file in the documented format: `key = value` lines, `#` comments."""
    path = os.path.join(data_dir, "test.conf")
    with open(path, "w") as f:
        f.write("# written by the end-to-end tests\n")
        for k, v in values.items():
            f.write("%s = %s\n" % (k, v))
    return path


def http_get(port, path, headers=None, timeout=10.0):
    hs = [("Host", "127.0.0.1:%d" % port), ("Connection", "close")]
    for k, v in (headers or {}).items():
        hs.append((k, v))
    head = vxpsdk.build_head("GET", path, hs)
    return vxpsdk.http_exchange("127.0.0.1", port, head, b"", method="GET", timeout=timeout)


def raw_exchange(port, data, timeout=5.0, source=None):
    """Sends raw bytes on a new connection (from address `source` if given) and reads until the
    server closes it or `timeout` passes: (seconds, closed by the server, bytes received)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        t0 = time.monotonic()
        s.sendall(data)
        out, closed = b"", False
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    closed = True
                    break
                out += b
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
        return time.monotonic() - t0, closed, out
    finally:
        s.close()


def raw_responses(data):
    """Splits received bytes into [(status, {lower-case header: value}, body)] by Content-Length."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        hs = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            hs[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        n = int(hs.get("content-length", "0"))
        out.append((status, hs, rest[:n]))
        data = rest[n:]
    return out


class Server:
    """One lienthong process serving DATA_DIR on 127.0.0.1:PORT."""

    def __init__(self, data_dir=None, config=None, tag="srv"):
        if not BINARY or not os.access(BINARY, os.X_OK):
            raise RuntimeError("LIENTHONG does not name an executable: %r" % BINARY)
        self.data_dir = data_dir or new_data_dir(tag)
        self.config = config
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.starts = 0

    # -- CLI --------------------------------------------------------------------------------

    def cli(self, *args, check=True, timeout=60):
        """Run `lienthong ARGS` (registry commands take --data DIR). Returns CompletedProcess."""
        cmd = [BINARY] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("%s -> exit %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), p.returncode, p.stdout.decode(errors="replace")[-2000:],
                p.stderr.decode(errors="replace")[-2000:]))
        return p

    def add_agency(self, organ_id, name, parent=None, check=True):
        args = ["agency", "add", "--data", self.data_dir, "--id", organ_id, "--name", name]
        if parent:
            args += ["--parent", parent]
        return self.cli(*args, check=check)

    def add_system(self, system_id, agency, secret, serves=None, status=None, check=True):
        args = ["system", "add", "--data", self.data_dir, "--id", system_id, "--agency", agency]
        if serves:
            args += ["--serves", ",".join(serves)]
        if status:
            args += ["--status", status]
        args += ["--secret", secret]
        if len(secret) < 16:
            args.append("--weak-secret")  # the tests' short secrets are meant
        return self.cli(*args, check=check)

    # -- process ----------------------------------------------------------------------------

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=STARTUP_TIMEOUT):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("server already running")
        cmd = [BINARY, "serve", "--data", self.data_dir, "--listen", "127.0.0.1:%d" % self.port]
        if self.config:
            cmd += ["--config", self.config]
        log = open(self.log_path, "ab")
        log.write(("\n==== start #%d: %s\n" % (self.starts + 1, " ".join(cmd))).encode())
        log.flush()
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env)
        log.close()
        self.starts += 1
        _live_servers.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s during startup\n%s" % (
                    self.proc.returncode, self.log_tail()))
            try:
                r = http_get(self.port, "/healthz", timeout=2.0)
                if r.status == 200:
                    return self
            except (OSError, vxpsdk.ProtocolError):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("server did not answer /healthz within %.0f s\n%s" % (timeout, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def healthy(self):
        try:
            return self.alive() and http_get(self.port, "/healthz", timeout=5.0).status == 200
        except (OSError, vxpsdk.ProtocolError):
            return False

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; SIGKILL if it does not exit. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        _live_servers.discard(self)
        return self.proc.returncode

    def kill(self):
        """SIGKILL (crash simulation)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        _live_servers.discard(self)
        return self.proc.returncode

    def restart(self):
        self.stop()
        return self.start()

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "---- %s (last %d lines)\n%s" % (self.log_path, n, "\n".join(lines[-n:]))
        except OSError as e:
            return "(no log: %s)" % e

    def sanitizer_reports(self):
        """Lines of AddressSanitizer/UBSan/LeakSanitizer reports in the server log."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        pat = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: \w+Sanitizer")
        return [l for l in text.splitlines() if pat.search(l)]

    def check_clean_shutdown(self):
        """SIGTERM: the server exits 0 within the bound and no sanitizer reported anything."""
        rc = self.stop()
        reports = self.sanitizer_reports()
        check(not reports, "sanitizer reports in %s:\n  %s", self.log_path, "\n  ".join(reports[:10]))
        check(rc == 0, "exit status %r after SIGTERM\n%s", rc, self.log_tail())

    def admin_token(self):
        with open(os.path.join(self.data_dir, "admin.token"), "r") as f:
            return f.read().strip()

    def stats(self, date_from, date_to, token=True):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + (token if isinstance(token, str) else self.admin_token())
        q = urllib.parse.urlencode({"from": date_from, "to": date_to})
        return http_get(self.port, "/api/v1/stats?" + q, headers=headers)

    def service(self, system_id, secret, prefix=""):
        return vxpsdk.Service(self.endpoint + prefix, system_id, secret)


# --------------------------------------------------------------------------------------------
# edXML rewriting (byte-level text substitution; everything else stays byte-identical)
# --------------------------------------------------------------------------------------------

def _comment_spans(data):
    return [(m.start(), m.end()) for m in re.finditer(rb"<!--.*?-->", data, re.S)]


def _outside_comments(spans, pos):
    return not any(a <= pos < b for a, b in spans)


def _blocks(data, local):
    """(start, end) of each <prefix:LOCAL>...</prefix:LOCAL> element outside comments."""
    spans = _comment_spans(data)
    out = []
    pat = re.compile(rb"<((?:[\w.-]+:)?" + local.encode() + rb")>(.*?)</\1>", re.S)
    for m in pat.finditer(data):
        if _outside_comments(spans, m.start()):
            out.append((m.start(), m.end()))
    return out


def _set_organ_id(block, organ_id):
    pat = re.compile(rb"(<((?:[\w.-]+:)?OrganId)>)(.*?)(</\2>)", re.S)
    m = pat.search(block)
    if not m:
        raise ValueError("no OrganId in block")
    return block[:m.start(3)] + organ_id.encode() + block[m.end(3):]


def rewrite_organs(data, from_=None, to=None, response_for=None):
    """Rewrite the From/OrganId, the To/OrganId list and/or the first ResponseFor/OrganId of an
    edXML package. `to` is a list: the existing To blocks get the new ids in order; missing blocks
    are copies of the last one (with the indentation in front of it); surplus blocks are removed.
    Only the MessageHeader is touched (comments are skipped)."""
    mh = _blocks(data, "MessageHeader")
    if not mh:
        raise ValueError("no MessageHeader")
    h0, h1 = mh[0]
    header = data[h0:h1]
    if from_ is not None:
        fb = _blocks(header, "From")
        if not fb:
            raise ValueError("no From block")
        a, b = fb[0]
        header = header[:a] + _set_organ_id(header[a:b], from_) + header[b:]
    if response_for is not None:
        rb_ = _blocks(header, "ResponseFor")
        if not rb_:
            raise ValueError("no ResponseFor block")
        a, b = rb_[0]
        header = header[:a] + _set_organ_id(header[a:b], response_for) + header[b:]
    if to is not None:
        tb = _blocks(header, "To")
        if not tb or not to:
            raise ValueError("no To block to rewrite / empty recipient list")
        new_blocks = []
        for i, organ in enumerate(to):
            a, b = tb[min(i, len(tb) - 1)]
            new_blocks.append(_set_organ_id(header[a:b], organ))
        first, last = tb[0][0], tb[-1][1]
        # separators between consecutive To blocks (whitespace), reused for inserted blocks
        seps = [header[tb[i][1]:tb[i + 1][0]] for i in range(len(tb) - 1)]
        line_start = header.rfind(b"\n", 0, first)
        default_sep = header[line_start:first] if line_start >= 0 else b"\n"
        out = new_blocks[0]
        for i in range(1, len(new_blocks)):
            sep = seps[i - 1] if i - 1 < len(seps) else default_sep
            out += sep + new_blocks[i]
        header = header[:first] + out + header[last:]
    return data[:h0] + header + data[h1:]


def add_comment(data, text):
    """Insert <!-- text --> right after the XML declaration (makes the bytes unique)."""
    m = re.match(rb"<\?xml[^>]*\?>", data)
    pos = m.end() if m else 0
    return data[:pos] + b"<!-- " + text.encode() + b" -->" + data[pos:]


def organ_ids(data, local):
    """OrganIds of the given MessageHeader child blocks (From, To, ResponseFor)."""
    mh = _blocks(data, "MessageHeader")
    header = data[mh[0][0]:mh[0][1]]
    out = []
    for a, b in _blocks(header, local):
        m = re.search(rb"<((?:[\w.-]+:)?OrganId)>(.*?)</\1>", header[a:b], re.S)
        out.append(m.group(2).decode() if m else None)
    return out


# --------------------------------------------------------------------------------------------
# Assertions and the test runner
# --------------------------------------------------------------------------------------------

class TestFailure(AssertionError):
    pass


def check(cond, msg, *args):
    if not cond:
        raise TestFailure(msg % args if args else msg)


def eq(got, want, what):
    if got != want:
        raise TestFailure("%s: expected %r, got %r" % (what, want, got))


def _no_nulls(v, path="$"):
    if v is None:
        raise TestFailure("null value at %s" % path)
    if isinstance(v, dict):
        for k, x in v.items():
            _no_nulls(x, path + "." + k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _no_nulls(x, "%s[%d]" % (path, i))


def envelope(resp, what, extra=()):
    """Checks every VXP JSON reply must pass: HTTP 200, pure ASCII, a JSON object with string
    status/ErrorCode/ErrorDesc, no null anywhere, and the operation's members `extra`."""
    check(resp.status == 200, "%s: HTTP status %d, expected 200 (body %r)", what, resp.status, resp.raw_body[:300])
    check(resp.is_ascii(), "%s: reply body is not pure ASCII: %r", what,
          [resp.raw_body[max(0, i - 20):i + 20] for i, b in enumerate(resp.raw_body) if b >= 0x80][:1])
    check(isinstance(resp.json, dict), "%s: reply is not a JSON object: %r", what, resp.raw_body[:300])
    for k in ("status", "ErrorCode", "ErrorDesc"):
        check(k in resp.json, "%s: reply lacks %r: %r", what, k, resp.json)
        check(isinstance(resp.json[k], str), "%s: %r is not a string: %r", what, k, resp.json[k])
    check(resp.json["status"] in ("OK", "FAIL"), "%s: status %r is neither OK nor FAIL", what, resp.json["status"])
    _no_nulls(resp.json)
    for k in extra:
        check(k in resp.json, "%s: reply lacks %r (required even on failure): %r", what, k, resp.json)
    return resp.json


OP_EXTRA = {
    "sendEdoc": ("DocId",),
    "getEdoc": ("data",),
    "countReceiveEdoc": ("count",),
    "countReceiveStatus": ("count",),
}


def ok(resp, what, op=None):
    j = envelope(resp, what, OP_EXTRA.get(op, ()))
    check(j["status"] == "OK" and j["ErrorCode"] == "0",
          "%s: expected OK/0, got %s/%s %r", what, j["status"], j["ErrorCode"], j.get("ErrorDesc"))
    eq(j["ErrorDesc"], "Thanh cong", "%s: ErrorDesc" % what)
    if op == "sendEdoc":
        check(re.fullmatch(r"[0-9a-f]{24}", j["DocId"] or "") is not None,
              "%s: DocId %r is not 24 lower-case hex", what, j["DocId"])
    if op in ("countReceiveEdoc", "countReceiveStatus"):
        check(type(j["count"]) is int, "%s: count %r is not an integer", what, j["count"])
    return j


def fail(resp, what, code=None, op=None):
    """A FAIL reply with ErrorCode `code` (a string), or any non-"0" code when code is None."""
    j = envelope(resp, what, OP_EXTRA.get(op, ()))
    check(j["status"] == "FAIL", "%s: expected status FAIL, got %r (%r)", what, j["status"], j)
    if code is None:
        check(j["ErrorCode"] not in ("0", ""), "%s: FAIL with ErrorCode %r", what, j["ErrorCode"])
    else:
        eq(j["ErrorCode"], str(code), "%s: ErrorCode (ErrorDesc %r)" % (what, j.get("ErrorDesc")))
    check(j["ErrorDesc"] not in ("", "Thanh cong"), "%s: FAIL with ErrorDesc %r", what, j["ErrorDesc"])
    if op == "sendEdoc":
        eq(j["DocId"], "", "%s: DocId on failure" % what)
    if op == "getEdoc":
        eq(j["data"], "", "%s: data on failure" % what)
    if op in ("countReceiveEdoc", "countReceiveStatus"):
        check(type(j["count"]) is int, "%s: count %r is not an integer", what, j["count"])
    return j


class Runner:
    """Runs test functions in order, one output line per case, then "N passed, M failed".
    A case may be skipped by raising Skip (counted as failed: nothing is silently skipped)."""

    def __init__(self, title, time_limit=540.0):
        self.title = title
        self.passed = 0
        self.failed = 0
        self.deadline = time.monotonic() + time_limit
        self.failures = []

    def run(self, name, fn, *args):
        if time.monotonic() > self.deadline:
            self.failed += 1
            print("FAIL %s: time budget of the file exhausted before this case" % name, flush=True)
            return None
        t0 = time.monotonic()
        try:
            r = fn(*args)
        except TestFailure as e:
            self.failed += 1
            self.failures.append(name)
            print("FAIL %s: %s" % (name, e), flush=True)
            return None
        except Exception as e:
            self.failed += 1
            self.failures.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            traceback.print_exc(file=sys.stdout)
            return None
        self.passed += 1
        print("PASS %s (%.2f s)" % (name, time.monotonic() - t0), flush=True)
        return r if r is not None else True

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        _kill_all()
        if self.failed == 0:
            for d in _data_dirs:
                shutil.rmtree(d, ignore_errors=True)
        else:
            for d in _data_dirs:
                print("  data and server log kept in %s" % d, flush=True)
        sys.exit(1 if self.failed else 0)


def require_binary():
    if not BINARY or not os.access(BINARY, os.X_OK):
        print("FAIL setup: LIENTHONG is not set to an executable (%r)" % BINARY)
        print("0 passed, 1 failed")
        sys.exit(1)


# --------------------------------------------------------------------------------------------
# A small province-like registry shared by the tests
# --------------------------------------------------------------------------------------------
#
# The organ ids are the ones the sample files already use, so most samples route unchanged:
#   edoc_update/replacement/revocation: From 000.00.00.G22, To H41, H14, G17
#   status_*: From 000.00.00.H41, ResponseFor 000.00.00.G22 (status_cancellation_13 the reverse)

ORG_PROVINCE = "000.00.00.H34"
ORG_VPCP = "000.00.00.G22"
ORG_NGHEAN = "000.00.00.H41"
ORG_CAOBANG = "000.00.00.H14"
ORG_HAIPHONG = "000.00.00.G17"
ORG_TEST = "000.00.15.H51"

AGENCIES = [
    (ORG_PROVINCE, "UBND tỉnh Kon Tum", None),
    (ORG_VPCP, "Văn phòng Chính phủ", None),
    (ORG_NGHEAN, "UBND Tỉnh Nghệ An", None),
    (ORG_CAOBANG, "UBND Tỉnh Cao Bằng", None),
    (ORG_HAIPHONG, "Sở Thông tin truyền thông Hải Phòng", None),
    (ORG_TEST, "Trung tâm test production", ORG_HAIPHONG),
]


class System:
    """A connected system: its id (also an organ it serves), secret and the organs it serves."""

    def __init__(self, server, system_id, secret, serves):
        self.server = server
        self.id = system_id
        self.secret = secret
        self.serves = [system_id] + list(serves)

    def svc(self, prefix=""):
        """A fresh SDK service object (new parameter map, new timestamp)."""
        return vxpsdk.Service(self.server.endpoint + prefix, self.id, self.secret)

    def __repr__(self):
        return "System(%s)" % self.id


def setup_registry(server):
    """Agencies and three systems: A = VPCP (G22); B = Nghe An (H41, also serves H14);
    C = Hai Phong (G17, trial, also serves 000.00.15.H51). Returns {"A": System, ...}."""
    for organ, name, parent in AGENCIES:
        server.add_agency(organ, name, parent)
    server.add_system(ORG_VPCP, ORG_VPCP, "A7TKsecret-of-vpcp-0123456789abcdefghijk81Ve=", status="official")
    server.add_system(ORG_NGHEAN, ORG_NGHEAN, "secret-of-nghean", serves=[ORG_CAOBANG], status="official")
    server.add_system(ORG_HAIPHONG, ORG_HAIPHONG, "secret-of-haiphong", serves=[ORG_TEST], status="trial")
    return {
        "A": System(server, ORG_VPCP, "A7TKsecret-of-vpcp-0123456789abcdefghijk81Ve=", []),
        "B": System(server, ORG_NGHEAN, "secret-of-nghean", [ORG_CAOBANG]),
        "C": System(server, ORG_HAIPHONG, "secret-of-haiphong", [ORG_TEST]),
    }


def send_json(system, messagetype="edoc"):
    return {"from": system.id, "servicetype": "eDoc", "messagetype": messagetype}


def list_json(messagetype="edoc"):
    return {"servicetype": "eDoc", "messagetype": messagetype}
