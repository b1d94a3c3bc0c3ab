#!/usr/bin/env bash
# docker-env.sh — make sure Docker and the dbsnap test image are there (see README.md).
#
#   docker-env.sh ensure   install docker.io + debootstrap if missing, start dockerd if no daemon
#                          answers, build the test image if missing; prints the image tag (last line)
#   docker-env.sh image    print the tag `ensure` would use (no side effects)
#
# Quiet on success; one-line errors on stderr pointing at a log file.
set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HARNESS_DIR/lib.sh"

IMAGE_DIR=$HARNESS_DIR/image
CACHE_DIR=${DBSNAP_TEST_CACHE:-/var/cache/dbsnap-test}
DOCKERD_LOG=/var/log/dbsnap-test-dockerd.log
IMAGE_REPO=dbsnap-test
DEFAULT_MIRROR=http://deb.debian.org/debian
DAEMON_TIMEOUT=60

die() { echo "docker-env.sh: $*" >&2; exit 1; }

# dbsnap-test:<12 hex>; the hash covers the package list and the build script.
image_tag() {
    local h
    h=$(cat "$IMAGE_DIR/packages.txt" "$IMAGE_DIR/build-image.sh" | sha256sum | cut -c1-12)
    printf '%s:%s\n' "$IMAGE_REPO" "$h"
}

# First URI of the deb822 stanza whose Suites include plain "bookworm"; else the default.
debian_mirror() {
    local f=/etc/apt/sources.list.d/debian.sources m=""
    if [[ -n ${DBSNAP_TEST_MIRROR:-} ]]; then
        printf '%s\n' "$DBSNAP_TEST_MIRROR"
        return
    fi
    if [[ -r $f ]]; then
        m=$(awk '
            function flush() { if (uri != "" && suites ~ /(^| )bookworm( |$)/ && out == "") out = uri; uri = ""; suites = "" }
            /^[[:space:]]*$/ { flush(); next }
            /^URIs:/   { uri = $2 }
            /^Suites:/ { $1 = ""; suites = $0 " " }
            END { flush(); print out }' "$f")
    fi
    printf '%s\n' "${m:-$DEFAULT_MIRROR}"
}

pkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

ensure_packages() {
    local p missing=() log=$CACHE_DIR/apt.log
    for p in docker.io debootstrap debian-archive-keyring; do
        pkg_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends)
    # apt-get update only when there are no package lists or the install fails without one.
    if compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null &&
        apt-get install "${opts[@]}" "${missing[@]}" >"$log" 2>&1; then
        return 0
    fi
    apt-get update -q >>"$log" 2>&1 || die "apt-get update failed (see $log)"
    apt-get install "${opts[@]}" "${missing[@]}" >>"$log" 2>&1 ||
        die "apt-get install ${missing[*]} failed (see $log)"
}

daemon_up() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# True when a dockerd process is alive (zombies of a killed one do not count).
dockerd_alive() {
    local pid
    for pid in $(pgrep -x dockerd); do
        [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] && return 0
    done
    return 1
}

# Removes pid files that a killed dockerd/containerd left (a session's end
# kills them): dockerd refuses to start while its pid file names a live pid.
remove_stale_pid_files() {
    local file pid
    for file in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        [[ -f $file ]] || continue
        pid=$(cat "$file" 2>/dev/null)
        if [[ -z $pid || ! -d /proc/$pid || $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
            rm -f "$file"
        fi
    done
}

ensure_daemon() {
    daemon_up && return 0
    if ! dockerd_alive; then
        remove_stale_pid_files
        local dockerd
        dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
        # Own session, all fds closed/redirected (incl. the lock on fd 9), so it outlives us.
        setsid nohup "$dockerd" --bridge=none --iptables=false --ip-masq=false \
            </dev/null >>"$DOCKERD_LOG" 2>&1 9>&- &
    fi
    local deadline=$((SECONDS + DAEMON_TIMEOUT))
    until daemon_up; do
        ((SECONDS < deadline)) || die "no docker daemon answered within ${DAEMON_TIMEOUT}s (see $DOCKERD_LOG)"
        sleep 0.5
    done
}

ensure_image() {
    local tag=$1 log
    "$DOCKER" image inspect "$tag" >/dev/null 2>&1 && return 0
    log=$CACHE_DIR/build-${tag#*:}.log
    bash "$IMAGE_DIR/build-image.sh" "$tag" "$(debian_mirror)" "$DOCKER" >"$log" 2>&1 ||
        die "building image $tag failed (see $log)"
    "$DOCKER" image inspect "$tag" >/dev/null 2>&1 || die "image $tag missing after build (see $log)"
}

cmd_ensure() {
    [[ $(id -u) == 0 ]] || die "must run as root"
    mkdir -p "$CACHE_DIR"
    exec 9>"$CACHE_DIR/lock"
    flock -w 1800 9 || die "timed out waiting for $CACHE_DIR/lock"
    ensure_packages
    DOCKER=$(harness_docker)
    ensure_daemon
    local tag
    tag=$(image_tag)
    ensure_image "$tag"
    printf '%s\n' "$tag"
}

case ${1:-} in
    ensure) cmd_ensure ;;
    image) image_tag ;;
    *) die "usage: docker-env.sh ensure|image" ;;
esac
