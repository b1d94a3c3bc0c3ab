#!/usr/bin/python3
"""Scenario: the store keeps its promises when it is attacked or a run is killed at its commit point.

1. Symbolic links in the store are never followed: a target folder that links elsewhere (holding
   files named like unpublished blobs), a blob-named link and a temp-named link survive `list`,
   `verify --all`, `backup` and `catalog rebuild`, with every file they point to; each is reported
   as a warning; a backup into a target whose folder is a link fails with one line.
2. The commit point is the manifest's rename: `strace` kills dbsnap (SIGKILL) at the first
   fdatasync after it, before the catalog row (in each layout: blob and chunks). The next run indexes the snapshot and says so;
   list, verify and restore see it. A delete killed after removing the manifest leaves no snapshot.
3. verify checks the blob against the manifest file, and reports a manifest edited by hand (a
   label, a checksum) as differing from the catalog, without rewriting either file.
4. A store folder made with mode 0755 is narrowed to 0700.
5. zstd levels: 1-19 everywhere (--level 20 and `level = 22` are refused, nothing published);
   a level-19 backup's peak RSS stays within 64 MB.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_CONFIG, EXIT_CORRUPT, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Test, clean_env, traced_env,  # noqa: E402
                         fill_items, sha256_file, table_checksum, use_layout)


def fdatasyncs_before_manifest(t, proj):
    """Backs up 'dev' under strace and counts the fdatasync calls made before the manifest's rename
    (the commit point): the index of the chunks, if any. The catalog row's comes after."""
    trace = t.path("trace.txt")
    argv = ["strace", "-f", "-o", trace, "-e", "trace=fdatasync,rename,renameat,renameat2",
            t.binary, "--config", os.path.join(proj, "dbsnap.toml"), "backup", "dev", "--label", "traced"]
    p = subprocess.run(argv, cwd=proj, stdin=subprocess.DEVNULL, capture_output=True, env=traced_env(), timeout=120)
    t.require_eq(p.returncode, 0, "a traced backup", p.stderr[-2000:])
    count = 0
    with open(trace) as f:
        for line in f:
            if re.search(r'rename(at2?)?\(.*"[^"]*/dev/[0-9a-z]+\.json"', line):
                return count
            if "fdatasync(" in line and "resumed" not in line:
                count += 1
    t.require(False, "the traced backup renamed a manifest into place", open(trace).read()[-2000:])


def body(t):
    proj = t.project(targets={"dev": "dev.db", "other": "other.db"})
    dev = os.path.join(proj, "dev.db")
    other = os.path.join(proj, "other.db")
    store = os.path.join(proj, "snapshots")
    fill_items(dev, ["a1"], 200)
    fill_items(other, ["o1"], 50)
    s1 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()

    # ---- 1. symbolic links --------------------------------------------------------------
    t.section("symbolic links in the store are reported, never followed")
    outside = t.path("outside")
    os.makedirs(outside)
    bait = {}
    for name in ("1m7z3mme60ymr.sqlite.zst", "1m7z41k2p9x0c.sql.zst", ".x.sqlite.zst.abc.dbsnap-tmp"):
        path = os.path.join(outside, name)
        with open(path, "wb") as f:
            f.write(os.urandom(1000))
        bait[path] = sha256_file(path)
    os.symlink(outside, os.path.join(store, "linked"))
    os.symlink(os.path.join(outside, "1m7z3mme60ymr.sqlite.zst"), os.path.join(store, "dev", "1m8z3mme60ymr.sqlite.zst"))
    os.symlink(os.path.join(outside, ".x.sqlite.zst.abc.dbsnap-tmp"),
               os.path.join(store, "dev", ".y.sqlite.zst.abc.dbsnap-tmp"))
    for args in (["list"], ["verify", "--all"], ["backup", "dev"], ["catalog", "rebuild"]):
        r = t.dbsnap(proj, *args)
        t.check_rc(r, EXIT_OK, " ".join(args) + " with links in the store")
        t.check("linked is a symbolic link" in r.errtext and "never follows links" in r.errtext,
                "{}: a warning names the linked folder".format(args[0]), r.describe())
        t.check("1m8z3mme60ymr.sqlite.zst is a symbolic link" in r.errtext,
                "{}: a warning names the blob-named link".format(args[0]), r.describe())
        t.check_eq({p: sha256_file(p) if os.path.exists(p) else None for p in bait}, bait,
                   "{}: every file outside the store is still there, unchanged".format(args[0]))
        t.check(os.path.islink(os.path.join(store, "dev", "1m8z3mme60ymr.sqlite.zst")),
                "{}: the link itself is left alone".format(args[0]))
    os.symlink(outside, os.path.join(store, "other"))
    r = t.dbsnap(proj, "backup", "other")
    t.check_last_error(r, EXIT_FAILURE, "backup into a target whose folder is a link",
                       contains=("is a symbolic link", "never follows links"))
    t.check_eq(sorted(os.listdir(outside)), sorted(os.path.basename(p) for p in bait),
               "nothing was written through the link")
    for link in ("linked", "other", os.path.join("dev", "1m8z3mme60ymr.sqlite.zst"),
                 os.path.join("dev", ".y.sqlite.zst.abc.dbsnap-tmp")):
        os.unlink(os.path.join(store, link))

    # ---- 2. the commit point ------------------------------------------------------------
    for layout in ("blob", "chunks"):
        t.section("a backup stored as {} killed between its manifest and its catalog row".format(layout))
        use_layout(proj, layout)
        fill_items(dev, ["a1"], 10, prefix="traced {} ".format(layout))
        when = fdatasyncs_before_manifest(t, proj) + 1
        fill_items(dev, ["a1"], 50, prefix="second {} ".format(layout))
        ck_second = table_checksum(dev)
        before = {m["id"] for m in t.list_json(proj)}
        # dbsnap writes the blob or chunk list and the manifest with fsync; SQLite commits the index
        # (chunks) and then the catalog row with fdatasync: a traced run counted those before the manifest.
        argv = ["strace", "-f", "-o", "/dev/null", "-e", "trace=fdatasync",
                "-e", "inject=fdatasync:signal=SIGKILL:when={}".format(when),
                t.binary, "--config", os.path.join(proj, "dbsnap.toml"), "backup", "dev", "--label", "killed"]
        p = subprocess.run(argv, cwd=proj, stdin=subprocess.DEVNULL, capture_output=True, env=traced_env(), timeout=120)
        t.check(p.returncode == 128 + 9 or p.returncode == -9,
                "the backup was killed by SIGKILL (strace reports 137)", "exit {}: {}".format(p.returncode, p.stderr[-2000:]))
        manifests = [f for f in os.listdir(os.path.join(store, "dev")) if f.endswith(".json")]
        killed_ids = {f[:-5] for f in manifests} - before
        t.require_eq(len(killed_ids), 1, "the killed backup's manifest is in place (it passed its commit point)")
        killed = killed_ids.pop()
        db = __import__("sqlite3").connect(os.path.join(store, "catalog.db"))
        rows = db.execute("SELECT count(*) FROM snapshots WHERE id = ?", (killed,)).fetchone()[0]
        db.close()
        t.check_eq(rows, 0, "the catalog has no row for it yet (the kill came first)")
        r = t.dbsnap(proj, "list", "--json")
        t.check_rc(r, EXIT_OK, "the next run (list)")
        t.check("snapshot {} of 'dev' was published by a run that stopped".format(killed) in r.errtext,
                "the next run says it indexed the killed run's snapshot", r.describe())
        listed = {m["id"]: m for m in r.json()}
        t.check(killed in listed and listed[killed]["label"] == "killed", "list shows it, with its label")
        r = t.dbsnap(proj, "verify", killed)
        t.check_rc(r, EXIT_OK, "verify of the indexed snapshot")
        fill_items(dev, ["a1"], 10, prefix="later ")
        t.dbsnap_ok(proj, "restore", killed, "--yes", "--no-safety-snapshot")
        t.check_eq(table_checksum(dev), ck_second, "it restores the data the killed backup dumped")

        t.section("a delete of a {} snapshot killed between removing the manifest and the catalog row".format(layout))
        argv = ["strace", "-f", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", "inject=fdatasync:signal=SIGKILL:when=1",
                t.binary, "--config", os.path.join(proj, "dbsnap.toml"), "delete", killed, "--yes"]
        p = subprocess.run(argv, cwd=proj, stdin=subprocess.DEVNULL, capture_output=True, env=traced_env(), timeout=120)
        t.check(p.returncode in (137, -9), "the delete was killed by SIGKILL", "exit {}".format(p.returncode))
        t.check(not os.path.exists(os.path.join(store, "dev", killed + ".json")), "its manifest is gone (commit point)")
        r = t.dbsnap(proj, "list", "--json")
        t.check(killed not in {m["id"] for m in r.json()}, "the next run does not list it", r.describe())
        t.check_eq([f for f in os.listdir(os.path.join(store, "dev")) if f.startswith(killed)], [],
                   "its blob or chunk list is gone too")
        t.check_rc(t.dbsnap(proj, "verify", "--all"), EXIT_OK, "verify --all afterwards")

    use_layout(proj, "chunks")

    # ---- 3. verify and hand-edited manifests -----------------------------------------------
    t.section("verify reports a manifest that differs from the catalog, and rewrites nothing")
    manifest_path = os.path.join(store, "dev", s1["id"] + ".json")
    with open(manifest_path) as f:
        original = json.load(f)
    for field, edit in (("label", lambda m: m.update(label="tampered")),
                        ("data.raw_sha256", lambda m: m["data"].update(raw_sha256="0" * 64))):
        edited = json.loads(json.dumps(original))
        edit(edited)
        with open(manifest_path, "w") as f:
            json.dump(edited, f, indent=2)
        edited_hash = sha256_file(manifest_path)
        r = t.dbsnap(proj, "verify", s1["id"])
        t.check_rc(r, EXIT_CORRUPT, "verify of a snapshot whose manifest's {} was edited".format(field))
        t.check("differs from the catalog in {}".format(field) in r.text, "verify names the field " + field,
                r.describe())
        t.check_eq(sha256_file(manifest_path), edited_hash, "the edited manifest was not rewritten")
        r = t.dbsnap(proj, "verify", "--all")
        t.check_rc(r, EXIT_CORRUPT, "verify --all reports it too")
    with open(manifest_path, "w") as f:
        json.dump(original, f, indent=2)
    t.check_rc(t.dbsnap(proj, "verify", s1["id"]), EXIT_OK, "with the manifest put back, verify passes")

    # ---- 4. the store folder's mode -------------------------------------------------------
    t.section("a store folder with mode 0755 is narrowed to 0700")
    os.chmod(store, 0o755)
    t.dbsnap_ok(proj, "backup", "dev")
    t.check_eq(oct(stat.S_IMODE(os.stat(store).st_mode)), oct(0o700), "the store folder is 0700 after a backup")

    # ---- 5. zstd levels -----------------------------------------------------------------
    t.section("zstd levels: one range, 1-19, and level 19 within 64 MB")
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "backup", "dev", "--level", "20")
    t.check_error(r, EXIT_USAGE, "backup --level 20", contains=("--level",))
    cfg = t.project("proj22", targets={"dev": os.path.join(proj, "dev.db")}, extra_toml="level = 22\n")
    r = t.dbsnap(cfg, "backup", "dev")
    t.check_error(r, EXIT_CONFIG, "backup with level = 22 in the config", contains=("level 22", "1-19"))
    t.check_eq(len(t.list_json(proj)), n, "nothing was published")
    big = t.path("big.db")
    db = __import__("sqlite3").connect(big)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)")
    db.executemany("INSERT INTO t (a, b) VALUES (?, ?)",
                   (("name-{}-{}".format(i, "x" * (i % 50)), i * 7919 % 1000003) for i in range(300000)))
    db.commit()
    db.close()
    cfg = t.project("projbig", targets={"big": big})
    p = subprocess.run(["/usr/bin/time", "-f", "%M", t.binary, "--config", os.path.join(cfg, "dbsnap.toml"),
                        "backup", "big", "--level", "19", "--json"],
                       cwd=cfg, stdin=subprocess.DEVNULL, capture_output=True, env=clean_env(), timeout=240)
    t.check_eq(p.returncode, 0, "a level-19 backup of a {} MB database".format(os.path.getsize(big) >> 20))
    peak_kb = int(p.stderr.decode().strip().splitlines()[-1])
    print("  level-19 peak RSS: {:.1f} MB".format(peak_kb / 1024))
    if "ASAN_OPTIONS" not in os.environ:  # AddressSanitizer's shadow memory inflates RSS: measured in the plain build
        t.check(peak_kb < 64 * 1024, "its peak RSS is within 64 MB ({:.1f} MB)".format(peak_kb / 1024))


if __name__ == "__main__":
    Test("store_integrity").run(body)
