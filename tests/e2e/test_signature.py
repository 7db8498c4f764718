#!/usr/bin/env python3
"""test_signature — a document's XML signature is verified once it is accepted (xmlsec1, in the
background, moments after the commit), the verdict recorded (none / valid / invalid), and the statistics count only valid signatures as
"signed". The samples' signatures do not verify (their certificate's document is not these
bytes): this test signs its own documents with a key and certificate it makes (openssl, then
the xmlsec1 command line, enveloped XML-DSig). A certificate is taken as it is unless a CA
bundle is configured (signature_ca_file): then it must chain to it."""

import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, eq, ok, send_json  # noqa: E402

A_ID, A_SECRET = "000.00.00.G22", "secret-of-the-government-office"
B_ID, B_SECRET = "000.00.00.H34", "secret-of-the-kontum-committee"
TEMPLATE = (b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
            b'<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
            b'<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
            b'<Reference URI=""><Transforms>'
            b'<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></Transforms>'
            b'<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/></Reference>'
            b'</SignedInfo><SignatureValue/><KeyInfo><X509Data/></KeyInfo></Signature>')


class Ctx:
    server = None
    dir = None
    a = None
    n = 0
    expected = {}  # DocId -> state stored


C = Ctx()


def run(*cmd, stdin=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, input=stdin, timeout=60)
    check(p.returncode == 0, "%s: %s", " ".join(cmd), p.stderr.decode(errors="replace")[-500:])
    return p.stdout


def make_cert(name):
    key, cert = os.path.join(C.dir, name + ".key"), os.path.join(C.dir, name + ".pem")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
        "-subj", "/CN=lienthong test %s" % name)
    return key, cert


def unsigned(tag):
    C.n += 1
    d = harness.rewrite_organs(harness.sample("edoc.edxml"), from_=A_ID, to=[B_ID])
    d = re.sub(rb"<Signature[ >].*?</Signature>", b"", d, flags=re.S)
    return harness.add_comment(d, "%s-%d" % (tag, C.n))


def signed(tag, key, cert):
    d = unsigned(tag)
    i = d.index(b"</edXML:edXMLHeader>")
    path = os.path.join(C.dir, "template-%d.xml" % C.n)
    with open(path, "wb") as f:
        f.write(d[:i] + TEMPLATE + d[i:])
    out = os.path.join(C.dir, "signed-%d.xml" % C.n)
    run("xmlsec1", "--sign", "--privkey-pem", "%s,%s" % (key, cert), "--output", out, path)
    with open(out, "rb") as f:
        return f.read()


def send(data, state):
    doc = ok(C.a.svc().sendEdoc(send_json(C.a), data), "sendEdoc", "sendEdoc")["DocId"]
    C.expected[doc] = state


def setup():
    C.dir = harness.new_data_dir("signature-keys")
    srv = harness.Server(tag="signature")
    C.server = srv
    srv.add_agency(A_ID, "Van phong Chinh phu")
    srv.add_agency(B_ID, "UBND tinh Kon Tum")
    srv.add_system(A_ID, A_ID, A_SECRET)
    srv.add_system(B_ID, B_ID, B_SECRET)
    srv.start()
    C.a = harness.System(srv, A_ID, A_SECRET, [])


def t_verdicts():
    key, cert = make_cert("signer")
    good = signed("good", key, cert)
    send(good, 1)
    # comments are not signed (C14N without comments): a changed comment keeps it valid
    send(good.replace(b"<!-- good-", b"<!-- a comment, not content -"), 1)
    altered = re.sub(rb"(<edXML:Subject>)([^<]*)", rb"\1Altered subject", good, count=1)
    check(altered != good, "subject not found")
    send(altered, 2)
    send(harness.add_comment(harness.rewrite_organs(harness.sample("edoc.edxml"), from_=A_ID, to=[B_ID]),
                             "sample-%d" % C.n), 2)  # the sample's own signatures
    send(unsigned("unsigned"), 0)
    C.key, C.cert = key, cert


def states():
    """The recorded verdicts, once none is pending (3): they are given shortly after acceptance."""
    deadline = time.monotonic() + 15
    while True:
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(C.server.data_dir, "lienthong.db"), uri=True)
        try:
            got = dict(con.execute("SELECT id, has_signature FROM package").fetchall())
        finally:
            con.close()
        if 3 not in got.values() or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def signed_sent():
    p = C.server.cli("stats", "--data", C.server.data_dir, "--json")
    rows = {r["organ_id"]: r for r in json.loads(p.stdout)["agencies"]}
    return rows[A_ID]["signed_sent"], rows[A_ID]["documents_sent"]


def t_recorded_and_counted():
    got = states()
    check(3 not in got.values(), "verdicts still pending after 15 s")
    for doc, want in C.expected.items():
        eq(got.get(doc), want, "signature state of %s" % doc)
    eq(signed_sent(), (2, len(C.expected)), "(signed, sent) in the statistics")


def t_ca_bundle():
    """With a CA bundle, a certificate must chain to it."""
    _, other = make_cert("other-ca")
    srv = C.server
    srv.stop()
    srv.config = harness.write_config(srv.data_dir, signature_ca_file=other)
    srv.start()
    send(signed("untrusted", C.key, C.cert), 2)
    states()  # its verdict, under this configuration
    srv.stop()
    srv.config = harness.write_config(srv.data_dir, signature_ca_file=C.cert)  # self-signed: its own root
    srv.start()
    send(signed("trusted", C.key, C.cert), 1)
    got = states()
    for doc, want in C.expected.items():
        eq(got.get(doc), want, "signature state of %s" % doc)
    eq(signed_sent()[0], 3, "valid signatures counted")


def main():
    harness.require_binary()
    r = harness.Runner("signatures", time_limit=200)
    try:
        if not r.run("server", setup):
            r.finish()
        for name, fn in [
            ("valid, altered, the sample's, unsigned", t_verdicts),
            ("verdicts recorded; statistics count valid signatures only", t_recorded_and_counted),
            ("a configured CA bundle decides whose certificates count", t_ca_bundle),
            ("clean shutdown, no sanitizer report", lambda: C.server.check_clean_shutdown()),
        ]:
            r.run(name, fn)
    finally:
        if C.server is not None:
            C.server.stop()
    r.finish()


if __name__ == "__main__":
    main()
