#!/usr/bin/env bash
# Make the base images that MindPulse's Dockerfiles build FROM available to the local engine.
#
# Usage: infra/compose/base-images.sh [--ca-bundle FILE] [--stand-in]
#
# For each pinned base (read from the Dockerfiles: the PYTHON_IMAGE default and the uv image) it
#   1. keeps the image when the engine already has it;
#   2. otherwise pulls it;
#   3. otherwise (an air-gapped builder, no registry reachable) builds a stand-in with the same
#      name from Debian packages:
#        - Python: `mmdebstrap --variant=minbase` of bookworm with python3.11, python3.11-venv,
#          ca-certificates and passwd; pip from /usr/share/python-wheels; EXTERNALLY-MANAGED
#          removed; /usr/local/bin/python3 (and python) linked to Debian's interpreter, so the
#          Dockerfiles' paths (UV_PYTHON=/usr/local/bin/python3, `python -m pip`) hold;
#        - uv: the `uv` and `uvx` binaries from PyPI's `uv` wheel of the pinned version, on an
#          empty (scratch) filesystem, at /uv and /uvx as in the real image.
# --stand-in skips the pull and builds the stand-ins (replacing images of those names).
# --ca-bundle FILE (or MP_CA_BUNDLE): a CA bundle to trust for the PyPI download, when TLS is
# intercepted by a proxy. The image builds take the same bundle as the `ca_bundle` build secret
# (see docs/containers.md); it never lands in an image.
# Needs: docker; for stand-ins also mmdebstrap (Debian package) and python3 with pip, or uv.
set -euo pipefail
cd "$(dirname "$0")/../.."

ca_bundle=${MP_CA_BUNDLE:-}
force_stand_in=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ca-bundle) ca_bundle=${2:?--ca-bundle needs a file}; shift 2 ;;
    --stand-in) force_stand_in=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "base-images: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$ca_bundle" ] && [ ! -r "$ca_bundle" ]; then
  echo "base-images: the CA bundle $ca_bundle cannot be read" >&2
  exit 2
fi

log() { printf 'base-images: %s\n' "$*" >&2; }

# The pins live in the Dockerfiles only; every Dockerfile must name the same ones.
dockerfiles=(infra/compose/Dockerfile.* infra/mlflow/Dockerfile infra/airflow/Dockerfile)
python_image=$(sed -n 's/^ARG PYTHON_IMAGE=//p' "${dockerfiles[@]}" | sort -u)
uv_image=$(sed -n 's/^FROM \(ghcr\.io\/astral-sh\/uv:[^ ]*\) AS uv$/\1/p' "${dockerfiles[@]}" | sort -u)
. infra/compose/pull-or-stand-in.sh
require_one_pin python_image "the Dockerfiles"
require_one_pin uv_image "the Dockerfiles"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_python_stand_in() {
  local image=$1 started=$SECONDS
  command -v mmdebstrap >/dev/null || { log "mmdebstrap is needed for the Python stand-in (apt-get install mmdebstrap)"; exit 1; }
  local python=python3.11
  # Bookworm's interpreter is 3.11.x: the pin's minor version must match it.
  case "$image" in *:3.11*) ;; *) log "$image: only a Python 3.11 stand-in can be built from bookworm"; exit 1 ;; esac
  log "$image: mmdebstrap bookworm minbase + $python (about a minute)"
  mmdebstrap --quiet --variant=minbase \
    --include="$python,$python-venv,ca-certificates,passwd" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="rm -f \"\$1/usr/lib/$python/EXTERNALLY-MANAGED\"" \
    --customize-hook="chroot \"\$1\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root sh -c 'wheel=\$(ls /usr/share/python-wheels/pip-*.whl) && $python \"\$wheel/pip\" install --quiet --no-index --no-cache-dir --find-links /usr/share/python-wheels pip setuptools'" \
    --customize-hook="ln -sf /usr/bin/$python \"\$1/usr/local/bin/python3\"" \
    --customize-hook="ln -sf /usr/bin/$python \"\$1/usr/local/bin/python\"" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$work/python-rootfs.tar"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --change "LABEL org.opencontainers.image.description=\"Stand-in for $image built from Debian bookworm packages\"" \
    "$work/python-rootfs.tar" "$image" >/dev/null
  log "$image: stand-in built in $((SECONDS - started)) s"
}

download_uv_wheel() {
  local version=$1 dest=$2 platform
  case "$(uname -m)" in
    x86_64) platform=manylinux_2_17_x86_64 ;;
    aarch64) platform=manylinux_2_17_aarch64 ;;
    *) log "no uv wheel platform known for $(uname -m)"; exit 1 ;;
  esac
  local cert_env=()
  [ -n "$ca_bundle" ] && cert_env=(SSL_CERT_FILE="$ca_bundle" PIP_CERT="$ca_bundle")
  if python3 -m pip --version >/dev/null 2>&1; then
    env "${cert_env[@]}" python3 -m pip download --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --platform "$platform" --dest "$dest" "uv==$version"
    (cd "$dest" && python3 -m zipfile -e uv-*.whl unpacked)
    cp "$dest"/unpacked/uv-*.data/scripts/uv "$dest"/unpacked/uv-*.data/scripts/uvx "$dest/"
  elif command -v uv >/dev/null; then
    env "${cert_env[@]}" uv pip install --quiet --no-deps --python-platform "$(uname -m)-manylinux_2_17" \
      --target "$dest/unpacked" "uv==$version"
    cp "$dest/unpacked/bin/uv" "$dest/unpacked/bin/uvx" "$dest/"
  else
    log "python3 with pip, or uv, is needed to download the uv wheel"
    exit 1
  fi
}

build_uv_stand_in() {
  local image=$1 version=${1##*:}
  mkdir -p "$work/uv"
  log "$image: uv $version binaries from PyPI's wheel"
  download_uv_wheel "$version" "$work/uv"
  chmod 0755 "$work/uv/uv" "$work/uv/uvx"
  tar -C "$work/uv" --owner=0 --group=0 -cf "$work/uv.tar" uv uvx
  docker import \
    --change "LABEL org.opencontainers.image.description=\"Stand-in for $image: uv and uvx from PyPI's uv $version wheel\"" \
    "$work/uv.tar" "$image" >/dev/null
  log "$image: stand-in built"
}

command -v docker >/dev/null || { log "the docker client is not installed"; exit 1; }
docker info >/dev/null 2>&1 || { log "no Docker engine answers (docker info failed)"; exit 1; }
have_or_pull "$python_image" || build_python_stand_in "$python_image"
have_or_pull "$uv_image" || build_uv_stand_in "$uv_image"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($python_image|$uv_image) " >&2
