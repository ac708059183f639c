# Network bring-up: DHCP (busybox udhcpc) on the physical Ethernet interfaces, the one the PC
# booted from first. Needs facts.sh (nic_names).

RC_DHCP_SECONDS=${RC_DHCP_SECONDS:-120}

# net_wait_ifaces SECONDS: waits until at least one Ethernet interface exists.
net_wait_ifaces() {
	_limit=$(($(now) + $1))
	while [ -z "$(nic_names)" ]; do
		[ "$(now)" -lt "$_limit" ] || return 1
		sleep 0.2
	done
}

# net_order: candidate interfaces, best first: the BOOTIF= one (pxelinux-style
# "01-aa-bb-cc-dd-ee-ff", when the boot script passes it), then those with a link, then the rest.
net_order() {
	_boot=
	case $RC_BOOTIF in
	01-??-??-??-??-??-??) _boot=$(printf '%s' "${RC_BOOTIF#01-}" | tr 'A-F-' 'a-f:') ;;
	esac
	_first='' _up='' _down=''
	for _n in $(nic_names); do
		if [ -n "$_boot" ] && [ "$(mac_of "$_n")" = "$_boot" ]; then
			_first=$_n
		elif [ "$(readf "/sys/class/net/$_n/carrier" 2>/dev/null)" = 1 ]; then
			_up="$_up $_n"
		else
			_down="$_down $_n"
		fi
	done
	echo $_first $_up $_down
}

# net_up: sets RC_IFACE, RC_MAC and RC_IP from the first interface that gets a lease. udhcpc stays
# in the background to renew the lease (imaging can outlast it). Returns 1 after RC_DHCP_SECONDS.
net_up() {
	mkdir -p "$RC_RUN/net"
	net_wait_ifaces 10 || {
		log "network: no Ethernet interface found (driver missing? see images/client/modules.list)"
		return 1
	}
	for _n in $(nic_names); do ip link set dev "$_n" up 2>/dev/null; done
	# Give links a moment to come up (autonegotiation takes 1-3 s on real NICs).
	_limit=$(($(now) + 5))
	while [ "$(now)" -lt "$_limit" ]; do
		for _n in $(nic_names); do
			[ "$(readf "/sys/class/net/$_n/carrier" 2>/dev/null)" = 1 ] && break 2
		done
		sleep 0.2
	done
	_deadline=$(($(now) + RC_DHCP_SECONDS))
	_round=0
	while :; do
		_round=$((_round + 1))
		for _n in $(net_order); do
			log "network: DHCP on $_n ($(mac_of "$_n"), $(nic_driver "$_n"))"
			rm -f "$RC_RUN/net/$_n"
			if udhcpc -i "$_n" -s /usr/share/udhcpc/default.script -p "$RC_RUN/udhcpc.$_n.pid" \
				-t 4 -T 2 -A 3 -n -O mtu -O staticroutes >>"$RC_RUN/udhcpc.log" 2>&1 &&
				[ -r "$RC_RUN/net/$_n" ]; then
				. "$RC_RUN/net/$_n"
				RC_IFACE=$_n
				RC_MAC=$(mac_of "$_n")
				RC_IP=$lease_ip
				export RC_IFACE RC_MAC RC_IP
				log "network: $_n has $lease_ip/$lease_mask${lease_router:+ via $lease_router} (DHCP server $lease_server)"
				return 0
			fi
		done
		[ "$(now)" -lt "$_deadline" ] || break
		log "network: no DHCP answer yet (round $_round), retrying"
		sleep 2
	done
	log "network: no DHCP lease after ${RC_DHCP_SECONDS}s on: $(echo $(nic_names))"
	return 1
}
