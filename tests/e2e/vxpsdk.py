"""vxpsdk — a wire-level reproduction of the national hub's Java client SDK (SDKVXP 2.0.x).

The end-to-end tests must speak to lienthong exactly as the agencies' document systems do, and
must control every byte, so this module builds the requests over raw sockets instead of using an
HTTP library. What it reproduces (see docs/vxp-protocol.md, sections 2-5):

  * the per-service-object parameter map: a java.util.HashMap<String,String> created once with
    "timestamp" (fixed at construction) and "systemid", into which every call PUTS the members of
    its jsonHeaders and never removes anything (leftover parameters travel on later calls);
  * the map's iteration order (Java String.hashCode, HashMap hash spreading, table doubling,
    bucket order, insertion order inside a bucket), which is the order of the signed JSON;
  * Gson's compact JSON for XroadVnpt-sign-header and the HMAC-SHA256 XroadVnpt-hash-header;
  * hash-file: SHA-256 hex of the file with each byte printed by "%x" (no zero padding);
  * the two HTTP stacks: Apache HttpClient (keep-alive, Accept-Encoding, Content-Length always,
    "Expect: 100-continue" on non-empty bodies, body sent only after the interim 100 or after 3 s)
    and java.net.HttpURLConnection for sendEdoc (file bytes + CRLF, application/octet-stream);
  * response reading: Content-Length, chunked or read-to-close, gzip/deflate, JSON decoding.

Python standard library only. No server is needed to import it (test_sdk_vectors.py checks the
signing against the worked examples of the protocol document).
"""

import base64
import datetime
import hashlib
import hmac
import json
import socket
import time
import urllib.parse
import zlib

USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
SDK_VERSION = "3.0.201608"
APACHE_EXPECT_WAIT = 3.0  # seconds Apache HttpClient waits for "100 Continue" before sending anyway
DEFAULT_IO_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------
# Java HashMap iteration order
# --------------------------------------------------------------------------------------------

def java_string_hash(s):
    """java.lang.String.hashCode(): s[0]*31^(n-1) + ... over UTF-16 code units, 32-bit signed."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        unit = (data[i] << 8) | data[i + 1]
        h = (31 * h + unit) & 0xFFFFFFFF
    if h >= 0x80000000:
        h -= 0x100000000
    return h


def java_hashmap_spread(h):
    """HashMap.hash(key): h ^ (h >>> 16), as an unsigned 32-bit value (only low bits matter)."""
    u = h & 0xFFFFFFFF
    return u ^ (u >> 16)


class JavaHashMap:
    """Insertion and iteration behaviour of java.util.HashMap<String,String> with the default
    constructor (table allocated with 16 buckets on the first put, doubled whenever
    size > 0.75 * capacity). Entries are never removed here (the SDK never removes), so the
    iteration order is: bucket index ascending, and inside a bucket the order in which the keys
    were first inserted (resize splits preserve relative order; treeification needs 8 entries in
    one bucket and a 64-bucket table, which these few keys never reach)."""

    def __init__(self):
        self._values = {}
        self._seq = {}
        self._next = 0
        self.capacity = 0

    def put(self, key, value):
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("JavaHashMap holds strings only")
        if key not in self._values:
            self._seq[key] = self._next
            self._next += 1
            if self.capacity == 0:
                self.capacity = 16
            self._values[key] = value
            while len(self._values) > 0.75 * self.capacity:
                self.capacity *= 2
        else:
            self._values[key] = value

    def get(self, key, default=None):
        return self._values.get(key, default)

    def __contains__(self, key):
        return key in self._values

    def __len__(self):
        return len(self._values)

    def bucket(self, key):
        cap = self.capacity or 16
        return (cap - 1) & java_hashmap_spread(java_string_hash(key))

    def keys(self):
        return sorted(self._values, key=lambda k: (self.bucket(k), self._seq[k]))

    def items(self):
        return [(k, self._values[k]) for k in self.keys()]


# --------------------------------------------------------------------------------------------
# Gson compact JSON, hashes, timestamp
# --------------------------------------------------------------------------------------------

_GSON_SHORT = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\b": "\\b", "\n": "\\n", "\r": "\\r",
               "\f": "\\f"}


def gson_string(s):
    """A JSON string literal as Gson's JsonWriter writes it without HTML escaping: escapes
    only the quote, the backslash, control characters and U+2028/U+2029; non-ASCII is raw."""
    out = ['"']
    for ch in s:
        if ch in _GSON_SHORT:
            out.append(_GSON_SHORT[ch])
        elif ord(ch) < 0x20 or ch in ("\u2028", "\u2029"):
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def gson_object(pairs):
    """Compact JSON object of string members, in the given order."""
    return "{" + ",".join(gson_string(k) + ":" + gson_string(v) for k, v in pairs) + "}"


def gson_to_json(value):
    """Compact JSON text of a decoded JSON value (JsonElement.toString), member order kept."""
    if isinstance(value, str):
        return gson_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ",".join(gson_to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(gson_string(k) + ":" + gson_to_json(v) for k, v in value.items()) + "}"
    raise TypeError("not a JSON value: %r" % (value,))


def hash_file(data):
    """The SDK's hash-file: SHA-256 of the file bytes, each byte as lower-case hex WITHOUT zero
    padding (Integer.toHexString(b & 0xff))."""
    return "".join("%x" % b for b in hashlib.sha256(data).digest())


def sign(secret, signed_string):
    """XroadVnpt-hash-header: lower-case hex HMAC-SHA256(UTF-8(secret), UTF-8(signed string))."""
    return hmac.new(secret.encode("utf-8"), signed_string.encode("utf-8"), hashlib.sha256).hexdigest()


def java_timestamp(now=None):
    """SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS") in local time: the '+' is literal and the
    milliseconds are zero-padded to 4 digits."""
    now = now or datetime.datetime.now()
    return now.strftime("%d%m%YT%H%M%S") + "+%04d" % (now.microsecond // 1000)


def sdk_value(value):
    """JsonElement.getAsString() as the SDK applies it to each jsonHeaders member."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list) and len(value) == 1:
        return sdk_value(value[0])
    raise ValueError("the SDK cannot use this jsonHeaders value: %r" % (value,))


# --------------------------------------------------------------------------------------------
# HTTP over raw sockets
# --------------------------------------------------------------------------------------------

class ProtocolError(Exception):
    """The server's bytes are not a valid HTTP/1.1 response."""


class Response:
    """One HTTP response as received. `json` is the decoded body (None if not JSON)."""

    def __init__(self):
        self.status_line = b""
        self.status = 0
        self.headers = []          # [(name, value)] as str (latin-1), in received order
        self.body = b""            # after de-chunking and content decoding
        self.raw_body = b""        # as it came on the wire (after de-chunking)
        self.interim = []          # status lines of 1xx responses received before this one
        self.continue_seconds = None  # time from end of headers to "100 Continue" (Expect only)
        self.expect_sent = False
        self.elapsed = 0.0
        self.json = None
        self.json_error = None
        self.send_error = None

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def is_ascii(self):
        return all(b < 0x80 for b in self.raw_body)

    def __getitem__(self, key):
        if not isinstance(self.json, dict):
            raise KeyError("response is not a JSON object: %r" % (self.raw_body[:300],))
        return self.json[key]

    def get(self, key, default=None):
        if isinstance(self.json, dict):
            return self.json.get(key, default)
        return default

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.raw_body[:400])


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        if self.eof:
            return False
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def readline(self, limit=1 << 20):
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                raise ProtocolError("header line too long")
            if not self._fill():
                raise ProtocolError("connection closed in the middle of a line: %r" % self.buf[:200])
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError("connection closed after %d of %d body bytes" % (len(self.buf), n))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_all(self, limit=1 << 30):
        while self._fill():
            if len(self.buf) > limit:
                raise ProtocolError("response too large")
        data, self.buf = self.buf, b""
        return data

    def has_data(self, timeout):
        """True when bytes are buffered or arrive within timeout seconds (or the peer closed)."""
        if self.buf or self.eof:
            return True
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return self._fill() or self.eof
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)


def _read_head(reader):
    line = reader.readline()
    parts = line.rstrip(b"\r\n").split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError("bad status line %r" % line[:200])
    headers = []
    for _ in range(1000):
        h = reader.readline()
        if h in (b"\r\n", b"\n"):
            break
        if b":" not in h:
            raise ProtocolError("bad header line %r" % h[:200])
        k, v = h.split(b":", 1)
        headers.append((k.strip().decode("latin-1"), v.strip().decode("latin-1")))
    else:
        raise ProtocolError("too many response headers")
    return line.rstrip(b"\r\n"), int(parts[1]), headers


def _read_body(reader, resp, method):
    te = (resp.header("Transfer-Encoding") or "").lower()
    cl = resp.header("Content-Length")
    if method == "HEAD" or resp.status in (204, 304):
        return b""
    if "chunked" in te:
        out = b""
        for _ in range(1 << 20):
            size_line = reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                for _ in range(100):  # trailers
                    if reader.readline() in (b"\r\n", b"\n"):
                        break
                return out
            out += reader.read_exact(size)
            reader.read_exact(2)
        raise ProtocolError("too many chunks")
    if cl is not None:
        return reader.read_exact(int(cl))
    return reader.read_all()


def _decode_content(resp):
    enc = (resp.header("Content-Encoding") or "").lower()
    if enc == "gzip":
        return zlib.decompress(resp.raw_body, 16 + zlib.MAX_WBITS)
    if enc == "deflate":
        try:
            return zlib.decompress(resp.raw_body)
        except zlib.error:
            return zlib.decompress(resp.raw_body, -zlib.MAX_WBITS)
    return resp.raw_body


def http_exchange(host, port, request_head, body=b"", expect=False, method="POST",
                  timeout=DEFAULT_IO_TIMEOUT, expect_wait=APACHE_EXPECT_WAIT, sock=None):
    """Send one request (head bytes already built, ending with the blank line) and read the
    final response. With expect=True behave like Apache HttpClient: send the head, wait up to
    expect_wait seconds for an interim "100 Continue" (recording how long it took), then send
    the body, unless a final response arrived first (then the body is not sent)."""
    own = sock is None
    if own:
        sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(timeout)
    t0 = time.monotonic()
    resp = Response()
    resp.expect_sent = expect
    try:
        reader = _Reader(sock)
        if expect and body:
            sock.sendall(request_head)
            t_head = time.monotonic()
            final_first = None
            if reader.has_data(expect_wait):
                status_line, status, headers = _read_head(reader)
                if status == 100:
                    resp.continue_seconds = time.monotonic() - t_head
                    resp.interim.append(status_line)
                else:
                    final_first = (status_line, status, headers)
            if final_first is None:
                sock.sendall(body)
                status_line, status, headers = _read_head(reader)
            else:
                status_line, status, headers = final_first
        else:
            try:
                sock.sendall(request_head + body)
            except (BrokenPipeError, ConnectionResetError) as e:
                # the server answered early and closed (e.g. body over its limit): the reply
                # may still be readable; if not, the original error stands
                resp.send_error = e
                try:
                    status_line, status, headers = _read_head(reader)
                except (OSError, ProtocolError):
                    raise e
            else:
                status_line, status, headers = _read_head(reader)
        for _ in range(10):
            if 100 <= status < 200 and status != 101:
                resp.interim.append(status_line)
                status_line, status, headers = _read_head(reader)
            else:
                break
        resp.status_line, resp.status, resp.headers = status_line, status, headers
        resp.raw_body = _read_body(reader, resp, method)
        resp.body = _decode_content(resp)
    finally:
        if own:
            sock.close()
    resp.elapsed = time.monotonic() - t0
    try:
        resp.json = json.loads(resp.body.decode("utf-8")) if resp.body else None
    except (ValueError, UnicodeDecodeError) as e:
        resp.json_error = str(e)
    return resp


def build_head(method, path, headers):
    """Request head bytes. headers: [(name, value)] where value is str (encoded per item: bytes
    pass unchanged, str as latin-1 with the low byte of each char, as Apache does) or bytes."""
    lines = [("%s %s HTTP/1.1\r\n" % (method, path)).encode("ascii")]
    for name, value in headers:
        if isinstance(value, str):
            value = bytes(ord(c) & 0xFF for c in value)
        lines.append(name.encode("ascii") + b": " + value + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


# --------------------------------------------------------------------------------------------
# The SDK service object
# --------------------------------------------------------------------------------------------

# operation -> (HTTP method, body kind, Content-Type)
#   body kinds: "empty", "braces" ("{}"), "data" (caller's JSON text), "file" (edXML + CRLF), "none" (GET)
OPERATIONS = {
    "sendEdoc": ("POST", "file", "application/octet-stream"),
    "getReceivedEdocList": ("POST", "empty", "application/json"),
    "getSentEdocList": ("POST", "empty", "application/json"),
    "getEdoc": ("POST", "braces", "application/json"),
    "updateStatus": ("POST", "braces", "application/json"),
    "countReceiveEdoc": ("POST", "braces", "application/json"),
    "countReceiveStatus": ("POST", "braces", "application/json"),
    "downloadEdoc": ("GET", "none", "application/json"),
    "getAgenciesList": ("POST", "empty", "application/json"),
    "getAgenciesListQD20": ("POST", "empty", "application/json"),
    "getSynchronizeUnit": ("POST", "empty", "application/json"),
    "registerAgency": ("POST", "data", "application/json"),
    "deleteAgency": ("POST", "braces", "application/json"),
}


class Service:
    """One KnobstickServiceImp / AgencyServiceImp object: endpoint, systemId, secret and the
    parameter map that lives as long as the object (never cleared)."""

    def __init__(self, endpoint, system_id, secret, timestamp=None, io_timeout=DEFAULT_IO_TIMEOUT):
        self.endpoint = endpoint
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme != "http":
            raise ValueError("only http endpoints are supported by the test client")
        self.host = u.hostname
        self.port = u.port or 80
        self.host_header = u.netloc
        self.base_path = u.path  # concatenated verbatim: endpoint + "/" + operation
        self.system_id = system_id
        self.secret = secret
        self.io_timeout = io_timeout
        self.params = JavaHashMap()
        self.timestamp = timestamp or java_timestamp()
        self.params.put("timestamp", self.timestamp)
        self.params.put("systemid", system_id)
        self.last_request = b""

    # -- building ---------------------------------------------------------------------------

    def put_json_headers(self, json_headers, op=None):
        """Parse the caller's jsonHeaders (dict or JSON text) and put every member into the map,
        like the SDK: values as getAsString(); "to" in sendEdoc stored as its JSON text."""
        if json_headers is None:
            return
        if isinstance(json_headers, (str, bytes)):
            json_headers = json.loads(json_headers)
        if not isinstance(json_headers, dict):
            raise ValueError("jsonHeaders must be a JSON object")
        for k, v in json_headers.items():
            if op == "sendEdoc" and k == "to":
                self.params.put(k, gson_to_json(v))
            else:
                self.params.put(k, sdk_value(v))

    def signature_headers(self):
        """(sign-header-key, sign-header, hash-header) for the current map."""
        items = self.params.items()
        key_list = ";".join(k for k, _ in items)
        signed = gson_object([("XroadVnpt-" + k, v) for k, v in items])
        return key_list, signed, sign(self.secret, signed)

    def sdk_headers(self, utf8_values=False):
        """The SDK's own header list, in the order it adds them."""
        key_list, signed, digest = self.signature_headers()
        enc = (lambda s: s.encode("utf-8")) if utf8_values else (lambda s: s)
        hs = [("XroadVnpt-" + k, enc(v)) for k, v in self.params.items()]
        hs.append(("Content-Type", self.params.get("Content-Type")))
        hs.append(("XroadVnpt-sign-header-key", key_list))
        hs.append(("XroadVnpt-sign-header", enc(signed)))
        hs.append(("XroadVnpt-hash-header", digest))
        hs.append(("User-Agent", USER_AGENT))
        hs.append(("XroadVnpt-version", SDK_VERSION))
        return hs

    def path(self, op):
        return self.base_path + "/" + op

    def build(self, op, json_headers=None, file_bytes=None, data=None):
        """Apply the call to the map and return (method, path, headers, body, expect)."""
        method, kind, ctype = OPERATIONS[op]
        # The SDK puts Content-Type (and hash-file) BEFORE the caller's members: observable
        # when keys share a bucket, e.g. "Content-Type" and "status" (worked example 4.6 d).
        self.params.put("Content-Type", ctype)
        if op == "sendEdoc":
            self.params.put("hash-file", hash_file(file_bytes))
        self.put_json_headers(json_headers, op)
        if kind == "file":
            hs = self.sdk_headers(utf8_values=True)
            body = file_bytes + b"\r\n"
            hs += [("Cache-Control", "no-cache"), ("Pragma", "no-cache"),
                   ("Host", self.host_header),
                   ("Accept", "text/html, image/gif, image/jpeg, */*; q=0.2"),
                   ("Connection", "keep-alive"), ("Content-Length", str(len(body)))]
            return method, self.path(op), hs, body, False
        hs = self.sdk_headers()
        if kind == "empty" or kind == "none":
            body = b""
        elif kind == "braces":
            body = b"{}"
        else:
            body = data.encode("utf-8") if isinstance(data, str) else data
        if kind != "none":
            hs.append(("Content-Length", str(len(body))))
        hs += [("Host", self.host_header), ("Connection", "Keep-Alive"),
               ("Accept-Encoding", "gzip,deflate")]
        expect = bool(body)
        if expect:
            hs.append(("Expect", "100-continue"))
        return method, self.path(op), hs, body, expect

    # -- sending ----------------------------------------------------------------------------

    def call(self, op, json_headers=None, file_bytes=None, data=None, mutate=None, path=None,
             expect_wait=APACHE_EXPECT_WAIT, body=None):
        """Perform one SDK operation. mutate(headers) may edit the header list (a list of
        (name, value) tuples) before it is sent, and body replaces the request body (with its
        Content-Length) after the headers were computed, for negative tests."""
        method, p, hs, real_body, expect = self.build(op, json_headers, file_bytes, data)
        if body is None:
            body = real_body
        else:
            hs = [(k, str(len(body)) if k == "Content-Length" else v) for k, v in hs]
        if mutate is not None:
            r = mutate(hs)
            if r is not None:
                hs = r
        head = build_head(method, path or p, hs)
        self.last_request = head
        return http_exchange(self.host, self.port, head, body, expect=expect, method=method,
                             timeout=self.io_timeout, expect_wait=expect_wait)

    def sendEdoc(self, json_headers, file_bytes, **kw):
        return self.call("sendEdoc", json_headers, file_bytes=file_bytes, **kw)

    def getReceivedEdocList(self, json_headers, **kw):
        return self.call("getReceivedEdocList", json_headers, **kw)

    def getSentEdocList(self, json_headers, **kw):
        return self.call("getSentEdocList", json_headers, **kw)

    def getEdoc(self, json_headers, **kw):
        return self.call("getEdoc", json_headers, **kw)

    def updateStatus(self, json_headers, **kw):
        return self.call("updateStatus", json_headers, **kw)

    def countReceiveEdoc(self, json_headers, **kw):
        return self.call("countReceiveEdoc", json_headers, **kw)

    def countReceiveStatus(self, json_headers, **kw):
        return self.call("countReceiveStatus", json_headers, **kw)

    def downloadEdoc(self, json_headers, **kw):
        return self.call("downloadEdoc", json_headers, **kw)

    def getAgenciesList(self, json_headers="{}", **kw):
        return self.call("getAgenciesList", json_headers, **kw)

    def getAgenciesListQD20(self, json_headers="{}", **kw):
        return self.call("getAgenciesListQD20", json_headers, **kw)

    def getSynchronizeUnit(self, json_headers="{}", **kw):
        return self.call("getSynchronizeUnit", json_headers, **kw)

    def registerAgency(self, json_headers, data, **kw):
        return self.call("registerAgency", json_headers, data=data, **kw)

    def deleteAgency(self, json_headers, **kw):
        return self.call("deleteAgency", json_headers, **kw)


def b64decode_std(s):
    """Strict standard base64 (RFC 4648 alphabet with padding)."""
    return base64.b64decode(s, validate=True)
