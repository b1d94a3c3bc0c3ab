#!/usr/bin/env bash
# Benchmark: `dbsnap backup` and `dbsnap cat` of a SQLite app database through the CLI, with the
# two snapshot layouts (blob: one zstd copy per snapshot; chunks: repository v2), against Debian's
# restic (`backup --stdin` / `dump` of the same file) and the bare copy (`sqlite3 .backup` to a file,
# what the dump costs without storing it). Not part of the test suite; prints figures, asserts
# nothing but that the two layouts' snapshots of each state read back as the same bytes.
#
# The same database, SNAPS successive states (sqlite_workload.sh), each state backed up once by
# each tool in turn (order rotated per snapshot); reported per snapshot: each store's size; then
# over snapshots 2..SNAPS: the median and the spread (min-max) of the wall time and the peak RSS,
# of the backups and of reading each snapshot back into /dev/null.
#
#   tests/bench/bench_layouts.sh [BUILD_DIR] [recent|scattered] [ROWS] [SNAPS]
set -euo pipefail
build=${1:-build}
workload=${2:-recent}
rows=${3:-1000000}
snaps=${4:-10}
dbsnap=$(realpath "$build/dbsnap")
for tool in restic python3 sqlite3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d /var/tmp/dbsnap-bench-layouts.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
source "$here/sqlite_workload.sh"
make_db "$rows"
mkdir blob chunks
printf 'snapshot_layout = "blob"\n[targets.app]\nengine = "sqlite"\nfile = "%s/app.db"\n' "$work" > blob/dbsnap.toml
printf 'snapshot_layout = "chunks"\n[targets.app]\nengine = "sqlite"\nfile = "%s/app.db"\n' "$work" > chunks/dbsnap.toml
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$work/restic-cache
restic init -q --repository-version 2 --repo restic >/dev/null
du_bytes() { du -sb "$1" | cut -f1; }
backup() {
  local s=$1 tool=$2
  case $tool in
    blob | chunks) measure "backup.$tool.$s" "$dbsnap" --quiet --config "$tool/dbsnap.toml" backup app ;;
    restic) measure "backup.restic.$s" sh -c "restic backup -q --repo restic --stdin --stdin-filename app.db < app.db" ;;
    copy) rm -f copy.db; measure "backup.copy.$s" sqlite3 app.db ".backup copy.db" ;;
  esac
}

printf '%-5s %11s %13s %13s %13s\n' snap db_bytes blob_store chunks_store restic_repo
tools=(blob chunks restic copy)
for ((s = 1; s <= snaps; s++)); do
  ((s > 1)) && change "$workload" "$s"
  for ((i = 0; i < ${#tools[@]}; i++)); do backup "$s" "${tools[$(((s + i) % ${#tools[@]}))]}"; done
  # Both layouts took the same state: their snapshots must read back as the same bytes.
  sha=$("$dbsnap" --config blob/dbsnap.toml cat latest | sha256sum | cut -c1-64)
  for layout in blob chunks; do
    got=$("$dbsnap" --config "$layout/dbsnap.toml" cat latest | sha256sum | cut -c1-64)
    [[ $got == "$sha" ]] || { echo "bench: the $layout snapshot $s reads back other bytes" >&2; exit 1; }
    measure "cat.$layout.$s" "$dbsnap" --config "$layout/dbsnap.toml" cat latest
  done
  measure "cat.restic.$s" restic dump -q --repo restic latest app.db
  printf '%-5s %11s %13s %13s %13s\n' "$s" "$(stat -c %s app.db)" "$(du_bytes blob/snapshots)" \
    "$(du_bytes chunks/snapshots)" "$(du_bytes restic)"
done
echo
echo "over snapshots 2..$snaps: median (min-max) wall time, peak RSS"
for op in backup cat; do
  for tool in blob chunks restic copy; do
    [[ -f "$op.$tool.2.times" ]] || continue
    cat $(for ((s = 2; s <= snaps; s++)); do echo "$op.$tool.$s.times"; done) > "$op.$tool.all.times"
    printf '%-6s %-7s %s\n' "$op" "$tool" "$(summary "$op.$tool.all")"
  done
done
