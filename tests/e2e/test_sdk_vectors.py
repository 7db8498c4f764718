"""test_sdk_vectors — the test client (vxpsdk.py) reproduces the national SDK byte for byte.

No lienthong server is needed: the signing is checked against the worked examples of
docs/vxp-protocol.md 4.6 (a)-(e), the observed key orders of 4.2, the hash-file rendering of 4.4,
and the request framing of sections 2 and 3 (checked on a loopback socket the test owns).
"""

import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import vxpsdk  # noqa: E402
from harness import check, eq  # noqa: E402

SYS, SECRET, TS = "vxp.test.01", "abc", "22112026T103015+0123"
EDOC_HASH_FILE = "7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb"
EDOC_SHA_HEX = "7e4a746b898d9b054749de74b58e7bd24c8b86287a3806653f06593adf9db5eb"


def svc(endpoint="http://127.0.0.1:9"):
    return vxpsdk.Service(endpoint, SYS, SECRET, timestamp=TS)


def hmac_hex(s):
    return hmac.new(SECRET.encode(), s.encode(), hashlib.sha256).hexdigest()


def t_java_hashcode():
    eq(vxpsdk.java_string_hash(""), 0, "hash of empty string")
    eq(vxpsdk.java_string_hash("hello"), 99162322, "\"hello\".hashCode()")
    eq(vxpsdk.java_string_hash("Aa"), vxpsdk.java_string_hash("BB"), "Aa/BB collide")
    eq(vxpsdk.java_string_hash("polygenelubricants"), -2147483648, "Integer.MIN_VALUE hash")
    # UTF-16 code units: a supplementary character counts as two units
    eq(vxpsdk.java_string_hash("\U0001F600"), 0xD83D * 31 + 0xDE00, "surrogate pair hash")
    eq(vxpsdk.java_string_hash("\u00e0"), 0xE0, "BMP non-ASCII hash")


def t_hashmap_order_basics():
    m = vxpsdk.JavaHashMap()
    for k in ["Aa", "BB", "x"]:
        m.put(k, "v")
    # "Aa" and "BB" share a bucket: insertion order inside it
    ks = m.keys()
    check(ks.index("Aa") < ks.index("BB"), "in-bucket insertion order lost: %r", ks)
    m2 = vxpsdk.JavaHashMap()
    for k in ["BB", "Aa", "x"]:
        m2.put(k, "v")
    ks2 = m2.keys()
    check(ks2.index("BB") < ks2.index("Aa"), "in-bucket insertion order lost: %r", ks2)
    # growth: 13 keys -> capacity 32, 25 keys -> 64
    m3 = vxpsdk.JavaHashMap()
    for i in range(12):
        m3.put("k%d" % i, "v")
    eq(m3.capacity, 16, "capacity with 12 keys")
    m3.put("k12", "v")
    eq(m3.capacity, 32, "capacity with 13 keys")
    for i in range(13, 25):
        m3.put("k%d" % i, "v")
    eq(m3.capacity, 64, "capacity with 25 keys")
    # re-putting an existing key keeps its place
    before = m3.keys()
    m3.put("k3", "changed")
    eq(m3.keys(), before, "order after re-put")
    eq(m3.get("k3"), "changed", "value after re-put")


def vector(op, jh, key_list, signed, digest, file_bytes=None):
    s = svc()
    s.build(op, jh, file_bytes=file_bytes)
    k, sg, h = s.signature_headers()
    eq(k, key_list, "%s sign-header-key" % op)
    if signed is not None:
        eq(sg, signed, "%s signed string" % op)
    eq(h, digest, "%s hash-header" % op)
    eq(hmac_hex(sg), digest, "%s independent HMAC" % op)
    return s


def t_vector_a():
    vector("getAgenciesList", "{}", "systemid;timestamp;Content-Type",
           '{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-timestamp":"22112026T103015+0123",'
           '"XroadVnpt-Content-Type":"application/json"}',
           "12567df8e04d9bd45e68dcd6e787ecf7332a57054b0dc717ae209a23bb1003e5")


def t_vector_b():
    vector("getReceivedEdocList", '{"servicetype":"eDoc","messagetype":"edoc"}',
           "systemid;servicetype;messagetype;timestamp;Content-Type",
           '{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-servicetype":"eDoc","XroadVnpt-messagetype":"edoc",'
           '"XroadVnpt-timestamp":"22112026T103015+0123","XroadVnpt-Content-Type":"application/json"}',
           "f0cfa3c6f92a9bf61e8faffe691039aefd0d9902049f7c15e8a53185cf3e989d")


def t_vector_c():
    f = harness.sample("edoc.edxml")
    eq(len(f), 8363, "edoc.edxml size")
    vector("sendEdoc", '{"from":"vxp.test.01","servicetype":"eDoc","messagetype":"edoc"}',
           "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type",
           '{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-servicetype":"eDoc","XroadVnpt-messagetype":"edoc",'
           '"XroadVnpt-hash-file":"' + EDOC_HASH_FILE + '","XroadVnpt-from":"vxp.test.01",'
           '"XroadVnpt-timestamp":"22112026T103015+0123","XroadVnpt-Content-Type":"application/octet-stream"}',
           "c2206fae231851d84419e5ae382283a955fdec7f3203a640b9c5857a9f42ae17", file_bytes=f)


def t_vector_d():
    vector("updateStatus", '{"status":"done","docid":"nonexistent"}',
           "systemid;docid;timestamp;Content-Type;status", None,
           "aca0d1a9917b2f1ca6ed6c85d82a55949f7ba341f78785288f4b70fbf536cb9f")


def t_vector_e():
    f = harness.sample("edoc.edxml")
    s = vector("sendEdoc", '{"from":"vxp.test.01","servicetype":"eDoc","messagetype":"edoc","to":["000.00.15.H51"]}',
               "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type", None,
               "0ab7f31b37c086bf86d4f1eeeef56ff04003ae62ecac1e66df6fda465a986786", file_bytes=f)
    _, signed, _ = s.signature_headers()
    check('"XroadVnpt-to":"[\\"000.00.15.H51\\"]"' in signed, "to not stored as JSON text: %s", signed)
    _, _, hs, _, _ = s.build("sendEdoc", None, file_bytes=f)
    eq(dict(hs).get("XroadVnpt-to"), b'["000.00.15.H51"]', "XroadVnpt-to header")
    # a string "to" is stored as its JSON text too
    s2 = svc()
    s2.build("sendEdoc", {"from": SYS, "to": "x"}, file_bytes=f)
    eq(s2.params.get("to"), '"x"', "string to as JSON text")


def t_observed_orders():
    f = harness.sample("edoc.edxml")
    s = svc()
    s.build("deleteAgency", "{}")
    eq(s.signature_headers()[0], "systemid;timestamp;Content-Type", "agency call with {}")
    s = svc()
    s.build("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    eq(s.signature_headers()[0], "systemid;servicetype;messagetype;timestamp;Content-Type", "getReceivedEdocList")
    s = svc()
    s.build("sendEdoc", {"from": SYS, "servicetype": "eDoc", "messagetype": "edoc"}, file_bytes=f)
    eq(s.signature_headers()[0], "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type", "sendEdoc")
    s = svc()
    s.build("updateStatus", {"status": "done", "docid": "x"})
    eq(s.signature_headers()[0], "systemid;docid;timestamp;Content-Type;status", "fresh updateStatus")
    # the long-lived object of the official example: poll, get, ack, then send
    s = svc()
    s.build("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    s.build("getEdoc", {"filePath": "/tmp/in", "docId": "d1"})
    s.build("updateStatus", {"status": "done", "docId": "d1"})
    s.build("sendEdoc", {"from": SYS, "servicetype": "eDoc", "messagetype": "edoc"}, file_bytes=f)
    eq(s.signature_headers()[0],
       "systemid;servicetype;messagetype;docId;hash-file;filePath;from;timestamp;Content-Type;status",
       "long-lived object")
    # leftovers travel: after updateStatus, getReceivedEdocList still carries status/docId/filePath
    s.build("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    names = [k for k, _ in s.sdk_headers()]
    for k in ("XroadVnpt-docId", "XroadVnpt-filePath", "XroadVnpt-status", "XroadVnpt-hash-file", "XroadVnpt-from"):
        check(k in names, "leftover %s missing: %r", k, names)
    eq(s.params.get("status"), "done", "leftover status value")


def t_hash_file_unpadded():
    f = harness.sample("edoc.edxml")
    eq(hashlib.sha256(f).hexdigest(), EDOC_SHA_HEX, "sha256 of edoc.edxml")
    eq(vxpsdk.hash_file(f), EDOC_HASH_FILE, "hash-file")
    eq(len(vxpsdk.hash_file(f)), 61, "hash-file length")
    # byte 0x05 -> "5", byte 0x00 -> "0"
    for data in (b"a", b"b", b"lienthong", b""):
        d = hashlib.sha256(data).digest()
        eq(vxpsdk.hash_file(data), "".join(format(b, "x") for b in d), "hash-file of %r" % data)


def t_gson_escaping():
    eq(vxpsdk.gson_string('a"b\\c'), '"a\\"b\\\\c"', "quote/backslash")
    eq(vxpsdk.gson_string("\n\t\r\b\f"), '"\\n\\t\\r\\b\\f"', "short escapes")
    eq(vxpsdk.gson_string("\x01\x1f"), '"\\u0001\\u001f"', "control chars")
    eq(vxpsdk.gson_string("\u2028\u2029"), '"\\u2028\\u2029"', "line/paragraph separators")
    eq(vxpsdk.gson_string("H\u00e0 N\u1ed9i </>&='"), '"H\u00e0 N\u1ed9i </>&=\'"', "raw non-ASCII, no HTML escaping")
    eq(vxpsdk.gson_object([("a", "1"), ("b", "2")]), '{"a":"1","b":"2"}', "compact object")
    eq(vxpsdk.gson_to_json(["a", "b"]), '["a","b"]', "array text")


def t_timestamp_format():
    ts = vxpsdk.java_timestamp()
    check(re.fullmatch(r"\d{8}T\d{6}\+\d{4}", ts) is not None, "timestamp %r", ts)
    s1 = vxpsdk.Service("http://127.0.0.1:9", SYS, SECRET)
    t1 = s1.params.get("timestamp")
    time.sleep(0.01)
    s1.build("getAgenciesList", "{}")
    s1.build("getEdoc", {"docId": "x"})
    eq(s1.params.get("timestamp"), t1, "timestamp fixed for the object's life")


def t_sdk_value_conversion():
    s = svc()
    s.put_json_headers('{"a":1,"b":true,"c":["x"],"d":"s"}')
    eq([s.params.get(k) for k in "abcd"], ["1", "true", "x", "s"], "getAsString conversions")
    for bad in ('{"a":{"x":1}}', '{"a":null}', '{"a":["x","y"]}'):
        try:
            svc().put_json_headers(bad)
        except (ValueError, TypeError):
            continue
        raise harness.TestFailure("SDK would throw on %s" % bad)


def t_request_framing():
    f = harness.sample("edoc.edxml")
    # endpoint path prefix and trailing slash: plain concatenation
    s = vxpsdk.Service("http://127.0.0.1:8080/vxp", SYS, SECRET, timestamp=TS)
    m, p, hs, body, expect = s.build("sendEdoc", {"from": SYS, "servicetype": "eDoc", "messagetype": "edoc"}, file_bytes=f)
    eq((m, p), ("POST", "/vxp/sendEdoc"), "sendEdoc method/path")
    eq(len(body), 8365, "sendEdoc body length")
    check(body.endswith(b"\r\n") and body[:-2] == f, "sendEdoc body is file + CRLF")
    check(not expect, "sendEdoc must not use Expect")
    d = dict(hs)
    eq(d["Content-Type"], "application/octet-stream", "sendEdoc Content-Type")
    eq(d["Content-Length"], "8365", "sendEdoc Content-Length")
    eq(d["User-Agent"], vxpsdk.USER_AGENT, "User-Agent")
    eq(d["XroadVnpt-version"], vxpsdk.SDK_VERSION, "version")
    check("Expect" not in d, "no Expect on sendEdoc")
    s = vxpsdk.Service("http://127.0.0.1:8080/", SYS, SECRET, timestamp=TS)
    eq(s.build("getAgenciesList", "{}")[1], "//getAgenciesList", "trailing slash endpoint")
    # Apache path: empty bodies have Content-Length 0 and no Expect; "{}" bodies use Expect
    s = svc()
    m, p, hs, body, expect = s.build("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    d = dict(hs)
    eq((m, body, expect, d.get("Content-Length")), ("POST", b"", False, "0"), "empty-body op")
    eq(d["Connection"], "Keep-Alive", "Connection")
    eq(d["Accept-Encoding"], "gzip,deflate", "Accept-Encoding")
    m, p, hs, body, expect = s.build("updateStatus", {"status": "done", "docId": "x"})
    d = dict(hs)
    eq((body, expect, d.get("Expect"), d.get("Content-Length")), (b"{}", True, "100-continue", "2"), "{} op")
    m, p, hs, body, expect = s.build("downloadEdoc", {"docId": "x"})
    eq((m, body), ("GET", b""), "downloadEdoc is a GET without body")
    m, p, hs, body, expect = s.build("registerAgency", "{}", data='{"id":"","pcode":"P","code":"C"}')
    eq(body, b'{"id":"","pcode":"P","code":"C"}', "registerAgency body verbatim")
    check(expect, "registerAgency uses Expect")
    # every map entry is a header, in map order, then Content-Type and the signature headers
    names = [k for k, _ in hs]
    keys = s.signature_headers()[0].split(";")
    eq(names[:len(keys)], ["XroadVnpt-" + k for k in keys], "XroadVnpt-* header order")
    eq(names[len(keys):len(keys) + 6], ["Content-Type", "XroadVnpt-sign-header-key", "XroadVnpt-sign-header",
                                        "XroadVnpt-hash-header", "User-Agent", "XroadVnpt-version"],
       "SDK header tail")
    check("systemid" not in [n.lower() for n in names] and "timestamp" not in [n.lower() for n in names],
          "no unprefixed systemid/timestamp headers")


class FakeServer:
    """A one-connection-at-a-time loopback server whose replies the test scripts."""

    def __init__(self, handler):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.requests = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            c.settimeout(10)
            try:
                self.handler(c, self.requests)
            except OSError:
                pass

    def close(self):
        self.sock.close()
        self.t.join(5)


def _read_head(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = c.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def t_client_expect_continue():
    """The client waits for the interim 100 before sending the body, and records the delay."""
    def handler(c, reqs):
        head, rest = _read_head(c)
        reqs.append(("head", head, rest))
        time.sleep(0.2)
        c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = rest
        while len(body) < 2:
            body += c.recv(10)
        reqs.append(("body", body))
        payload = b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Thanh cong"}'
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"%x\r\n" % 10 + payload[:10] + b"\r\n"
                  + b"%x\r\n" % (len(payload) - 10) + payload[10:] + b"\r\n0\r\n\r\n")
    fs = FakeServer(handler)
    try:
        s = vxpsdk.Service("http://127.0.0.1:%d" % fs.port, SYS, SECRET)
        r = s.updateStatus({"status": "done", "docId": "x"})
    finally:
        fs.close()
    eq(fs.requests[0][2], b"", "body sent before 100 Continue")
    eq(fs.requests[1][1], b"{}", "body after 100 Continue")
    check(r.continue_seconds is not None and 0.15 < r.continue_seconds < 1.0, "continue delay %r", r.continue_seconds)
    eq(r.json, {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Thanh cong"}, "chunked JSON")
    head = fs.requests[0][1].decode("latin-1")
    check(head.startswith("POST /updateStatus HTTP/1.1\r\n"), "request line %r", head[:60])
    hdr = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
    signed = hdr["XroadVnpt-sign-header"]
    eq(hdr["XroadVnpt-hash-header"], hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest(),
       "wire HMAC")
    eq(list(json.loads(signed).keys()), ["XroadVnpt-" + k for k in hdr["XroadVnpt-sign-header-key"].split(";")],
       "signed JSON member order = key list")


def t_client_without_continue():
    """Without an interim 100 the client sends the body after its wait anyway (like Apache)."""
    def handler(c, reqs):
        head, rest = _read_head(c)
        t0 = time.monotonic()
        body = rest
        while len(body) < 2:
            body += c.recv(10)
        reqs.append(time.monotonic() - t0)
        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')
    fs = FakeServer(handler)
    try:
        s = vxpsdk.Service("http://127.0.0.1:%d" % fs.port, SYS, SECRET)
        r = s.call("getEdoc", {"docId": "x"}, expect_wait=0.3)
    finally:
        fs.close()
    check(r.continue_seconds is None, "no 100 was sent but the client recorded one")
    check(fs.requests and fs.requests[0] >= 0.25, "body came too early: %r", fs.requests)
    eq(r.json, {}, "body")


def main():
    run = harness.Runner("sdk vectors", time_limit=120)
    for name, fn in [
        ("java String.hashCode", t_java_hashcode),
        ("java HashMap order basics", t_hashmap_order_basics),
        ("4.6(a) getAgenciesList signature", t_vector_a),
        ("4.6(b) getReceivedEdocList signature", t_vector_b),
        ("4.6(c) sendEdoc signature with edoc.edxml", t_vector_c),
        ("4.6(d) updateStatus docid signature", t_vector_d),
        ("4.6(e) sendEdoc with to as JSON text", t_vector_e),
        ("4.2 observed key orders", t_observed_orders),
        ("4.4 hash-file without zero padding", t_hash_file_unpadded),
        ("Gson escaping", t_gson_escaping),
        ("timestamp format, fixed per object", t_timestamp_format),
        ("jsonHeaders value conversion", t_sdk_value_conversion),
        ("request framing per operation", t_request_framing),
        ("client: Expect 100-continue and chunked reply", t_client_expect_continue),
        ("client: body sent after wait without 100", t_client_without_continue),
    ]:
        run.run(name, fn)
    run.finish()


if __name__ == "__main__":
    main()
