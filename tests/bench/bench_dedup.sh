#!/usr/bin/env bash
# Benchmark: store growth over successive snapshots of a SQLite app database
# (issue: Repository v2). Not part of the test suite; prints figures, asserts nothing.
#
# Workload "recent" (as measured in the issue): ROWS rows (default 1,000,000, ~85 MB), then
# SNAPS-1 changes (default 6 snapshots), each 5,000 new rows and 3,000 updates of the newest rows.
# Workload "scattered": each change updates 1 % of the rows, uniformly spread.
#
# Compared, on the very same database files:
#   - this build's dbsnap store (one zstd copy per snapshot): bytes added per snapshot
#   - Debian's restic (repository version 2, compression auto), `backup --stdin` of the file
#   - content-defined chunking (dbsnap_chunk_stats, each new chunk zstd -3 alone) for several
#     min/normal/max chunk sizes: the store Repository v2 is heading for, before pack overhead
#   - the same chunking of the SQL text (`sqlite3 .dump`), the shape MySQL/PostgreSQL dumps have
#
#   tests/bench/bench_dedup.sh [BUILD_DIR] [recent|scattered] [ROWS] [SNAPS]
set -euo pipefail
build=${1:-build}
workload=${2:-recent}
rows=${3:-1000000}
snaps=${4:-6}
dbsnap=$(realpath "$build/dbsnap")
stats=$(realpath "$build/tests/dbsnap_chunk_stats")
for tool in sqlite3 restic python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d /var/tmp/dbsnap-bench-dedup.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'snapshot_layout = "blob"\n[targets.app]\nengine = "sqlite"\nfile = "app.db"\n' > dbsnap.toml  # the zstd copy per snapshot

source "$here/sqlite_workload.sh"
make_db "$rows"

export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$work/restic RESTIC_CACHE_DIR=$work/restic-cache
restic init --repository-version 2 -q >/dev/null
du_bytes() { du -sb "$1" | cut -f1; }
printf '%-6s %14s %14s %14s\n' snap db_bytes dbsnap_store restic_repo
for ((s = 1; s <= snaps; s++)); do
  ((s > 1)) && change "$workload" "$s"
  cp app.db "snap$s.db"
  sqlite3 app.db .dump > "snap$s.sql"
  "$dbsnap" --quiet backup app >/dev/null
  restic backup -q --stdin --stdin-filename app.db < app.db >/dev/null
  printf '%-6s %14s %14s %14s\n' "$s" "$(stat -c %s app.db)" "$(du_bytes snapshots)" "$(du_bytes restic)"
done
echo
for sizes in "4096 16384 65536" "8192 32768 131072" "16384 65536 262144" "65536 262144 1048576" "262144 1048576 4194304"; do
  read -r min normal max <<<"$sizes"
  for kind in db sql; do
    files=()
    for ((s = 1; s <= snaps; s++)); do files+=("snap$s.$kind"); done
    echo "== chunking of the .$kind files: min $min, normal $normal, max $max"
    "$stats" --min "$min" --normal "$normal" --max "$max" "${files[@]}"
  done
done
