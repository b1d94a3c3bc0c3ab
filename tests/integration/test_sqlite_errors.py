#!/usr/bin/python3
"""Scenario: every error is one line on stderr starting with 'dbsnap: error:', with the documented exit code.

Unknown target (3), unknown snapshot (4), ambiguous id prefix and revision prefix (4),
'latest' with two targets and no --target (4), bad configurations that name the file,
the line and the key (3), destructive actions without --yes and stdin not a terminal
(8, nothing changed), usage errors (2), a missing database file (7, nothing published).
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, clean_env, common_prefix, connect, fill_items, sha256_file, table_checksum,  # noqa: E402
                         temp_files, data_of, EXIT_CONFIG, EXIT_ENGINE, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE)


BAD_CONFIGS = [
    # (name, toml text, line, things the message must name)
    ("unknown key", '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\nfiel = "other.db"\n', 4,
     ("targets.dev.fiel",)),
    ("wrong type", '# a comment\n[targets.dev]\nengine = "sqlite"\nfile = 42\n', 4, ("targets.dev.file",)),
    ("wrong type of a shared key", '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\nversion_table = true\n', 4,
     ("targets.dev.version_table",)),
    ("unknown engine", '\n[targets.dev]\nfile = "app.db"\nengine = "oracle"\n', 4, ("targets.dev.engine", "oracle")),
    ("TOML syntax error", '[targets.dev]\nengine = "sqlite"\nfile = "app.db\n', 3, ()),
    ("unknown top-level key", 'stroe = "x"\n[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n', 1, ("stroe",)),
    ("missing required key", '[targets.dev]\nengine = "sqlite"\n', 1, ("targets.dev", "file")),
]


def on_tty(t, proj, answer, *args):
    """Runs dbsnap with a pseudo-terminal as stdin, typing `answer`; returns (exit code, stderr)."""
    master, slave = os.openpty()
    try:
        p = subprocess.Popen([t.binary, "--config", os.path.join(proj, "dbsnap.toml")] + list(args), cwd=proj,
                             stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
        os.write(master, answer.encode())
        _, err = p.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    return p.returncode, err.decode(errors="replace")


def body(t):
    proj = t.project("proj", targets={"dev": "dev.db", "stage": "stage.db", "ghost": "missing/ghost.db"})
    dev, stage = os.path.join(proj, "dev.db"), os.path.join(proj, "stage.db")
    fill_items(dev, ["abc111"], 200, prefix=dev + " ")
    s1 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    fill_items(dev, ["abc222"], 100, prefix=dev + " ")
    s2 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    fill_items(stage, ["fed333"], 50, prefix=stage + " ")
    s3 = t.dbsnap_ok(proj, "backup", "stage", "--json").json()
    fill_items(dev, ["abc444"], 10, prefix=dev + " ")
    dev_sha, dev_ck = sha256_file(dev), table_checksum(dev)
    count = [3]

    def unchanged(what):
        t.check_eq(sha256_file(dev), dev_sha, "{}: dev.db is byte for byte unchanged".format(what))
        t.check_eq(len(t.list_json(proj)), count[0], "{}: no snapshot was added or removed".format(what))

    t.section("unknown target (3)")
    r = t.dbsnap(proj, "backup", "nope")
    t.check_error(r, EXIT_CONFIG, "backup nope", contains=("'nope'", "dbsnap.toml", "dev", "stage"))
    r = t.dbsnap(proj, "restore", s1["id"], "--to", "nope", "--yes")
    t.check_error(r, EXIT_CONFIG, "restore --to nope", contains=("'nope'",))
    unchanged("restore --to nope")
    empty = t.path("no-config-here")
    os.makedirs(empty)
    r = t.dbsnap(empty, "backup", "dev", config=False)
    t.check_error(r, EXIT_CONFIG, "backup dev with no dbsnap.toml anywhere", contains=("dbsnap.toml",))
    r = t.dbsnap(proj, "--config", t.path("does-not-exist.toml"), "list", config=False)
    t.check_error(r, EXIT_CONFIG, "--config of a missing file", contains=("does-not-exist.toml",))

    t.section("unknown snapshot (4)")
    for args in (("show", "zzzz9999"), ("cat", "zzzz9999"), ("verify", "zzzz9999"), ("restore", "zzzz9999", "--yes"),
                 ("delete", "zzzz9999", "--yes"), ("show", "@0000ff"), ("restore", "@0000ff", "--yes"),
                 ("show", "latest", "--target", "ghost")):
        r = t.dbsnap(proj, *args)
        t.check_error(r, EXIT_NOT_FOUND, " ".join(args), contains=(args[1].lstrip("@"),))
    unchanged("restore of unknown snapshots")

    t.section("ambiguous id prefix and revision prefix (4)")
    prefix = common_prefix(s1["id"], s2["id"])
    t.require(len(prefix) >= 1, "the two dev snapshot ids share a prefix ({!r})".format(prefix))
    for args in (("show", prefix), ("restore", prefix, "--yes"), ("delete", prefix, "--yes")):
        r = t.dbsnap(proj, *args)
        t.check_error(r, EXIT_NOT_FOUND, "{} <common prefix {}>".format(args[0], prefix),
                      contains=("ambiguous", s1["id"], s2["id"]))
    unchanged("restore/delete of an ambiguous prefix")
    r = t.dbsnap(proj, "show", "@abc")
    t.check_error(r, EXIT_NOT_FOUND, "show @abc (abc111 and abc222)", contains=("ambiguous", "abc111", "abc222"))
    r = t.dbsnap(proj, "list", "--revision", "abc")
    t.check_error(r, EXIT_NOT_FOUND, "list --revision abc", contains=("ambiguous", "abc111", "abc222"))
    r = t.dbsnap(proj, "show", "@abc2", "--json")
    t.check(r.rc == 0 and r.json()["id"] == s2["id"], "show @abc2 (unique revision prefix) resolves", r.describe())

    t.section("'latest' with two targets (4)")
    for args in (("show", "latest"), ("cat", "latest"), ("restore", "latest", "--yes")):
        r = t.dbsnap(proj, *args)
        t.check_error(r, EXIT_NOT_FOUND, " ".join(args) + " without --target",
                      contains=("latest", "dev", "stage", "--target"))
    unchanged("restore latest without --target")
    r = t.dbsnap(proj, "show", "latest", "--target", "stage", "--json")
    t.check(r.rc == 0 and r.json()["id"] == s3["id"], "show latest --target stage resolves", r.describe())

    t.section("destructive actions without --yes, stdin not a terminal (8)")
    r = t.dbsnap(proj, "restore", s1["id"])
    t.check_error(r, EXIT_REFUSED, "restore without --yes", contains=("--yes",))
    unchanged("restore without --yes")
    t.check_eq(table_checksum(dev), dev_ck, "restore without --yes: table checksum unchanged")
    r = t.dbsnap(proj, "delete", s1["id"])
    t.check_error(r, EXIT_REFUSED, "delete without --yes", contains=("--yes",))
    t.check(s1["id"] in [m["id"] for m in t.list_json(proj)], "delete without --yes: the snapshot is still listed")
    t.check(os.path.exists(s1["path"]) and os.path.exists(s1["manifest_path"]),
            "delete without --yes: its blob and manifest are still there")

    t.section("confirmation on a terminal (a pty as stdin)")
    for answer, code in (("n", EXIT_REFUSED), ("", EXIT_REFUSED)):
        rc, err = on_tty(t, proj, answer + "\n", "restore", s1["id"])
        t.check_eq(rc, code, "restore on a terminal answered {!r} exits {}".format(answer, code), err)
        t.check("[y/N]" in err, "restore on a terminal asks [y/N] on stderr", err)
        unchanged("restore answered {!r}".format(answer))
    rc, err = on_tty(t, proj, "y\n", "delete", s3["id"])
    t.check_eq(rc, 0, "delete on a terminal answered 'y' exits 0", err)
    t.check(s3["id"] not in [m["id"] for m in t.list_json(proj)], "the snapshot was deleted after 'y'")
    count[0] -= 1

    t.section("the level key: out of range (3), the target's level, --level over it")
    lp = t.path("proj-level")
    os.makedirs(lp, exist_ok=True)
    shutil.copy(dev, os.path.join(lp, "dev.db"))
    with open(os.path.join(lp, "dbsnap.toml"), "w") as fh:
        fh.write('[targets.dev]\nengine = "sqlite"\nfile = "dev.db"\nlevel = 30\n'
                 '[targets.five]\nengine = "sqlite"\nfile = "dev.db"\nlevel = 5\n')
    r = t.dbsnap(lp, "backup", "dev")
    t.check_error(r, EXIT_CONFIG, "backup with level = 30", contains=("level 30",))
    t.check_eq(t.list_json(lp), [], "nothing was published with level = 30")
    r = t.dbsnap(lp, "backup", "five", "--json")
    t.check(r.rc == 0 and data_of(r.json())["level"] == 5, "level = 5 is the snapshot's level", r.describe())
    r = t.dbsnap(lp, "backup", "five", "--level", "2", "--json")
    t.check(r.rc == 0 and data_of(r.json())["level"] == 2, "--level 2 overrides level = 5", r.describe())

    t.section("usage errors (2)")
    for args in (("backup",), ("backup", "dev", "--level", "30"), ("verify",), ("verify", "--all", s1["id"]),
                 ("show", "@"), ("list", "--frobnicate"), ("restore",), ("catalog",)):
        r = t.dbsnap(proj, *args)
        t.check_error(r, EXIT_USAGE, "dbsnap " + " ".join(args))
    unchanged("usage errors")

    t.section("engine error: the database file does not exist (7)")
    r = t.dbsnap(proj, "backup", "ghost")
    t.check_error(r, EXIT_ENGINE, "backup of a target whose file is missing", contains=("ghost.db",))
    t.check_eq(len(t.list_json(proj)), count[0], "nothing was published for the failed backup")
    t.check_eq(temp_files(proj), [], "the failed backup left no temp files")
    t.check(not os.path.exists(os.path.join(proj, "snapshots", "ghost")) or
            os.listdir(os.path.join(proj, "snapshots", "ghost")) == [],
            "no blob or manifest in the store for the failed backup")

    t.section("bad configurations (3): the message names the file, the line and the key")
    for n, (name, text, line, names) in enumerate(BAD_CONFIGS):
        d = t.path("badcfg{}".format(n))
        os.makedirs(d)
        cfg = os.path.join(d, "dbsnap.toml")
        with open(cfg, "w") as f:
            f.write(text)
        r = t.dbsnap(d, "backup", "dev")
        t.check_error(r, EXIT_CONFIG, "config with {} (--config)".format(name),
                      contains=("{}:{}".format(cfg, line),) + tuple(names))
        sub = os.path.join(d, "sub", "dir")
        os.makedirs(sub)
        r = t.dbsnap(sub, "backup", "dev", config=False)
        t.check_error(r, EXIT_CONFIG, "config with {} (found upward from a subfolder)".format(name),
                      contains=("{}:{}".format(cfg, line),))
        t.check(not os.path.exists(os.path.join(d, "snapshots")) or temp_files(d) == [],
                "config with {}: no temp files".format(name))

    t.section("positive control: restore --to another target of the same engine")
    r = t.dbsnap(proj, "restore", s2["id"], "--to", "stage", "--yes")
    t.check_rc(r, 0, "restore <dev snapshot> --to stage --yes")
    t.check_eq(sorted(x[0] for x in connect(stage).execute("SELECT version_num FROM alembic_version")), ["abc222"],
               "stage now holds the dev snapshot's revision")
    t.check_eq(sha256_file(dev), dev_sha, "dev.db itself was not touched")


if __name__ == "__main__":
    Test("errors").run(body)
