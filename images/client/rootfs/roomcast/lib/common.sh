# Shared helpers of the roomcast boot client. Sourced by /init, the steps and the actions.
# POSIX sh as busybox ash runs it: no bash-isms. Helpers use variables prefixed with _ as locals.
#
# Environment set by /init (exported, so steps and actions inherit it):
#   RC_API RC_TOKEN RC_MODE RC_DEBUG RC_FAILDELAY RC_BOOTIF   from the kernel command line
#   RC_IFACE RC_MAC RC_IP                                      the interface that got the DHCP lease
#   RC_CONSOLES                                                console devices (e.g. "tty0 ttyS0")

RC_RUN=/run/roomcast
RC_STEPS=/roomcast/steps
RC_ACTIONS=/roomcast/actions
RC_VERSION=$(cat /roomcast/VERSION 2>/dev/null || echo dev)

# log MESSAGE...: one "roomcast: MESSAGE" line on every active console (serial and screen), and in
# $RC_RUN/client.log with the uptime. Never fails.
log() {
	_line="roomcast: $*"
	_shown=
	for _c in $RC_CONSOLES; do
		printf '%s\n' "$_line" 2>/dev/null >"/dev/$_c" && _shown=1
	done
	[ -n "$_shown" ] || printf '%s\n' "$_line" >&2
	printf '%s %s\n' "$(uptime_s)" "$_line" 2>/dev/null >>"$RC_RUN/client.log"
	return 0
}

# uptime_s: seconds since boot, with hundredths ("12.34").
uptime_s() {
	read -r _up _rest </proc/uptime
	printf '%s' "$_up"
}

# now: whole seconds since boot.
now() {
	read -r _up _rest </proc/uptime
	printf '%s' "${_up%%.*}"
}

# trim VALUE: VALUE without leading and trailing blanks.
trim() {
	_t=$1
	_t=${_t#"${_t%%[![:space:]]*}"}
	_t=${_t%"${_t##*[![:space:]]}"}
	printf '%s' "$_t"
}

# clean VALUE: trimmed VALUE, or "" for the placeholders firmware vendors leave in SMBIOS
# ("Not Specified", "To Be Filled By O.E.M.", "Default string", ...).
clean() {
	_v=$(trim "$1")
	_lc=$(printf '%s' "$_v" | tr 'A-Z' 'a-z')
	case $_lc in
	'' | 'not specified' | 'to be filled by o.e.m.' | 'to be filled by oem' | 'default string' | \
		'system manufacturer' | 'system product name' | 'system version' | 'system serial number' | \
		'base board serial number' | 'chassis serial number' | 'not applicable' | 'not available' | \
		'n/a' | 'na' | 'none' | 'null' | 'unknown' | 'oem' | 'o.e.m.' | 'empty' | 'invalid' | \
		'0' | '00000000' | '0123456789' | '123456789' | '1234567890' | 'xxxxxxxxxx' | 'xxxxxxxxxxxx' | \
		'00000000-0000-0000-0000-000000000000' | 'ffffffff-ffff-ffff-ffff-ffffffffffff' | \
		'03000200-0400-0500-0006-000700080009')
		return 0
		;;
	esac
	printf '%s' "$_v"
}

# readf FILE: the content of FILE (trailing newlines dropped), or "" when it cannot be read.
readf() {
	[ -r "$1" ] || return 0
	cat "$1" 2>/dev/null
}

# mac_of IFACE: the lowercase MAC address of a network interface.
mac_of() {
	readf "/sys/class/net/$1/address" | tr 'A-F' 'a-f'
}

# is_uint VALUE: true when VALUE is a non-negative decimal integer.
is_uint() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	return 0
}
