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
# and dbsnap's peak RSS (/usr/bin/time -f %M) over all runs; then what a second backup adds to the
# store after small changes (rows appended and the newest updated; 1,000 updates spread out). Prints medians and ratios with the
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
# shellcheck source=lib.sh
source "$ROOT/tests/bench/lib.sh"
export MYSQL_PWD=rootpw  # the test server's password; reaches the container through `docker exec -e MYSQL_PWD`

sql() { "$DOCKER" exec -i -e MYSQL_PWD "$NAME" mariadb -uroot --batch --skip-column-names app; }
plain_dump() { "$DOCKER" exec -e MYSQL_PWD "$NAME" mariadb-dump -uroot "${FLAGS[@]}" app; }
plain_restore() { "$DOCKER" exec -i -e MYSQL_PWD "$NAME" mariadb -uroot app; }
before_restore() { :; }

start_bench_container mariadb

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
dump_bytes=$(plain_dump | wc -c)
log "   $(echo "$dump_bytes / 1000000" | bc) MB dump, generated in $(printf '%.0f' "$(elapsed "$t0")") s"
if ((dump_bytes < MIN_DUMP)); then
    echo "bench_mysql: the dump is only $dump_bytes bytes; raise BENCH_ROWS_LOG2" >&2
    exit 1
fi

write_server_config mysql 'password_env = "MYSQL_PWD"'
run_server_backups mariadb-dump
snapshot=$(fresh_snapshot)
run_server_restores "zstd -dc | mariadb" "$snapshot"
report "MariaDB" "mariadb-dump" "zstd -dc f | mariadb"
# Small changes, each followed by a backup into the first snapshot's store: new rows and the
# newest rows updated (what an application mostly does), then 1,000 updates spread over the table.
appended() {
    echo "INSERT INTO big (pad, n, at) SELECT CONCAT(LEFT(pad, 160), MD5(RAND()), MD5(id)), FLOOR(RAND() * 1e12), NOW()
          FROM big ORDER BY id DESC LIMIT 5000;
          UPDATE big SET n = FLOOR(RAND() * 1e12) ORDER BY id DESC LIMIT 1000;" | sql
}
scattered() {
    local step
    step=$(echo "SELECT MAX(id) DIV 1000 FROM big;" | sql)
    echo "UPDATE big SET n = FLOOR(RAND() * 1e12) WHERE id % $step = 0;" | sql
}
small_changes "$snapshot" "5,000 rows added, the newest 1,000 updated:appended" \
    "1,000 rows updated, spread over the table:scattered"
