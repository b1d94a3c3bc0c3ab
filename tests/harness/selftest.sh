#!/usr/bin/env bash
# shellcheck disable=SC2016 # $VARs in single quotes are expanded inside the containers
# selftest.sh — check the harness end to end (about 20 s once the image exists).
# Uses its own container names (prefix dbsnap-selftest-) and removes only those; never `dbctl down`.
set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HARNESS_DIR/lib.sh"
DOCKER=$(harness_docker)
DBCTL=$HARNESS_DIR/dbctl
P=dbsnap-selftest
NAMES=("$P-app" "$P-lone" "$P-m" "$P-p" "$P-mv" "$P-pv")

fail() { echo "selftest: FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
cleanup() { "$DBCTL" rm "${NAMES[@]}" || true; }
trap cleanup EXIT

tag=$("$HARNESS_DIR/docker-env.sh" ensure | tail -n 1)
ok "image $tag (client $DOCKER: $("$DOCKER" version --format 'client {{.Client.Version}} / daemon {{.Server.Version}}, API {{.Server.APIVersion}}'))"
cleanup

t0=$SECONDS
"$DBCTL" start-mariadb "$P-m"
"$DBCTL" start-postgres "$P-p"
"$DBCTL" start-mariadb "$P-mv" --volume --root-password "s3'cr\"et"
"$DBCTL" start-postgres "$P-pv" --volume --password "p'w"
ok "four servers up in $((SECONDS - t0)) s"

[[ $("$DOCKER" exec -i "$P-m" mariadb -uroot -prootpw app -N -e 'select 1') == 1 ]] || fail "mariadb query"
[[ $("$DOCKER" exec -i "$P-p" psql -U postgres app -tAc 'select 1') == 1 ]] || fail "psql query"
[[ $("$DOCKER" exec -i "$P-mv" sh -c 'mariadb -uroot -p"$MYSQL_ROOT_PASSWORD" app -N -e "select 1"') == 1 ]] ||
    fail "mariadb query with the password from the container env"
[[ $("$DOCKER" exec -i "$P-pv" sh -c 'PGPASSWORD=$POSTGRES_PASSWORD psql -h 127.0.0.1 -U postgres app -tAc "select 1"') == 1 ]] ||
    fail "psql over TCP with the password from the container env"
if "$DOCKER" exec -i "$P-m" mariadb -uroot app -e 'select 1' >/dev/null 2>&1; then fail "mariadb root without password"; fi
if "$DOCKER" exec -i "$P-p" sh -c 'PGPASSWORD=wrong psql -h 127.0.0.1 -U postgres app -c "select 1"' >/dev/null 2>&1; then
    fail "postgres TCP with a wrong password"
fi
ok "queries over socket and TCP, passwords enforced"

"$DOCKER" exec -i "$P-m" mariadb -uroot -prootpw app -e "create table t (id int primary key, s varchar(20)); insert into t values (1, 'héllo')"
"$DOCKER" exec -i "$P-p" psql -q -U postgres app -c "create table t (id int primary key, s text); insert into t values (1, 'héllo')"
"$DOCKER" exec -i "$P-m" mariadb-dump -uroot -prootpw --single-transaction app | tail -n 1 | grep -q '^-- Dump completed' ||
    fail "mariadb-dump trailer"
"$DOCKER" exec -i "$P-p" pg_dump -U postgres app | grep -q '^-- PostgreSQL database dump complete' || fail "pg_dump trailer"
"$DOCKER" exec -i "$P-m" sqlite3 /tmp/x.db 'create table a(b); insert into a values (1); select count(*) from a;' | grep -qx 1 ||
    fail "sqlite3"
ok "mariadb-dump, pg_dump, sqlite3"

mounts() { "$DOCKER" inspect -f '{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}' "$1"; }
[[ -z $(mounts "$P-m") && -z $(mounts "$P-p") ]] || fail "no-volume containers have mounts"
[[ $(mounts "$P-mv") == "$P-mv-data:/var/lib/mysql " ]] || fail "mariadb volume mount: $(mounts "$P-mv")"
[[ $(mounts "$P-pv") == "$P-pv-data:/var/lib/postgresql " ]] || fail "postgres volume mount: $(mounts "$P-pv")"
ok "volume / no-volume mounts"

"$DBCTL" start-shell "$P-app" --network-of "$P-m"
"$DBCTL" start-shell "$P-lone"
[[ $("$DOCKER" inspect -f '{{.HostConfig.NetworkMode}}' "$P-lone") == none ]] || fail "shell network mode"
"$DOCKER" exec -i "$P-app" python3 -c '
import pymysql
c = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="rootpw", database="app")
cur = c.cursor(); cur.execute("select s from t"); assert cur.fetchall() == (("héllo",),)' ||
    fail "pymysql from a container sharing the network namespace"
if "$DOCKER" exec -i "$P-lone" python3 -c 'import socket; socket.create_connection(("127.0.0.1", 3306), 2)' 2>/dev/null; then
    fail "an isolated container reached 3306"
fi
ok "--network container:X reaches 127.0.0.1:3306; --network none does not"

"$DOCKER" restart "$P-p" >/dev/null
"$DBCTL" wait "$P-p"
[[ $("$DOCKER" exec -i "$P-p" psql -U postgres app -tAc 'select s from t') == héllo ]] || fail "data after restart"
ok "restart keeps data"

cleanup
for n in "${NAMES[@]}"; do
    if "$DOCKER" container inspect "$n" >/dev/null 2>&1 || "$DOCKER" volume inspect "$n-data" >/dev/null 2>&1; then
        fail "$n left behind"
    fi
done
ok "rm removed containers and volumes"
echo "selftest: all passed"
