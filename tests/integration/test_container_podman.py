#!/usr/bin/python3
"""runtime = "podman": the same PostgreSQL and MariaDB servers as the docker scenarios, run by
podman (rootful, --network none) from the harness image loaded out of docker. dbsnap drives them
through the podman CLI (`podman exec -i`, never the docker socket): a backup records the revision,
a restore brings back every table and the revision after data and revision changed, doctor reports
the podman runtime, the password given with password_env travels as `-e VAR` (its value in no argv),
and a stopped container is one clear line (exit 6) with nothing published."""

import os
import shutil
import subprocess
import sys

PODMAN = shutil.which("podman") or "/usr/bin/podman"
# The fixtures and dbctl run this CLI instead of docker.
os.environ["DBSNAP_DOCKER"] = PODMAN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, EXIT_RUNTIME  # noqa: E402
from mysql_fixture import MariaDB, mysql_project  # noqa: E402
from postgres_fixture import PgContainer, pg_project  # noqa: E402

HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(os.path.dirname(__file__), "..", "harness")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
PG_SECRET = "Pd-9Kx-podman-Pw"


def load_image(t):
    """Copies the harness image from docker into podman's storage (once; a few seconds)."""
    tag = subprocess.run([os.path.join(HARNESS, "docker-env.sh"), "image"], capture_output=True, text=True,
                         env=dict(os.environ, DBSNAP_DOCKER=DOCKER)).stdout.strip()
    t.require(bool(tag), "the harness image tag")
    if subprocess.run([PODMAN, "image", "inspect", tag], capture_output=True).returncode == 0:
        return
    save = subprocess.Popen([DOCKER, "save", tag], stdout=subprocess.PIPE)
    load = subprocess.run([PODMAN, "load"], stdin=save.stdout, capture_output=True, text=True, timeout=600)
    save.stdout.close()
    t.require(save.wait() == 0 and load.returncode == 0, "docker save | podman load " + tag, load.stderr)
    # podman files a docker archive's image under localhost/; dbctl asks for the bare tag.
    p = subprocess.run([PODMAN, "image", "inspect", tag], capture_output=True, text=True)
    t.require(p.returncode == 0, "podman finds " + tag, p.stderr)


def body(t):
    t.require(os.path.exists(PODMAN), "podman is installed (packaging/install-deps.sh --test)")
    load_image(t)

    with PgContainer(t, "podman", password=PG_SECRET) as pg:
        t.section("PostgreSQL under podman: backup, change, restore")
        ps = subprocess.run([PODMAN, "ps", "--format", "{{.Names}}"], capture_output=True, text=True)
        t.require(pg.name in ps.stdout.split(), "podman runs " + pg.name, ps.stdout + ps.stderr)
        docker_ps = subprocess.run([DOCKER, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True)
        t.check(pg.name not in docker_ps.stdout.split(), "docker knows no such container", docker_ps.stdout)
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('a1b2c3');"
               "CREATE TABLE item (id int PRIMARY KEY, name text, blob bytea);"
               "INSERT INTO item SELECT g, 'n' || g || ' é', decode(md5(g::text), 'hex') "
               "FROM generate_series(1, 5000) g;")
        before = pg.state()
        # Over TCP so that the password is really used; it travels as `podman exec -e PGPASSWORD`.
        proj = pg_project(t, {"pg": pg.target(runtime="podman", host="127.0.0.1", port=5432,
                                              password_env="PODMAN_PG_SECRET")})
        env = {"PODMAN_PG_SECRET": PG_SECRET}
        r = t.dbsnap(proj, "-v", "backup", "pg", "--json", env=env)
        t.require_eq(r.rc, 0, "backup through podman", r.errtext)
        snap = r.json()
        t.check_eq(snap["revisions"], ["a1b2c3"], "the revision is recorded")
        runs = [l for l in r.errtext.splitlines() if l.startswith("dbsnap: run")]
        t.check(any(l.startswith("dbsnap: run: PGPASSWORD=*** podman exec -i") and " -e PGPASSWORD " in l
                    and "pg_dump" in l for l in runs), "pg_dump runs through podman exec -i -e PGPASSWORD", runs)
        t.check(not any("docker" in l for l in runs), "no docker command and no docker socket", runs)
        t.check(PG_SECRET not in r.errtext + r.text, "the password is nowhere in the output")

        pg.sql("UPDATE alembic_version SET version_num = 'ffff00';"
               "DELETE FROM item WHERE id % 3 = 0; CREATE TABLE extra (x int);")
        t.check(pg.state() != before, "the database moved on")
        r = t.dbsnap(proj, "restore", snap["id"], "--yes", "--json", env=env)
        t.require_eq(r.rc, 0, "restore through podman", r.errtext)
        t.check_eq(pg.state(), before, "every table and the revision are back")

        t.section("doctor names the podman runtime")
        r = t.dbsnap(proj, "doctor", "pg", "--json", env=env)
        checks = {c["name"]: c for c in r.json()["checks"]} if r.text.strip().startswith("{") else {}
        t.check(checks.get("runtime", {}).get("level") == "ok" and "podman" in checks["runtime"]["detail"],
                "doctor: runtime ok, podman", r.text)
        t.check(" CLI" in checks.get("runtime", {}).get("detail", ""), "doctor: dumps stream through the podman CLI",
                r.text)

        t.section("a stopped container is one clear line, nothing published")
        subprocess.run([PODMAN, "stop", "-t", "2", pg.name], capture_output=True, timeout=60)
        r = t.dbsnap(proj, "backup", "pg", env=env)
        t.check_error(r, EXIT_RUNTIME, "backup of a stopped podman container", contains=("not running", "podman start"))
        t.check_eq(len(t.list_json(proj)), 2, "only the backup and the restore's safety snapshot are listed")

    db = MariaDB(t, "dbsnap-podman-mariadb")
    try:
        t.section("MariaDB under podman: backup, change, restore")
        db.sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('d4e5f6');"
               "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)) CHARACTER SET utf8mb4;"
               "INSERT INTO t VALUES (1, 'ünïcode'), (2, 'two');", "app")
        before = db.fingerprint("app")
        proj = mysql_project(t, {"m": {"runtime": "podman", "container": db.name, "database": "app",
                                       "password_from_container": "MYSQL_ROOT_PASSWORD"}}, name="mproj")
        r = t.dbsnap(proj, "backup", "m", "--json")
        t.require_eq(r.rc, 0, "backup through podman", r.errtext)
        t.check_eq(r.json()["revisions"], ["d4e5f6"], "the revision is recorded")
        db.sql("UPDATE alembic_version SET version_num = '000000'; DELETE FROM t WHERE id = 1;", "app")
        r2 = t.dbsnap(proj, "restore", r.json()["id"], "--yes", "--no-safety-snapshot")
        t.require_eq(r2.rc, 0, "restore through podman", r2.errtext)
        t.check_eq(db.fingerprint("app"), before, "the tables and the revision are back")
    finally:
        db.remove()


Test("container_podman").run(body)
