#!/usr/bin/env bash
# Make the two third-party images of infra/swarm/stack.yaml available to the local engine:
# PostgreSQL and HAProxy, at the references the stack names (read from stack.yaml).
#
# Usage: infra/swarm/stand-in-images.sh [--stand-in]
#
# For each image it
#   1. keeps the image when the engine already has it;
#   2. otherwise pulls it;
#   3. otherwise (no registry reachable) builds a stand-in with the same name from Debian trixie
#      packages (`mmdebstrap --variant=minbase`), the suite whose versions match the pins:
#        - PostgreSQL: postgresql-17, the postgres user at uid/gid 999 as in the official image,
#          and an entrypoint (postgres-entrypoint.sh) that reads the variables of the official
#          image the stack uses (POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE, PGDATA);
#        - HAProxy: haproxy (3.0), run as the haproxy user with the configuration at
#          /usr/local/etc/haproxy/haproxy.cfg, as the official image does.
# --stand-in skips the pull and builds the stand-ins (replacing images of those names).
# Needs: docker; for stand-ins also mmdebstrap (Debian package) and root.
set -euo pipefail
cd "$(dirname "$0")/../.."

force_stand_in=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stand-in) force_stand_in=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "stand-in-images: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf 'stand-in-images: %s\n' "$*" >&2; }

stack=infra/swarm/stack.yaml
postgres_image=$(sed -n 's/^ *image: *\(postgres:[^ ]*\)$/\1/p' "$stack")
haproxy_image=$(sed -n 's/^ *image: *\(haproxy:[^ ]*\)$/\1/p' "$stack")
. infra/compose/pull-or-stand-in.sh
require_one_pin postgres_image "$stack"
require_one_pin haproxy_image "$stack"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# mmdebstrap of trixie with PACKAGES, extra customize hooks after them; writes $work/NAME.tar.
debian_rootfs() {
  local name=$1 packages=$2
  shift 2
  command -v mmdebstrap >/dev/null || { log "mmdebstrap is needed for the stand-ins (apt-get install mmdebstrap)"; exit 1; }
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$@" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    trixie "$work/$name.tar"
}

build_postgres_stand_in() {
  local image=$1 major started=$SECONDS
  major=$(printf '%s' "${image#*:}" | cut -d. -f1)
  log "$image: mmdebstrap trixie minbase + postgresql-$major (a few minutes)"
  cp infra/swarm/postgres-entrypoint.sh "$work/entrypoint.sh"
  # The package's own cluster is dropped: the entrypoint makes one in PGDATA on first start.
  debian_rootfs postgres "postgresql-$major" \
    --customize-hook='rm -rf "$1"/var/lib/postgresql/* "$1"/etc/postgresql/*' \
    --customize-hook='chroot "$1" groupmod --gid 999 postgres' \
    --customize-hook='chroot "$1" usermod --uid 999 --gid 999 postgres' \
    --customize-hook='mkdir -p "$1"/var/lib/postgresql/data "$1"/var/run/postgresql' \
    --customize-hook='chown -R 999:999 "$1"/var/lib/postgresql "$1"/var/run/postgresql "$1"/var/log/postgresql' \
    --customize-hook="install -m 0755 $work/entrypoint.sh \"\$1/usr/local/bin/docker-entrypoint.sh\"" \
    --customize-hook="for f in \"\$1\"/usr/lib/postgresql/$major/bin/*; do ln -sf \"/usr/lib/postgresql/$major/bin/\${f##*/}\" \"\$1/usr/local/bin/\${f##*/}\"; done"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'USER postgres' \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change 'EXPOSE 5432' \
    --change "LABEL org.opencontainers.image.description=\"Stand-in for $image built from Debian trixie packages\"" \
    "$work/postgres.tar" "$image" >/dev/null
  log "$image: stand-in built in $((SECONDS - started)) s ($(docker run --rm --entrypoint postgres "$image" --version))"
}

build_haproxy_stand_in() {
  local image=$1 started=$SECONDS
  log "$image: mmdebstrap trixie minbase + haproxy"
  debian_rootfs haproxy haproxy \
    --customize-hook='mkdir -p "$1"/usr/local/etc/haproxy'
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'USER haproxy' \
    --change 'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
    --change "LABEL org.opencontainers.image.description=\"Stand-in for $image built from Debian trixie packages\"" \
    "$work/haproxy.tar" "$image" >/dev/null
  log "$image: stand-in built in $((SECONDS - started)) s ($(docker run --rm "$image" haproxy -v | head -n 1))"
}

command -v docker >/dev/null || { log "the docker client is not installed"; exit 1; }
docker info >/dev/null 2>&1 || { log "no Docker engine answers (docker info failed)"; exit 1; }
have_or_pull "$postgres_image" || build_postgres_stand_in "$postgres_image"
have_or_pull "$haproxy_image" || build_haproxy_stand_in "$haproxy_image"
