# Hardware facts, as the JSON body of POST /api/v1/boot/hello.
#
# Sources: /sys/class/dmi/id (SMBIOS strings as the kernel decoded them), /proc/cpuinfo,
# dmidecode (installed memory modules; /proc/meminfo as a fallback), /sys/block (disks) and
# /sys/class/net (NICs). Unknown values are "" (numbers: null).

# dmi FIELD: a cleaned SMBIOS string from /sys/class/dmi/id/FIELD.
dmi() {
	clean "$(readf "/sys/class/dmi/id/$1")"
}

firmware_type() {
	if [ -d /sys/firmware/efi ]; then echo uefi; else echo bios; fi
}

# secure_boot: "true" or "false" from the SecureBoot EFI variable (efivarfs: 4 attribute bytes,
# then the value, 1 = on); nothing on BIOS or when it cannot be read. RC_EFI_DIR: tests only.
secure_boot() {
	_efi=${RC_EFI_DIR:-/sys/firmware/efi}
	[ -d "$_efi" ] || return 0
	_f=$_efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
	if [ ! -e "$_f" ] && [ -z "${RC_EFI_DIR:-}" ] && ! grep -q " $_efi/efivars efivarfs " /proc/mounts 2>/dev/null; then
		mount -t efivarfs efivarfs "$_efi/efivars" 2>/dev/null || return 0
	fi
	[ -r "$_f" ] || return 0
	# The whole variable, then its fifth byte: busybox od cannot skip (-j) in an efivarfs file
	# ("can't skip past end of combined input"; seen under QEMU/OVMF, kernel 6.1).
	set -- $(od -An -tu1 "$_f" 2>/dev/null)
	case ${5:-} in
	1) printf true ;;
	0) printf false ;;
	esac
}

# memory_bytes: the installed RAM, summed from the SMBIOS memory devices (type 17) so a PC with
# 8 GiB reports 8 GiB; MemTotal from /proc/meminfo (what the kernel can use, a little less) when
# the firmware has no usable type 17 table.
memory_bytes() {
	_m=
	if command -v dmidecode >/dev/null 2>&1; then
		_m=$(dmidecode -t 17 2>/dev/null | awk '
			/^[ \t]*Size: [0-9]+ [kMGT]?B[ \t]*$/ {
				n = $2; u = $3
				if (u == "kB") n *= 1024
				else if (u == "MB") n *= 1048576
				else if (u == "GB") n *= 1073741824
				else if (u == "TB") n *= 1099511627776
				sum += n
			}
			END { if (sum > 0) printf "%.0f", sum }')
	fi
	if ! is_uint "$_m"; then
		_m=$(awk '/^MemTotal:/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
	fi
	printf '%s' "$_m"
}

# cpu_json: {"model":...,"cores":N,"threads":N}. Cores are the distinct (package, core) pairs.
cpu_json() {
	_model=$(clean "$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)")
	_counts=$(awk -F': *' '
		/^processor/   { threads++; phys = ""; core = "" }
		/^physical id/ { phys = $2 }
		/^core id/     { core = $2; seen[phys "/" core] = 1 }
		END { n = 0; for (k in seen) n++; if (n == 0) n = threads; print n, threads }' /proc/cpuinfo)
	set -- $_counts
	printf '{"model":%s,"cores":%s,"threads":%s}' "$(json_str "$_model")" "$(json_num "$1")" "$(json_num "$2")"
}

# disk_transport NAME: sata, nvme, usb, virtio, mmc, scsi or "" (from the device's sysfs path).
disk_transport() {
	_p=$(readlink -f "/sys/block/$1")
	case $_p in
	*/usb[0-9]*) echo usb ;;
	*/nvme/* | */nvme-subsystem/*) echo nvme ;;
	*/virtio[0-9]*) echo virtio ;;
	*/ata[0-9]*) echo sata ;;
	*/mmc_host/*) echo mmc ;;
	*/host[0-9]*/target*) echo scsi ;;
	*) echo "" ;;
	esac
}

# disk_serial NAME: the serial number of a disk.
disk_serial() {
	_d=/sys/block/$1
	case $1 in
	nvme*) # nvme0n1 -> controller nvme0 (also right with native multipath, where device/ is the subsystem)
		_ctrl=${1%n*}
		_s=$(readf "/sys/class/nvme/$_ctrl/serial")
		[ -n "$_s" ] || _s=$(readf "$_d/device/serial")
		;;
	vd*) _s=$(readf "$_d/serial") ;;
	*)
		_s=
		# SCSI and libata (SATA) disks: VPD page 0x80, a 4-byte header then the serial.
		if [ -r "$_d/device/vpd_pg80" ]; then
			_s=$(tail -c +5 "$_d/device/vpd_pg80" 2>/dev/null | tr -d '\000')
		fi
		# USB disks: the serial of the USB device, further up the path.
		if [ -z "$(trim "$_s")" ]; then
			_p=$(readlink -f "$_d/device")
			while [ -n "$_p" ] && [ "$_p" != /sys/devices ] && [ "$_p" != / ]; do
				if [ -r "$_p/serial" ] && [ -r "$_p/idVendor" ]; then
					_s=$(readf "$_p/serial")
					break
				fi
				_p=${_p%/*}
			done
		fi
		;;
	esac
	clean "$_s"
}

# disk_model NAME
disk_model() {
	case $1 in
	nvme*) _m=$(readf "/sys/class/nvme/${1%n*}/model") ;;
	*) _m=$(readf "/sys/block/$1/device/model") ;;
	esac
	clean "$_m"
}

# disk_names: the block devices that are disks (no partitions, loops, RAM disks, optical drives,
# device-mapper or empty card readers).
disk_names() {
	for _d in /sys/block/*; do
		_n=${_d##*/}
		case $_n in loop* | ram* | zram* | dm-* | md* | sr* | fd* | nbd* | mmcblk*boot* | mmcblk*rpmb) continue ;; esac
		[ -e "$_d/device" ] || continue
		_size=$(readf "$_d/size")
		is_uint "$_size" && [ "$_size" -gt 0 ] || continue
		echo "$_n"
	done
}

disks_json() {
	_sep=
	printf '['
	for _n in $(disk_names); do
		_sectors=$(readf "/sys/block/$_n/size")
		printf '%s{"name":%s,"model":%s,"serial":%s,"sizeBytes":%s,"rotational":%s,"transport":%s}' \
			"$_sep" "$(json_str "$_n")" "$(json_str "$(disk_model "$_n")")" "$(json_str "$(disk_serial "$_n")")" \
			"$((_sectors * 512))" "$(json_bool "$(readf "/sys/block/$_n/queue/rotational")")" \
			"$(json_str "$(disk_transport "$_n")")"
		_sep=,
	done
	printf ']'
}

# nic_names: physical Ethernet interfaces (with a device behind them, ARP type 1).
nic_names() {
	for _d in /sys/class/net/*; do
		[ -e "$_d/device" ] || continue
		[ "$(readf "$_d/type")" = 1 ] || continue
		echo "${_d##*/}"
	done
}

# nic_speed IFACE: link speed in Mb/s, or "" when unknown (no link: the kernel says -1 or fails).
nic_speed() {
	_s=$(readf "/sys/class/net/$1/speed")
	if is_uint "$_s" && [ "$_s" -gt 0 ]; then printf '%s' "$_s"; fi
}

nic_driver() {
	_l=$(readlink "/sys/class/net/$1/device/driver" 2>/dev/null)
	printf '%s' "${_l##*/}"
}

nics_json() {
	_sep=
	printf '['
	for _n in $(nic_names); do
		printf '%s{"name":%s,"mac":%s,"speedMbps":%s,"driver":%s}' "$_sep" "$(json_str "$_n")" \
			"$(json_str "$(mac_of "$_n")")" "$(json_num "$(nic_speed "$_n")")" "$(json_str "$(nic_driver "$_n")")"
		_sep=,
	done
	printf ']'
}

# facts_json MAC: the whole hello body; MAC is the interface that booted (got the DHCP lease).
facts_json() {
	printf '{"mac":%s,"firmware":%s' "$(json_str "$1")" "$(json_str "$(firmware_type)")"
	printf ',"system":{"vendor":%s,"model":%s,"serial":%s,"uuid":%s}' \
		"$(json_str "$(dmi sys_vendor)")" "$(json_str "$(dmi product_name)")" \
		"$(json_str "$(dmi product_serial)")" "$(json_str "$(dmi product_uuid | tr 'A-F' 'a-f')")"
	printf ',"baseboard":{"vendor":%s,"model":%s,"serial":%s}' \
		"$(json_str "$(dmi board_vendor)")" "$(json_str "$(dmi board_name)")" "$(json_str "$(dmi board_serial)")"
	printf ',"bios":{"vendor":%s,"version":%s,"date":%s}' \
		"$(json_str "$(dmi bios_vendor)")" "$(json_str "$(dmi bios_version)")" "$(json_str "$(dmi bios_date)")"
	_sb=$(secure_boot)
	printf ',"cpu":%s,"memoryBytes":%s,"disks":%s,"nics":%s%s}\n' \
		"$(cpu_json)" "$(json_num "$(memory_bytes)")" "$(disks_json)" "$(nics_json)" "${_sb:+,\"secureBoot\":$_sb}"
}
