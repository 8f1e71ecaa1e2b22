# Sourced by base-images.sh and infra/swarm/stand-in-images.sh: what both do before building a
# stand-in. The caller defines log(), $force_stand_in (1: never pull) and $work (a scratch folder).

# Fails unless the variable named $1 holds exactly one image reference; $2 says where it is read.
require_one_pin() {
  local pin=$1 where=$2
  if [ "$(printf '%s\n' "${!pin}" | grep -c .)" != 1 ]; then
    log "$where must pin one ${pin%_image} image, found: $(echo ${!pin})"
    exit 1
  fi
}

# Succeeds when the engine has image $1 or could pull it; fails when a stand-in must be built.
have_or_pull() {
  if docker image inspect "$1" >/dev/null 2>&1; then
    log "$1: present"
    return 0
  fi
  [ "$force_stand_in" = 1 ] && return 1
  log "$1: pulling"
  if docker pull --quiet "$1" >"$work/pull.log" 2>&1; then
    return 0
  fi
  log "$1: cannot be pulled ($(tail -n 1 "$work/pull.log")); building a stand-in"
  return 1
}
