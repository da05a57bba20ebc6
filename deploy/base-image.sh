#!/bin/sh
# Make a minimal Debian image with python3 (and venv) for deploy/Dockerfile's BASE_IMAGE, when
# the default (python:3.11-slim) cannot be pulled: debootstrap --variant=minbase from the Debian
# mirror this machine's apt already uses, then `docker import`. Made once: an existing image of
# that tag is kept (remove it with `docker rmi` to make it again).
#
#   deploy/base-image.sh [TAG]        (root; needs debootstrap and a Docker engine)
#
# Environment: DEBIAN_SUITE (default: this machine's codename), DEBIAN_MIRROR (default: the first
# Debian URI in /etc/apt/sources.list{,.d/*}). The image's python3 must be the minor version the
# host builds its wheels for (bookworm: 3.11).
set -eu

tag=${1:-tessera-base:local}
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag: already made"
    exit 0
fi

suite=${DEBIAN_SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
mirror=${DEBIAN_MIRROR:-$(
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null |
    awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}
         /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; break}}' |
    grep -v -e security -e '^cdrom' | grep debian | head -n 1
)}
if [ -z "$mirror" ]; then
    echo "no Debian mirror in this machine's apt sources; set DEBIAN_MIRROR" >&2
    exit 1
fi

root=$(mktemp -d /tmp/tessera-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base image $tag: debootstrap $suite from $mirror"
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$root" "$mirror" \
    >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# What a container never needs: package lists and caches, docs, manuals, translations.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/*
find "$root/usr/lib" -name __pycache__ -type d -prune -exec rm -rf {} +

tar --numeric-owner -C "$root" -c . |
    docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "base image $tag: made in $(($(date +%s) - start)) s," \
    "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1 / 1e6}')"
