# shellcheck shell=bash
# Shared helpers for docker-env.sh and dbctl (sourced, not executed).

# The docker client the harness uses. Override with DBSNAP_DOCKER=/path/to/docker.
# Default: Debian's client (/usr/bin/docker, same version and API as Debian's dockerd 20.10);
# see README.md "Docker client" for why.
harness_docker() {
    if [[ -n ${DBSNAP_DOCKER:-} ]]; then
        printf '%s\n' "$DBSNAP_DOCKER"
    elif [[ -x /usr/bin/docker ]]; then
        printf '%s\n' /usr/bin/docker
    else
        printf '%s\n' docker
    fi
}
