#!/usr/bin/env bash
# Local stand-ins, built from Debian packages, for the two images this project's Docker
# files start from, for machines that cannot pull from Docker Hub:
#
#   catdog-base/python:3.11   stands in for python:3.11-slim   (Debian 12: Python 3.11, pip)
#   catdog-base/redis:7       stands in for redis:7.4          (Debian 12's redis-server, 7.0)
#
# Usage, as root on the Docker host (needs debootstrap and a running Docker engine):
#
#   docker/make-base-images.sh          # builds the ones that do not exist yet
#   FORCE=1 docker/make-base-images.sh  # builds both again
#
# then build and run with them (docker/README.md, "Without Docker Hub"):
#
#   export BASE_IMAGE=catdog-base/python:3.11 REDIS_IMAGE=catdog-base/redis:7
#
# Settings (environment):
#   CA_BUNDLE      a PEM bundle to trust inside the images instead of Debian's, e.g. a network
#                  that inspects HTTPS with its own CA. Default: the first file named by
#                  PIP_CERT, SSL_CERT_FILE, REQUESTS_CA_BUNDLE or this host's pip
#                  configuration (`pip config list`: global.cert), if any.
#   DEBIAN_MIRROR  default http://deb.debian.org/debian
#   CACHE_DIR      downloaded .deb files are kept here for the next run
#                  (default ~/.cache/catdog-queue/debootstrap)
set -euo pipefail

PYTHON_IMAGE=${PYTHON_IMAGE:-catdog-base/python:3.11}
REDIS_IMAGE=${REDIS_IMAGE:-catdog-base/redis:7}
SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/catdog-queue/debootstrap}
if [ -z "${CA_BUNDLE:-}" ]; then
    pip_cert=$(python3 -m pip config list 2>/dev/null | sed -n "s/^global\.cert='\(.*\)'$/\1/p" || true)
    for candidate in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" "${REQUESTS_CA_BUNDLE:-}" "$pip_cert"; do
        if [ -n "$candidate" ] && [ -f "$candidate" ]; then
            CA_BUNDLE=$candidate
            break
        fi
    done
fi

for tool in debootstrap docker tar; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
    echo "error: debootstrap needs root" >&2
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$CACHE_DIR"
SEARCH_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

exists() { docker image inspect "$1" >/dev/null 2>&1; }

# debootstrap a minimal Debian with the given packages into $WORK/$1, then slim it down.
bootstrap() {
    local rootfs=$WORK/$1 packages=$2
    echo "debootstrap $SUITE with $packages" >&2
    debootstrap --variant=minbase --include="$packages" --cache-dir="$CACHE_DIR" \
        "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$WORK/$1.log" 2>&1 \
        || { tail -20 "$WORK/$1.log" >&2; exit 1; }
    if [ -n "${CA_BUNDLE:-}" ]; then
        echo "trusting $CA_BUNDLE in $1" >&2
        cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    fi
    # Debian's apt lists and package files, documentation and translations: not needed to run.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log
}

# tar the root filesystem into an image, with the given Dockerfile instructions.
import_image() {
    local rootfs=$WORK/$1 name=$2
    shift 2
    local changes=()
    for change in "$@"; do
        changes+=(--change "$change")
    done
    tar --numeric-owner -C "$rootfs" -c . | docker import "${changes[@]}" - "$name" >/dev/null
    echo "built $name ($(docker image inspect -f '{{.Size}}' "$name" | awk '{printf "%d MB", $1/1e6}'))" >&2
}

if [ -n "${FORCE:-}" ] || ! exists "$PYTHON_IMAGE"; then
    # python-is-python3: a `python` command, as in the official image.
    bootstrap python python3,python3-venv,python3-pip,python-is-python3,ca-certificates
    # PIP_BREAK_SYSTEM_PACKAGES: pip installs into Debian's Python (no venv in an image);
    # PIP_CERT: pip checks HTTPS against the system bundle (the carried CA, if any).
    import_image python "$PYTHON_IMAGE" \
        "ENV PATH=$SEARCH_PATH" \
        "ENV LANG=C.UTF-8" \
        "ENV PIP_BREAK_SYSTEM_PACKAGES=1" \
        "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
        'CMD ["python3"]'
else
    echo "$PYTHON_IMAGE exists (FORCE=1 to build it again)" >&2
fi

if [ -n "${FORCE:-}" ] || ! exists "$REDIS_IMAGE"; then
    bootstrap redis redis-server,ca-certificates
    # As in the official image: data in /data, owned by the redis user it runs as.
    mkdir -p "$WORK/redis/data"
    chroot "$WORK/redis" chown redis:redis /data
    import_image redis "$REDIS_IMAGE" \
        "ENV PATH=$SEARCH_PATH" \
        "ENV LANG=C.UTF-8" \
        "WORKDIR /data" \
        "USER redis" \
        "EXPOSE 6379" \
        'CMD ["redis-server"]'
else
    echo "$REDIS_IMAGE exists (FORCE=1 to build it again)" >&2
fi
