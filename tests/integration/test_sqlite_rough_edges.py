#!/usr/bin/python3
"""Scenario: the rough edges a new user hits, each with the answer a careful tool gives.

- a mistyped command or option gets git's "did you mean" (`lst`, `--lable`), exit 2;
- `list prod` for a target nobody knows exits 3 naming the known ones, like every other command;
  a target gone from dbsnap.toml still lists its snapshots;
- `revisions` with one target configured takes it, as `latest` does;
- `cat latest | head` ends quietly with a non-zero status (SIGPIPE), as cat does;
- times: list, show and prune show local time with its UTC offset (TZ is honoured), JSON keeps UTC.
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_CONFIG, EXIT_OK, EXIT_USAGE, Test, clean_env, data_of, fill_items  # noqa: E402


def body(t):
    proj = t.project(targets={"dev": "app.db"})
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1"], 20000)
    snap = t.dbsnap_ok(proj, "backup", "dev", "--label", "first", "--json").json()

    t.section("did you mean")
    for args, suggestion in ((["lst"], "did you mean 'list'?"), (["resotre", "latest"], "did you mean 'restore'?"),
                             (["backup", "dev", "--lable", "x"], "did you mean '--label'?"),
                             (["restore", "latest", "--yse"], "did you mean '--yes'?")):
        r = t.dbsnap(proj, *args)
        t.check_error(r, EXIT_USAGE, "dbsnap " + " ".join(args), contains=(suggestion,))
    r = t.dbsnap(proj, "frobnicate")
    t.check_error(r, EXIT_USAGE, "a word close to no command", contains=("unknown command 'frobnicate'",))
    t.check("did you mean" not in r.errtext, "no suggestion for a word close to nothing", r.describe())

    t.section("an unknown target is a config error everywhere")
    r = t.dbsnap(proj, "list", "prod")
    t.check_error(r, EXIT_CONFIG, "list prod (unknown)", contains=("unknown target 'prod'", "known: dev"))
    with open(os.path.join(proj, "dbsnap.toml")) as f:
        text = f.read()
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write('[targets.new]\nengine = "sqlite"\nfile = "new.db"\n')
    r = t.dbsnap(proj, "list", "dev", "--json")
    t.check_rc(r, EXIT_OK, "list dev after dev left dbsnap.toml (its snapshots are still in the store)")
    t.check_eq([m["id"] for m in r.json()], [snap["id"]], "it lists dev's snapshot")
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write(text)

    t.section("revisions with one target configured")
    os.makedirs(os.path.join(proj, "migrations", "versions"))
    r = t.dbsnap(proj, "revisions")
    t.check_rc(r, EXIT_OK, "revisions without a target name")
    t.check("a1" in r.text + r.errtext, "it reports the only target's revision", r.describe())

    t.section("cat into a reader that stops early")
    argv = [t.binary, "--config", os.path.join(proj, "dbsnap.toml"), "cat", "latest"]
    cat = subprocess.Popen(argv, cwd=proj, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=clean_env())
    cat.stdout.read(100)
    cat.stdout.close()
    err = cat.stderr.read()
    rc = cat.wait(timeout=60)
    t.check_eq(rc, -signal.SIGPIPE, "dbsnap cat ends by SIGPIPE when the reader goes away")
    t.check_eq(err, b"", "and prints nothing on stderr")

    t.section("restore --to-file: yesterday's database beside today's")
    copy = os.path.join(proj, "yesterday.db")
    r = t.dbsnap(proj, "restore", snap["id"], "--to-file", copy, "--json")
    t.check_rc(r, EXIT_OK, "restore --to-file")
    t.check_eq((r.json()["file"], r.json()["target"]), (copy, None), "the JSON names the file, no target")
    with open(copy, "rb") as f:
        import hashlib
        t.check_eq(hashlib.sha256(f.read()).hexdigest(), data_of(snap)["raw_sha256"], "the file is the snapshot's")
    r = t.dbsnap(proj, "restore", snap["id"], "--to-file", copy)
    t.check_error(r, 8, "restore --to-file over an existing file", contains=("already exists",))
    r = t.dbsnap(proj, "restore", snap["id"], "--to-file", os.path.join(proj, "nowhere", "x.db"))
    t.check_error(r, EXIT_USAGE, "restore --to-file into a missing folder", contains=("does not exist",))
    t.check_eq([f for f in os.listdir(proj) if "dbsnap-tmp" in f], [], "no temp file is left beside them")

    t.section("times: local with the UTC offset; JSON in UTC")
    for tz, offset in (("UTC", "+0000"), ("Asia/Tokyo", "+0900")):
        r = t.dbsnap(proj, "list", env={"TZ": tz})
        t.check(offset in r.text, "list with TZ={} shows {}".format(tz, offset), r.describe())
        r = t.dbsnap(proj, "show", "latest", env={"TZ": tz})
        t.check(offset in r.text, "show with TZ={} shows {}".format(tz, offset), r.describe())
        r = t.dbsnap(proj, "prune", "dev", "--keep-last", "1", "--dry-run", env={"TZ": tz})
        t.check(offset in r.text, "prune with TZ={} shows {}".format(tz, offset), r.describe())
    t.check(snap["created_at"].endswith("Z"), "JSON keeps RFC 3339 UTC")


if __name__ == "__main__":
    Test("rough_edges").run(body)
