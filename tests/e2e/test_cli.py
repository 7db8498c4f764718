#!/usr/bin/env python3
"""End-to-end tests of the operator commands: agency, system, demo, stats, audit verify.

Runs the real binary (env LIENTHONG) against scratch data directories under env LT_TMP and
checks exit codes, output and, for the audit chain, what happens when someone edits the SQLite
file behind lienthong's back. Python 3 standard library only. Prints one line per test and ends
with "N passed, M failed"; exits non-zero on any failure.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import traceback

LT = os.environ.get("LIENTHONG")
TMP = os.environ.get("LT_TMP") or tempfile.gettempdir()

SECRET_RE = re.compile(r"^secret: ([A-Za-z0-9+/]{43}=)$", re.M)

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def run(*args, timeout=60):
    return subprocess.run([LT, *args], capture_output=True, text=True, timeout=timeout)


def show(p):
    return "exit %d\nstdout: %s\nstderr: %s" % (p.returncode, p.stdout, p.stderr)


def ok(*args):
    p = run(*args)
    check(p.returncode == 0, "%s: expected exit 0, got %s" % (" ".join(args), show(p)))
    return p


def fails(code, *args):
    p = run(*args)
    check(p.returncode == code, "%s: expected exit %d, got %s" % (" ".join(args), code, show(p)))
    check(p.stderr.strip() != "", "%s: no message on stderr" % " ".join(args))
    return p


def new_dir(name):
    return tempfile.mkdtemp(prefix="cli-%s-" % name, dir=TMP)


def audit_count(d):
    p = ok("audit", "verify", "--data", d)
    m = re.search(r"^audit: (\d+) records verified, chain intact$", p.stdout, re.M)
    check(m is not None, "unexpected audit output: %r" % p.stdout)
    return int(m.group(1))


def systems(d):
    return {s["id"]: s for s in json.loads(ok("system", "list", "--data", d, "--json").stdout)}


def agencies(d):
    return {a["id"]: a for a in json.loads(ok("agency", "list", "--data", d, "--json").stdout)}


def registry(d, n_systems=2):
    """A small registry: a province, two agencies, n systems. Returns the number of changes."""
    ok("agency", "add", "--data", d, "--id", "000.00.00.H34", "--name", "UBND tỉnh Kon Tum")
    ok("agency", "add", "--data", d, "--id", "000.00.13.H34", "--name",
       "Sở Thông tin và Truyền thông", "--parent", "000.00.00.H34")
    ok("agency", "add", "--data", d, "--id", "000.00.10.H34", "--name", "Sở Nội vụ",
       "--parent", "000.00.00.H34")
    changes = 3
    if n_systems >= 1:
        ok("system", "add", "--data", d, "--id", "000.00.13.H34", "--agency", "000.00.13.H34",
           "--serves", "000.00.10.H34")
        changes += 1
    if n_systems >= 2:
        ok("system", "add", "--data", d, "--id", "vxp.saas.03", "--agency", "000.00.00.H34",
           "--serves", "000.00.00.H34", "--status", "trial", "--secret", "s3cr3t", "--weak-secret")
        changes += 1
    return changes


def txlog_table(db):
    """(table, seq column, outcome column) of the transaction log, found by its columns."""
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        cols = [r[1] for r in db.execute("PRAGMA table_info(\"%s\")" % name)]
        if "outcome" in cols and "operation" in cols:
            seq = "seq" if "seq" in cols else "rowid"
            return name, seq
    raise Fail("no transaction-log table found in lienthong.db")


# ------------------------------------------------------------------------------------- usage


HELP_FORMS = [
    ["agency", "--help"], ["agency", "add", "--help"], ["agency", "list", "--help"],
    ["agency", "remove", "--help"], ["system", "--help"], ["system", "add", "--help"],
    ["system", "list", "--help"], ["system", "remove", "--help"],
    ["system", "rotate-secret", "--help"], ["stats", "--help"], ["audit", "--help"],
    ["audit", "verify", "--help"], ["demo", "--help"], ["agency", "add", "--id", "x", "--help"],
]


@test
def help_on_every_command():
    for form in HELP_FORMS:
        p = run(*form)
        check(p.returncode == 0, "%s: %s" % (" ".join(form), show(p)))
        check("Usage" in p.stdout, "%s: no usage on stdout" % " ".join(form))
        check(p.stderr == "", "%s: unexpected stderr %r" % (" ".join(form), p.stderr))


@test
def misuse_exits_2_with_usage():
    d = new_dir("misuse")
    forms = [
        ["agency"],
        ["agency", "frobnicate", "--data", d],
        ["system", "enable", "--data", d],
        ["audit"],
        ["audit", "check", "--data", d],
        ["agency", "list", "--data", d, "--bogus"],
        ["agency", "list"],
        ["agency", "list", "--data", d, "extra"],
        ["agency", "list", "--data", ""],
        ["agency", "list", "--data=" + d, "--js"],
        ["agency", "add", "--data", d, "--name", "No id"],
        ["agency", "add", "--data", d, "--id", "000.00.00.H34"],
        ["agency", "add", "--data", d, "--id", "bad id!", "--name", "x"],
        ["agency", "add", "--data", d, "--id", "x" * 65, "--name", "x"],
        ["agency", "add", "--data", d, "--id"],
        ["system", "add", "--data", d, "--id", "000.00.13.H34"],
        ["system", "add", "--data", d, "--id", "000.00.13.H34", "--agency", "000.00.13.H34",
         "--status", "beta"],
        ["system", "add", "--data", d, "--id", "000.00.13.H34", "--agency", "000.00.13.H34",
         "--serves", "ok.id,bad/id"],
        ["system", "add", "--data", d, "--id", "000.00.13.H34", "--agency", "000.00.13.H34",
         "--secret", ""],
        ["system", "remove", "--data", d],
        ["system", "rotate-secret", "--data", d],
        ["stats", "--data", d, "--from", "2026-13-01"],
        ["stats", "--data", d, "--to", "yesterday"],
        ["stats", "--data", d, "--from", "2026-02-30"],
        ["stats", "--data", d, "--from", "2026-03-02", "--to", "2026-03-01"],
        ["demo"],
        ["demo", "--data", d, "--force"],
    ]
    for form in forms:
        p = run(*form)
        check(p.returncode == 2, "%s: expected exit 2, got %s" % (" ".join(form), show(p)))
        check("Usage" in p.stderr, "%s: no usage on stderr: %r" % (" ".join(form), p.stderr))
        check(p.stdout == "", "%s: unexpected stdout %r" % (" ".join(form), p.stdout))
    check(not os.path.exists(os.path.join(d, "lienthong.db")), "misuse created a store")


@test
def store_failure_exits_1():
    d = new_dir("storefail")
    f = os.path.join(d, "a-file")
    open(f, "w").close()
    p = fails(1, "agency", "add", "--data", os.path.join(f, "sub"), "--id", "000.00.00.H34", "--name", "x")
    check("cannot open" in p.stderr, "unclear message: %r" % p.stderr)


@test
def read_only_commands_need_a_store():
    """Commands that only read or change what is there never create an empty store."""
    d = os.path.join(new_dir("readonly"), "missing")
    for words, extra in ((["stats"], []), (["audit", "verify"], []), (["agency", "list"], []),
                         (["system", "list"], []), (["token", "list"], []), (["peer", "list"], []),
                         (["route", "list"], []), (["service", "list"], []), (["access", "list"], []),
                         (["platform", "show"], []), (["route", "which"], ["--organ-id", "000.00.00.H34"]),
                         (["agency", "remove"], ["--id", "000.00.00.H34"]),
                         (["system", "rotate-secret"], ["--id", "x.y"])):
        form = words + ["--data", d] + extra
        p = fails(1, *form)
        check("no lienthong data in " + d in p.stderr, "%s: unclear message %r" % (form, p.stderr))
        check(not os.path.exists(d), "%s created %s" % (form, d))


@test
def data_dir_is_created():
    d = os.path.join(new_dir("create"), "nested", "data")
    old = os.umask(0o022)
    try:
        os.makedirs(os.path.dirname(d), mode=0o755, exist_ok=True)
        ok("agency", "add", "--data", d, "--id", "000.00.00.H34", "--name", "x")
    finally:
        os.umask(old)
    check(os.path.exists(os.path.join(d, "lienthong.db")), "lienthong.db not created in --data")
    # the store holds every system's and peer's secret: private whatever the umask
    eq_mode = [(n, oct(os.stat(os.path.join(d, n)).st_mode & 0o777)) for n in os.listdir(d)
               if n.startswith("lienthong.db")]
    check(eq_mode and all(m == "0o600" for _, m in eq_mode), "store file modes: %r" % eq_mode)
    check(oct(os.stat(d).st_mode & 0o777) == "0o700", "data directory mode %o" % os.stat(d).st_mode)


# ------------------------------------------------------------------------------------ agency


@test
def agency_add_list_remove():
    d = new_dir("agency")
    registry(d, n_systems=0)
    a = agencies(d)
    check(set(a) == {"000.00.00.H34", "000.00.13.H34", "000.00.10.H34"}, "list: %r" % a)
    check(a["000.00.13.H34"]["name"] == "Sở Thông tin và Truyền thông", "name: %r" % a)
    check(a["000.00.13.H34"]["parent"] == "000.00.00.H34", "parent: %r" % a)
    check(a["000.00.00.H34"].get("parent") is None, "root has a parent: %r" % a)
    text = ok("agency", "list", "--data", d).stdout
    check("000.00.10.H34" in text and "Sở Nội vụ" in text, "text list: %r" % text)
    # Opaque, non-QD20 ids are accepted as given.
    ok("agency", "add", "--data", d, "--id", "28.22.H17", "--name", "Short form")
    # Refusals.
    fails(1, "agency", "add", "--data", d, "--id", "000.00.13.H34", "--name", "Again")
    p = fails(1, "agency", "add", "--data", d, "--id", "000.00.06.H34", "--name", "Sở Tư pháp",
              "--parent", "000.00.99.H34")
    check("000.00.99.H34" in p.stderr, "unknown parent not named: %r" % p.stderr)
    p = fails(1, "agency", "remove", "--data", d, "--id", "000.00.00.H34")
    check("000.00.13.H34" in p.stderr and "000.00.10.H34" in p.stderr,
          "children not named: %r" % p.stderr)
    fails(1, "agency", "remove", "--data", d, "--id", "000.00.77.H34")
    n = audit_count(d)
    ok("agency", "remove", "--data", d, "--id", "000.00.13.H34")
    ok("agency", "remove", "--data", d, "--id", "000.00.10.H34")
    ok("agency", "remove", "--data", d, "--id", "000.00.00.H34")
    check(set(agencies(d)) == {"28.22.H17"}, "after remove: %r" % agencies(d))
    check(audit_count(d) == n + 3, "removals not logged")


@test
def agency_remove_refused_while_systems_refer():
    d = new_dir("agency-refs")
    registry(d)
    p = fails(1, "agency", "remove", "--data", d, "--id", "000.00.10.H34")
    check("000.00.13.H34" in p.stderr and "served" in p.stderr, "serves not named: %r" % p.stderr)
    p = fails(1, "agency", "remove", "--data", d, "--id", "000.00.13.H34")
    check("000.00.13.H34" in p.stderr and "system" in p.stderr, "owner not named: %r" % p.stderr)
    check(len(agencies(d)) == 3, "a refused removal changed something")
    ok("system", "remove", "--data", d, "--id", "000.00.13.H34")
    ok("agency", "remove", "--data", d, "--id", "000.00.10.H34")
    ok("agency", "remove", "--data", d, "--id", "000.00.13.H34")


# ------------------------------------------------------------------------------------ system


@test
def system_add_generates_secret_and_list_hides_it():
    d = new_dir("system")
    registry(d, n_systems=0)
    p = ok("system", "add", "--data", d, "--id", "000.00.13.H34", "--agency", "000.00.13.H34",
           "--serves", "000.00.10.H34, 000.00.13.H34")
    m = SECRET_RE.search(p.stdout)
    check(m is not None, "no 44-character base64 secret printed: %r" % p.stdout)
    secret = m.group(1)
    check(len(secret) == 44, "secret length %d" % len(secret))
    ok("system", "add", "--data", d, "--id", "vxp.saas.03", "--agency", "000.00.00.H34",
       "--status", "trial", "--secret", "given-secret-123")
    s = systems(d)
    check(set(s) == {"000.00.13.H34", "vxp.saas.03"}, "list: %r" % s)
    check(s["000.00.13.H34"]["status"] == "official", "default status: %r" % s)
    check(s["vxp.saas.03"]["status"] == "trial", "trial status: %r" % s)
    check(sorted(s["000.00.13.H34"]["serves"]) == ["000.00.10.H34", "000.00.13.H34"],
          "serves: %r" % s)
    check(s["vxp.saas.03"]["serves"] == ["vxp.saas.03"], "own id not served: %r" % s)
    check(s["000.00.13.H34"]["agency"] == "000.00.13.H34", "agency: %r" % s)
    for form in (["--json"], []):
        out = ok("system", "list", "--data", d, *form).stdout
        check(secret not in out and "given-secret-123" not in out, "list shows a secret")
    text = ok("system", "list", "--data", d).stdout
    check("vxp.saas.03" in text and "trial" in text, "text list: %r" % text)
    # Refusals.
    fails(1, "system", "add", "--data", d, "--id", "000.00.13.H34", "--agency", "000.00.13.H34")
    p = fails(1, "system", "add", "--data", d, "--id", "000.00.06.H34", "--agency",
              "000.00.06.H34")
    check("000.00.06.H34" in p.stderr, "unknown agency not named: %r" % p.stderr)
    check(set(systems(d)) == {"000.00.13.H34", "vxp.saas.03"}, "refusal changed the list")


@test
def system_rotate_secret():
    d = new_dir("rotate")
    registry(d)
    n = audit_count(d)
    p = ok("system", "rotate-secret", "--data", d, "--id", "000.00.13.H34")
    m = SECRET_RE.search(p.stdout)
    check(m is not None, "no new secret printed: %r" % p.stdout)
    p = ok("system", "rotate-secret", "--data", d, "--id", "vxp.saas.03", "--secret", "new-one", "--weak-secret")
    check("new-one" in p.stdout, "given secret not printed: %r" % p.stdout)
    fails(1, "system", "rotate-secret", "--data", d, "--id", "000.00.55.H34")
    s = systems(d)
    check(sorted(s["000.00.13.H34"]["serves"]) == ["000.00.10.H34", "000.00.13.H34"],
          "rotation lost the serves entries: %r" % s)
    check(s["vxp.saas.03"]["status"] == "trial", "rotation changed the status: %r" % s)
    check(audit_count(d) == n + 2, "rotations not logged")


@test
def serves_conflict_changes_nothing():
    d = new_dir("conflict")
    registry(d)
    before_sys, before_log = systems(d), audit_count(d)
    ok("agency", "add", "--data", d, "--id", "000.00.06.H34", "--name", "Sở Tư pháp")
    # 000.00.10.H34 is served by 000.00.13.H34: the whole add is refused.
    p = fails(1, "system", "add", "--data", d, "--id", "000.00.06.H34", "--agency",
              "000.00.06.H34", "--serves", "000.00.06.H34,000.00.10.H34")
    check("000.00.10.H34" in p.stderr and "000.00.13.H34" in p.stderr,
          "conflict not explained: %r" % p.stderr)
    check("secret:" not in p.stdout, "a refused add printed a secret")
    check(systems(d) == before_sys, "refused add changed systems: %r" % systems(d))
    check(audit_count(d) == before_log + 1, "refused add wrote to the log")
    # A system whose own id is served by another system is refused too.
    p = fails(1, "system", "add", "--data", d, "--id", "000.00.00.H34", "--agency",
              "000.00.00.H34")
    check("vxp.saas.03" in p.stderr, "conflict on own id not explained: %r" % p.stderr)
    check(systems(d) == before_sys, "refused add changed systems")
    # Once the other system is gone the organ is free again.
    ok("system", "remove", "--data", d, "--id", "000.00.13.H34")
    ok("system", "add", "--data", d, "--id", "000.00.06.H34", "--agency", "000.00.06.H34",
       "--serves", "000.00.10.H34")
    fails(1, "system", "remove", "--data", d, "--id", "000.00.13.H34")
    check(set(systems(d)) == {"vxp.saas.03", "000.00.06.H34"}, "after: %r" % systems(d))


# -------------------------------------------------------------------------------- demo, stats


@test
def demo_loads_once():
    d = new_dir("demo")
    p = ok("demo", "--data", d)
    for secret in ("demo-secret-vpubnd", "demo-secret-sotttt"):
        check(secret in p.stdout, "%s not printed: %r" % (secret, p.stdout))
    check("demo" in p.stdout.lower() and "credentials" in p.stdout.lower(),
          "no reminder that these are demo credentials")
    a, s = agencies(d), systems(d)
    check("000.00.00.H34" in a and a["000.00.00.H34"]["name"] == "UBND tỉnh Kon Tum",
          "province: %r" % a)
    check(all(x.get("parent") == "000.00.00.H34" for k, x in a.items() if k != "000.00.00.H34"),
          "children: %r" % a)
    check(len(a) >= 6, "agencies: %r" % a)
    check(3 <= len(s) <= 4, "systems: %r" % s)
    check("000.00.01.H34" in s["000.00.01.H34"]["serves"], "office does not serve itself")
    check(set(s["000.00.13.H34"]["serves"]) >= {"000.00.13.H34", "000.00.10.H34"},
          "Sở TT&TT system serves: %r" % s)
    check(any(x["status"] == "trial" for x in s.values()), "no trial system")
    n = audit_count(d)
    services = json.loads(ok("service", "list", "--data", d, "--json").stdout)
    grants = json.loads(ok("access", "list", "--data", d, "--json").stdout)
    check(len(services) >= 4 and len(grants) >= len(services), "demo gateway: %r %r"
          % (services, grants))
    objects = len(a) + len(s) + len(services) + len(grants)
    check(n == objects, "demo logged %d records for %d objects" % (n, objects))
    p2 = ok("demo", "--data", d)
    check("demo-secret-vpubnd" in p2.stdout, "credentials not printed again: %r" % p2.stdout)
    check(agencies(d) == a and systems(d) == s, "second demo changed the registry")
    check(audit_count(d) == n, "second demo wrote to the log")


@test
def stats_on_empty_store():
    d = new_dir("stats")
    ok("agency", "add", "--data", d, "--id", "000.00.00.H34", "--name", "x")
    p = ok("stats", "--data", d, "--json")
    v = json.loads(p.stdout)
    check(isinstance(v, dict) and v.get("agencies") == [], "stats JSON: %r" % v)
    check(v.get("from") is None and v.get("to") is None, "unbounded period labels: %r" % v)
    total = v.get("total") or {}
    check(total.get("documents_sent") == 0 and total.get("documents_received") == 0,
          "empty store has figures: %r" % v)
    ok("stats", "--data", d)
    p = ok("stats", "--data", d, "--from", "2026-01-01", "--to", "2026-01-31", "--json")
    v = json.loads(p.stdout)
    check(v.get("from") == "2026-01-01" and v.get("to") == "2026-01-31", "labels: %r" % v)
    ok("stats", "--data", d, "--from", "2026-01-31", "--to", "2026-01-31")


# ------------------------------------------------------------------------------------- audit


@test
def audit_verify_after_registry_changes():
    d = new_dir("audit")
    n = registry(d)
    check(audit_count(d) == n, "records of the registry")
    ok("system", "rotate-secret", "--data", d, "--id", "vxp.saas.03")
    ok("system", "remove", "--data", d, "--id", "vxp.saas.03")
    check(audit_count(d) == n + 2, "record count")


def tampered(name, edit):
    d = new_dir(name)
    n = registry(d)
    check(audit_count(d) == n and n >= 5, "setup")
    db = sqlite3.connect(os.path.join(d, "lienthong.db"))
    try:
        table, seq = txlog_table(db)
        edit(db, table, seq)
        db.commit()
    finally:
        db.close()
    p = run("audit", "verify", "--data", d)
    check(p.returncode == 1, "tampered log verified: %s" % show(p))
    m = re.search(r"^audit: chain broken at record (\d+): \S", p.stdout, re.M)
    check(m is not None, "unexpected output: %s" % show(p))
    return int(m.group(1))


@test
def audit_detects_altered_record():
    def edit(db, table, seq):
        cur = db.execute("UPDATE \"%s\" SET outcome = 'refused:tampered' WHERE %s = 3" %
                         (table, seq))
        check(cur.rowcount == 1, "no row 3 to alter")
    at = tampered("alter", edit)
    check(at == 3, "broken at record %d, expected 3" % at)


@test
def audit_detects_deleted_record():
    def edit(db, table, seq):
        cur = db.execute("DELETE FROM \"%s\" WHERE %s = 3" % (table, seq))
        check(cur.rowcount == 1, "no row 3 to delete")
    at = tampered("delete", edit)
    check(at in (3, 4), "broken at record %d, expected 3 or 4" % at)


def main():
    if not LT or not os.access(LT, os.X_OK):
        print("LIENTHONG must name the lienthong binary")
        return 2
    os.makedirs(TMP, exist_ok=True)
    passed = failed = 0
    for t in TESTS:
        try:
            t()
            print("ok   %s" % t.__name__)
            passed += 1
        except Fail as e:
            print("FAIL %s: %s" % (t.__name__, e))
            failed += 1
        except Exception:  # a crash of the test itself is a failure too
            print("FAIL %s: %s" % (t.__name__, traceback.format_exc().strip()))
            failed += 1
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
