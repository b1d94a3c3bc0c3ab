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
# and dbsnap's peak RSS (/usr/bin/time -f %M) over all runs; then what a second backup adds to the
# store after small changes (rows appended and the newest updated; 1,000 updates spread out). Prints medians and ratios with the
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
# shellcheck source=lib.sh
source "$ROOT/tests/bench/lib.sh"

sql() { "$DOCKER" exec -i "$NAME" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "${1:-app}" >/dev/null; }
plain_dump() { "$DOCKER" exec "$NAME" "${DUMP[@]}"; }
plain_restore() { "$DOCKER" exec -i "$NAME" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d plain >/dev/null; }
# Every timed restore starts after a CHECKPOINT (untimed): the shell pipeline's DROP DATABASE
# forces one anyway, and without it a run pays for flushing the previous run's 300 MB. The
# pipeline loads into an empty database, re-created here.
before_restore() {
    [[ $1 == plain ]] &&
        echo "SET client_min_messages = warning; DROP DATABASE IF EXISTS plain; CREATE DATABASE plain;" | sql postgres
    echo "CHECKPOINT;" | sql postgres
}

start_bench_container postgres

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
dump_bytes=$(plain_dump | wc -c)
log "   $(echo "$dump_bytes / 1000000" | bc) MB dump, generated in $(printf '%.0f' "$(elapsed "$t0")") s"
if ((dump_bytes < MIN_DUMP)); then
    echo "bench_postgres: the dump is only $dump_bytes bytes; raise BENCH_ROWS" >&2
    exit 1
fi

write_server_config postgres
run_server_backups pg_dump
snapshot=$(fresh_snapshot)
run_server_restores "zstd -dc | psql" "$snapshot"
report "PostgreSQL" "pg_dump" "zstd -dc f | psql (empty database)"
# Small changes, each followed by a backup into the first snapshot's store: new rows and the
# newest rows updated (what an application mostly does), then 1,000 updates spread over the table.
appended() {
    sql <<EOF
INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text), repeat(md5((g * 3)::text), 2), g * 1.5,
                       '2024-01-01'::timestamptz + g * interval '1 second'
FROM generate_series($ROWS + 1, $ROWS + 5000) g;
UPDATE big SET a = md5(random()::text) WHERE id > $ROWS - 1000;
EOF
}
scattered() { echo "UPDATE big SET a = md5(random()::text) WHERE id % ($ROWS / 1000) = 0;" | sql; }
small_changes "$snapshot" "5,000 rows added, the newest 1,000 updated:appended" \
    "1,000 rows updated, spread over the table:scattered"
