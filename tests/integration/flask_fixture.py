"""Helpers for the Flask-Migrate end-to-end scenarios (tests/integration/test_flask_*.py).

The app is tests/fixtures/flaskapp: the user story's "estimator" (Flask-SQLAlchemy models,
SQLALCHEMY_DATABASE_URI from $DATABASE_URL) with a Flask-Migrate migrations/ folder of three
revisions:

    REV1 4c1f0b6d2a71  create `group` (id, name)
    REV2 2eb89b1334ef  rename `group` -> `estimation_group`, add `user` (+ user 1 'default'),
                       FK estimation_group.user -> user.id (every group gets user 1)
    REV3 9d3e7a5c8f02  add `estimate` and estimation_group.description, then a UNIQUE constraint
                       on estimation_group.name. Fails AFTER its first DDL when two groups share a
                       name (a data problem) or when FAIL_MIGRATION=1; on MariaDB that leaves the
                       database half-upgraded, on PostgreSQL it rolls back by itself.

Container scenarios use FlaskStack: a database container (tests/harness/dbctl start-mariadb /
start-postgres) and a `web` shell container in its network namespace holding a copy of the app
at /app; both get unique names dbsnap-flask-<scenario>-<pid>-<rand>-{db,web} and are removed by
stop() (use the stack as a context manager, around Test.run: Test.run ends with sys.exit, and
SIGTERM is turned into SystemExit, so removal happens on failures and ctest timeouts too).

The database state is read by STATE_PY (SQLAlchemy reflection, run where the database is
reachable): every table with its columns, keys, indexes and all rows in primary-key order, plus
the alembic_version rows. checksum() is sha256 over that canonical JSON, so "exactly as before"
means same tables, same schema, same rows in the same order, same revision.
"""

import hashlib
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dbsnap_test import PYTHON, Result, clean_env  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURE = os.path.join(REPO, "tests", "fixtures", "flaskapp")
HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(REPO, "tests", "harness")
DBCTL = os.path.join(HARNESS, "dbctl")

REV1, REV2, REV3 = "4c1f0b6d2a71", "2eb89b1334ef", "9d3e7a5c8f02"
MESSAGES = {REV1: "create group", REV2: "estimation_group and user", REV3: "estimates and unique group names"}

URLS = {
    "mariadb": "mysql+pymysql://root:rootpw@127.0.0.1/app",
    "postgres": "postgresql+psycopg2://postgres:pgpw@127.0.0.1/app",
}


def docker_cli():
    """The docker client the harness uses (tests/harness/lib.sh): $DBSNAP_DOCKER, else Debian's."""
    if os.environ.get("DBSNAP_DOCKER"):
        return os.environ["DBSNAP_DOCKER"]
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


DOCKER = docker_cli()


def run(argv, input=None, env=None, timeout=300, cwd=None):
    """Runs argv to completion; returns a dbsnap_test.Result (bytes out/err)."""
    t0 = time.monotonic()
    p = subprocess.run([str(a) for a in argv], input=input, stdin=None if input is not None else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(env), timeout=timeout, cwd=cwd)
    return Result([str(a) for a in argv], p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def copy_app(dest):
    """A clean copy of the fixture app (no __pycache__, no app.db) at dest."""
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "app.db*", "*.db"))
    return dest


# ---- reading a database's state ---------------------------------------------------------------

STATE_PY = r'''
import datetime, decimal, json, os
import sqlalchemy as sa

def norm(v):
    if isinstance(v, float):
        return "f" + repr(v)
    if isinstance(v, decimal.Decimal):
        return "d" + str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "b" + bytes(v).hex()
    if isinstance(v, (datetime.date, datetime.time, datetime.datetime)):
        return "t" + v.isoformat()
    return v

eng = sa.create_engine(os.environ["DATABASE_URL"], poolclass=sa.pool.NullPool)
out = {"tables": {}, "revision": None}
with eng.connect() as c:
    insp = sa.inspect(c)
    for name in sorted(insp.get_table_names()):
        # a copy: SQLAlchemy 1.4's SQLite get_pk_constraint sorts the cached column list in place
        cols = [dict(col) for col in insp.get_columns(name)]
        pk = insp.get_pk_constraint(name).get("constrained_columns") or []
        fks = [[fk.get("name"), fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]]
               for fk in insp.get_foreign_keys(name)]
        uniques = [[u.get("name"), u["column_names"]] for u in insp.get_unique_constraints(name)]
        indexes = [[i.get("name"), i["column_names"], bool(i.get("unique"))] for i in insp.get_indexes(name)]
        t = sa.table(name, *[sa.column(col["name"]) for col in cols])
        order = pk or [col["name"] for col in cols]
        rows = c.execute(sa.select(t).order_by(*[t.c[k] for k in order])).fetchall()
        out["tables"][name] = {
            "columns": [[col["name"], str(col["type"]), bool(col["nullable"]), str(col.get("default"))]
                        for col in cols],
            "primary_key": pk,
            "foreign_keys": sorted(fks, key=json.dumps),
            "unique": sorted(uniques, key=json.dumps),
            "indexes": sorted(indexes, key=json.dumps),
            "rows": [[norm(v) for v in r] for r in rows],
        }
    if "alembic_version" in out["tables"]:
        out["revision"] = sorted(r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version")))
print(json.dumps(out, sort_keys=True))
'''

SQL_PY = r'''
import json, os, sys
import sqlalchemy as sa
eng = sa.create_engine(os.environ["DATABASE_URL"], poolclass=sa.pool.NullPool)
with eng.begin() as c:
    for stmt in json.loads(sys.stdin.read()):
        c.execute(sa.text(stmt))
'''


def checksum(state):
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def diff_states(a, b):
    """A short human description of how state b differs from state a."""
    if a is None or b is None:
        return "state missing: {!r} vs {!r}".format(a is None, b is None)
    out = []
    if a.get("revision") != b.get("revision"):
        out.append("revision {} -> {}".format(a.get("revision"), b.get("revision")))
    ta, tb = a["tables"], b["tables"]
    for name in sorted(set(ta) | set(tb)):
        if name not in tb:
            out.append("table {} is gone".format(name))
        elif name not in ta:
            out.append("table {} appeared: {}".format(name, json.dumps(tb[name])[:300]))
        elif ta[name] != tb[name]:
            for key in sorted(set(ta[name]) | set(tb[name])):
                if ta[name].get(key) != tb[name].get(key):
                    out.append("table {} {}: {} -> {}".format(
                        name, key, json.dumps(ta[name].get(key))[:300], json.dumps(tb[name].get(key))[:300]))
    return "\n".join(out) or "(no difference)"


def table_names(state):
    return sorted(state["tables"])


def column_names(state, table):
    return [c[0] for c in state["tables"][table]["columns"]]


def rows(state, table):
    return [tuple(r) for r in state["tables"][table]["rows"]]


# ---- the container stack ----------------------------------------------------------------------

class FlaskStack:
    """A database container plus a `web` container running the fixture app against it."""

    def __init__(self, t, scenario, engine):
        assert engine in URLS, engine
        self.t, self.engine = t, engine
        tag = "{}-{:04x}".format(os.getpid(), random.randrange(1 << 16))
        self.prefix = "dbsnap-flask-{}-{}".format(scenario, tag)
        self.db = self.prefix + "-db"
        self.web = self.prefix + "-web"
        self.url = URLS[engine]
        self.started = []
        self._old_term = None

    # -- lifecycle

    def __enter__(self):
        def on_term(signum, frame):
            raise SystemExit(128 + signum)
        self._old_term = signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is KeyboardInterrupt or (exc_type is SystemExit and isinstance(exc.code, int) and exc.code >= 128):
            self.t.cleanup()  # a signal bypassed Test.run's own cleanup
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
        return False

    def start(self):
        t = self.t
        t.section("containers: {} ({}) and {} (web)".format(self.db, self.engine, self.web))
        kind = "start-mariadb" if self.engine == "mariadb" else "start-postgres"
        self.started.append(self.db)
        r = run([DBCTL, kind, self.db], timeout=600)
        t.require_rc(r, 0, "dbctl {} {}".format(kind, self.db))
        self.started.insert(0, self.web)
        r = run([DBCTL, "start-shell", self.web, "--network-of", self.db], timeout=300)
        t.require_rc(r, 0, "dbctl start-shell {} --network-of {}".format(self.web, self.db))
        staging = copy_app(t.path("app-" + self.engine))
        r = run([DOCKER, "cp", staging, self.web + ":/app"])
        t.require_rc(r, 0, "docker cp the fixture app into {}:/app".format(self.web))
        return self

    def stop(self):
        if not self.started:
            return
        r = run([DBCTL, "rm"] + self.started, timeout=300)
        if r.rc != 0:
            print("warning: could not remove {}:\n{}".format(self.started, r.describe()), flush=True)
        else:
            print("(removed containers {})".format(" ".join(self.started)), flush=True)
        self.started = []

    # -- commands in the web container

    def exec_argv(self, *argv, env=None, workdir="/app", stdin=False):
        """docker exec argv in the web container, with FLASK_APP and DATABASE_URL set."""
        cmd = [DOCKER, "exec"] + (["-i"] if stdin else []) + ["-w", workdir,
                                                                 "-e", "FLASK_APP=app.py",
                                                                 "-e", "DATABASE_URL=" + self.url]
        for k, v in sorted((env or {}).items()):
            cmd += ["-e", "{}={}".format(k, v)]
        return cmd + [self.web] + [str(a) for a in argv]

    def flask_argv(self, *args, fail=False):
        """The host command that runs `flask ARGS` for the app (FAIL_MIGRATION=1 when fail)."""
        return self.exec_argv("flask", *args, env={"FAIL_MIGRATION": "1"} if fail else None)

    def flask(self, *args, fail=False, timeout=300):
        return run(self.flask_argv(*args, fail=fail), timeout=timeout)

    def flask_ok(self, *args, fail=False):
        r = self.flask(*args, fail=fail)
        self.t.require_rc(r, 0, "flask " + " ".join(args))
        return r

    def current(self):
        """The revisions `flask db current` prints, sorted."""
        r = self.flask_ok("db", "current")
        return parse_current(r.text)

    def sql(self, *statements, required=True):
        """Runs statements (SQLAlchemy text, one transaction) against the app database."""
        r = run(self.exec_argv(PYTHON, "-c", SQL_PY, stdin=True), input=json.dumps(statements).encode())
        if required:
            self.t.require_rc(r, 0, "SQL: " + "; ".join(statements))
        return r

    def state(self):
        r = run(self.exec_argv(PYTHON, "-c", STATE_PY, stdin=True), input=b"")
        self.t.require_rc(r, 0, "read every table of the {} database".format(self.engine))
        return json.loads(r.out)

    # -- dbsnap configuration

    def project(self, name="proj", target="prod"):
        """A project dir with dbsnap.toml for the database container."""
        d = self.t.path(name)
        os.makedirs(d, exist_ok=True)
        versions = os.path.join(FIXTURE, "migrations", "versions")
        if self.engine == "mariadb":
            body = ['engine = "mysql"', 'container = "{}"'.format(self.db), 'database = "app"', 'user = "root"',
                    'password_from_container = "MYSQL_ROOT_PASSWORD"']
        else:
            body = ['engine = "postgres"', 'container = "{}"'.format(self.db), 'database = "app"',
                    'user = "postgres"']
        body.append('migrations = "{}"'.format(versions))
        with open(os.path.join(d, "dbsnap.toml"), "w") as f:
            f.write("[targets.{}]\n{}\n".format(target, "\n".join(body)))
        return d


def parse_current(text):
    import re
    return sorted(set(re.findall(r"^([0-9a-f]{12})\b", text, re.M)))


# ---- SQLite on the host, plain Alembic --------------------------------------------------------

class SqliteApp:
    """A copy of the fixture app in a project dir on the host, database app.db beside app.py,
    migrated with Debian's `python3 -m alembic -c migrations/alembic.ini` (no Flask needed)."""

    def __init__(self, t, name="proj", target="dev"):
        self.t = t
        self.dir = copy_app(t.path(name))
        self.db = os.path.join(self.dir, "app.db")
        self.url = "sqlite:///" + self.db
        with open(os.path.join(self.dir, "dbsnap.toml"), "w") as f:
            f.write('[targets.{}]\nengine = "sqlite"\nfile = "app.db"\nmigrations = "migrations/versions"\n'.format(target))

    def alembic_argv(self, *args):
        return [PYTHON, "-m", "alembic", "-c", os.path.join(self.dir, "migrations", "alembic.ini")] + list(args)

    def alembic(self, *args, fail=False):
        return run(self.alembic_argv(*args), env={"FAIL_MIGRATION": "1"} if fail else None, cwd=self.dir)

    def alembic_ok(self, *args):
        r = self.alembic(*args)
        self.t.require_rc(r, 0, "alembic " + " ".join(args))
        return r

    def current(self):
        return parse_current(self.alembic_ok("current").text)

    def sql(self, *statements):
        r = run([PYTHON, "-c", SQL_PY], input=json.dumps(statements).encode(), env={"DATABASE_URL": self.url})
        self.t.require_rc(r, 0, "SQL: " + "; ".join(statements))
        return r

    def state(self):
        r = run([PYTHON, "-c", STATE_PY], input=b"", env={"DATABASE_URL": self.url})
        self.t.require_rc(r, 0, "read every table of app.db")
        return json.loads(r.out)


def command_string(argv):
    """argv as one shell-quoted string (for `dbsnap rollback --command`)."""
    return shlex.join(str(a) for a in argv)


# ---- checks shared by the scenarios -----------------------------------------------------------

def output_of(result):
    return result.text + "\n" + result.errtext


def says_back_at(result, rev):
    """True when dbsnap's error line says the database is back at revision `rev`."""
    for line in result.errtext.splitlines():
        if line.startswith("dbsnap: error:") and rev in line and "back" in line.lower():
            return True
    return False


def check_state(t, actual, expected, what):
    """Ordered checksum of every table + revision equal; the diff is the failure detail."""
    return t.check_eq(checksum(actual), checksum(expected), what + " (checksum of every table + revision)",
                      diff_states(expected, actual))


def snapshots(t, proj, *args):
    return t.list_json(proj, *args)


def check_revisions_output(t, result, chain, current, counts=None):
    """`dbsnap revisions` output: every revision of `chain` (head first) appears, in that order;
    the line of each revision in `current` carries a marker no other revision line has; and
    `counts` (rev -> number of snapshots) shows on that revision's line."""
    lines = result.text.splitlines()

    def line_of(rev):
        for i, line in enumerate(lines):
            if rev in line:
                return i
        return None

    where = [line_of(r) for r in chain]
    t.check(all(w is not None for w in where), "revisions lists every revision: {}".format(", ".join(chain)),
            result.describe())
    if all(w is not None for w in where):
        t.check(where == sorted(where), "revisions lists them head -> base ({})".format(" -> ".join(chain)),
                result.describe())
    for cur in current:
        i = line_of(cur)
        if i is None:
            continue
        others = [lines[line_of(r)] for r in chain if r not in current and line_of(r) is not None]
        markers = ["current", "*", "\u2190", "<-", "\u25b6", "=>", "@"]
        mine = lines[i].lower()
        ok = any(m in mine and not any(m in o.lower() for o in others) for m in markers)
        t.check(ok, "revisions marks {} as current (and no other revision)".format(cur), result.describe())
    import re
    for rev, n in (counts or {}).items():
        i = line_of(rev)
        if i is None:
            continue
        text = lines[i]
        for r in chain:
            text = text.replace(r, " ")
        t.check(re.search(r"(?<![\w.]){}(?![\w.])".format(n), text) is not None,
                "revisions shows {} snapshot(s) at {}".format(n, rev), result.describe())


# ---- the container story (MariaDB and PostgreSQL) ---------------------------------------------

def container_story(t, stack):
    """The user story on a real server: see test_flask_mariadb.py / test_flask_postgres.py."""
    mysql = stack.engine == "mariadb"
    q = (lambda name: "`" + name + "`") if mysql else (lambda name: '"' + name + '"')
    stack.start()
    proj = stack.project()

    # 1. The app at revision 1 with the seed's row, and a first backup.
    t.section("the estimator at revision 1 ({}), row 'NewGroup', first backup".format(REV1))
    stack.flask_ok("db", "upgrade", REV1)
    stack.sql("INSERT INTO {} (name) VALUES ('NewGroup')".format(q("group")))
    t.require_eq(stack.current(), [REV1], "flask db current says " + REV1)
    state1 = stack.state()
    t.require_eq(rows(state1, "group"), [(1, "NewGroup")], "table group holds (1, 'NewGroup')")
    r = t.dbsnap(proj, "backup", "prod", "--label", "initial", "--json")
    t.require_rc(r, 0, "dbsnap backup prod --label initial")
    initial = r.json()
    t.check_eq(initial.get("revisions"), [REV1], "the backup records revision " + REV1)
    t.check_eq(initial.get("label"), "initial", "the backup's label")
    got = [m["id"] for m in snapshots(t, proj, "prod", "--revision", REV1)]
    t.check_eq(got, [initial["id"]], "list prod --revision {} finds it".format(REV1))
    check_state(t, stack.state(), state1, "a backup changes nothing")

    # 2. The seed's upgrade, guarded.
    t.section("dbsnap upgrade prod -- flask db upgrade {} (rename group, add user + FK)".format(REV2))
    r = t.dbsnap(proj, "upgrade", "prod", "--", *stack.flask_argv("db", "upgrade", REV2))
    t.require_rc(r, 0, "guarded upgrade to " + REV2)
    t.check("Running upgrade {} -> {}".format(REV1, REV2) in output_of(r),
            "flask's own output is passed through", r.describe())
    t.check_eq(stack.current(), [REV2], "flask db current says " + REV2)
    state2 = stack.state()
    t.check_eq(state2["revision"], [REV2], "alembic_version holds " + REV2)
    t.check_eq(table_names(state2), ["alembic_version", "estimation_group", "user"],
               "tables: estimation_group and user replace group")
    t.check_eq(column_names(state2, "estimation_group"), ["id", "name", "user"], "estimation_group columns")
    t.check(["fk_estimation_group_user_user", ["user"], "user", ["id"]] in
            state2["tables"]["estimation_group"]["foreign_keys"],
            "foreign key estimation_group.user -> user.id", json.dumps(state2["tables"]["estimation_group"]))
    t.check_eq(rows(state2, "estimation_group"), [(1, "NewGroup", 1)], "the seed's row 'NewGroup' survives, user 1")
    t.check_eq(rows(state2, "user"), [(1, "default")], "user holds (1, 'default')")
    pre = [m for m in snapshots(t, proj, "prod") if m.get("label") == "pre-upgrade"]
    t.check_eq([m.get("revisions") for m in pre], [[REV1]], "one pre-upgrade snapshot, at " + REV1)

    # 3. The third migration meets production data: two groups named 'NewGroup'.
    t.section("the failing third migration ({}): duplicate group names".format(REV3))
    stack.sql("INSERT INTO estimation_group (name, {}) VALUES ('NewGroup', 1)".format(q("user")))
    before = stack.state()
    r = t.dbsnap(proj, "upgrade", "prod", "--", *stack.flask_argv("db", "upgrade"))
    t.check_rc(r, 9, "guarded upgrade to head with duplicate names")
    t.check("uq_estimation_group_name" in output_of(r), "flask's error (the unique constraint) is shown",
            r.describe())
    t.check(says_back_at(r, REV2), "dbsnap says the database is back at " + REV2, r.describe())
    after = stack.state()
    check_state(t, after, before, "the database is exactly as before the failed upgrade")
    t.check("estimate" not in after["tables"], "no half-added table estimate", table_names(after))
    t.check("description" not in column_names(after, "estimation_group"), "no half-added column description")
    t.check_eq(stack.current(), [REV2], "flask db current still says " + REV2)

    t.section("the failing third migration: FAIL_MIGRATION=1 (clean data)")
    stack.sql("DELETE FROM estimation_group WHERE id = 2")
    before = stack.state()
    check_state(t, before, state2, "with the duplicate deleted the database equals the upgraded one")
    r = t.dbsnap(proj, "upgrade", "prod", "--", *stack.flask_argv("db", "upgrade", fail=True))
    t.check_rc(r, 9, "guarded upgrade to head with FAIL_MIGRATION=1")
    t.check("no_such_column" in output_of(r), "flask's error is shown", r.describe())
    t.check(says_back_at(r, REV2), "dbsnap says the database is back at " + REV2, r.describe())
    check_state(t, stack.state(), before, "the database is exactly as before the failed upgrade")

    # 4. Control: without dbsnap the same command leaves MariaDB half-upgraded (the reason for
    # all this), while PostgreSQL rolls it back by itself; a plain restore repairs it.
    t.section("control: the same failing upgrade without dbsnap, then dbsnap restore")
    r = t.dbsnap(proj, "backup", "prod", "--label", "before-control", "--json")
    t.require_rc(r, 0, "dbsnap backup prod --label before-control")
    control = r.json()
    r = stack.flask("db", "upgrade", fail=True)
    t.check(r.rc != 0, "flask db upgrade (FAIL_MIGRATION=1) fails", r.describe())
    half = stack.state()
    t.check_eq(half["revision"], [REV2], "alembic_version still says " + REV2)
    if mysql:
        t.check("estimate" in half["tables"] and "description" in column_names(half, "estimation_group"),
                "MariaDB is half-upgraded: table estimate and column description exist", diff_states(before, half))
        r = stack.flask("db", "upgrade")
        t.check(r.rc != 0 and "already exists" in output_of(r),
                "the migration is stuck: a plain retry fails ('already exists')", r.describe())
    else:
        check_state(t, half, before, "PostgreSQL rolled the failed migration back by itself")
    r = t.dbsnap(proj, "restore", control["id"], "--yes")
    t.check_rc(r, 0, "dbsnap restore before-control --yes")
    check_state(t, stack.state(), before, "the restore puts the database back exactly")

    # 5. Roll back to revision 1 from a snapshot.
    t.section("dbsnap rollback prod --to {} (via restore: the 'initial' snapshot)".format(REV1))
    at_rev2 = len(snapshots(t, proj, "prod", "--revision", REV2))
    r = t.dbsnap(proj, "rollback", "prod", "--to", REV1, "--yes")
    t.check_rc(r, 0, "rollback --to " + REV1)
    check_state(t, stack.state(), state1, "the database equals the one of the first backup")
    t.check_eq(stack.current(), [REV1], "flask db current says " + REV1)
    t.check(len(snapshots(t, proj, "prod", "--revision", REV2)) > at_rev2,
            "a safety snapshot of the state at {} was taken first".format(REV2))

    # 6. Up to 2 again, then back to 1 with the migration's own downgrade.
    t.section("upgrade to {} again, then rollback --via downgrade".format(REV2))
    r = t.dbsnap(proj, "upgrade", "prod", "--", *stack.flask_argv("db", "upgrade", REV2))
    t.check_rc(r, 0, "guarded upgrade to " + REV2)
    up = stack.state()
    check_state(t, up, state2, "the upgraded database equals the first upgrade's")
    wrong = command_string(stack.flask_argv("db", "downgrade", "base"))
    r = t.dbsnap(proj, "rollback", "prod", "--to", REV1, "--via", "downgrade", "--command", wrong, "--yes")
    t.check_rc(r, 9, "rollback --to {} with a command that goes to base instead".format(REV1))
    check_state(t, stack.state(), up, "the database is exactly as before that rollback")
    r = t.dbsnap(proj, "rollback", "prod", "--to", REV1, "--via", "downgrade", "--command", "false", "--yes")
    t.check_rc(r, 9, "rollback --via downgrade with a failing command ('false')")
    check_state(t, stack.state(), up, "the database is exactly as before that rollback")
    good = command_string(stack.flask_argv("db", "downgrade", REV1))
    r = t.dbsnap(proj, "rollback", "prod", "--to", REV1, "--via", "downgrade", "--command", good, "--yes")
    t.check_rc(r, 0, "rollback --to {} --via downgrade (flask db downgrade {})".format(REV1, REV1))
    t.check("Running downgrade {} -> {}".format(REV2, REV1) in output_of(r), "flask's downgrade output is shown",
            r.describe())
    t.check_eq(stack.current(), [REV1], "flask db current says " + REV1)
    check_state(t, stack.state(), state1, "the downgraded database equals the one of the first backup")

    # 7. With clean data the third migration works.
    t.section("upgrade to head with clean data")
    r = t.dbsnap(proj, "upgrade", "prod", "--", *stack.flask_argv("db", "upgrade"))
    t.check_rc(r, 0, "guarded upgrade to head")
    head = stack.state()
    t.check_eq(head["revision"], [REV3], "alembic_version holds " + REV3)
    t.check_eq(table_names(head), ["alembic_version", "estimate", "estimation_group", "user"], "tables at head")
    t.check_eq(rows(head, "estimation_group"), [(1, "NewGroup", 1, None)], "estimation_group at head")
    t.check_eq(rows(head, "estimate"), [(1, 1, "f0.0")], "one starter estimate")
    r = t.dbsnap(proj, "revisions", "prod")
    t.check_rc(r, 0, "dbsnap revisions prod")
    if r.rc == 0:
        check_revisions_output(t, r, [REV3, REV2, REV1], [REV3])
    r = t.dbsnap(proj, "list", "prod", "--by-revision")
    t.check_rc(r, 0, "dbsnap list prod --by-revision")
    t.check(REV1 in r.text and REV2 in r.text, "list --by-revision shows both revisions that have snapshots",
            r.describe())

    # 8. After all these restores the app still works: ids continue where the data says.
    t.section("the app keeps working: a new group gets the next id")
    r = stack.sql("INSERT INTO estimation_group (name, {}) VALUES ('Sprint 13', 1)".format(q("user")), required=False)
    t.check_rc(r, 0, "insert a group without an id")
    t.check_eq(rows(stack.state(), "estimation_group"), [(1, "NewGroup", 1, None), (2, "Sprint 13", 1, None)],
               "it gets id 2: the id sequence came back with the data")

    travel_story(t, stack, proj, state1, head, initial)


def migration_command(stack, verb):
    """The app's `flask db VERB {revision}` in the web container, as a dbsnap.toml argv array. The
    FAIL_* switches pass through from dbsnap's own environment (`docker exec -e NAME`)."""
    return [DOCKER, "exec", "-w", "/app", "-e", "FLASK_APP=app.py", "-e", "DATABASE_URL=" + stack.url,
            "-e", "FAIL_MIGRATION", "-e", "FAIL_DOWNGRADE", stack.web, "flask", "db", verb, "{revision}"]


def travel_story(t, stack, proj, state1, head, initial):
    """Revision travel on a real server: the plan, a downgrade failing halfway (MariaDB keeps the
    half-downgraded state: the database must end exactly as before the move), restore --then-upgrade
    failing and succeeding, rollback --via restore-downgrade."""
    mysql = stack.engine == "mariadb"
    with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
        f.write("upgrade_command = {}\n".format(json.dumps(migration_command(stack, "upgrade"))))
        f.write("downgrade_command = {}\n".format(json.dumps(migration_command(stack, "downgrade"))))

    t.section("revision travel: the plan back to {} (--dry-run changes nothing)".format(REV1))
    before = stack.state()
    n = len(snapshots(t, proj))
    r = t.dbsnap(proj, "rollback", "prod", "--to", REV1, "--dry-run", "--json")
    t.require_rc(r, 0, "rollback --to {} --dry-run --json".format(REV1))
    plan = r.json()
    by_via = {p["via"]: p for p in plan["paths"]}
    t.check_eq((plan["chosen"], by_via["downgrade"]["steps"], by_via["restore"]["snapshot"]["id"]),
               ("downgrade", [REV3, REV2], initial["id"]),
               "the live downgrade is chosen (undo 3, then 2); a restore of 'initial' is the alternative")
    rows = by_via["restore"]["rows"]
    t.check(rows is not None and rows["unchanged"] >= 1 and rows["differ"] and
            all(d["now"] != d["snapshot"] for d in rows["differ"]),
            "the live database's rows were counted on the server and compared with 'initial''s counts", rows)
    check_state(t, stack.state(), before, "the dry run changed nothing")
    t.check_eq(len(snapshots(t, proj)), n, "and took no snapshot")

    t.section("a downgrade that fails halfway (FAIL_DOWNGRADE=1): the database ends exactly as before")

    def failed_downgrades():
        return [m["id"] for m in snapshots(t, proj) if m.get("label") == "failed-downgrade"]

    earlier = failed_downgrades()
    r = t.dbsnap(proj, "rollback", "prod", "--to", REV1, "--yes", env={"FAIL_DOWNGRADE": "1"})
    t.check_rc(r, 9, "rollback --to {} with a downgrade failing in its second step".format(REV1))
    t.check("no_such_column" in output_of(r), "the migration's error is shown", r.describe())
    t.check(says_back_at(r, REV3), "dbsnap says the database is back at " + REV3, r.describe())
    check_state(t, stack.state(), before, "the database is exactly as before the move")
    failed = [i for i in failed_downgrades() if i not in earlier]
    if mysql:
        t.check_eq(len(failed), 1, "MariaDB was left half-downgraded: that state is kept as failed-downgrade",
                   r.describe())
    # PostgreSQL rolls the downgrade back by itself, but pg_dump (16.10+) writes a random \restrict
    # key into every dump, so two dumps of the same state differ and the unchanged state is kept too.

    t.section("restore 'initial' --then-upgrade, failing (FAIL_MIGRATION=1): exactly as before")
    r = t.dbsnap(proj, "restore", initial["id"], "--then-upgrade", "--yes", env={"FAIL_MIGRATION": "1"})
    t.check_rc(r, 9, "restore --then-upgrade with the third migration failing")
    t.check(says_back_at(r, REV3), "dbsnap says the database is back at " + REV3, r.describe())
    check_state(t, stack.state(), before, "the database is exactly as before the move")

    t.section("restore 'initial' --then-upgrade: the first backup brought up to the head")
    r = t.dbsnap(proj, "restore", initial["id"], "--then-upgrade", "--yes", "--json")
    t.require_rc(r, 0, "restore --then-upgrade --json")
    doc = r.json()
    t.check_eq((doc["upgraded_from"], doc["revisions"]), ([REV1], [REV3]), "upgraded from {} to {}".format(REV1, REV3))
    check_state(t, stack.state(), head, "the database equals the first head upgrade's (one group, one estimate)")
    safety = doc["safety_snapshot"]["id"]
    r = t.dbsnap(proj, "restore", safety, "--yes", "--no-safety-snapshot")
    t.check_rc(r, 0, "restore the pre-restore snapshot")
    check_state(t, stack.state(), before, "it holds the state before the move")

    t.section("rollback --to {} --via restore-downgrade: the snapshot at {} downgraded".format(REV1, REV2))
    r = t.dbsnap(proj, "rollback", "prod", "--to", REV1, "--via", "restore-downgrade", "--yes", "--json")
    t.require_rc(r, 0, "rollback --via restore-downgrade --json")
    doc = r.json()
    t.check_eq((doc["via"], doc["snapshot"]["revisions"], doc["after"]), ("restore-downgrade", [REV2], [REV1]),
               "from the snapshot at {}, landing at {}".format(REV2, REV1))
    check_state(t, stack.state(), state1, "the database equals the one of the first backup")
    t.check_eq(stack.current(), [REV1], "flask db current says " + REV1)
