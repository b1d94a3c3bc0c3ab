#!/usr/bin/env bash
# bench_postgres.sh — dbsnap's PostgreSQL engine against the equivalent shell pipelines (not part of ctest).
#
#   tests/bench/bench_postgres.sh            # DBSNAP=path/to/dbsnap (default build/dbsnap)
#
# Starts a PostgreSQL container (tests/harness/dbctl), fills database `app` with generate_series
# until its dump is at least 250 MB, then takes the median of BENCH_RUNS (default 5) wall times of,
# interleaved:
#   backup   dbsnap backup                                  vs  docker exec DB pg_dump ... > /dev/null
#                                                           vs  docker exec DB pg_dump ... | zstd -3 -T0 > f && sha256sum f
#   restore  dbsnap restore --no-safety-snapshot (verify,   vs  zstd -dc f | docker exec -i DB psql (into an
#            one transaction replacing the populated app)       empty database, re-created untimed before each run)
# and dbsnap's peak RSS (/usr/bin/time -f %M) over all runs. Prints medians and ratios with the
# targets (backup <= 1.10 x plain dump, <= 1.00 x dump|zstd|sha256sum; restore <= 1.05 x plain
# restore; RSS <= 64 MB). The container is removed at the end, whatever happens.
#
# Environment: DBSNAP, BENCH_RUNS, BENCH_ROWS (default 1800000 rows of ~146 dump bytes), BENCH_MIN_MB (250),
# BENCH_CONTAINER (default dbsnap-pg-bench), DOCKER (default: docker on PATH, as dbsnap uses).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DBSNAP=${DBSNAP:-$ROOT/build/dbsnap}
HARNESS=$ROOT/tests/harness
NAME=${BENCH_CONTAINER:-dbsnap-pg-bench}
RUNS=${BENCH_RUNS:-5}
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

log() { printf '%s\n' "$*" >&2; }
sql() { "$DOCKER" exec -i "$NAME" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "${1:-app}" >/dev/null; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { echo "scale=3; $1 / $2" | bc -l; }

log "== starting $NAME"
"$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
"$HARNESS/dbctl" start-postgres "$NAME" >/dev/null

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
[targets.bench]
engine = "postgres"
container = "$NAME"
database = "app"
docker_cli = "$DOCKER"
EOF

rss_max=0
timed_dbsnap() { # timed_dbsnap ARGS... -> prints seconds; tracks the peak RSS
    local t rss
    t=$(now)
    /usr/bin/time -f %M -o "$WORK/rss" "$DBSNAP" --config "$WORK/proj/dbsnap.toml" "$@" >"$WORK/out" 2>"$WORK/err" ||
        { cat "$WORK/err" >&2; exit 1; }
    elapsed "$t"
    rss=$(tail -n 1 "$WORK/rss")
    ((rss > rss_max)) && rss_max=$rss
    return 0
}

log "== backups ($RUNS runs each, interleaved)"
: >"$WORK/b_dbsnap"; : >"$WORK/b_dump"; : >"$WORK/b_zstd"
for ((r = 1; r <= RUNS; r++)); do
    timed_dbsnap backup bench >>"$WORK/b_dbsnap"
    t=$(now)
    "$DOCKER" exec "$NAME" "${DUMP[@]}" >/dev/null
    elapsed "$t" >>"$WORK/b_dump"
    t=$(now)
    "$DOCKER" exec "$NAME" "${DUMP[@]}" | zstd -q -3 -T0 >"$WORK/f.sql.zst"
    sha256sum "$WORK/f.sql.zst" >/dev/null
    elapsed "$t" >>"$WORK/b_zstd"
    log "   run $r: dbsnap $(tail -n 1 "$WORK/b_dbsnap") s, pg_dump $(tail -n 1 "$WORK/b_dump") s, pg_dump|zstd|sha256sum $(tail -n 1 "$WORK/b_zstd") s"
done
snapshot=$("$DBSNAP" --config "$WORK/proj/dbsnap.toml" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

log "== restores ($RUNS runs each, interleaved; dbsnap with --no-safety-snapshot)"
: >"$WORK/r_dbsnap"; : >"$WORK/r_plain"
for ((r = 1; r <= RUNS; r++)); do
    timed_dbsnap restore "$snapshot" --yes --no-safety-snapshot >>"$WORK/r_dbsnap"
    echo "SET client_min_messages = warning; DROP DATABASE IF EXISTS plain; CREATE DATABASE plain;" | sql postgres
    t=$(now)
    zstd -dc "$WORK/f.sql.zst" | "$DOCKER" exec -i "$NAME" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d plain >/dev/null
    elapsed "$t" >>"$WORK/r_plain"
    log "   run $r: dbsnap $(tail -n 1 "$WORK/r_dbsnap") s, zstd -dc | psql $(tail -n 1 "$WORK/r_plain") s"
done

log "== dbsnap verify of the snapshot (part of every restore: the CLI checks the blob before anything)"
: >"$WORK/v_dbsnap"
for ((r = 1; r <= RUNS; r++)); do timed_dbsnap verify "$snapshot" >>"$WORK/v_dbsnap"; done

b_dbsnap=$(median <"$WORK/b_dbsnap"); b_dump=$(median <"$WORK/b_dump"); b_zstd=$(median <"$WORK/b_zstd")
r_dbsnap=$(median <"$WORK/r_dbsnap"); r_plain=$(median <"$WORK/r_plain"); v_dbsnap=$(median <"$WORK/v_dbsnap")
rss_mb=$(echo "scale=1; $rss_max / 1024" | bc -l)
printf '\nPostgreSQL, %s MB dump, medians of %s runs\n' "$(echo "$dump_bytes / 1000000" | bc)" "$RUNS"
printf '  %-44s %8.2f s\n' "dbsnap backup" "$b_dbsnap" "pg_dump > /dev/null" "$b_dump" \
    "pg_dump | zstd -3 -T0 > f && sha256sum f" "$b_zstd" "dbsnap restore --no-safety-snapshot" "$r_dbsnap" \
    "zstd -dc f | psql (empty database)" "$r_plain" "  of dbsnap restore: the upfront verify" "$v_dbsnap"
printf '  %-44s %8s x   (target <= 1.10)\n' "backup / plain dump" "$(ratio "$b_dbsnap" "$b_dump")"
printf '  %-44s %8s x   (target <= 1.00)\n' "backup / dump|zstd|sha256sum" "$(ratio "$b_dbsnap" "$b_zstd")"
printf '  %-44s %8s x   (target <= 1.05)\n' "restore / zstd -dc | psql" "$(ratio "$r_dbsnap" "$r_plain")"
printf '  %-44s %8s MB  (target <= 64)\n' "dbsnap peak RSS" "$rss_mb"
