#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/CMakeLists.txt, with clang) and runs each one
# for $DBSNAP_FUZZ_SECONDS seconds (default 5) from its seed corpus in tests/fuzz/corpus/<name>/ (revision_file also
# from the Alembic revision files of tests/fixtures, rather than copies of them).
# A crash, a sanitizer report or a broken FUZZ_CHECK fails the run; the input that caused it is
# kept as BUILD_DIR/artifacts/<name>-crash-* (reproduce: BUILD_DIR/fuzz_<name> FILE).
#
#   tests/fuzz/run_fuzzers.sh [BUILD_DIR] [TARGET...]     (default build/fuzz, every target)
#
# Environment: DBSNAP_FUZZ_SECONDS (per target), DBSNAP_FUZZ_CXX (clang++ to use, default the
# newest clang++-NN >= 19 on PATH), DBSNAP_FUZZ_JOBS (build parallelism, default 2),
# DBSNAP_FUZZ_PARALLEL (targets run at once, default 2).
# New inputs the fuzzer finds go to BUILD_DIR/corpus/<name>/, never into the source tree.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/fuzz}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(config manifest reference revision_file)
seconds=${DBSNAP_FUZZ_SECONDS:-5}

cxx=${DBSNAP_FUZZ_CXX:-}
if [[ -z "$cxx" ]]; then
  for v in 22 21 20 19; do
    if command -v "clang++-$v" >/dev/null; then cxx=$(command -v "clang++-$v"); break; fi
  done
fi
if [[ -z "$cxx" ]]; then
  echo "run_fuzzers: no clang++ 19 or newer found; install clang-19 and libclang-rt-19-dev" \
       "(packaging/install-deps.sh --test)" >&2
  exit 1
fi

mkdir -p "$build"
build=$(cd "$build" && pwd)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; exit 1; }
fi
echo "run_fuzzers: building with $cxx in $build"
started=$(date +%s)
cmake --build "$build" -j"${DBSNAP_FUZZ_JOBS:-2}" >"$build/build.log" 2>&1 || { tail -50 "$build/build.log" >&2; exit 1; }
echo "run_fuzzers: built in $(($(date +%s) - started)) s; running each target for ${seconds} s"

# Targets run DBSNAP_FUZZ_PARALLEL at a time (default 2: one per core of the CI machine).
parallel=${DBSNAP_FUZZ_PARALLEL:-2}
run_target() {
  local name=$1 seeds="$here/corpus/$1" work="$build/corpus/$1"
  mkdir -p "$work"
  local extra=()
  # The real Alembic and Flask-Migrate revision files of the test fixtures seed revision_file too.
  [[ $name == revision_file ]] && extra=("$here/../fixtures/alembic/branched/versions"
                                         "$here/../fixtures/flaskapp/migrations/versions")
  local args=("$build/fuzz_$name" "$work" "$seeds" "${extra[@]}" -max_total_time="$seconds" -timeout=10
              -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-")
  [[ -f "$here/dict/$name.dict" ]] && args+=(-dict="$here/dict/$name.dict")
  "${args[@]}" >"$build/fuzz_$name.log" 2>&1
}

mkdir -p "$build/artifacts"
for name in "${targets[@]}"; do
  [[ -d "$here/corpus/$name" ]] || { echo "run_fuzzers: no seed corpus $here/corpus/$name" >&2; exit 1; }
done
declare -A pids=()
for name in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  run_target "$name" &
  pids[$name]=$!
done
failed=()
for name in "${targets[@]}"; do
  log="$build/fuzz_$name.log"
  if wait "${pids[$name]}"; then
    echo "run_fuzzers: $name: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs," \
         "corpus $(find "$build/corpus/$name" -type f | wc -l) inputs)"
  else
    echo "run_fuzzers: $name: FAILED; the end of $log:" >&2
    tail -40 "$log" >&2
    failed+=("$name")
  fi
done
if ((${#failed[@]})); then
  echo "run_fuzzers: failed: ${failed[*]} (inputs in $build/artifacts/)" >&2
  exit 1
fi
