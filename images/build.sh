#!/usr/bin/env bash
# Builds the container images the harness needs from Debian packages, for machines that
# have a Docker engine but no reachable registry.
#
#   images/build.sh [--force] [--print-env] [NAME...]
#       NAME: postgres redis prometheus alertmanager pushgateway stunnel reference (default: all)
#
# debootstrap (minbase, bookworm) -> chroot install of the packages -> trim -> docker import
# (readiness-local/base:bookworm) -> `docker build FROM` that image for each service's
# entrypoint (no registry involved). Idempotent: an image that exists is kept unless --force,
# or unless the base was made from another package list (its label org.readiness.packages):
# then the base and every image on it are made again.
# `reference` is the reference service: its binary is built with cargo
# (profile READINESS_REFERENCE_PROFILE, default release) and the image is rebuilt whenever
# the binary changed.
# Prints the READINESS_IMAGE_* exports to use; `--print-env` prints only those.
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
base_image=readiness-local/base:bookworm
declare -A images=(
  [postgres]=readiness-local/postgres:15
  [redis]=readiness-local/redis:7
  [prometheus]=readiness-local/prometheus:2.42
  [alertmanager]=readiness-local/alertmanager:0.25
  [pushgateway]=readiness-local/pushgateway:1.5
  [stunnel]=readiness-local/stunnel:5
  [reference]=readiness-local/reference-service:latest
)
order=(postgres redis prometheus alertmanager pushgateway stunnel reference)
packages=(postgresql-15 redis-server prometheus prometheus-alertmanager prometheus-pushgateway stunnel4 ca-certificates)
mirror=${READINESS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

force=0 print_only=0 wanted=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --print-env) print_only=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "images/build.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    *) [[ -n ${images[$arg]:-} ]] || { echo "images/build.sh: unknown image '$arg'; known: ${order[*]}" >&2; exit 2; }
       wanted+=("$arg") ;;
  esac
done
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${order[@]}")

print_env() {
  for name in "${wanted[@]}"; do
    echo "export READINESS_IMAGE_${name^^}=${images[$name]}"
  done
}
if [[ $print_only == 1 ]]; then print_env; exit 0; fi

log() { printf '[images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || {
  echo "images/build.sh: cannot reach the Docker engine (DOCKER_HOST=${DOCKER_HOST:-unset}); start dockerd or set DOCKER_HOST" >&2
  exit 1
}

# The reference service's binary, built now so its hash tells whether the image is stale.
reference_binary() {
  local profile=${READINESS_REFERENCE_PROFILE:-release} dir
  log "cargo build -p reference-service --profile $profile"
  (cd "$here/.." && cargo build -q -p reference-service --bin reference-service --profile "$profile") >&2
  dir=$profile; [[ $profile == dev ]] && dir=debug
  local target=${CARGO_TARGET_DIR:-target}
  [[ $target == /* ]] || target=$here/../$target   # an absolute CARGO_TARGET_DIR stays as it is
  echo "$target/$dir/reference-service"
}
# A base of another package list (made before a package was added) is made again, and
# every image on it with it.
stale_base=0
if exists "$base_image"; then
  made_with=$(docker image inspect -f '{{index .Config.Labels "org.readiness.packages"}}' "$base_image" 2>/dev/null || true)
  if [[ $made_with != "${packages[*]}" ]]; then
    log "the base was made from '${made_with:-an older list}', not '${packages[*]}': making it again"
    stale_base=1 force=1
  fi
fi
reference_bin= reference_sum=
todo=()
for name in "${wanted[@]}"; do
  if [[ $name == reference ]]; then
    reference_bin=$(reference_binary)
    reference_sum=$(sha256sum "$reference_bin" | cut -c1-64)
    current=$(docker image inspect -f '{{index .Config.Labels "org.readiness.binary-sha256"}}' "${images[$name]}" 2>/dev/null || true)
    if [[ $force == 1 || $current != "$reference_sum" ]]; then todo+=("$name"); fi
  elif [[ $force == 1 ]] || ! exists "${images[$name]}"; then
    todo+=("$name")
  fi
done
if [[ ${#todo[@]} -eq 0 ]]; then
  log "all images present (use --force to rebuild)"
  print_env; exit 0
fi

sudo=()
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "images/build.sh: debootstrap needs root; run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi

build_base() {
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    # A fresh machine may have no package lists yet.
    "${sudo[@]}" apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null
    "${sudo[@]}" apt-get install -y -qq -o DPkg::Lock::Timeout=300 debootstrap >/dev/null
  }
  local work root
  work=$(mktemp -d -t readiness-images.XXXXXX)
  root=$work/rootfs
  # shellcheck disable=SC2064
  trap "${sudo[*]} rm -rf '$work'" EXIT
  log "debootstrap --variant=minbase bookworm"
  "${sudo[@]}" debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # No daemon may start inside the chroot, and no cluster is created: the entrypoint owns that.
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$root/usr/sbin/policy-rc.d" >/dev/null
  "${sudo[@]}" chmod +x "$root/usr/sbin/policy-rc.d"
  "${sudo[@]}" mkdir -p "$root/etc/postgresql-common"
  echo 'create_main_cluster = false' | "${sudo[@]}" tee "$root/etc/postgresql-common/createcluster.conf" >/dev/null
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n' \
    | "${sudo[@]}" tee "$root/etc/dpkg/dpkg.cfg.d/01-readiness-trim" >/dev/null
  log "installing ${packages[*]}"
  "${sudo[@]}" chroot "$root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${packages[@]}" \
    >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
  log "trimming"
  "${sudo[@]}" chroot "$root" apt-get clean
  "${sudo[@]}" rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/tmp/* \
    "$root"/usr/share/locale/* "$root"/usr/share/i18n \
    "$root"/usr/share/javascript "$root"/usr/share/nodejs \
    "$root"/usr/lib/x86_64-linux-gnu/libLLVM-* "$root"/usr/lib/x86_64-linux-gnu/libz3.so* \
    "$root"/usr/lib/postgresql/15/lib/llvmjit* "$root"/usr/lib/postgresql/15/lib/bitcode 2>/dev/null || true
  # What was removed above: Prometheus' web UI assets (the HTTP API needs none), PostgreSQL's
  # JIT (LLVM, loaded only when jit=on; the images set jit=off), translations and locale
  # sources (C.UTF-8 is built into glibc).
  log "docker import -> $base_image"
  "${sudo[@]}" tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' -c "LABEL org.readiness.packages=\"${packages[*]}\"" \
    - "$base_image" >/dev/null
  "${sudo[@]}" rm -rf "$work"
  trap - EXIT
}

start=$SECONDS
if [[ $stale_base == 1 || $force == 1 && " ${todo[*]} " != " reference " ]] || ! exists "$base_image"; then build_base; fi
for name in "${todo[@]}"; do
  log "docker build -> ${images[$name]}"
  context=$here/$name labels=(--label org.readiness.image=local)
  if [[ $name == reference ]]; then
    context=$(mktemp -d -t readiness-reference.XXXXXX)
    cp "$here/reference/Dockerfile" "$reference_bin" "$context/"
    strip "$context/reference-service" 2>/dev/null || true
    labels+=(--label "org.readiness.binary-sha256=$reference_sum")
  fi
  DOCKER_BUILDKIT=0 docker build -q --force-rm --build-arg "BASE=$base_image" \
    "${labels[@]}" -t "${images[$name]}" "$context" >/dev/null
  if [[ $name == reference ]]; then rm -rf "$context"; fi
done
log "done in $((SECONDS - start)) s"
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep '^readiness-local/' >&2 || true
print_env
