"""tools/dbsnap-recover rebuilds dumps from a repository's packs and chunk lists with Python and zstd only.

The repository is written by the repository layer itself (tests/bench/repo.cpp drives store/repo/:
ChunkStore, packs, SnapshotWriter). Three successive dumps share most chunks. Each is recovered
and compared by SHA-256 with the original file and with dbsnap's own reading; then a damaged
frame, a missing pack and bad usage each give a one-line error and their exit status.
"""

import glob
import hashlib
import importlib.machinery
import importlib.util
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402

REPO_TOOL = os.environ["DBSNAP_REPO"]
RECOVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "dbsnap-recover")


def dump_text(rows, seed):
    rnd = random.Random(seed)
    return "".join("INSERT INTO item VALUES ({}, 'item-{:07d}', '{:x}');\n".format(i, i, rnd.getrandbits(64))
                   for i in range(rows)).encode()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def body(t):
    repo = t.path("repo")
    first = dump_text(60000, 1)
    # The next states: rows added at the end, a block rewritten in the middle.
    second = first + dump_text(2000, 2)
    third = second[:1000000] + dump_text(3000, 3) + second[1200000:]
    dumps = {"s1": first, "s2": second, "s3": third}

    t.section("three dumps into one repository")
    for name, data in dumps.items():
        with open(t.path(name), "wb") as fh:
            fh.write(data)
        r = subprocess.run([REPO_TOOL, "put", repo, t.path(name), "lists/{}.chunks".format(name)],
                           capture_output=True, text=True)
        t.require_eq(r.returncode, 0, "dbsnap_repo put " + name, r.stderr)
        print("  {}: {} bytes -> chunks, new, new raw, new stored, packs: {}".format(name, len(data), r.stdout.strip()))
    packs = sorted(glob.glob(os.path.join(repo, "data", "*", "*")))
    stored = sum(os.path.getsize(p) for p in packs)
    t.check(stored < len(first), "the three dumps together take less room than the first one's text",
            "{} bytes of packs".format(stored))

    t.section("each dump recovered without dbsnap matches the original")
    for name, data in dumps.items():
        lst = os.path.join(repo, "lists", name + ".chunks")
        r = subprocess.run([RECOVER, repo, lst], capture_output=True)
        t.check_eq(r.returncode, 0, "dbsnap-recover " + name, r.stderr.decode())
        t.check_eq(sha(r.stdout), sha(data), "the recovered {} has the original's SHA-256".format(name))
        with open(lst) as fh:
            t.check_eq(fh.readline(), "dbsnap-chunks 2\n", "the chunk list of {} is of version 2".format(name))
        t.check("sha256 {}: ok".format(sha(data)) in r.stderr.decode(),
                "dbsnap-recover states the SHA-256 of {} that the list's text holds".format(name), r.stderr.decode())
        own = subprocess.run([REPO_TOOL, "cat", repo, "lists/{}.chunks".format(name)], capture_output=True)
        t.check_eq(sha(own.stdout), sha(data), "dbsnap's own reading of {} agrees".format(name))

    t.section("a version-1 list (the text itself, as written before December 2026) still recovers")
    loader = importlib.machinery.SourceFileLoader("dbsnap_recover", RECOVER)
    recover = importlib.util.module_from_spec(importlib.util.spec_from_loader("dbsnap_recover", loader))
    loader.exec_module(recover)
    where = {}
    for pack in packs:
        for cid, place in recover.pack_index(pack).items():
            where.setdefault(cid, (pack, place))
    chunks, total, digest = recover.read_list(recover.Store(repo, ""), os.path.join(repo, "lists", "s2.chunks"), where)
    v1 = os.path.join(repo, "lists", "s2-v1.chunks")
    with open(v1, "w") as fh:
        fh.write("dbsnap-chunks 1\n" + "".join("{} {}\n".format(c, n) for c, n in chunks) +
                 "end {} {} {}\n".format(len(chunks), total, digest))
    r = subprocess.run([RECOVER, repo, v1], capture_output=True)
    t.check_eq(r.returncode, 0, "dbsnap-recover of the version-1 list", r.stderr.decode())
    t.check_eq(sha(r.stdout), sha(second), "it gives s2's dump")
    own = subprocess.run([REPO_TOOL, "cat", repo, "lists/s2-v1.chunks"], capture_output=True)
    t.check_eq(sha(own.stdout), sha(second), "and dbsnap reads it too", own.stderr.decode())

    t.section("a damaged frame is named, and the dump refused")
    victim = max(packs, key=os.path.getsize)
    with open(victim, "r+b") as fh:
        fh.seek(5000)
        byte = fh.read(1)
        fh.seek(5000)
        fh.write(bytes([byte[0] ^ 0x55]))
    failures = 0
    for name in dumps:
        r = subprocess.run([RECOVER, repo, os.path.join(repo, "lists", name + ".chunks")], capture_output=True)
        print("  " + name + ": " + r.stderr.decode().strip())
        err = r.stderr.decode().strip()
        if r.returncode != 0:
            failures += 1
            t.check_eq(r.returncode, 1, "recovering {} from a damaged pack exits 1".format(name))
            t.check(len(err.splitlines()) == 1 and err.startswith("dbsnap-recover: error: "),
                    "one error line for " + name, err)
    t.check_eq(failures, 3, "every dump that uses the damaged chunk (all three share the start) is refused")

    t.section("a missing pack and bad usage")
    os.remove(victim)
    r = subprocess.run([RECOVER, repo, os.path.join(repo, "lists", "s1.chunks")], capture_output=True)
    t.check_eq(r.returncode, 1, "recovering with a pack missing exits 1")
    t.check("in no pack" in r.stderr.decode(), "the message says a chunk is in no pack", r.stderr.decode())
    t.check_eq(r.stdout, b"", "nothing is written when a chunk is missing")
    r = subprocess.run([RECOVER], capture_output=True)
    t.check_eq(r.returncode, 2, "no arguments: exit 2")


if __name__ == "__main__":
    Test("repo_recover").run(body)
