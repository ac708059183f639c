#!/usr/bin/env bash
# The network-boot lab: a school LAN made of network namespaces on one bridge, where QEMU PCs
# network-boot through roomcast's own proxyDHCP, next to a Region-like DHCP server.
#
#   ops/lab/lab.sh up [--id ID] [--client DIR] [--tftp DIR] [--no-roomcast] [--peers N] [--env ROOMCAST_X=V]...
#                                  # builds a lab, starts dnsmasq and roomcast, prints KEY=VALUE lines;
#                                  # --env passes a setting to roomcast (e.g. ROOMCAST_WOL_INTERFACES=lan0)
#   ops/lab/lab.sh pc ID bios|uefi [MAC [QEMU ARGS...]]
#                                  # boots a PC on a free tap, serial console on this terminal
#   ops/lab/lab.sh down ID|RUN_DIR # stops everything of that lab and removes it (idempotent)
#   ops/lab/lab.sh clean [MINUTES] # `down` for leftovers: owner gone, or no owner and older than
#                                  # MINUTES (60); namespaces of this prefix without a run directory
#   ops/lab/lab.sh list            # the labs there are, with their age and owner
#   ops/lab/lab.sh watch RUN_DIR PID  # waits for PID to end, then `down RUN_DIR` (a watchdog)
#
# One lab = ${ROOMCAST_LAB_BASE:-/var/tmp}/rclab-<id>/ (state, logs, pid files, roomcast's data
# directory with its SQLite database and embedded Redis, the TFTP directory) and four namespaces:
#
#   rclab-<id>-lan   the bridge br0 (STP off), the taps tap0..tap3 the PCs (QEMU) use, one port
#                    per namespace below. QEMU runs in this namespace.
#   rclab-<id>-dhcp  the Region's DHCP (dnsmasq, 10.99.0.2): addresses only, no PXE option at all;
#                    IPv6 router advertisements (fd99::/64), so that iPXE does not wait ~13 s for IPv6
#   rclab-<id>-rc    roomcast, all roles in one process (api on :8080, proxyDHCP on 67 and 4011,
#                    TFTP on 69, its own redis-server on a unix socket), ROOMCAST_BOOT_IP=10.99.0.1
#   rclab-<id>-cli   an empty client namespace on the LAN (for udhcpc and the like)
#   rclab-<id>-p<k>  with --peers N, k = 1..N: other machines of the LAN, each with PEER_ADDRS
#                    static addresses (10.99.0.160 + 10(k-1) + j, j < 10), for load tests
#
# plus a veth pair rclab<id>h (host, HOST_ADDR) <-> host0 (in the roomcast namespace, API_ADDR) on a
# private /30 (10.214.<n>.0/30) picked per lab: the host reaches the api at API_URL and nothing
# else of the LAN. No namespace has a route out; nothing leaves the namespaces this script made.
#
# Needs root, iproute2, dnsmasq, curl, node (with this checkout's npm ci done) and redis-server;
# QEMU (qemu-system-x86, ipxe-qemu, ovmf) for `pc`. The iPXE binaries come from Debian's installed
# `ipxe` package when it matches images/ipxe/SHA256SUMS, else from images/ipxe/fetch.sh. The boot
# client is --client DIR (LAB_CLIENT_DIR), else built into the run directory by images/client/build.sh.
#
# ROOMCAST_LAB_OWNER_PID (tests: the test process) is recorded with its start time: `clean` removes
# a lab whose owner is gone at once, and a lab without an owner (made by hand) once it is older
# than MINUTES. Processes are killed by their pid files (checked against their command line) and
# then by namespace (`ip netns pids`), never by name: ops/lib/pidfile.sh and ops/lib/netns.sh, which
# ops/docker/engine.sh shares.
set -euo pipefail

PREFIX=rclab
BASE=${ROOMCAST_LAB_BASE:-/var/tmp}
HERE=$(dirname "$(readlink -f "$0")")
ROOT=$(cd "$HERE/../.." && pwd)
NTAPS=4
LAN_PREFIX=10.99.0
ROOMCAST_IP=$LAN_PREFIX.1
REGION_IP=$LAN_PREFIX.2
HTTP_PORT=8080

log() { printf 'lab: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=ops/lib/pidfile.sh
. "$HERE/../lib/pidfile.sh"
# shellcheck source=ops/lib/netns.sh
. "$HERE/../lib/netns.sh"

run_dir() { # run_dir ID|RUN_DIR: prints the run directory
  local a=${1:?ID or RUN_DIR}
  if [[ $a == */* ]]; then echo "${a%/}"; else echo "$BASE/$PREFIX-${a#"$PREFIX"-}"; fi
}

names() { # names ID: sets the names of a lab's namespaces and host link
  local id=$1
  LAB_ID=$id
  NS_LAN=$PREFIX-$id-lan
  NS_DHCP=$PREFIX-$id-dhcp
  NS_RC=$PREFIX-$id-rc
  NS_CLI=$PREFIX-$id-cli
  VETH_H=$PREFIX${id}h
  PEERS=${PEERS:-0}
}

all_ns() { # every namespace of the loaded lab, peers included
  local k
  printf '%s\n' "$NS_LAN" "$NS_DHCP" "$NS_RC" "$NS_CLI"
  for ((k = 1; k <= PEERS; k++)); do printf '%s\n' "$PREFIX-$LAB_ID-p$k"; done
}

load() { # load RUN_DIR: names and the recorded state (addresses)
  local dir=$1 name
  name=$(basename "$dir")
  [[ $name =~ ^$PREFIX-([a-z0-9]{1,8})$ ]] || die "not a lab run directory: $dir"
  names "${BASH_REMATCH[1]}"
  HOST_ADDR=
  API_ADDR=
  PEERS=0
  # shellcheck disable=SC1091
  [[ -r $dir/state ]] && . "$dir/state"
  # shellcheck disable=SC1091
  [[ -r $dir/peers ]] && . "$dir/peers"
  return 0
}

# The iPXE binaries into DEST: Debian's installed ipxe package when it is the version
# images/ipxe/SHA256SUMS records, otherwise images/ipxe/fetch.sh (apt-get download).
ipxe_binaries() {
  local dest=$1 f
  mkdir -p "$dest"
  if [[ -r /usr/lib/ipxe/undionly.kpxe && -r /usr/lib/ipxe/snponly.efi && -r /usr/lib/ipxe/ipxe.efi ]]; then
    for f in undionly.kpxe snponly.efi ipxe.efi; do cp -L "/usr/lib/ipxe/$f" "$dest/$f"; done
    if (cd "$dest" && grep -E '^[0-9a-f]{64}  ' "$ROOT/images/ipxe/SHA256SUMS" | sha256sum --quiet -c -) >/dev/null 2>&1; then
      return 0
    fi
    log "the installed ipxe package is not the version of images/ipxe/SHA256SUMS; using images/ipxe/fetch.sh"
    rm -f "$dest"/*
  fi
  bash "$ROOT/images/ipxe/fetch.sh" "$dest" >&2
}

cmd_up() {
  local id='' client=${LAB_CLIENT_DIR:-} tftp=${LAB_TFTP_DIR:-} with_roomcast=true peers=0
  local extra_env=()
  while (($#)); do
    case $1 in
      --id) id=${2:?--id ID}; shift 2 ;;
      --client) client=${2:?--client DIR}; shift 2 ;;
      --tftp) tftp=${2:?--tftp DIR}; shift 2 ;;
      --no-roomcast) with_roomcast=false; shift ;;
      --peers) peers=${2:?--peers N}; shift 2 ;;
      --env)
        [[ ${2:-} =~ ^ROOMCAST_[A-Z0-9_]+=.*$ ]] || die "--env: ROOMCAST_NAME=VALUE (a roomcast setting), not ${2:-nothing}"
        extra_env+=("$2"); shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  [[ -n $id ]] || id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  [[ $id =~ ^[a-z0-9]{1,8}$ ]] || die "bad id: $id (1-8 lower-case letters or digits)"
  [[ $peers =~ ^[0-9]$ ]] || die "--peers: 0 to 9"
  [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, ports 67/69/4011)"
  local c
  for c in ip dnsmasq curl flock nsenter; do command -v "$c" >/dev/null || die "$c is missing (apt-get install iproute2 dnsmasq curl util-linux)"; done
  if $with_roomcast; then
    command -v node >/dev/null || die "node is missing"
    command -v redis-server >/dev/null || die "redis-server is missing (apt-get install redis-server): roomcast runs its own"
    [[ -d $ROOT/node_modules/tsx ]] || die "run npm ci in $ROOT first"
  fi
  local dir=$BASE/$PREFIX-$id
  mkdir -p "$BASE"
  mkdir -m 0700 "$dir" || die "$dir exists"
  date +%s >"$dir/created"
  if [[ -n ${ROOMCAST_LAB_OWNER_PID:-} ]]; then
    record_owner "$dir" "$ROOMCAST_LAB_OWNER_PID"
  fi
  UP_DIR=$dir
  trap '[[ -z ${UP_DIR:-} ]] || { log "up failed; tearing down"; cmd_down "$UP_DIR" || true; }' EXIT
  names "$id"

  # The namespaces, the bridge and its ports.
  local ns dev
  for ns in "$NS_LAN" "$NS_DHCP" "$NS_RC" "$NS_CLI"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip -n "$NS_LAN" link add br0 type bridge stp_state 0 forward_delay 0
  ip -n "$NS_LAN" link set br0 up
  for ((c = 0; c < NTAPS; c++)); do
    ip -n "$NS_LAN" tuntap add dev "tap$c" mode tap
    ip -n "$NS_LAN" link set "tap$c" master br0 up
  done
  for dev in dhcp rc cli; do
    ns=$PREFIX-$id-$dev
    ip -n "$NS_LAN" link add "p-$dev" type veth peer name lan0 netns "$ns"
    ip -n "$NS_LAN" link set "p-$dev" master br0 up
    ip -n "$ns" link set lan0 up
  done
  # 'brd +': a broadcast address, which DHCP servers and udpcast need.
  ip -n "$NS_DHCP" addr add "$REGION_IP/24" brd + dev lan0
  ip -n "$NS_DHCP" addr add fd99::2/64 dev lan0 nodad
  ip -n "$NS_RC" addr add "$ROOMCAST_IP/24" brd + dev lan0
  # Firmware sends from 0.0.0.0 to 255.255.255.255: a route is enough.
  ip -n "$NS_CLI" route add default dev lan0
  # Peers: recorded first, so that `down` removes them should what follows fail.
  printf 'PEERS=%s\n' "$peers" >"$dir/peers"
  local k j
  for ((k = 1; k <= peers; k++)); do
    ns=$PREFIX-$id-p$k
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$NS_LAN" link add "p-p$k" type veth peer name lan0 netns "$ns"
    ip -n "$NS_LAN" link set "p-p$k" master br0 up
    ip -n "$ns" link set lan0 up
    for ((j = 0; j < 10; j++)); do ip -n "$ns" addr add "$LAN_PREFIX.$((160 + 10 * (k - 1) + j))/24" brd + dev lan0; done
  done

  # The host's way to the api: a /30 picked and assigned under a lock, so parallel labs never
  # take the same one.
  local n
  exec 8>"$BASE/.$PREFIX.lock"
  flock 8
  n=$(pick_subnet 10.214 200) || die "no free 10.214.n.0/30"
  HOST_ADDR=10.214.$n.1
  API_ADDR=10.214.$n.2
  printf 'HOST_ADDR=%s\nAPI_ADDR=%s\n' "$HOST_ADDR" "$API_ADDR" >"$dir/state"
  host_link "$NS_RC" "$VETH_H" host0 "$HOST_ADDR" "$API_ADDR"
  flock -u 8

  # The Region's DHCP: addresses, a router, nothing about PXE. Router advertisements on.
  # LAB_REGION_NEXT_SERVER=1: it also names roomcast as next-server (siaddr), as a Region configured
  # for network boot does (Debian's signed GRUB takes its TFTP server from there, not from a proxy).
  local region_boot=()
  [[ ${LAB_REGION_NEXT_SERVER:-} != 1 ]] || region_boot=(--dhcp-boot="shimx64.efi,roomcast,$ROOMCAST_IP")
  ip netns exec "$NS_DHCP" dnsmasq --conf-file=/dev/null --port=0 --user=root --group=root "${region_boot[@]}" \
    --interface=lan0 --bind-interfaces --no-ping --log-dhcp --log-facility="$dir/dnsmasq.log" \
    --dhcp-range="$LAN_PREFIX.100,$LAN_PREFIX.150,255.255.255.0,1h" --dhcp-option=3,"$REGION_IP" \
    --enable-ra --dhcp-range=::,constructor:lan0,ra-only \
    --dhcp-leasefile="$dir/dnsmasq.leases" --pid-file="$dir/dnsmasq.pid"
  wait_for 10 test -s "$dir/dnsmasq.pid" || die "dnsmasq did not start: $(tail -5 "$dir/dnsmasq.log" 2>/dev/null)"

  local password=${LAB_ADMIN_PASSWORD:-lab-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}
  if $with_roomcast; then
    if [[ -z $tftp ]]; then
      tftp=$dir/tftp
      ipxe_binaries "$tftp"
    fi
    if [[ -z $client ]]; then
      client=$dir/client
      log "building the boot client into $client (images/client/build.sh)"
      bash "$ROOT/images/client/build.sh" "$client" >&2
    fi
    [[ -s $client/vmlinuz && -s $client/initrd.img ]] || die "no vmlinuz and initrd.img in $client"
    # All roles in one process, so roomcast runs its own redis-server (a unix socket in the data
    # directory): the namespace has no way to the host's Redis. ip and env exec: $! is node's pid.
    (cd "$ROOT" && exec ip netns exec "$NS_RC" env -i PATH="$PATH" HOME="${HOME:-/root}" \
      ROOMCAST_DATA_DIR="$dir/data" ROOMCAST_BOOT_IP="$ROOMCAST_IP" ROOMCAST_HTTP_PORT="$HTTP_PORT" \
      ROOMCAST_CLIENT_DIR="$client" ROOMCAST_TFTP_ROOT="$tftp" ROOMCAST_ADMIN_PASSWORD="$password" \
      ROOMCAST_LOG_LEVEL="${LAB_LOG_LEVEL:-debug}" "${extra_env[@]}" \
      node --import tsx "$ROOT/services/main.ts" >"$dir/roomcast.log" 2>&1 </dev/null) &
    echo $! >"$dir/roomcast.pid"
    local i rc_pid
    rc_pid=$(cat "$dir/roomcast.pid")
    for ((i = 0; i < 600; i++)); do
      grep -q '"msg":"roomcast started"' "$dir/roomcast.log" 2>/dev/null && break
      # Liveness of our own child by its pid: its command line is not "services/main.ts" yet while
      # the subshell is still exec'ing it (that race once failed `up` in CI).
      kill -0 "$rc_pid" 2>/dev/null || { tail -20 "$dir/roomcast.log" >&2; die "roomcast exited"; }
      sleep 0.1
    done
    grep -q '"msg":"roomcast started"' "$dir/roomcast.log" || { tail -20 "$dir/roomcast.log" >&2; die "roomcast did not start within 60s"; }
    grep -q 'proxyDHCP answering' "$dir/roomcast.log" || die "roomcast started without proxyDHCP (see $dir/roomcast.log)"
    wait_for 20 curl -sf -o /dev/null "http://$API_ADDR:$HTTP_PORT/api/health" || die "the api does not answer at http://$API_ADDR:$HTTP_PORT"
  fi

  {
    printf 'LAB_ID=%s\nRUN_DIR=%s\n' "$id" "$dir"
    printf 'NS_LAN=%s\nNS_DHCP=%s\nNS_RC=%s\nNS_CLI=%s\n' "$NS_LAN" "$NS_DHCP" "$NS_RC" "$NS_CLI"
    printf 'BRIDGE=br0\nTAPS="%s"\n' "$(seq -f 'tap%g' -s ' ' 0 $((NTAPS - 1)))"
    printf 'PEERS=%s\nPEER_ADDRS=10\n' "$peers"
    printf 'ROOMCAST_IP=%s\nREGION_IP=%s\nLAN_PREFIX=%s\n' "$ROOMCAST_IP" "$REGION_IP" "$LAN_PREFIX"
    printf 'HOST_ADDR=%s\nAPI_ADDR=%s\n' "$HOST_ADDR" "$API_ADDR"
    if $with_roomcast; then
      printf 'API_URL=http://%s:%s\nADMIN_PASSWORD=%s\n' "$API_ADDR" "$HTTP_PORT" "$password"
      printf 'ROOMCAST_LOG=%s\nCLIENT_DIR=%s\nTFTP_DIR=%s\n' "$dir/roomcast.log" "$client" "$tftp"
    fi
    printf 'DNSMASQ_LOG=%s\nLEASES=%s\n' "$dir/dnsmasq.log" "$dir/dnsmasq.leases"
  } >"$dir/state.new"
  mv "$dir/state.new" "$dir/state"
  UP_DIR=
  cat "$dir/state"
}

cmd_pc() {
  local dir firmware=${2:-} mac=${3:-52:54:00:99:00:10} tap='' t
  dir=$(run_dir "${1:-}")
  load "$dir"
  [[ -e /run/netns/$NS_LAN ]] || die "no lab $LAB_ID"
  # A free tap: one no QEMU has open shows NO-CARRIER.
  for t in $TAPS; do
    if ip -n "$NS_LAN" -o link show "$t" | grep -q NO-CARRIER; then tap=$t; break; fi
  done
  [[ -n $tap ]] || die "all taps are in use"
  shift $(($# < 3 ? $# : 3))
  # The serial console (and QEMU's monitor: Ctrl-A X quits, Ctrl-A C switches) on this terminal.
  local common=(-accel tcg -machine q35 -m 512 -smp 2 -nodefaults -no-user-config -display none -serial mon:stdio
    -no-reboot -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" "$@")
  case $firmware in
    bios)
      printf '\xf8\x03\0\0\0\0\0\0' >"$dir/sercon" # SeaBIOS: copy the screen (iPXE's) to ttyS0
      exec ip netns exec "$NS_LAN" qemu-system-x86_64 "${common[@]}" -fw_cfg "name=etc/sercon-port,file=$dir/sercon" \
        -device "e1000,netdev=n0,mac=$mac,bootindex=1"
      ;;
    uefi)
      local vars=$dir/OVMF_VARS-${mac//:/}.fd
      cp /usr/share/OVMF/OVMF_VARS_4M.fd "$vars"
      # romfile= : no iPXE ROM, OVMF's own PXE stack fetches snponly.efi over TFTP.
      exec ip netns exec "$NS_LAN" qemu-system-x86_64 "${common[@]}" \
        -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
        -drive "if=pflash,format=raw,unit=1,file=$vars" -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=,bootindex=1"
      ;;
    *) die "usage: $0 pc ID bios|uefi [MAC [QEMU ARGS...]]" ;;
  esac
}

cmd_down() {
  local dir ns
  dir=$(run_dir "${1:-}")
  load "$dir"
  # The test's teardown and its watchdog may both get here: one at a time.
  mkdir -p "$BASE"
  exec 7>"$BASE/.$PREFIX-$LAB_ID.down.lock"
  flock 7
  # roomcast stops its redis-server on SIGTERM.
  stop_pidfile "$dir/roomcast.pid" services/main.ts 15
  stop_pidfile "$dir/dnsmasq.pid" "$dir/" 5
  # Whatever else runs in the lab (QEMU, tcpdump, udhcpc, a killed roomcast's redis-server).
  for ns in $(all_ns); do kill_namespace "$ns"; done
  ip link del "$VETH_H" 2>/dev/null || true
  for ns in $(all_ns); do remove_netns "$ns"; done
  if [[ -d $dir ]]; then
    rm -rf "$dir" || log "cannot remove $dir"
    log "removed $PREFIX-$LAB_ID"
  fi
  rm -f "$BASE/.$PREFIX-$LAB_ID.down.lock"
  flock -u 7
}

age_minutes() { # age_minutes FILE: minutes since FILE's content (an epoch) or its mtime
  local t
  t=$(cat "$1" 2>/dev/null || stat -c %Y "$1" 2>/dev/null || echo 0)
  [[ $t =~ ^[0-9]+$ ]] || t=$(stat -c %Y "$1" 2>/dev/null || echo 0)
  echo $((($(date +%s) - t) / 60))
}

cmd_clean() {
  local minutes=${1:-60} d n id age
  [[ $minutes =~ ^[0-9]+$ ]] || die "clean: MINUTES must be a number"
  for d in "$BASE/$PREFIX"-*; do
    [[ -d $d ]] || continue
    if [[ -e $d/owner ]]; then
      if alive_owner "$d"; then continue; fi
      log "leftover lab $(basename "$d") (its owner is gone): removing it"
    else
      age=$(age_minutes "$d/created")
      ((age >= minutes)) || continue
      log "leftover lab $(basename "$d") (${age} min old, no owner): removing it"
    fi
    cmd_down "$d"
  done
  # Namespaces and host links of this prefix whose run directory is gone (older than MINUTES:
  # the directory is made before them, so younger ones may be another `up` in progress).
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-[a-z0-9]{1,8}-(lan|dhcp|rc|cli|p[0-9])$" || true); do
    id=${n#"$PREFIX"-}
    id=${id%-*}
    [[ -d $BASE/$PREFIX-$id ]] && continue
    age=$(age_minutes "/run/netns/$n")
    ((age >= minutes)) || continue
    log "leftover namespace $n (${age} min old): removing it"
    kill_namespace "$n"
    ip netns del "$n" || true
  done
  for n in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$PREFIX[a-z0-9]{1,8}h$" || true); do
    id=${n#"$PREFIX"}
    id=${id%h}
    [[ -d $BASE/$PREFIX-$id || -e /run/netns/$PREFIX-$id-rc ]] && continue
    log "leftover link $n: removing it"
    ip link del "$n" 2>/dev/null || true
  done
}

cmd_list() {
  local d owner
  for d in "$BASE/$PREFIX"-*; do
    [[ -d $d ]] || continue
    owner='no owner'
    if [[ -e $d/owner ]]; then
      if alive_owner "$d"; then owner="owner $(cut -d' ' -f1 "$d/owner")"; else owner='owner gone'; fi
    fi
    printf '%s\t%s min\t%s\n' "$(basename "$d")" "$(age_minutes "$d/created")" "$owner"
  done
}

cmd_watch() { watch_owner "${1:?RUN_DIR}" "${2:?PID}" cmd_down; }

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  pc) shift; cmd_pc "$@" ;;
  down) shift; cmd_down "$@" ;;
  clean) shift; cmd_clean "$@" ;;
  list) shift; cmd_list ;;
  watch) shift; cmd_watch "$@" ;;
  *) echo "usage: $0 up [--id ID] [--client DIR] [--tftp DIR] [--no-roomcast] [--peers N] [--env ROOMCAST_X=V]... | pc ID bios|uefi [MAC [QEMU ARGS...]] | down ID|RUN_DIR | clean [MINUTES] | list | watch RUN_DIR PID" >&2; exit 2 ;;
esac
