#!/usr/bin/env bash
# A throwaway Docker engine for tests (test/docker), in a network namespace of its own.
#
#   ops/docker/engine.sh up [ID]          # prints KEY=VALUE lines: RUN_DIR, DOCKER_HOST, NS_ADDR, …
#   ops/docker/engine.sh proxy-up RUN_DIR # egress proxy (host) + relay (namespace); prints PROXY_URL=…
#   ops/docker/engine.sh proxy-down RUN_DIR
#   ops/docker/engine.sh down RUN_DIR     # stops everything of that run and removes it (idempotent)
#   ops/docker/engine.sh clean            # `down` for every earlier run whose owner process is gone
#   ops/docker/engine.sh watch RUN_DIR PID  # waits for PID to end, then `down RUN_DIR` (a watchdog)
#
# One run = ${ROOMCAST_CI_RUN_BASE:-/var/tmp}/rcci-<id>/ (dockerd's data and exec roots, its socket,
# logs, pid files), a network namespace rcci-<id>, and a veth pair rcci<id>h (host) ↔ rcci<id>n
# (namespace) on a private /30 picked per run (10.213.<n>.0/30: host .1, namespace .2).
# The namespace has no route anywhere but that /30, so the stack reaches nothing outside. The test
# reaches published ports and host-networked services (TFTP) at NS_ADDR.
#
# dockerd starts with nsenter --net (not `ip netns exec`, which remounts /sys and hides the cgroups).
# During `docker build` the only way out is the relay: 127.0.0.1:3128 inside the namespace → a
# unix socket → ops/docker/egress-proxy.mjs on the host, which allows only the Debian mirror(s) and
# the npm registry.
#
# Every process is started in a session of its own (setsid), recorded in a pid file, and killed
# only after checking that its command line names this run's directory. The owner (the test
# process, ROOMCAST_CI_OWNER_PID, default: the caller) is recorded with its start time, so that
# `clean` only removes runs whose owner is gone. Those pid-file and namespace helpers are
# ops/lib/pidfile.sh and ops/lib/netns.sh, which ops/lab/lab.sh shares.
set -euo pipefail

PREFIX=rcci
BASE=${ROOMCAST_CI_RUN_BASE:-/var/tmp}
HERE=$(dirname "$(readlink -f "$0")")
RELAY_PORT=3128
NODE=$(command -v node)

log() { printf 'engine: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=ops/lib/pidfile.sh
. "$HERE/../lib/pidfile.sh"
# shellcheck source=ops/lib/netns.sh
. "$HERE/../lib/netns.sh"

state() { # loads RUN_DIR/state (NAME, NETNS, VETH_H, VETH_N, HOST_ADDR, NS_ADDR)
  local dir=$1
  NAME=$(basename "$dir")
  NETNS=$NAME
  local id=${NAME#"$PREFIX"-}
  VETH_H=${PREFIX}${id}h
  VETH_N=${PREFIX}${id}n
  HOST_ADDR=
  NS_ADDR=
  # shellcheck disable=SC1091
  [[ -r $dir/state ]] && . "$dir/state"
  return 0
}

cmd_up() {
  local id=${1:-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}
  [[ $id =~ ^[a-z0-9]{1,8}$ ]] || die "bad id: $id"
  local dir=$BASE/$PREFIX-$id owner=${ROOMCAST_CI_OWNER_PID:-$PPID}
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  for c in dockerd ip nsenter; do command -v "$c" >/dev/null || die "$c is missing (apt-get install docker.io iproute2)"; done
  mkdir -p "$BASE"
  mkdir -m 0700 "$dir" || die "$dir exists"
  record_owner "$dir" "$owner"
  UP_DIR=$dir
  trap '[[ -z ${UP_DIR:-} ]] || { log "up failed; tearing down"; cmd_down "$UP_DIR" || true; }' EXIT
  state "$dir"

  # The /30 is picked and assigned under a lock, so parallel runs never take the same one.
  local n
  exec 8>"$BASE/.$PREFIX.lock"
  flock 8
  n=$(pick_subnet 10.213 100) || die "no free 10.213.n.0/30"
  HOST_ADDR=10.213.$n.1
  NS_ADDR=10.213.$n.2
  printf 'HOST_ADDR=%s\nNS_ADDR=%s\n' "$HOST_ADDR" "$NS_ADDR" >>"$dir/state"
  ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
  host_link "$NETNS" "$VETH_H" "$VETH_N" "$HOST_ADDR" "$NS_ADDR"
  flock -u 8

  echo '{}' >"$dir/daemon.json"
  # A mount namespace of its own with an empty /run: dockerd also listens on /var/run/docker.sock
  # there, as on a real machine, so a compose service that bind-mounts /var/run/docker.sock gets
  # this engine's socket (instead of dockerd creating an empty directory at the host's path), and
  # its containerd, plugins dir and mounts stay out of the host's /run and mount table.
  # unshare and sh exec, so $! is dockerd's pid.
  setsid nsenter --net="/run/netns/$NETNS" unshare --mount --propagation private \
    sh -c 'mount -t tmpfs -o mode=0755,size=64m rcci-run /run && exec "$@"' dockerd \
    /usr/sbin/dockerd \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "unix://$dir/docker.sock" -H unix:///var/run/docker.sock --pidfile "$dir/dockerd.pid" \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  echo $! >"$dir/dockerd.pid0"
  if ! wait_for 60 env DOCKER_HOST="unix://$dir/docker.sock" docker version; then
    tail -20 "$dir/dockerd.log" >&2
    die "dockerd did not answer within 60s"
  fi
  UP_DIR=
  printf 'RUN_DIR=%s\nNETNS=%s\nDOCKER_HOST=unix://%s/docker.sock\nHOST_ADDR=%s\nNS_ADDR=%s\nVETH_H=%s\n' \
    "$dir" "$NETNS" "$dir" "$HOST_ADDR" "$NS_ADDR" "$VETH_H"
}

cmd_proxy_up() {
  local dir=${1:?RUN_DIR}
  state "$dir"
  [[ -e /run/netns/$NETNS ]] || die "no namespace $NETNS"
  setsid "$NODE" "$HERE/egress-proxy.mjs" --socket "$dir/egress.sock" --log "$dir/egress.log" \
    >>"$dir/egress.log" 2>&1 </dev/null &
  echo $! >"$dir/egress.pid"
  wait_for 20 test -S "$dir/egress.sock" || die "the egress proxy did not start (see $dir/egress.log)"
  setsid nsenter --net="/run/netns/$NETNS" "$NODE" "$HERE/relay.mjs" \
    --listen "127.0.0.1:$RELAY_PORT" --to "$dir/egress.sock" >"$dir/relay.log" 2>&1 </dev/null &
  echo $! >"$dir/relay.pid"
  wait_for 20 grep -q '^listening' "$dir/relay.log" || die "the relay did not start: $(cat "$dir/relay.log")"
  echo "PROXY_URL=http://127.0.0.1:$RELAY_PORT"
}

cmd_proxy_down() {
  local dir=${1:?RUN_DIR}
  stop_pidfile "$dir/relay.pid" "$dir" 5
  stop_pidfile "$dir/egress.pid" "$dir" 5
}

cmd_down() {
  local dir=${1:?RUN_DIR} pid cid f
  dir=${dir%/}
  [[ $(basename "$dir") == "$PREFIX"-* ]] || die "not a run directory: $dir"
  state "$dir"
  # The test's teardown and its watchdog may both get here: one at a time.
  exec 7>"$BASE/.$NAME.down.lock"
  flock 7
  cmd_proxy_down "$dir"
  # dockerd stops its containers on SIGTERM (no live-restore), then its containerd.
  [[ -r $dir/dockerd.pid ]] || { [[ -r $dir/dockerd.pid0 ]] && cp "$dir/dockerd.pid0" "$dir/dockerd.pid"; }
  stop_pidfile "$dir/dockerd.pid" "$dir" 30
  rm -f "$dir/dockerd.pid0"
  # Whatever survived a killed dockerd: its containerd and shims (their command lines name the
  # run directory), then the processes of its containers (their cgroups are named by the
  # container ids in this run's data root), then anything still in the namespace.
  for pid in $(pgrep -f -- "$dir/" || true); do
    [[ $pid == "$$" ]] && continue
    if ours "$pid" "$dir" && ! grep -qE "engine\.sh|vitest" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if [[ -d $dir/data/containers ]]; then
    for cid in $(ls "$dir/data/containers"); do
      for f in /sys/fs/cgroup/*/docker/"$cid"/cgroup.procs /sys/fs/cgroup/docker/"$cid"/cgroup.procs; do
        [[ -r $f ]] || continue
        for pid in $(cat "$f"); do kill -KILL "$pid" 2>/dev/null || true; done
      done
    done
  fi
  if [[ -e /run/netns/$NETNS ]]; then signal_netns "$NETNS" KILL; fi
  if [[ -d $dir/data/containers ]]; then
    sleep 0.2
    for cid in $(ls "$dir/data/containers"); do
      for f in /sys/fs/cgroup/*/docker/"$cid" /sys/fs/cgroup/docker/"$cid"; do
        [[ -d $f ]] && rmdir "$f" 2>/dev/null || true
      done
    done
  fi
  # Mounts under the run directory (nsfs in exec/netns, overlay2 merged dirs, shm), deepest first.
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
  done
  ip link del "$VETH_H" 2>/dev/null || true
  remove_netns "$NETNS"
  if [[ -d $dir ]]; then
    rm -rf "$dir" || log "cannot remove $dir"
    log "removed $NAME"
  fi
  rm -f "$BASE/.$NAME.down.lock"
  flock -u 7
}

cmd_clean() {
  local d n
  for d in "$BASE/$PREFIX"-*; do
    [[ -d $d ]] || continue
    if alive_owner "$d"; then
      log "$(basename "$d") belongs to a running test (pid $(cut -d' ' -f1 "$d/owner")); left alone"
      continue
    fi
    log "leftover run $(basename "$d"): removing it"
    cmd_down "$d"
  done
  # Namespaces and host veths of this prefix whose run directory is gone.
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX-" || true); do
    [[ -d $BASE/$n ]] && continue
    log "leftover namespace $n: removing it"
    signal_netns "$n" KILL
    ip netns del "$n" || true
  done
  for n in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$PREFIX[a-z0-9]+h$" || true); do
    [[ -d $BASE/$PREFIX-$(echo "$n" | sed -E "s/^$PREFIX(.*)h$/\1/") ]] && continue
    log "leftover link $n: removing it"
    ip link del "$n" 2>/dev/null || true
  done
}

cmd_watch() { watch_owner "${1:?RUN_DIR}" "${2:?PID}" cmd_down; }

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  proxy-up) shift; cmd_proxy_up "$@" ;;
  proxy-down) shift; cmd_proxy_down "$@" ;;
  down) shift; cmd_down "$@" ;;
  clean) shift; cmd_clean "$@" ;;
  watch) shift; cmd_watch "$@" ;;
  *) echo "usage: $0 up [ID] | proxy-up RUN_DIR | proxy-down RUN_DIR | down RUN_DIR | clean | watch RUN_DIR PID" >&2; exit 2 ;;
esac
