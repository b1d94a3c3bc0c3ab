#!/usr/bin/python3
"""Scenario: a delete killed (SIGKILL) at every step of its reclaim loses nothing and converges.

A store of three chunked snapshots: "big" holds 3 MB of data the two later ones ("a", "b") no
longer have, all in one pack. Deleting "big" removes its manifest (the delete's commit point)
and chunk list, then garbage collection repacks the pack: the live chunks go to a new pack
(committed by a rename), one index.db transaction swaps the packs, the old pack is unlinked.

`strace` kills `dbsnap delete big` at the N-th call of each syscall that step makes (unlink,
renameat2, fsync, fdatasync), N = 1, 2, ... until a run ends by itself, each time on a fresh copy
of the store. After every kill:
- `verify --all` and `verify --repository` pass; "a" and "b" are listed and `cat` gives each
  one's dump with its SHA-256; "big" is either listed and whole, or gone;
- the next `delete` of "big" (if it is still there) or `prune` finishes the job: no chunk is left
  that no snapshot lists, and "a" and "b" still read back whole.
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, sha256_bytes, traced_env  # noqa: E402

SYSCALLS = ("unlink", "renameat2", "fsync", "fdatasync")


def make_store(t, proj):
    db = sqlite3.connect(os.path.join(proj, "app.db"))
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
    db.execute("INSERT INTO alembic_version VALUES ('r1')")
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO item (v) VALUES (?)", [("row {} {}".format(i, os.urandom(8).hex()),)
                                                        for i in range(40000)])
    db.execute("CREATE TABLE scratch (b BLOB)")
    db.executemany("INSERT INTO scratch VALUES (?)", [(os.urandom(30000),) for _ in range(100)])
    db.commit()
    snaps = {"big": t.dbsnap_ok(proj, "backup", "dev", "--label", "big", "--json").json()}
    db.execute("DROP TABLE scratch")
    db.commit()
    db.execute("VACUUM")
    snaps["a"] = t.dbsnap_ok(proj, "backup", "dev", "--label", "a", "--json").json()
    db.execute("INSERT INTO item (v) VALUES ('one more')")
    db.commit()
    db.close()
    snaps["b"] = t.dbsnap_ok(proj, "backup", "dev", "--label", "b", "--json").json()
    return snaps


def unreferenced(t, proj, what):
    r = t.dbsnap(proj, "verify", "--repository")
    t.check_rc(r, 0, "{}: verify --repository".format(what))
    m = re.search(r"(\d+) chunk\(s\) \([^)]*\) no snapshot lists", r.errtext)
    t.check(m is not None, "{}: verify --repository counts the chunks no snapshot lists".format(what), r.describe())
    return int(m.group(1)) if m else -1


def check_whole(t, proj, snaps, what):
    """a and b are listed and read back whole; big is listed and whole, or gone. True if big is listed."""
    r = t.dbsnap(proj, "verify", "--all")
    t.check_rc(r, 0, "{}: verify --all".format(what))
    listed = {m["label"]: m for m in t.list_json(proj)}
    for label in ("a", "b"):
        t.check(label in listed, "{}: snapshot {} is listed".format(what, label), sorted(listed))
        cat = t.dbsnap(proj, "cat", snaps[label]["id"])
        t.check(cat.rc == 0 and sha256_bytes(cat.out) == snaps[label]["data"]["raw_sha256"],
                "{}: cat {} gives its dump".format(what, label), cat.describe())
    if "big" in listed:
        cat = t.dbsnap(proj, "cat", snaps["big"]["id"])
        t.check(cat.rc == 0 and sha256_bytes(cat.out) == snaps["big"]["data"]["raw_sha256"],
                "{}: big, still listed, gives its dump".format(what), cat.describe())
    return "big" in listed


def body(t):
    template = t.project("template")
    snaps = make_store(t, template)
    t.require(len({s["id"] for s in snaps.values()}) == 3, "three snapshots")
    t.require(unreferenced(t, template, "before") == 0, "no unreferenced chunk to begin with")

    kills = 0
    for syscall in SYSCALLS:
        for n in range(1, 30):
            what = "{} #{}".format(syscall, n)
            t.section("delete big, killed at " + what)
            proj = t.path("run-{}-{}".format(syscall, n))
            shutil.copytree(template, proj, symlinks=True)
            argv = ["strace", "-f", "-o", "/dev/null", "-e", "trace=" + syscall,
                    "-e", "inject={}:signal=SIGKILL:when={}".format(syscall, n),
                    t.binary, "--config", os.path.join(proj, "dbsnap.toml"), "delete", snaps["big"]["id"], "--yes"]
            p = subprocess.run(argv, cwd=proj, stdin=subprocess.DEVNULL, capture_output=True, env=traced_env(),
                               timeout=120)
            if p.returncode == 0:
                t.check(n > 1,
                        "{}: the delete makes at least one {} call".format(what, syscall))
                shutil.rmtree(proj)
                break
            t.check(p.returncode in (137, -9), "{}: killed by SIGKILL".format(what),
                    "exit {}: {}".format(p.returncode, p.stderr.decode(errors="replace")[-1000:]))
            kills += 1
            big_listed = check_whole(t, proj, snaps, what)
            t.check_rc(t.dbsnap(proj, "verify", "--repository"), 0, "{}: the repository check passes".format(what))
            if big_listed:
                t.dbsnap_ok(proj, "delete", snaps["big"]["id"], "--yes")
            else:
                t.dbsnap_ok(proj, "prune", "dev", "--keep-last", "5")
            t.check_eq(unreferenced(t, proj, what + ", then the next run"), 0,
                       "{}: after the next delete or prune no chunk is left that no snapshot lists".format(what))
            check_whole(t, proj, snaps, what + ", then the next run")
            shutil.rmtree(proj)
    t.check(kills >= 10, "the delete was killed at {} different points".format(kills))


if __name__ == "__main__":
    Test("repo_killed_reclaim").run(body)
