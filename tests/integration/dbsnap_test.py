"""Shared helpers for the dbsnap integration scenarios (tests/integration/test_*.py).

Each scenario is a standalone script run by Debian's /usr/bin/python3; it finds the
binary through $DBSNAP (set by CTest), works in a private temp dir and exits 0 when
every check passed, 1 when a CHECK failed and 2 when a REQUIRE (setup) failed.

    t = Test("round_trip")
    proj = t.project(targets={"dev": "app.db"})
    r = t.dbsnap(proj, "backup", "dev", "--json")
    t.check_rc(r, 0, "backup dev")
    ...
    t.done()
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"  # Debian's, with python3-alembic; never the PATH one
# A target's migration commands as dbsnap.toml argv arrays: Debian's alembic, run in the project folder.
ALEMBIC_UPGRADE = [PYTHON, "-m", "alembic", "upgrade", "{revision}"]
ALEMBIC_DOWNGRADE = [PYTHON, "-m", "alembic", "downgrade", "{revision}"]
TEMP_MARKER = ".dbsnap-tmp"

# Exit codes, as documented by `dbsnap --help` and include/dbsnap/util/error.hpp.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CONFIG, EXIT_NOT_FOUND, EXIT_CORRUPT = 0, 1, 2, 3, 4, 5
EXIT_RUNTIME, EXIT_ENGINE, EXIT_REFUSED, EXIT_GUARDED, EXIT_BUSY = 6, 7, 8, 9, 10
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # SIGINT, SIGTERM (128 + the signal's number)


def dbsnap_binary():
    path = os.environ.get("DBSNAP")
    if not path:
        # Run by hand from the source tree: fall back to the usual build dir.
        path = os.path.join(HERE, "..", "..", "build", "dbsnap")
    return os.path.abspath(path)


def clean_env(extra=None):
    """The environment every child runs with: CI=true, no DBSNAP_STORE leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBSNAP_")}
    env["CI"] = "true"
    env.pop("PYTHONPATH", None)
    if extra:
        env.update(extra)
    return env


def traced_env():
    """clean_env() for a dbsnap run under strace: LeakSanitizer cannot run under ptrace (it aborts
    the process at exit in the sanitizer build), so leak checking is off for that run only."""
    env = clean_env()
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    return env


class RequireFailed(Exception):
    pass


class Result:
    def __init__(self, argv, rc, out, err, seconds):
        self.argv, self.rc, self.out, self.err, self.seconds = argv, rc, out, err, seconds

    @property
    def text(self):
        return self.out.decode("utf-8", "replace")

    @property
    def errtext(self):
        return self.err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def describe(self):
        def clip(b):
            s = b.decode("utf-8", "replace")
            return s if len(s) < 3000 else s[:1500] + "\n[...]\n" + s[-1500:]
        return "$ {}\n  exit {}\n  stdout: {}\n  stderr: {}".format(
            " ".join(self.argv), self.rc, clip(self.out).rstrip() or "(empty)", clip(self.err).rstrip() or "(empty)")


class Test:
    def __init__(self, name):
        self.name = name
        self.checks = 0
        self.failures = []
        self.started = time.monotonic()
        self.binary = dbsnap_binary()
        self.tmp = tempfile.mkdtemp(prefix="dbsnap-it-{}-".format(name))
        self.children = []
        print("== {}: binary {}, temp dir {}".format(name, self.binary, self.tmp), flush=True)
        if not os.access(self.binary, os.X_OK):
            self._abort("REQUIRE failed: dbsnap binary {} is missing or not executable (set $DBSNAP)".format(self.binary))

    # ---- reporting -------------------------------------------------------

    def section(self, title):
        print("-- {} (at {:.1f} s)".format(title, time.monotonic() - self.started), flush=True)

    def check(self, condition, what, detail=""):
        """An expectation: a failure is recorded and the scenario goes on."""
        self.checks += 1
        if condition:
            print("  ok    {}".format(what), flush=True)
            return True
        msg = "CHECK failed: {}".format(what)
        if detail:
            msg += "\n    " + str(detail).replace("\n", "\n    ")
        print("  FAIL  " + msg, flush=True)
        self.failures.append(msg)
        return False

    def require(self, condition, what, detail=""):
        """A precondition of the rest of the scenario: a failure ends it."""
        self.checks += 1
        if condition:
            print("  ok    {}".format(what), flush=True)
            return
        msg = "REQUIRE failed: {}".format(what)
        if detail:
            msg += "\n    " + str(detail).replace("\n", "\n    ")
        print("  FAIL  " + msg, flush=True)
        self.failures.append(msg)
        raise RequireFailed(msg)

    def check_eq(self, actual, expected, what, detail=""):
        ok = actual == expected
        d = "expected: {!r}\n  actual:   {!r}".format(expected, actual)
        if detail:
            d += "\n" + str(detail)
        return self.check(ok, what, "" if ok else d)

    def require_eq(self, actual, expected, what, detail=""):
        ok = actual == expected
        d = "expected: {!r}\n  actual:   {!r}".format(expected, actual)
        if detail:
            d += "\n" + str(detail)
        self.require(ok, what, "" if ok else d)

    def check_rc(self, result, expected, what):
        return self.check(result.rc == expected, "{} exits {}".format(what, expected),
                          "" if result.rc == expected else result.describe())

    def require_rc(self, result, expected, what):
        self.require(result.rc == expected, "{} exits {}".format(what, expected),
                     "" if result.rc == expected else result.describe())

    def check_error(self, result, code, what, contains=()):
        """A documented failure: exit code, a single stderr line 'dbsnap: error: ...'
        containing every string of `contains`."""
        ok = self.check_rc(result, code, what)
        lines = result.errtext.strip().splitlines()
        single = len(lines) == 1 and lines[0].startswith("dbsnap: error: ")
        self.check(single, "{}: stderr is one line starting with 'dbsnap: error: '".format(what),
                   "" if single else result.describe())
        for needle in contains:
            has = needle in result.errtext
            self.check(has, "{}: the message mentions {!r}".format(what, needle),
                       "" if has else result.describe())
        return ok

    def check_last_error(self, result, code, what, contains=()):
        """Exit code, and stderr's last line is 'dbsnap: error: ...' containing every string of
        `contains` (the lines before it are dbsnap's progress and the command's own output)."""
        self.check_rc(result, code, what)
        lines = result.errtext.rstrip().splitlines()
        last = lines[-1] if lines else ""
        self.check(last.startswith("dbsnap: error: "), "{}: stderr ends with a 'dbsnap: error: ' line".format(what),
                   result.describe())
        for needle in contains:
            self.check(needle in last, "{}: the error mentions {!r}".format(what, needle), result.describe())
        return last

    def _abort(self, msg):
        print(msg, flush=True)
        print("== {}: ABORTED".format(self.name), flush=True)
        sys.exit(2)

    def done(self):
        self.cleanup()
        secs = time.monotonic() - self.started
        if self.failures:
            print("\n== {}: {} of {} checks FAILED ({:.1f} s):".format(self.name, len(self.failures), self.checks, secs))
            for f in self.failures:
                print("  - " + f.splitlines()[0])
            print("(run with DBSNAP_TEST_KEEP=1 to keep the temp dir)")
            sys.exit(1)
        print("\n== {}: all {} checks passed ({:.1f} s)".format(self.name, self.checks, secs), flush=True)
        sys.exit(0)

    def run(self, body):
        """Runs body(self), turning REQUIRE failures and crashes into a clear exit."""
        try:
            body(self)
        except RequireFailed:
            self.cleanup()
            print("\n== {}: stopped at a REQUIRE; {} failure(s) in {} checks:".format(
                self.name, len(self.failures), self.checks))
            for f in self.failures:
                print("  - " + f.splitlines()[0])
            sys.exit(2)
        except Exception:
            import traceback
            traceback.print_exc()
            self.cleanup()
            print("\n== {}: ERROR (an exception in the test script itself)".format(self.name))
            sys.exit(2)
        self.done()

    def cleanup(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.children = []
        if os.environ.get("DBSNAP_TEST_KEEP"):
            print("(kept {})".format(self.tmp))
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- projects and processes -----------------------------------------

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def project(self, name="proj", targets=None, extra_toml=""):
        """A project dir with a dbsnap.toml; targets maps name -> sqlite file (relative)."""
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        targets = targets if targets is not None else {"dev": "app.db"}
        lines = []
        for tname, f in targets.items():
            lines += ["[targets.{}]".format(tname), 'engine = "sqlite"', 'file = "{}"'.format(f), ""]
        with open(os.path.join(d, "dbsnap.toml"), "w") as fh:
            fh.write("\n".join(lines) + extra_toml)
        return d

    def dbsnap(self, project, *args, config=True, timeout=240, env=None):
        """Runs dbsnap in `project` (with --config project/dbsnap.toml unless config=False);
        stdin is /dev/null."""
        argv = [self.binary]
        if config:
            argv += ["--config", os.path.join(project, "dbsnap.toml")]
        argv += [str(a) for a in args]
        t0 = time.monotonic()
        p = subprocess.run(argv, cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=clean_env(env), timeout=timeout)
        return Result(argv, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)

    def dbsnap_ok(self, project, *args, what=None, **kw):
        r = self.dbsnap(project, *args, **kw)
        self.require_rc(r, 0, what or "dbsnap " + " ".join(str(a) for a in args))
        return r

    def spawn_dbsnap(self, project, *args, stdout=None, env=None):
        argv = [self.binary, "--config", os.path.join(project, "dbsnap.toml")] + [str(a) for a in args]
        p = subprocess.Popen(argv, cwd=project, stdin=subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else subprocess.PIPE,
                             stderr=subprocess.PIPE, env=clean_env(env))
        p.argv = argv
        self.children.append(p)
        return p

    def spawn_python(self, code, *args, cwd=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE):
        p = subprocess.Popen([PYTHON, "-c", code] + [str(a) for a in args], cwd=cwd or self.tmp, stdin=stdin,
                             stdout=stdout, stderr=subprocess.PIPE, env=clean_env(), text=True)
        self.children.append(p)
        return p

    def python(self, *args, cwd, timeout=120):
        argv = [PYTHON] + [str(a) for a in args]
        t0 = time.monotonic()
        p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=clean_env(), timeout=timeout)
        return Result(argv, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)

    def alembic(self, cwd, *args):
        r = self.python("-m", "alembic", *args, cwd=cwd)
        self.require_rc(r, 0, "alembic " + " ".join(args))
        return r

    def alembic_current(self, cwd):
        """The revision set `alembic current` reports, sorted."""
        r = self.alembic(cwd, "current")
        return sorted(set(re.findall(r"^([0-9a-f]{6,})\b", r.text, re.M)))

    # ---- Alembic projects -------------------------------------------------

    def alembic_project(self):
        """A project dir `proj` made by `alembic init migrations`, its sqlalchemy.url pointed at
        app.db, with a dbsnap.toml whose target dev is app.db."""
        proj = self.path("proj")
        os.makedirs(proj)
        self.alembic(proj, "init", "migrations")
        ini = os.path.join(proj, "alembic.ini")
        with open(ini) as f:
            text = f.read()
        text, n = re.subn(r"^sqlalchemy\.url = .*$", "sqlalchemy.url = sqlite:///app.db", text, flags=re.M)
        self.require(n == 1, "alembic.ini has a sqlalchemy.url line to point at app.db")
        with open(ini, "w") as f:
            f.write(text)
        self.project("proj", targets={"dev": "app.db"})
        return proj

    def new_revision(self, proj, message, upgrade, downgrade=None, rev_id=None, head=None, splice=False,
                     what=None, return_path=False):
        """`alembic revision -m message [--rev-id rev_id] [--head head] [--splice]`, then the generated
        upgrade() body replaced by `upgrade` and, unless downgrade is None, the downgrade() body by
        `downgrade`. Returns the revision id, or with return_path=True the generated file's path.
        `what` names the command in the check that alembic named its file (default: alembic revision -m ...)."""
        args = ["revision", "-m", message]
        if rev_id:
            args += ["--rev-id", rev_id]
        if head:
            args += ["--head", head]
        if splice:
            args.append("--splice")
        r = self.alembic(proj, *args)
        m = re.search(r"Generating (\S+\.py)", r.text + r.errtext)
        self.require(m is not None, "{} names the file it wrote".format(
            what or "alembic revision -m {!r}".format(message)), r.describe())
        path = m.group(1)
        with open(path) as f:
            src = f.read()
        src, n1 = re.subn(r"(def upgrade\(\)[^:]*:\n)    pass\n", lambda mm: mm.group(1) + upgrade, src)
        if downgrade is None:
            self.require(n1 == 1, "the generated {} has an upgrade() body to replace".format(os.path.basename(path)))
        else:
            src, n2 = re.subn(r"(def downgrade\(\)[^:]*:\n)    pass\n", lambda mm: mm.group(1) + downgrade, src)
            self.require(n1 == 1 and n2 == 1, "the generated {} has upgrade()/downgrade() bodies to replace".format(
                os.path.basename(path)))
        with open(path, "w") as f:
            f.write(src)
        if return_path:
            return path
        return re.search(r"^revision = '([0-9a-f]+)'", src, re.M).group(1)

    def table_revision(self, proj, table, rev_id, column="v", head=None, splice=False, return_path=False):
        """A revision (new_revision) that creates `table` (id, `column` TEXT) and drops it going down."""
        return self.new_revision(
            proj, "create " + table,
            "    op.create_table('{}', sa.Column('id', sa.Integer, primary_key=True), sa.Column('{}', sa.Text))\n"
            .format(table, column),
            "    op.drop_table('{}')\n".format(table), rev_id=rev_id, head=head, splice=splice, return_path=return_path)

    def migration_commands(self, proj, upgrade=ALEMBIC_UPGRADE, downgrade=ALEMBIC_DOWNGRADE):
        """Appends upgrade_command / downgrade_command (argv lists, None: left out) to the last target of
        proj/dbsnap.toml; the defaults run Debian's alembic in the project folder."""
        with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
            for key, argv in (("upgrade_command", upgrade), ("downgrade_command", downgrade)):
                if argv is not None:
                    f.write("{} = {}\n".format(key, json.dumps(argv)))

    # ---- snapshots -------------------------------------------------------

    def list_json(self, project, *args, env=None):
        r = self.dbsnap_ok(project, "list", "--json", *args, env=env)
        return r.json()

    def show_json(self, project, ref, *args):
        return self.dbsnap_ok(project, "show", ref, "--json", *args).json()

    def cat_checksum(self, project, snapshot_id, name):
        """`dbsnap cat snapshot_id` written to the temp file `name`; returns its table checksum."""
        copy = self.path(name)
        with open(copy, "wb") as f:
            f.write(self.dbsnap_ok(project, "cat", snapshot_id).out)
        return table_checksum(copy)


# ---- files and databases ------------------------------------------------

RECOVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "dbsnap-recover")


class ClientSession:
    """An interactive SQL client (argv, e.g. psql or mariadb through docker exec -i) kept open across
    steps, for transactions held by the test. `marker` is the client's way of printing a line
    "@@done" after each batch (psql: "\\echo @@done", mariadb: "SELECT '@@done';"); stderr is merged,
    so errors are among the lines an answer returns."""

    def __init__(self, argv, marker, env=None):
        self._marker = marker
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      env=env, text=True, bufsize=1)

    def send(self, sql):
        """Sends SQL and the marker, without waiting for the answer."""
        try:
            self._proc.stdin.write(sql + "\n" + self._marker + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the client stopped on an error; answer() returns what it printed

    def answer(self):
        """Every line up to the marker's (or to the client's end)."""
        lines = []
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            if line == "@@done":
                return lines
            lines.append(line)
        return lines

    def run(self, sql):
        self.send(sql)
        return self.answer()

    def close(self):
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait(timeout=60)


def data_of(manifest):
    """The manifest's dump object, whichever the layout: "data" for chunks, "blob" for a blob.
    Both carry raw_bytes, raw_sha256 and level."""
    return manifest["data"] if "data" in manifest else manifest["blob"]


def recover(store, ref):
    """Rebuilds a snapshot's dump with tools/dbsnap-recover (Python and zstd only, no dbsnap):
    (returncode, dump bytes, stderr text)."""
    r = subprocess.run([RECOVER, store, ref], capture_output=True)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def use_layout(project, layout):
    """Makes the project's dbsnap.toml store new snapshots in `layout` ("chunks", the default, or
    "blob": snapshot_layout, a top-level key)."""
    conf = os.path.join(project, "dbsnap.toml")
    with open(conf) as fh:
        text = fh.read()
    text = re.sub(r'^snapshot_layout = .*\n', "", text, flags=re.M)
    with open(conf, "w") as fh:
        fh.write(f'snapshot_layout = "{layout}"\n' + text)


def use_chunks(project):
    use_layout(project, "chunks")


def use_blobs(project):
    """Keeps the one-file-per-snapshot layout: for tests of blob snapshots (old stores, blob damage)."""
    use_layout(project, "blob")


def forge_blob(project, snap, change):
    """Rewrites blob snapshot `snap` (dict with id and target) of `project`: its dump becomes
    change(original dump bytes), and its manifest's sizes and hashes are made to match (what anyone
    who can write the store could do); then the catalog is rebuilt from the manifests. The blob's
    first version is kept beside it, so each call starts from the original."""
    folder = os.path.join(project, "snapshots", snap["target"])
    manifest_path = os.path.join(folder, snap["id"] + ".json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    blob = os.path.join(folder, manifest["blob"]["file"])
    original = blob + ".original"
    if not os.path.exists(original):
        os.rename(blob, original)
    dump = change(subprocess.run(["zstd", "-dc", original], check=True, stdout=subprocess.PIPE).stdout)
    stored = subprocess.run(["zstd", "-q", "-c"], input=dump, check=True, stdout=subprocess.PIPE).stdout
    with open(blob, "wb") as f:
        f.write(stored)
    manifest["blob"].update(raw_bytes=len(dump), raw_sha256=hashlib.sha256(dump).hexdigest(),
                            stored_bytes=len(stored), stored_sha256=hashlib.sha256(stored).hexdigest())
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    r = subprocess.run([dbsnap_binary(), "--config", os.path.join(project, "dbsnap.toml"), "catalog", "rebuild"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    if r.returncode != 0:
        raise RuntimeError("catalog rebuild after forging failed: " + r.stderr.decode(errors="replace"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def connect(path, **kw):
    return sqlite3.connect(path, timeout=30, isolation_level=None, **kw)


def table_checksum_conn(db):
    """sha256 over every table (name order), rows in rowid order, plus the alembic_version rows."""
    h = hashlib.sha256()
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for t in tables:
        q = '"' + t.replace('"', '""') + '"'
        h.update(("table " + t + "\n").encode())
        try:
            rows = db.execute("SELECT * FROM {} ORDER BY rowid".format(q))
        except sqlite3.OperationalError:  # WITHOUT ROWID
            rows = db.execute("SELECT * FROM {} ORDER BY 1".format(q))
        for row in rows:
            for v in row:
                if isinstance(v, bytes):
                    h.update(b"B%d:" % len(v))
                    h.update(v)
                else:
                    h.update(repr(v).encode())
                h.update(b"\x00")
            h.update(b"\n")
    if "alembic_version" in tables:
        revs = sorted(r[0] for r in db.execute("SELECT version_num FROM alembic_version"))
        h.update(("alembic_version " + ",".join(revs)).encode())
    return h.hexdigest()


def table_checksum(path):
    """The ordered checksum of a SQLite file's content, read in one transaction."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    db = connect(path)
    try:
        db.execute("BEGIN")
        ck = table_checksum_conn(db)
        db.execute("COMMIT")
        return ck
    finally:
        db.close()


def write(path, *statements):
    """Runs statements in one transaction: each an SQL string, or an (sql, rows) pair for executemany."""
    db = connect(path)
    db.execute("BEGIN")
    for s in statements:
        if isinstance(s, str):
            db.execute(s)
        else:
            db.executemany(*s)
    db.execute("COMMIT")
    db.close()


def fill_items(path, revisions, rows, prefix=""):
    """Stamps `revisions` into alembic_version (created if missing) and adds `rows` rows
    '<prefix>row N' to table item (id, v)."""
    db = connect(path)
    db.execute("BEGIN")
    db.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, v TEXT)")
    db.execute("DELETE FROM alembic_version")
    db.executemany("INSERT INTO alembic_version VALUES (?)", [(r,) for r in revisions])
    db.executemany("INSERT INTO item (v) VALUES (?)", [("{}row {}".format(prefix, i),) for i in range(rows)])
    db.execute("COMMIT")
    db.close()


def tables_of(path):
    """The names of a SQLite file's tables (sqlite_* left out), sorted."""
    db = connect(path)
    try:
        return sorted(r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    finally:
        db.close()


def items_of(path):
    """(row count, names joined by ',') of table item's `name` column: what a snapshot's rows were."""
    db = connect(path)
    try:
        return db.execute("SELECT count(*), group_concat(name, ',') FROM item").fetchone()
    finally:
        db.close()


def db_state(path):
    """Every table's ordered checksum and the Alembic revisions: "exactly as before" for a SQLite file."""
    return table_checksum(path), revisions_of(path)


def revisions_of(path):
    db = connect(path)
    try:
        return sorted(r[0] for r in db.execute("SELECT version_num FROM alembic_version"))
    finally:
        db.close()


def integrity(path):
    db = connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def beside(path):
    """Files in the database's folder other than the database itself."""
    d, name = os.path.split(path)
    return sorted(f for f in os.listdir(d) if f != name)


def flip_byte(path):
    """Flips one byte (xor 0x55) in the middle of a file, in place."""
    with open(path, "r+b") as f:
        f.seek(0, 2)
        at = f.tell() // 2
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x55]))


def temp_files(root):
    """Every file under root whose name carries dbsnap's temp marker."""
    found = []
    for d, _, files in os.walk(root):
        found += [os.path.join(d, f) for f in files if TEMP_MARKER in f]
    return sorted(found)


def zstd_decompress(blob, dest):
    with open(dest, "wb") as out:
        p = subprocess.run(["zstd", "-dc", blob], stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def wait_for(predicate, timeout, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    return predicate()


def unique_prefix(a, b, minimum=4):
    """The shortest prefix of a (at least `minimum` chars) that b does not share."""
    n = minimum
    while n < len(a) and b.startswith(a[:n]):
        n += 1
    return a[:n]


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]
