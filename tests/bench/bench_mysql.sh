#!/usr/bin/env bash
# bench_mysql.sh — dbsnap's MySQL engine against the equivalent shell pipelines (not part of ctest).
#
#   tests/bench/bench_mysql.sh            # DBSNAP=path/to/dbsnap (default build/dbsnap)
#
# Starts a MariaDB container (tests/harness/dbctl), fills database `app` until its dump is at
# least 250 MB (INSERT ... SELECT doubling, inside the server), then takes the median of
# BENCH_RUNS (default 5) wall times of, interleaved (each run starts one variant further on):
#   backup   dbsnap backup (default level 1, the dump read from the docker daemon's socket; also
#            --level 3, and docker_api = false: through a docker exec client, reported beside it)
#                                                           vs  docker exec DB mariadb-dump ... > /dev/null
#                                                           vs  docker exec DB mariadb-dump ... | zstd -3 -T0 > f && sha256sum f
#   restore  dbsnap restore --no-safety-snapshot (checked as   vs  zstd -dc f | docker exec -i DB mariadb app
#            load into the shadow schema, swap)
# and dbsnap's peak RSS (/usr/bin/time -f %M) over all runs. Prints medians and ratios with the
# targets (backup <= 1.10 x plain dump, <= 1.00 x dump|zstd|sha256sum; restore <= 1.05 x plain
# restore; RSS <= 64 MB). The container is removed at the end, whatever happens.
#
# Environment: DBSNAP, BENCH_RUNS, BENCH_LAYOUT (chunks, the default, or blob), BENCH_ROWS_LOG2 (default 20: 2^20 rows of ~270 bytes), BENCH_MIN_MB (250),
# BENCH_CONTAINER (default dbsnap-mysql-bench), DOCKER (default: docker on PATH, as dbsnap uses).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DBSNAP=${DBSNAP:-$ROOT/build/dbsnap}
HARNESS=$ROOT/tests/harness
NAME=${BENCH_CONTAINER:-dbsnap-mysql-bench}
RUNS=${BENCH_RUNS:-5}
LAYOUT=${BENCH_LAYOUT:-chunks}
ROWS_LOG2=${BENCH_ROWS_LOG2:-20}
DOCKER=${DOCKER:-$(command -v docker)}
MIN_DUMP=$((${BENCH_MIN_MB:-250} * 1000 * 1000))
FLAGS=(--single-transaction --quick --routines --triggers --events --hex-blob --default-character-set=utf8mb4
       --no-tablespaces --max-allowed-packet=1G)

[[ -x $DBSNAP ]] || { echo "bench_mysql: $DBSNAP is not executable (set DBSNAP)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/dbsnap-bench-mysql.XXXXXX)
cleanup() {
    "$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=lib.sh
source "$ROOT/tests/bench/lib.sh"
export MYSQL_PWD=rootpw  # the test server's password; reaches the container through `docker exec -e MYSQL_PWD`

sql() { "$DOCKER" exec -i -e MYSQL_PWD "$NAME" mariadb -uroot --batch --skip-column-names app; }

log "== starting $NAME"
"$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
"$HARNESS/dbctl" start-mariadb "$NAME" >/dev/null

log "== generating 2^$ROWS_LOG2 rows"
t0=$(now)
sql <<'EOF'
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('bench01');
CREATE TABLE big (
  id INT AUTO_INCREMENT PRIMARY KEY,
  pad VARCHAR(255) NOT NULL,
  n BIGINT NOT NULL,
  at DATETIME NOT NULL,
  KEY (n)
) ENGINE=InnoDB;
INSERT INTO big (pad, n, at) VALUES (REPEAT(MD5(RAND()), 7), FLOOR(RAND() * 1e12), NOW());
EOF
for ((i = 0; i < ROWS_LOG2; i++)); do
    echo "INSERT INTO big (pad, n, at) SELECT CONCAT(LEFT(pad, 160), MD5(RAND()), MD5(id)), FLOOR(RAND() * 1e12),
          at - INTERVAL id SECOND FROM big;" | sql
done
echo "CREATE TABLE small (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO small SELECT seq, CONCAT('n', seq)
      FROM seq_1_to_10000;" | sql
dump_bytes=$("$DOCKER" exec -e MYSQL_PWD "$NAME" mariadb-dump -uroot "${FLAGS[@]}" app | wc -c)
log "   $(echo "$dump_bytes / 1000000" | bc) MB dump, generated in $(printf '%.0f' "$(elapsed "$t0")") s"
if ((dump_bytes < MIN_DUMP)); then
    echo "bench_mysql: the dump is only $dump_bytes bytes; raise BENCH_ROWS_LOG2" >&2
    exit 1
fi

mkdir -p "$WORK/proj"
cat >"$WORK/proj/dbsnap.toml" <<EOF
snapshot_layout = "$LAYOUT"

[targets.bench]
engine = "mysql"
container = "$NAME"
database = "app"
password_env = "MYSQL_PWD"

# The same database through the docker CLI (a docker exec -i client relaying the dump).
[targets.bench_cli]
engine = "mysql"
container = "$NAME"
database = "app"
password_env = "MYSQL_PWD"
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
            "$DOCKER" exec -e MYSQL_PWD "$NAME" mariadb-dump -uroot "${FLAGS[@]}" app >/dev/null
            elapsed "$t" >>"$WORK/b_dump" ;;
        zstd)
            t=$(now)
            "$DOCKER" exec -e MYSQL_PWD "$NAME" mariadb-dump -uroot "${FLAGS[@]}" app | zstd -q -3 -T0 >"$WORK/f.sql.zst"
            sha256sum "$WORK/f.sql.zst" >/dev/null
            elapsed "$t" >>"$WORK/b_zstd" ;;
        esac
    done
    log "   run $r: dbsnap $(tail -n 1 "$WORK/b_dbsnap") s (--level 3: $(tail -n 1 "$WORK/b_dbsnap3") s, docker CLI: $(tail -n 1 "$WORK/b_dbsnap_cli") s), dump $(tail -n 1 "$WORK/b_dump") s, dump|zstd|sha256sum $(tail -n 1 "$WORK/b_zstd") s"
done
snapshot=$(fresh_snapshot)

log "== restores ($RUNS runs each, interleaved; dbsnap with --no-safety-snapshot)"
: >"$WORK/r_dbsnap"; : >"$WORK/r_dbsnap_cli"; : >"$WORK/r_plain"
for ((r = 1; r <= RUNS; r++)); do
    for variant in $(rotated "$r" dbsnap dbsnap_cli plain); do
        case $variant in
        dbsnap*) timed_dbsnap_variant restore "$variant" "$snapshot" ;;
        plain)
            t=$(now)
            zstd -dc "$WORK/f.sql.zst" | "$DOCKER" exec -i -e MYSQL_PWD "$NAME" mariadb -uroot app
            elapsed "$t" >>"$WORK/r_plain" ;;
        esac
    done
    log "   run $r: dbsnap $(tail -n 1 "$WORK/r_dbsnap") s (docker CLI: $(tail -n 1 "$WORK/r_dbsnap_cli") s), zstd -dc | mariadb $(tail -n 1 "$WORK/r_plain") s"
done

report "MariaDB" "mariadb-dump" "zstd -dc f | mariadb"
