"""PostgreSQL helpers for the container scenarios (tests/integration/test_postgres_*.py).

    pg = PgContainer(t, "round_trip")          # container dbsnap-pg-round_trip, via tests/harness/dbctl
    with pg:                                  # started on enter, removed on exit (even after failures)
        pg.sql("CREATE TABLE ...")
        before = pg.state()                   # {table: md5 of its rows in order, ..., "@revision": [...]}
        proj = pg_project(t, {"pg": pg.target()})

SQL runs through `docker exec -i NAME psql -U postgres -XAt` over the unix socket (trust auth);
`state()` reads every table of every user schema, the sequences and the Alembic revision in ONE
statement, so it is a consistent snapshot even while another session restores.
"""

import json
import os
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(HERE, "..", "harness")
DBCTL = os.path.join(HARNESS, "dbctl")
DOCKER = os.environ.get("DBSNAP_DOCKER", "/usr/bin/docker")
PASSWORD = "pgpw"  # dbctl's default POSTGRES_PASSWORD


def conninfo(database, application="dbsnap-test"):
    def value(v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "dbname={} application_name={}".format(value(database), value(application))


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def toml_string(text):
    return json.dumps(text, ensure_ascii=False)


class PgContainer:
    def __init__(self, t, scenario, password=None):
        self.t = t
        self.name = "dbsnap-pg-" + scenario.replace("_", "-")
        self.password = password or PASSWORD

    # ---- lifecycle -----------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def start(self):
        subprocess.run([DBCTL, "rm", self.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        argv = [DBCTL, "start-postgres", self.name]
        if self.password != PASSWORD:
            argv += ["--password", self.password]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        self.t.require(p.returncode == 0, "dbctl start-postgres {}".format(self.name), p.stdout + p.stderr)

    def remove(self):
        subprocess.run([DBCTL, "rm", self.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # ---- commands in the container -------------------------------------

    def exec(self, *argv, input=None, timeout=300):
        """docker exec -i NAME argv...; returns CompletedProcess (text)."""
        return subprocess.run([DOCKER, "exec", "-i", self.name] + list(argv), input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def psql_argv(self, database="app", application="dbsnap-test"):
        return ["psql", "-U", "postgres", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", conninfo(database, application)]

    def try_sql(self, sql, database="app", timeout=300):
        return self.exec(*self.psql_argv(database), input=sql, timeout=timeout)

    def sql(self, sql, database="app", timeout=300):
        """Runs SQL (stdin, ON_ERROR_STOP); REQUIREs success; returns stdout."""
        p = self.try_sql(sql, database, timeout)
        if p.returncode != 0:
            self.t.require(False, "SQL in {} ({}...)".format(self.name, " ".join(sql.split())[:60]), p.stderr)
        return p.stdout

    def rows(self, sql, database="app"):
        return [line for line in self.sql(sql, database).splitlines() if line != ""]

    def create_database(self, database):
        self.sql("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8';".format(
            quote_ident(database)), "postgres")

    # ---- state ---------------------------------------------------------

    def state_query(self, database="app"):
        """One SELECT over every table and sequence of the user schemas (as they are now)."""
        tables = self.rows(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;", database)
        sequences = self.rows(
            "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1;", database)
        parts = ["SELECT {} || ':' || (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                 "FROM {} x)".format(quote_literal("table " + tb), tb) for tb in tables]
        parts += ["SELECT {} || ':' || (SELECT last_value::text || is_called::text FROM {})".format(
            quote_literal("sequence " + s), s) for s in sequences]
        if not parts:
            return "SELECT 'empty:';"
        return "SELECT string_agg(v, E'\\n' ORDER BY v) FROM (" + " UNION ALL ".join(parts) + ") s(v);"

    def state(self, database="app", query=None):
        """{name: checksum} of every table and sequence, plus "@revision" -> sorted revision list
        and "@schemas" -> the user schemas; read in one statement."""
        out = self.sql(query or self.state_query(database), database)
        st = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.rsplit(":", 1)
                st[k] = v
        st["@revision"] = self.revisions(database)
        st["@schemas"] = self.rows(
            "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' "
            "ORDER BY 1;", database)
        return st

    def revisions(self, database="app", schema="public"):
        q = quote_ident(schema) + ".alembic_version"
        out = self.sql("SELECT to_regclass({}) IS NOT NULL AS has \\gset\n\\if :has\n"
                       "SELECT version_num FROM {};\n\\endif\n".format(quote_literal(q), q), database)
        return sorted(line for line in out.splitlines() if line)

    def restore_backends(self, database="app"):
        """pids of the sessions dbsnap's restore runs (application_name dbsnap-restore)."""
        return self.rows("SELECT pid FROM pg_stat_activity WHERE application_name = 'dbsnap-restore';",
                         "postgres")

    def wait_no_restore_session(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.restore_backends():
                return True
            time.sleep(0.1)
        return False

    def processes(self, pattern):
        """Command lines of processes in the container whose command line contains pattern."""
        p = self.exec("sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done")
        return [line for line in p.stdout.splitlines() if pattern in line and "/proc/" not in line]

    def target(self, database="app", **extra):
        """The keys of a dbsnap target for this container."""
        keys = {"engine": "postgres", "container": self.name, "database": database}
        keys.update(extra)
        return keys


def pg_project(t, targets, name="proj"):
    """A project dir whose dbsnap.toml has `store = "snapshots"` and the given targets."""
    d = t.path(name)
    os.makedirs(d, exist_ok=True)
    lines = ['store = "snapshots"', ""]
    for tname, keys in targets.items():
        lines.append("[targets.{}]".format(tname))
        for k, v in keys.items():
            lines.append("{} = {}".format(k, v if isinstance(v, int) else toml_string(v)))
        lines.append("")
    with open(os.path.join(d, "dbsnap.toml"), "w") as f:
        f.write("\n".join(lines))
    return d


def store_dir(project):
    return os.path.join(project, "snapshots")


def published(project):
    """Every published blob or chunk list, and manifest, in the project's store."""
    found = []
    for d, _, files in os.walk(store_dir(project)):
        if os.path.basename(d) == ".scratch":
            continue
        found += [os.path.join(d, f) for f in files
                  if f.endswith((".zst", ".chunks", ".json")) and ".dbsnap-tmp" not in f]
    return sorted(found)


def fill_big_table(pg, table, megabytes, database="app"):
    """A table of about `megabytes` MB of dump text, made with generate_series in the container."""
    rows = megabytes * 1000 * 1000 // 140
    pg.sql("CREATE TABLE {} (id bigint PRIMARY KEY, a text, b text, n numeric);\n"
           "INSERT INTO {} SELECT g, md5(g::text) || md5((g * 7)::text), repeat(md5((g * 3)::text), 2), g * 1.5 "
           "FROM generate_series(1, {}) g;".format(table, table, rows), database, timeout=900)


def _parent_of(pid):
    """A process's parent pid, or None when it is gone."""
    try:
        with open("/proc/{}/stat".format(pid), "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[1].decode() if len(fields) > 1 else None


class Sampler:
    """Reads /proc/*/cmdline on the host, again and again in a thread, and keeps the distinct
    command lines seen (NUL-separated argv joined by spaces) of this test's own processes: this
    one's descendants (dbsnap and the docker CLI it starts) and those running in `container` (as
    the host sees them), not those of scenarios running beside it (ctest -j2), whose fixtures may
    put their own test passwords on a command line."""

    def __init__(self, container=None):
        self.seen = set()
        self.rounds = 0
        self._root = str(os.getpid())
        self._container_id = None
        if container:
            p = subprocess.run([DOCKER, "inspect", "-f", "{{.Id}}", container], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
            self._container_id = p.stdout.strip() or None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _ours(self, pid):
        if self._container_id:
            try:
                with open("/proc/{}/cgroup".format(pid)) as f:
                    if self._container_id in f.read():
                        return True
            except OSError:
                return False
        for _ in range(64):
            if pid == self._root:
                return True
            pid = _parent_of(pid)
            if pid is None or pid in ("0", "1"):
                return False
        return False

    def _run(self):
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/{}/cmdline".format(pid), "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if data and self._ours(pid):
                    self.seen.add(data.replace(b"\0", b" ").decode("utf-8", "replace"))
            self.rounds += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


class ContainerSampler:
    """The same inside a container: a shell loop over /proc/*/cmdline run with docker exec."""

    SCRIPT = ("while :; do for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < \"$f\" 2>/dev/null; echo; done; "
              "echo @@round; done")

    def __init__(self, container):
        self.container = container
        self.seen = set()
        self.rounds = 0
        self._proc = None
        self._thread = None

    def _run(self):
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            if line == "@@round":
                self.rounds += 1
            elif line:
                self.seen.add(line)

    def __enter__(self):
        self._proc = subprocess.Popen([DOCKER, "exec", "-i", self.container, "sh", "-c", self.SCRIPT],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True, errors="replace")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._proc.kill()
        self._proc.wait()
        subprocess.run([DOCKER, "exec", self.container, "pkill", "-f", "@@round"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self._thread.join(timeout=10)
        return False
