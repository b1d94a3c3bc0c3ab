"""MariaDB helpers for the tests/integration/test_mysql_*.py scenarios.

    from mysql_fixture import MariaDB, mysql_project
    db = MariaDB(t, "dbsnap-mysql-round-trip")      # dbctl start-mariadb; db.remove() in a finally
    db.sql("CREATE TABLE t (id INT PRIMARY KEY)", database="app")
    before = db.fingerprint("app")                   # every table's ordered checksum + revision + objects
    proj = mysql_project(t, {"dev": {"container": db.name, "database": "app"}})

SQL runs through `docker exec -i -e MYSQL_PWD NAME mariadb -uroot`: the password travels in the
environment, so a test that samples every process's argv for it finds only dbsnap's own processes.
"""

import hashlib
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(HERE, "..", "harness")
DOCKER = os.environ.get("DBSNAP_DOCKER") or ("/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker")
DBCTL = os.path.join(HARNESS, "dbctl")
ROOT_PASSWORD = "rootpw"


def docker(*args, input=None, timeout=300, env=None, check=False):
    p = subprocess.run([DOCKER] + [str(a) for a in args], input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError("docker {} failed ({}): {}".format(" ".join(map(str, args)), p.returncode,
                                                              p.stderr.decode("utf-8", "replace")))
    return p


def quote_id(name):
    return "`" + name.replace("`", "``") + "`"


def quote_str(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class SqlError(Exception):
    pass


class MariaDB:
    """A MariaDB container started with dbctl; remove() takes it away again."""

    def __init__(self, t, name, password=ROOT_PASSWORD, volume=False):
        self.t, self.name, self.password = t, name, password
        subprocess.run([DBCTL, "rm", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        argv = [DBCTL, "start-mariadb", name]
        if volume:
            argv.append("--volume")
        if password != ROOT_PASSWORD:
            argv += ["--root-password", password]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        t.require(p.returncode == 0, "dbctl start-mariadb {}".format(name), p.stderr.decode("utf-8", "replace"))

    def remove(self):
        subprocess.run([DBCTL, "rm", self.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # ---- SQL ----------------------------------------------------------------

    def client_argv(self, database=None, extra=(), user="root"):
        argv = ["exec", "-i", "-e", "MYSQL_PWD", self.name, "mariadb", "--user=" + user, "--batch",
                "--skip-column-names", "--default-character-set=utf8mb4"] + list(extra)
        if database:
            argv.append("--database=" + database)
        return argv

    def env(self, password=None):
        env = dict(os.environ)
        env["MYSQL_PWD"] = password if password is not None else self.password
        return env

    def run(self, sql, database=None, timeout=600, user="root", password=None):
        """Runs a script; returns (rc, stdout bytes, stderr text)."""
        data = sql.encode("utf-8") if isinstance(sql, str) else sql
        p = docker(*self.client_argv(database, user=user), input=data, timeout=timeout, env=self.env(password))
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")

    def sql(self, sql, database=None, timeout=600, user="root", password=None):
        """Runs a script and returns its rows (lists of str); raises SqlError on failure."""
        rc, out, err = self.run(sql, database, timeout, user, password)
        if rc != 0:
            raise SqlError(err.strip() or "exit {}".format(rc))
        rows = []
        for line in out.decode("utf-8", "replace").splitlines():
            rows.append(line.split("\t"))
        return rows

    def spawn(self, database=None):
        """A client session on a pipe (for transactions held open across steps)."""
        return subprocess.Popen([DOCKER] + self.client_argv(database, ["--unbuffered"]), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())

    def value(self, sql, database=None):
        rows = self.sql(sql, database)
        return rows[0][0] if rows else None

    def schemas(self):
        return sorted(r[0] for r in self.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"))

    def shadow_schemas(self):
        return [s for s in self.schemas() if "_dbsnap_" in s]

    def leftover_tables(self, database):
        return [r[0] for r in self.sql(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME LIKE "
            "'~dbsnap%'".format(quote_str(database)))]

    def revisions(self, database, table="alembic_version"):
        try:
            return sorted(r[0] for r in self.sql("SELECT version_num FROM {}.{}".format(quote_id(database),
                                                                                         quote_id(table))))
        except SqlError:
            return []

    def tables(self, database):
        return [r[0] for r in self.sql(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_TYPE = 'BASE TABLE' "
            "ORDER BY TABLE_NAME".format(quote_str(database)))]

    def fingerprint(self, database):
        """Every table's rows in primary-key order (hashed), the revision, and the names of the views,
        triggers, routines and events: equal fingerprints mean the same database content."""
        q = quote_str(database)
        listing = self.sql(
            "SELECT 't', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {0};\n"
            "SELECT 'k', TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = {0} "
            "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION;\n"
            "SELECT 'g', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {0};\n"
            "SELECT 'r', ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {0};\n"
            "SELECT 'e', EVENT_NAME, '' FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {0};\n".format(q))
        tables, views, keys, objects = [], [], {}, []
        for row in listing:
            if row[0] == "t":
                (views if row[2] == "VIEW" else tables).append(row[1])
            elif row[0] == "k":
                keys.setdefault(row[1], []).append(row[2])
            else:
                objects.append("/".join(row))
        h = hashlib.sha256()
        script = ""
        for table in sorted(tables):
            order = ", ".join(quote_id(c) for c in keys.get(table, [])) or "1"
            script += "SELECT '== {}';\nSELECT * FROM {}.{} ORDER BY {};\n".format(
                table.replace("'", "''"), quote_id(database), quote_id(table), order)
        if script:
            rc, out, err = self.run(script)
            if rc != 0:
                raise SqlError(err.strip() or "the fingerprint script exited {} without a message".format(rc))
            h.update(out)
        result = {"tables": sorted(tables), "views": sorted(views), "objects": sorted(objects),
                  "data": h.hexdigest(), "revisions": self.revisions(database)}
        return result

    def wait_for_query(self, pattern, timeout=60):
        """Waits until a query whose text contains `pattern` runs in the server; returns its id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.sql("SELECT ID, INFO FROM information_schema.PROCESSLIST WHERE INFO LIKE {} AND "
                            "INFO NOT LIKE '%PROCESSLIST%'".format(quote_str("%" + pattern + "%")))
            if rows:
                return rows[0][0]
            time.sleep(0.05)
        return None

    # ---- inside the container --------------------------------------------

    def exec(self, *argv, timeout=120):
        p = docker("exec", self.name, *argv, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def pids_of(self, program):
        """PIDs of processes named `program` inside the container."""
        rc, out, _ = self.exec("sh", "-c", "for p in /proc/[0-9]*; do "
                                           "[ \"$(cat $p/comm 2>/dev/null)\" = \"$0\" ] && echo ${p#/proc/}; done",
                               program)
        return [int(x) for x in out.split()]


def mysql_project(t, targets, name="proj"):
    """A project dir whose dbsnap.toml has mysql targets: name -> dict of keys (strings/ints)."""
    d = t.path(name)
    os.makedirs(d, exist_ok=True)
    lines = []
    for tname, keys in targets.items():
        lines.append("[targets.{}]".format(tname))
        lines.append('engine = "mysql"')
        for k, v in keys.items():
            if isinstance(v, bool):
                lines.append("{} = {}".format(k, "true" if v else "false"))
            elif isinstance(v, int):
                lines.append("{} = {}".format(k, v))
            else:
                lines.append('{} = "{}"'.format(k, v.replace("\\", "\\\\").replace('"', '\\"')))
        lines.append("")
    with open(os.path.join(d, "dbsnap.toml"), "w") as fh:
        fh.write("\n".join(lines))
    return d


def store_files(project):
    """Every file under the project's snapshot store (default store: snapshots/), but the store's
    bookkeeping that its first writing command creates and keeps for good: the per-target lock files
    under .locks/, .lock, catalog.db, and the repository's .repository-lock and index.db (read-only
    commands such as list create none of them)."""
    root = os.path.join(project, "snapshots")
    found = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not (d == root and x == ".locks")]
        found += [os.path.join(d, f) for f in files
                  if not (d == root and (f in (".lock", ".repository-lock") or f.startswith(("catalog.db", "index.db"))))]
    return sorted(found)


def blob_files(project):
    """The published dumps: blobs and chunk lists, one per snapshot."""
    return [f for f in store_files(project) if f.endswith((".zst", ".chunks"))]


def fill_big_table(db, database, table="big", rows_log2=17, payload=200):
    """A table of 2**rows_log2 rows of `payload` random-ish bytes each, made by doubling."""
    db.sql("CREATE TABLE {} (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR({}) NOT NULL) ENGINE=InnoDB;\n"
           "INSERT INTO {} (pad) VALUES (REPEAT(MD5(RAND()), {}));\n".format(
               quote_id(table), payload, quote_id(table), max(1, payload // 32)), database)
    for _ in range(rows_log2):
        db.sql("INSERT INTO {0} (pad) SELECT CONCAT(LEFT(pad, {1} - 32), MD5(RAND())) FROM {0};".format(
            quote_id(table), payload), database, timeout=900)
