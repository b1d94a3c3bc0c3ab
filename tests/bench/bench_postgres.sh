#!/usr/bin/env bash
# bench_postgres.sh — dbsnap's PostgreSQL engine against the equivalent shell pipelines (not part of ctest).
#
#   tests/bench/bench_postgres.sh            # DBSNAP=path/to/dbsnap (default build/dbsnap)
#
# Starts a PostgreSQL container (tests/harness/dbctl), fills database `app` with generate_series
# until its dump is at least 250 MB, then takes the median of BENCH_RUNS (default 5) wall times of,
# interleaved (each run starts one variant further on: lib.sh's rotated):
#   backup   dbsnap backup (default level 1, the dump read from the docker daemon's socket; also
#            --level 3, and docker_api = false: through a docker exec client, reported beside it)
#                                                  vs  docker exec DB pg_dump ... > /dev/null
#                                                           vs  docker exec DB pg_dump ... | zstd -3 -T0 > f && sha256sum f
#   restore  dbsnap restore --no-safety-snapshot (checked as   vs  zstd -dc f | docker exec -i DB psql (into an
#            one transaction replacing the populated app; also      empty database, re-created untimed before each run)
#            docker_api = false), each after an untimed CHECKPOINT (autovacuum is off)
# and dbsnap's peak RSS (/usr/bin/time -f %M) over all runs. Prints medians and ratios with the
# targets (backup <= 1.10 x plain dump, <= 1.00 x dump|zstd|sha256sum; restore <= 1.05 x plain
# restore; RSS <= 64 MB). The container is removed at the end, whatever happens.
#
# Environment: DBSNAP, BENCH_RUNS, BENCH_LAYOUT (chunks, the default, or blob), BENCH_ROWS (default 1800000 rows of ~146 dump bytes), BENCH_MIN_MB (250),
# BENCH_CONTAINER (default dbsnap-pg-bench), DOCKER (default: docker on PATH, as dbsnap uses).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DBSNAP=${DBSNAP:-$ROOT/build/dbsnap}
HARNESS=$ROOT/tests/harness
NAME=${BENCH_CONTAINER:-dbsnap-pg-bench}
RUNS=${BENCH_RUNS:-5}
LAYOUT=${BENCH_LAYOUT:-chunks}
ROWS=${BENCH_ROWS:-1800000}
DOCKER=${DOCKER:-$(command -v docker)}
MIN_DUMP=$((${BENCH_MIN_MB:-250} * 1000 * 1000))
DUMP=(pg_dump --no-owner --no-privileges -U postgres -d app)

[[ -x $DBSNAP ]] || { echo "bench_postgres: $DBSNAP is not executable (set DBSNAP)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/dbsnap-bench-postgres.XXXXXX)
cleanup() {
    "$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=lib.sh
source "$ROOT/tests/bench/lib.sh"

sql() { "$DOCKER" exec -i "$NAME" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "${1:-app}" >/dev/null; }

log "== starting $NAME"
"$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
"$HARNESS/dbctl" start-postgres "$NAME" >/dev/null

# No autovacuum: the VACUUM it starts after each 300 MB load would run into the next timed run,
# whichever that is; every run here starts from a checkpointed, idle server instead.
echo "ALTER SYSTEM SET autovacuum = off; SELECT pg_reload_conf();" | sql postgres

log "== generating $ROWS rows"
t0=$(now)
sql <<EOF
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('bench01');
CREATE TABLE big (id bigint PRIMARY KEY, a text, b text, n numeric, at timestamptz);
INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text), repeat(md5((g * 3)::text), 2), g * 1.5,
                       '2024-01-01'::timestamptz + g * interval '1 second'
FROM generate_series(1, $ROWS) g;
CREATE INDEX big_n ON big (n);
CREATE TABLE small (id int PRIMARY KEY, name text);
INSERT INTO small SELECT g, 'n' || g FROM generate_series(1, 10000) g;
VACUUM ANALYZE;
EOF
dump_bytes=$("$DOCKER" exec "$NAME" "${DUMP[@]}" | wc -c)
log "   $(echo "$dump_bytes / 1000000" | bc) MB dump, generated in $(printf '%.0f' "$(elapsed "$t0")") s"
if ((dump_bytes < MIN_DUMP)); then
    echo "bench_postgres: the dump is only $dump_bytes bytes; raise BENCH_ROWS" >&2
    exit 1
fi

mkdir -p "$WORK/proj"
cat >"$WORK/proj/dbsnap.toml" <<EOF
snapshot_layout = "$LAYOUT"

[targets.bench]
engine = "postgres"
container = "$NAME"
database = "app"

# The same database through the docker CLI (a docker exec -i client relaying the dump).
[targets.bench_cli]
engine = "postgres"
container = "$NAME"
database = "app"
docker_cli = "$DOCKER"
docker_api = false
EOF


log "== backups ($RUNS runs each, interleaved)"
: >"$WORK/b_dbsnap"; : >"$WORK/b_dbsnap3"; : >"$WORK/b_dbsnap_cli"; : >"$WORK/b_dump"; : >"$WORK/b_zstd"
for ((r = 1; r <= RUNS; r++)); do
    for variant in $(rotated "$r" dbsnap dbsnap3 dbsnap_cli dump zstd); do
        case $variant in
        dbsnap*) timed_dbsnap_variant backup "$variant" ;;
        dump)
            t=$(now)
            "$DOCKER" exec "$NAME" "${DUMP[@]}" >/dev/null
            elapsed "$t" >>"$WORK/b_dump" ;;
        zstd)
            t=$(now)
            "$DOCKER" exec "$NAME" "${DUMP[@]}" | zstd -q -3 -T0 >"$WORK/f.sql.zst"
            sha256sum "$WORK/f.sql.zst" >/dev/null
            elapsed "$t" >>"$WORK/b_zstd" ;;
        esac
    done
    log "   run $r: dbsnap $(tail -n 1 "$WORK/b_dbsnap") s (--level 3: $(tail -n 1 "$WORK/b_dbsnap3") s, docker CLI: $(tail -n 1 "$WORK/b_dbsnap_cli") s), pg_dump $(tail -n 1 "$WORK/b_dump") s, pg_dump|zstd|sha256sum $(tail -n 1 "$WORK/b_zstd") s"
done
snapshot=$(fresh_snapshot)

log "== restores ($RUNS runs each, interleaved; dbsnap with --no-safety-snapshot)"
: >"$WORK/r_dbsnap"; : >"$WORK/r_dbsnap_cli"; : >"$WORK/r_plain"
for ((r = 1; r <= RUNS; r++)); do
    for variant in $(rotated "$r" dbsnap dbsnap_cli plain); do
        # Every timed restore starts after a CHECKPOINT (untimed): the shell pipeline's DROP DATABASE
        # forces one anyway, and without it a run pays for flushing the previous run's 300 MB.
        [[ $variant == plain ]] &&
            echo "SET client_min_messages = warning; DROP DATABASE IF EXISTS plain; CREATE DATABASE plain;" | sql postgres
        echo "CHECKPOINT;" | sql postgres
        case $variant in
        dbsnap*) timed_dbsnap_variant restore "$variant" "$snapshot" ;;
        plain)
            t=$(now)
            zstd -dc "$WORK/f.sql.zst" | "$DOCKER" exec -i "$NAME" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d plain >/dev/null
            elapsed "$t" >>"$WORK/r_plain" ;;
        esac
    done
    log "   run $r: dbsnap $(tail -n 1 "$WORK/r_dbsnap") s (docker CLI: $(tail -n 1 "$WORK/r_dbsnap_cli") s), zstd -dc | psql $(tail -n 1 "$WORK/r_plain") s"
done

report "PostgreSQL" "pg_dump" "zstd -dc f | psql (empty database)"
