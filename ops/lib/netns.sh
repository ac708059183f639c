# shellcheck shell=bash
# Network namespaces, shared by ops/lab/lab.sh and ops/docker/engine.sh (sourced, not run): a free
# private /30 for the host's link into a namespace, that link, and the teardown of a namespace by
# the processes `ip netns pids` lists in it (never by name). The sourcing script defines `log MESSAGE`.

# pick_subnet NET TRIES: prints n such that NET.n.0/30 is free on the host (NET: two octets, 10.214);
# TRIES random picks at the most. Call it under a lock that is held until the address is assigned.
pick_subnet() {
  local net=$1 tries=$2 re=${1//./\\.} n i
  for ((i = 0; i < tries; i++)); do
    n=$((RANDOM % 254 + 1))
    ip -4 -o addr show | grep -qE " $re\.$n\." && continue
    [[ -n $(ip -4 route show match "$net.$n.0/30" | grep -v '^default') ]] && continue
    [[ -n $(ip -4 route show root "$net.$n.0/24") ]] && continue
    echo "$n"
    return 0
  done
  return 1
}

# host_link NS HOST_IF NS_IF HOST_ADDR NS_ADDR: a veth pair HOST_IF (on the host, HOST_ADDR/30) <->
# NS_IF (in NS, NS_ADDR/30), both up, IPv6 off on both. nsenter --net, not `ip netns exec`
# (which also remounts /sys): only the network namespace matters for the sysctl.
host_link() {
  local ns=$1 hif=$2 nif=$3 haddr=$4 naddr=$5
  ip link add "$hif" type veth peer name "$nif" netns "$ns"
  sysctl -qw "net.ipv6.conf.$hif.disable_ipv6=1" || true
  nsenter --net="/run/netns/$ns" sysctl -qw "net.ipv6.conf.$nif.disable_ipv6=1" || true
  ip addr add "$haddr/30" dev "$hif"
  ip -n "$ns" addr add "$naddr/30" dev "$nif"
  ip link set "$hif" up
  ip -n "$ns" link set "$nif" up
}

signal_netns() { # signal_netns NS SIGNAL: sends SIGNAL to every process running in NS
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null || true); do kill -"$2" "$pid" 2>/dev/null || true; done
}

netns_emptied() { # netns_emptied NS: waits up to 3 s for NS to have no process left
  local i
  for ((i = 0; i < 30; i++)); do
    [[ -z $(ip netns pids "$1" 2>/dev/null) ]] && return 0
    sleep 0.1
  done
  return 1
}

kill_namespace() { # kill_namespace NS: TERM, then KILL, everything running in it
  local ns=$1 pid pids
  [[ -e /run/netns/$ns ]] || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n $pids ]] || return 0
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  netns_emptied "$ns" && return 0
  signal_netns "$ns" KILL
  netns_emptied "$ns" && return 0
  log "processes left in $ns: $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
}

remove_netns() { # remove_netns NS: deletes NS if it is there
  if [[ -e /run/netns/$1 ]]; then ip netns del "$1" || log "cannot delete namespace $1"; fi
}
