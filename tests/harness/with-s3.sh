#!/bin/bash
# Runs the test S3 server for CTest and commands against it.
#   with-s3.sh start DIR PORT      starts it (tests/harness/s3.sh), saving its settings in DIR/env
#   with-s3.sh run DIR CMD ARGS... runs CMD with DIR/env's DBSNAP_TEST_S3_* in its environment
set -euo pipefail
here=$(dirname "$(realpath "$0")")
case "${1:-}" in
  start)
    "$here/s3.sh" stop "$2"   # a server a killed run left behind
    settings=$("$here/s3.sh" start "$2" "$3")
    echo "$settings" > "$2/env"
    echo "$settings"
    ;;
  run)
    dir=$2; shift 2
    [[ -r "$dir/env" ]] || { echo "with-s3.sh: no server in $dir (the s3_setup test starts it)" >&2; exit 1; }
    while IFS= read -r line; do export "${line?}"; done < "$dir/env"
    exec "$@"
    ;;
  *) echo "usage: $0 start DIR PORT | run DIR CMD [ARGS...]" >&2; exit 2 ;;
esac
