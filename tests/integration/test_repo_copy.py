#!/usr/bin/python3
"""Scenario: `dbsnap copy` and `copy_to` between stores, checked as a user would.

- copy --all into a new folder store: every snapshot (a blob-layout one, a pinned one, labels,
  revisions) is listed there with the same id, time, label, revisions and pin; verify --all
  passes there and `cat` gives each dump with its SHA-256; a restore from the copy brings the
  database back exactly.
- Run again: every snapshot is "present", nothing is written.
- A small change, a backup and `copy latest`: the destination grows by under 10 % of what the
  first copy stored.
- A damaged snapshot in the source (a byte of its own pack flipped): that one fails (exit 5,
  named), the others are copied, the damaged one is not listed in the destination, which
  verifies.
- Encryption: a new destination with DBSNAP_COPY_PASSPHRASE is encrypted (age files, config);
  copying from it to a new store without a key is refused (exit 8) and creates nothing; to
  another encrypted store with another key (--to-key-file) works; a wrong or missing destination key:
  exit 8 / exit 3 naming DBSNAP_COPY_*.
- copy_to in dbsnap.toml: a backup is copied (text and --json); a copy_to that fails leaves the
  backup published and exits with the copy's code, saying both.
- Usage: no destination, snapshots and --all together, the source as destination, an unknown
  snapshot: one line and the documented exit code.
- Killed: `copy --all` killed by strace at every rename (and every third fdatasync) into a new destination:
  what the destination lists is whole, and the next copy completes it.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_CONFIG, EXIT_CORRUPT, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, Test,  # noqa: E402
                         db_state, fill_items, sha256_bytes, traced_env, write)

TOML = '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'


def tree_bytes(folder):
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def tree_files(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = os.path.getmtime(p)
    return out


def raw_sha256(m):
    return (m.get("data") or m["blob"])["raw_sha256"]


def listed(t, proj, store, env=None):
    r = t.dbsnap_ok(proj, "--store", store, "list", "--json", env=env)
    return {m["id"]: m for m in r.json()}


def check_same(t, proj, source, dest, ids, what, env=None):
    """Each snapshot of `ids` is in `dest` with the source's metadata, and cat gives its dump."""
    src = listed(t, proj, source)
    dst = listed(t, proj, dest, env=env)
    for sid in ids:
        if not t.check(sid in dst, "{}: {} is listed in the destination".format(what, sid), sorted(dst)):
            continue
        for field in ("target", "created_at", "label", "revisions", "pinned", "automatic"):
            t.check_eq(dst[sid].get(field), src[sid].get(field), "{}: {} keeps its {}".format(what, sid, field))
        cat = t.dbsnap(proj, "--store", dest, "cat", sid, env=env)
        t.check(cat.rc == 0 and sha256_bytes(cat.out) == raw_sha256(src[sid]),
                "{}: cat {} from the destination gives its dump".format(what, sid), cat.describe())


def body(t):
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1a1a1a1"], 20000)
    write(db_file, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)",
          ("INSERT INTO blobs (data) VALUES (?)", [(os.urandom(4000),) for _ in range(500)]))
    toml_path = os.path.join(proj, "dbsnap.toml")
    with open(toml_path, "w") as fh:
        fh.write('snapshot_layout = "blob"\n' + TOML)
    source = os.path.join(proj, "snapshots")
    snaps = [t.dbsnap_ok(proj, "backup", "dev", "--label", "blob one", "--json").json()]
    with open(toml_path, "w") as fh:
        fh.write(TOML)
    write(db_file, ("INSERT INTO item (v) VALUES (?)", [("later row {}".format(i),) for i in range(100)]))
    snaps.append(t.dbsnap_ok(proj, "backup", "dev", "--pin", "--json").json())
    fill_items(db_file, ["b2b2b2b2"], 50)
    snaps.append(t.dbsnap_ok(proj, "backup", "dev", "--label", "at b2", "--json").json())
    ids = [s["id"] for s in snaps]
    state_3 = db_state(db_file)

    t.section("copy --all into a new folder store")
    dest = t.path("dest")
    r = t.dbsnap(proj, "copy", "--all", "--to", dest)
    t.check_rc(r, 0, "copy --all")
    t.check_eq(r.text.count("copied  "), 3, "three snapshots copied", r.describe())
    check_same(t, proj, source, dest, ids, "first copy")
    t.check_rc(t.dbsnap(proj, "--store", dest, "verify", "--all"), 0, "verify --all in the destination")
    first_bytes = tree_bytes(os.path.join(dest, "data"))
    t.check(first_bytes > 1_500_000, "the destination's packs hold the data ({} bytes)".format(first_bytes))

    t.section("a second run finds them all present and writes nothing")
    before = tree_files(dest)
    r = t.dbsnap(proj, "copy", "--all", "--to", dest, "--json")
    t.check_rc(r, 0, "copy --all again")
    outcomes = [s["outcome"] for s in r.json()["snapshots"]] if r.rc == 0 else []
    t.check_eq(outcomes, ["present"] * 3, "every snapshot is present")
    after = tree_files(dest)
    changed = sorted(k for k in set(before) | set(after)
                     if before.get(k) != after.get(k) and not k.startswith("catalog.db"))
    t.check_eq(changed, [], "no object of the destination was written")

    t.section("a small change: the next copy sends a small fraction")
    write(db_file, "UPDATE item SET v = 'changed' WHERE id % 500 = 0")
    fourth = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    r = t.dbsnap(proj, "copy", "latest", "--to", dest, "--json")
    t.check_rc(r, 0, "copy latest")
    grown = tree_bytes(os.path.join(dest, "data")) - first_bytes
    reported = r.json()["snapshots"][0]["new_bytes"] if r.rc == 0 else -1
    t.check(0 <= grown < first_bytes // 10,
            "the destination grew by {} bytes, under 10 % of the first copy's {}".format(grown, first_bytes))
    t.check(0 < reported <= grown, "new_bytes ({}) is what was stored ({})".format(reported, grown))
    check_same(t, proj, source, dest, [fourth["id"]], "the fourth")

    t.section("a restore from the copy")
    write(db_file, "DELETE FROM item")
    r = t.dbsnap(proj, "--store", dest, "restore", ids[2], "--yes")
    t.check_rc(r, 0, "restore the third snapshot from the copy")
    t.check(db_state(db_file) == state_3, "the database is as it was at the third backup")

    t.section("a damaged snapshot in the source")
    write(db_file, "CREATE TABLE own (data BLOB)", ("INSERT INTO own VALUES (?)", [(os.urandom(5000),) for _ in range(200)]))
    damaged = t.dbsnap_ok(proj, "backup", "dev", "--label", "damaged", "--json").json()
    newest_pack = max(glob.glob(os.path.join(source, "data", "*", "*")), key=os.path.getmtime)
    with open(newest_pack, "r+b") as fh:
        fh.seek(os.path.getsize(newest_pack) // 3)
        b = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([b[0] ^ 0x55]))
    dest2 = t.path("dest2")
    r = t.dbsnap(proj, "copy", "--all", "--to", dest2)
    t.check_last_error(r, EXIT_CORRUPT, "copy --all with a damaged snapshot",
                       contains=(damaged["id"], "were not copied"))
    in_dest2 = listed(t, proj, dest2)
    t.check(damaged["id"] not in in_dest2, "the damaged snapshot is not listed in the destination")
    t.check_eq(sorted(in_dest2), sorted(ids + [fourth["id"]]), "the sound ones were copied")
    t.check_rc(t.dbsnap(proj, "--store", dest2, "verify", "--all"), 0, "the destination verifies")
    t.dbsnap_ok(proj, "delete", damaged["id"], "--yes")
    t.check_rc(t.dbsnap(proj, "verify", "--all"), 0, "the source verifies once the damaged one is deleted")

    t.section("encrypted destinations")
    enc = t.path("enc")
    r = t.dbsnap(proj, "copy", "--all", "--to", enc, env={"DBSNAP_COPY_PASSPHRASE": "first secret"})
    t.check_rc(r, 0, "copy --all into a new store with DBSNAP_COPY_PASSPHRASE")
    t.check(os.path.isfile(os.path.join(enc, "config")), "the new destination is encrypted (config)")
    manifests = glob.glob(os.path.join(enc, "dev", "*.json"))
    heads = set()
    for f in manifests:
        with open(f, "rb") as fh:
            heads.add(fh.read(22))
    t.check(len(manifests) == 4 and heads == {b"age-encryption.org/v1\n"}, "its manifests are age files",
            "{} {}".format(len(manifests), heads))
    enc_env = {"DBSNAP_PASSPHRASE": "first secret"}
    check_same(t, proj, source, enc, ids, "encrypted copy", env=enc_env)
    clear = t.path("clear-from-enc")
    r = t.dbsnap(proj, "--store", enc, "copy", "--all", "--to", clear, env=enc_env)
    t.check_error(r, EXIT_REFUSED, "an encrypted store into a new store in the clear", contains=("in the clear",))
    t.check(not os.path.exists(clear), "nothing was created")
    enc2 = t.path("enc2")
    key2 = t.path("enc2.key")
    subprocess.run(["age-keygen", "-o", key2], check=True, stderr=subprocess.DEVNULL)
    r = t.dbsnap(proj, "--store", enc, "copy", "--all", "--to", enc2, "--to-key-file", key2, env=enc_env)
    t.check_rc(r, 0, "an encrypted store into another, with another key (--to-key-file)")
    check_same(t, proj, source, enc2, ids, "encrypted to encrypted", env={"DBSNAP_KEY_FILE": key2})
    enc3 = t.path("enc3")
    with open(toml_path, "w") as fh:
        fh.write('copy_key_command = ["printf", "%s\\n", "from a command"]\n' + TOML)
    t.check_rc(t.dbsnap(proj, "copy", ids[0], "--to", enc3), 0, "copy_key_command gives a new destination its key")
    check_same(t, proj, source, enc3, ids[:1], "copy_key_command", env={"DBSNAP_PASSPHRASE": "from a command"})
    with open(toml_path, "w") as fh:
        fh.write(TOML)
    r = t.dbsnap(proj, "copy", "latest", "--to", enc, env={"DBSNAP_COPY_PASSPHRASE": "wrong"})
    t.check_error(r, EXIT_REFUSED, "a wrong key for the destination", contains=("DBSNAP_COPY_PASSPHRASE",))
    r = t.dbsnap(proj, "copy", "latest", "--to", enc)
    t.check_error(r, EXIT_CONFIG, "no key for the encrypted destination", contains=("DBSNAP_COPY_PASSPHRASE",))

    t.section("copy_to in dbsnap.toml")
    offsite = t.path("offsite")
    with open(toml_path, "w") as fh:
        fh.write('copy_to = "../offsite"\n' + TOML)
    r = t.dbsnap(proj, "backup", "dev", "--json")
    t.check_rc(r, 0, "a backup with copy_to")
    doc = r.json() if r.rc == 0 else {}
    t.check_eq(doc.get("copy", {}).get("outcome"), "copied", "its --json says it was copied")
    t.check_eq(doc.get("copy", {}).get("destination"), offsite, "to the copy_to folder, resolved beside dbsnap.toml")
    t.check(doc.get("id") in listed(t, proj, offsite), "the offsite store lists it")
    with open(toml_path, "w") as fh:
        fh.write(TOML + 'copy_to = "s3://no-endpoint/x"\n')
    r = t.dbsnap(proj, "backup", "dev")
    t.check_error(r, EXIT_CONFIG, "a copy_to that fails", contains=("is published", "AWS_ENDPOINT_URL_S3"))
    newest = t.list_json(proj)[0]
    t.check(newest["id"] in r.text, "the backup was published and reported", r.describe())

    t.section("usage")
    with open(toml_path, "w") as fh:
        fh.write(TOML)
    t.check_error(t.dbsnap(proj, "copy", "--all"), EXIT_USAGE, "no destination", contains=("--to",))
    t.check_error(t.dbsnap(proj, "copy", "latest", "--all", "--to", dest), EXIT_USAGE, "snapshots and --all")
    t.check_error(t.dbsnap(proj, "copy", "--to", dest), EXIT_USAGE, "no snapshots")
    t.check_error(t.dbsnap(proj, "copy", "--all", "--to", source), EXIT_USAGE, "the source as destination")
    t.check_error(t.dbsnap(proj, "copy", "zzzzzz", "--to", dest), EXIT_NOT_FOUND, "an unknown snapshot")

    t.section("copy --all killed at every rename and fdatasync")
    kills = 0
    every = sorted(listed(t, proj, source))
    # Every rename (packs, chunk lists, manifests); every third fdatasync (SQLite's commits, the
    # objects' own syncs): the sanitizer build runs this part in CI too.
    for syscall, step in (("renameat2", 1), ("rename", 1), ("fdatasync", 3)):
        for n in range(1, 90, step):
            what = "{} #{}".format(syscall, n)
            target_dir = t.path("killed-{}-{}".format(syscall, n))
            argv = ["strace", "-f", "-o", "/dev/null", "-e", "trace=" + syscall,
                    "-e", "inject={}:signal=SIGKILL:when={}".format(syscall, n),
                    t.binary, "--config", toml_path, "copy", "--all", "--to", target_dir]
            p = subprocess.run(argv, cwd=proj, stdin=subprocess.DEVNULL, capture_output=True, env=traced_env(),
                               timeout=120)
            if p.returncode == 0:
                shutil.rmtree(target_dir, ignore_errors=True)
                break
            t.check(p.returncode in (137, -9), "{}: killed by SIGKILL".format(what),
                    "exit {}: {}".format(p.returncode, p.stderr.decode(errors="replace")[-1000:]))
            kills += 1
            if os.path.exists(target_dir):
                t.check_rc(t.dbsnap(proj, "--store", target_dir, "verify", "--all"), 0,
                           "{}: what the destination lists is whole".format(what))
            r = t.dbsnap(proj, "copy", "--all", "--to", target_dir)
            t.check_rc(r, 0, "{}: the next copy completes".format(what))
            t.check_eq(sorted(listed(t, proj, target_dir)), every, "{}: every snapshot is there".format(what))
            t.check_rc(t.dbsnap(proj, "--store", target_dir, "verify", "--all"), 0, "{}: and verifies".format(what))
            shutil.rmtree(target_dir)
    t.check(kills >= 10, "the copy was killed at {} different points".format(kills))


if __name__ == "__main__":
    Test("repo_copy").run(body)
