#!/usr/bin/env bash
# bench_growth.sh — store growth over successive snapshots of a MariaDB or PostgreSQL database of
# about 300 MB of dump, in both snapshot layouts, against Debian's restic (not part of ctest).
#
#   tests/bench/bench_growth.sh postgres|mysql [SNAPS]      # DBSNAP=path/to/dbsnap (default build/dbsnap)
#
# Starts a test container (tests/harness/dbctl), fills database `app` (a table `big` of
# BENCH_ROWS rows), then takes SNAPS snapshots (default 10) with a realistic change between them:
# 5,000 new rows and updates of 3,000 of the 20,000 newest, and, before the middle snapshot, a
# schema migration (a column added to `big`, the revision moved on). Each state is backed up, in
# an order rotated per snapshot, by:
#   chunks   dbsnap backup, snapshot_layout = "chunks" (the default)
#   blob     dbsnap backup, snapshot_layout = "blob" (one zstd file per snapshot: the release before)
#   restic   the engine's dump | restic backup --stdin (repository version 2, compression auto)
#   dump     the engine's dump > /dev/null (what the dump alone costs)
# Prints per snapshot the three stores' sizes, then over snapshots 2..SNAPS the median and
# min-max of the bytes each snapshot added, of the wall times and of the peak RSS. Asserts only
# that the chunked and the blob snapshot of each state hold the same dump (SHA-256).
#
# Environment: DBSNAP, BENCH_ROWS (postgres: default 1800000, mysql: 1700000; each ~300 MB of dump),
# DOCKER (default: docker on PATH, as dbsnap uses).
set -euo pipefail

ENGINE=${1:?usage: bench_growth.sh postgres|mysql [SNAPS]}
SNAPS=${2:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DBSNAP=${DBSNAP:-$ROOT/build/dbsnap}
HARNESS=$ROOT/tests/harness
DOCKER=${DOCKER:-$(command -v docker)}
NAME=dbsnap-growth-bench-$ENGINE
for tool in restic python3 /usr/bin/time bc; do
    command -v "$tool" >/dev/null || { echo "bench_growth: $tool is missing" >&2; exit 1; }
done
[[ -x $DBSNAP ]] || { echo "bench_growth: $DBSNAP is not executable (set DBSNAP)" >&2; exit 2; }
WORK=$(mktemp -d /var/tmp/dbsnap-bench-growth.XXXXXX)
cleanup() {
    "$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
# shellcheck source=sqlite_workload.sh
source "$ROOT/tests/bench/sqlite_workload.sh"  # measure, summary
log() { printf '%s\n' "$*" >&2; }

case $ENGINE in
postgres)
    ROWS=${BENCH_ROWS:-1800000}
    sql() { "$DOCKER" exec -i "$NAME" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d app >/dev/null; }
    dump() { "$DOCKER" exec "$NAME" pg_dump --no-owner --no-privileges -U postgres -d app; }
    target="engine = \"postgres\"\ncontainer = \"$NAME\"\ndatabase = \"app\""
    "$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
    "$HARNESS/dbctl" start-postgres "$NAME" >/dev/null
    sql <<EOF
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('growth01');
CREATE TABLE big (id bigint PRIMARY KEY, a text, b text, n numeric, at timestamptz);
INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text), repeat(md5((g * 3)::text), 2), g * 1.5,
                       '2024-01-01'::timestamptz + g * interval '1 second'
FROM generate_series(1, $ROWS) g;
EOF
    change() {
        sql <<EOF
INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text), repeat(md5(($1 * g)::text), 2), g * 1.5, now()
FROM generate_series((SELECT max(id) FROM big) + 1, (SELECT max(id) FROM big) + 5000) g;
UPDATE big SET b = md5(random()::text), n = n + 1
WHERE id IN (SELECT id FROM big WHERE id > (SELECT max(id) - 20000 FROM big) ORDER BY random() LIMIT 3000);
EOF
    }
    migrate() { echo "ALTER TABLE big ADD COLUMN note text; UPDATE alembic_version SET version_num = 'growth02';" | sql; }
    ;;
mysql)
    ROWS=${BENCH_ROWS:-1700000}
    export MYSQL_PWD=rootpw
    sql() { "$DOCKER" exec -i -e MYSQL_PWD "$NAME" mariadb -uroot app; }
    dump() { "$DOCKER" exec -e MYSQL_PWD "$NAME" mariadb-dump -uroot --single-transaction --quick app; }
    target="engine = \"mysql\"\ncontainer = \"$NAME\"\ndatabase = \"app\"\npassword_env = \"MYSQL_PWD\""
    "$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
    "$HARNESS/dbctl" start-mariadb "$NAME" >/dev/null
    sql <<EOF
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('growth01');
CREATE TABLE big (id BIGINT PRIMARY KEY, a VARCHAR(64), b VARCHAR(128), n DECIMAL(20,2), at DATETIME);
INSERT INTO big SELECT seq, CONCAT(MD5(seq), MD5(seq * 7)), REPEAT(MD5(seq * 3), 2), seq * 1.5,
                       '2024-01-01' + INTERVAL seq SECOND FROM seq_1_to_$ROWS;
EOF
    change() {
        sql <<EOF
SET @top = (SELECT MAX(id) FROM big);
INSERT INTO big (id, a, b, n, at) SELECT @top + seq, CONCAT(MD5(@top + seq), MD5((@top + seq) * 7)), REPEAT(MD5($1 * seq), 2),
                       seq * 1.5, NOW() FROM seq_1_to_5000;
UPDATE big SET b = MD5(RAND()), n = n + 1 WHERE id > @top + 5000 - 20000 ORDER BY RAND() LIMIT 3000;
EOF
    }
    migrate() { echo "ALTER TABLE big ADD COLUMN note TEXT; UPDATE alembic_version SET version_num = 'growth02';" | sql; }
    ;;
*) echo "bench_growth: engine must be postgres or mysql" >&2; exit 2 ;;
esac

mkdir chunks blob
printf "snapshot_layout = \"chunks\"\n[targets.app]\n$target\n" >chunks/dbsnap.toml
printf "snapshot_layout = \"blob\"\n[targets.app]\n$target\n" >blob/dbsnap.toml
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$WORK/restic-cache
restic init -q --repository-version 2 --repo restic >/dev/null
du_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }
backup() {
    local s=$1 tool=$2
    case $tool in
    chunks | blob) measure "backup.$tool.$s" "$DBSNAP" --quiet --config "$tool/dbsnap.toml" backup app ;;
    restic) measure "backup.restic.$s" bash -c "$(declare -f dump); NAME=$NAME DOCKER=$DOCKER; dump | restic backup -q --repo restic --stdin --stdin-filename app.sql" ;;
    dump) measure "backup.dump.$s" bash -c "$(declare -f dump); NAME=$NAME DOCKER=$DOCKER; dump >/dev/null" ;;
    esac
}

log "== $ENGINE: $(dump | wc -c | awk '{printf "%.0f MB", $1 / 1e6}') of dump; $SNAPS snapshots"
printf '%-5s %13s %13s %13s\n' snap chunks_store blob_store restic_repo
tools=(chunks blob restic dump)
for ((s = 1; s <= SNAPS; s++)); do
    ((s > 1)) && change "$s"
    ((s == SNAPS / 2 + 1)) && migrate
    for ((i = 0; i < ${#tools[@]}; i++)); do backup "$s" "${tools[$(((s + i) % ${#tools[@]}))]}"; done
    # The two backups ran at different moments of the same state: the same dump, but for
    # mariadb-dump's completion time and pg_dump's random \restrict key. Compare without them.
    same() { grep -v -e '^-- Dump completed' -e '^\\restrict ' -e '^\\unrestrict ' | sha256sum | cut -c1-64; }
    a=$("$DBSNAP" --config chunks/dbsnap.toml cat latest | same)
    b=$("$DBSNAP" --config blob/dbsnap.toml cat latest | same)
    [[ $a == "$b" ]] || { echo "bench_growth: snapshot $s: the two layouts hold different dumps" >&2; exit 1; }
    printf '%-5s %13s %13s %13s\n' "$s" "$(du_bytes chunks/snapshots)" "$(du_bytes blob/snapshots)" "$(du_bytes restic)" |
        tee -a sizes.txt
done

echo
python3 - "$SNAPS" <<'PY'
import statistics, sys
snaps = int(sys.argv[1])
rows = [list(map(int, l.split())) for l in open("sizes.txt")]
for col, name in ((1, "chunks"), (2, "blob"), (3, "restic")):
    added = [rows[i][col] - rows[i - 1][col] for i in range(1, len(rows))]
    print("%-7s total %7.1f MB; each snapshot after the first adds %6.2f MB median (%.2f-%.2f)" % (
        name, rows[-1][col] / 1e6, statistics.median(added) / 1e6, min(added) / 1e6, max(added) / 1e6))
PY
echo "over snapshots 2..$SNAPS: median (min-max) wall time, peak RSS"
for tool in chunks blob restic dump; do
    cat $(for ((s = 2; s <= SNAPS; s++)); do echo "backup.$tool.$s.times"; done) >"backup.$tool.all.times"
    printf 'backup %-7s %s\n' "$tool" "$(summary "backup.$tool.all")"
done
