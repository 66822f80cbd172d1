#!/usr/bin/env bash
# A stand-in for python:3.11-slim on a machine that cannot pull registry images but reaches Debian's packages:
# Debian bookworm (the slim image's OS) with its own Python 3.11 and venv, built by debootstrap and imported into
# the container engine. Needs root, debootstrap and podman or docker.
#
#   docker/local-base.sh [IMAGE]           default IMAGE: localhost/support-base:bookworm-python3.11
#   ./dev container-check                  then uses it when PYTHON_BASE=IMAGE is set (see the dev script)
#
# The differences that matter to the Dockerfile: Python lives in /usr/bin, not /usr/local/bin (the virtualenvs
# the build makes point at whichever the base has), and the interpreter is Debian's 3.11.2, not the newest 3.11.
set -euo pipefail

IMAGE="${1:-localhost/support-base:bookworm-python3.11}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ENGINE="${ENGINE:-$(command -v podman || command -v docker || true)}"
[ -n "$ENGINE" ] || { echo "local-base.sh: needs podman or docker" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "local-base.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# python3-venv's own dependencies are spelled out: debootstrap does not follow a dependency on a virtual package
debootstrap --variant=minbase \
    --include=python3.11,python3-venv,python3-distutils,python3-lib2to3,python3-pip-whl,python3-setuptools-whl,python-is-python3,ca-certificates \
    bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/debootstrap
# Trust the certificate authorities this machine trusts (a TLS-inspecting proxy's among them), for pip too: it
# reads /etc/pip.conf in every virtualenv, and otherwise checks against its own bundle only.
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$work/rootfs/etc/pip.conf"
tar -C "$work/rootfs" --numeric-owner -c . \
    | "$ENGINE" import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "$IMAGE"
