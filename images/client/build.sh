#!/usr/bin/env bash
# Builds the roomcast boot client, the Linux system that PXE-booted PCs run (DESIGN.md §4):
#
#   OUT_DIR/vmlinuz      the kernel of Debian's linux-image-amd64, as installed in /boot
#   OUT_DIR/initrd.img   busybox-static, the kernel modules of modules.list (with their
#                        dependencies), the programs of binaries.list (with their shared libraries)
#                        and the client itself (rootfs/: /init, /roomcast/steps, /roomcast/actions)
#   OUT_DIR/client.json  versions, module list, sizes and sha256 of the two files
#
#   bash images/client/build.sh OUT_DIR
#
# Needs (Debian): linux-image-amd64 busybox-static dmidecode cpio kmod (plus coreutils, findutils,
# gzip, libc-bin's ldd, all of which are always there). Works as root and as an ordinary user;
# downloads nothing. The newest /boot/vmlinuz-* is used; ROOMCAST_CLIENT_KERNEL=VERSION picks another.
# The output is reproducible: same inputs, same bytes (SOURCE_DATE_EPOCH sets the file times; 0).
# Each file is written under a temporary name in OUT_DIR, then renamed; client.json comes last.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me="images/client/build.sh"
# die, note, start_build, need_tools, make_tmp, copy_listed
# shellcheck source=images/client/lib.sh
. "$here/lib.sh"
start_build "$@"
need_tools "cpio kmod gzip libc-bin findutils coreutils" cpio gzip depmod modprobe ldd sha256sum find sort

# --- kernel ------------------------------------------------------------------------------------------
if [[ -n "${ROOMCAST_CLIENT_KERNEL:-}" ]]; then
	kver=$ROOMCAST_CLIENT_KERNEL
	[[ -r /boot/vmlinuz-$kver ]] || die "ROOMCAST_CLIENT_KERNEL=$kver: no readable /boot/vmlinuz-$kver"
else
	kver=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
	[[ -n "$kver" ]] || die "no kernel in /boot: apt-get install linux-image-amd64"
fi
vmlinuz=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[[ -r "$vmlinuz" ]] || die "cannot read $vmlinuz"
[[ -s "$moddir/modules.dep" ]] || die "$moddir/modules.dep is missing (reinstall linux-image-$kver, or run depmod $kver)"
if [[ -r /boot/config-$kver ]] && ! grep -qx 'CONFIG_RD_GZIP=y' "/boot/config-$kver"; then
	die "kernel $kver cannot unpack a gzip initramfs (CONFIG_RD_GZIP is not y)"
fi
kpkg_version=$(dpkg-query -W -f='${Version}' "linux-image-$kver" 2>/dev/null || true)

# --- busybox -----------------------------------------------------------------------------------------
busybox=/bin/busybox
[[ -x "$busybox" ]] || die "no $busybox: apt-get install busybox-static"
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked (Debian's 'busybox' package): apt-get install busybox-static"
fi
bb_version=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || "$busybox" | sed -n '1s/^BusyBox v\([^ ]*\).*/\1/p')

make_tmp roomcast-client

# --- the client's own files --------------------------------------------------------------------------
mkdir -p "$root"
cp -R "$here/rootfs/." "$root/"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,run,tmp,root,var,lib/modules/"$kver"}
ln -s /run "$root/var/run"
chmod 0755 "$root/init" "$root/usr/share/udhcpc/default.script" "$root"/roomcast/steps/*.sh "$root"/roomcast/actions/*.sh
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
# The client's version: a hash of images/client (what the api can log, and the test's cache key).
client_version=$(cd "$here" && find . -type f ! -name '*.sw?' ! -name '*~' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
printf '%s\n' "$client_version" >"$root/roomcast/VERSION"

install -m 0755 "$busybox" "$root/bin/busybox"
while read -r applet; do
	[[ -n "$applet" && ! -e "$root/$applet" && ! -L "$root/$applet" ]] || continue
	mkdir -p "$(dirname "$root/$applet")"
	ln -s /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)

# --- kernel modules ----------------------------------------------------------------------------------
# modprobe resolves the dependencies (and soft dependencies) from this kernel's modules.dep; the
# host's /etc/modprobe.d is ignored (-C /dev/null) so the output does not depend on the build machine.
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' "$here/modules.list" | grep -v '^$')
((${#wanted[@]})) || die "modules.list names no module"
load=()
declare -A copied=()
for mod in "${wanted[@]}"; do
	deps=$(modprobe -C /dev/null --ignore-install --show-depends -S "$kver" "$mod" 2>&1) ||
		die "module $mod: not in kernel $kver ($deps)"
	builtin_only=1
	while read -r kind path _; do
		case $kind in
		builtin) ;;
		insmod)
			builtin_only=0
			[[ $path == "$moddir"/* ]] || die "module $mod: unexpected path $path"
			if [[ -z "${copied[$path]:-}" ]]; then
				install -D -m 0644 "$path" "$root$path"
				copied[$path]=1
			fi
			;;
		*) die "module $mod: unexpected modprobe output: $kind $path" ;;
		esac
	done <<<"$deps"
	((builtin_only)) || load+=("$mod")
done
for f in modules.order modules.builtin; do
	[[ ! -r "$moddir/$f" ]] || install -m 0644 "$moddir/$f" "$root$moddir/$f"
done
depmod -b "$root" "$kver" 2>"$tmp/depmod.log" || {
	cat "$tmp/depmod.log" >&2
	die "depmod failed"
}
printf '%s\n' "${load[@]}" >"$root/roomcast/modules.load"

# --- dynamically linked programs, with their libraries -----------------------------------------------
programs=()
copy_listed "$here/binaries.list"

# --- the archive ---------------------------------------------------------------------------------------
epoch=${SOURCE_DATE_EPOCH:-0}
find "$root" -exec touch -h -d "@$epoch" {} +

# /dev/console must exist before /init runs (the kernel opens it for PID 1's stdio), and creating a
# device node needs root: so it comes from a tiny hand-written newc archive placed before the main,
# compressed one (the kernel unpacks concatenated archives, as with early microcode).
newc_entry() { # newc_entry NAME MODE NLINK RDEVMAJOR RDEVMINOR
	local name=$1 namesize=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$((ino++))" "$2" 0 0 "$3" "$epoch" 0 0 0 "$4" "$5" "$namesize" 0
	printf '%s\0' "$name"
	# header (110 bytes) + name, padded to a multiple of 4
	local pad=$(((4 - (110 + namesize) % 4) % 4))
	((pad == 0)) || head -c "$pad" /dev/zero
}
ino=1
{
	newc_entry dev $((0040755)) 2 0 0
	newc_entry dev/console $((0020600)) 1 5 1
	newc_entry 'TRAILER!!!' 0 1 0 0
} >"$tmp/early.cpio"
# Pad to 512 bytes so the compressed archive starts aligned.
size=$(stat -c %s "$tmp/early.cpio")
head -c $(((512 - size % 512) % 512)) /dev/zero >>"$tmp/early.cpio"

(cd "$root" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n >"$tmp/main.cpio.gz"
cat "$tmp/early.cpio" "$tmp/main.cpio.gz" >"$tmp/initrd.img"

# --- output --------------------------------------------------------------------------------------------
mkdir -p "$out"
part_vmlinuz="$out/.vmlinuz.part.$$"
part_initrd="$out/.initrd.img.part.$$"
part_json="$out/.client.json.part.$$"
parts=("$part_vmlinuz" "$part_initrd" "$part_json")
install -m 0644 "$vmlinuz" "$part_vmlinuz"
install -m 0644 "$tmp/initrd.img" "$part_initrd"
k_sha=$(sha256sum <"$part_vmlinuz" | cut -d' ' -f1)
i_sha=$(sha256sum <"$part_initrd" | cut -d' ' -f1)
k_size=$(stat -c %s "$part_vmlinuz")
i_size=$(stat -c %s "$part_initrd")
unpacked=$(du -sb "$root" | cut -f1)
dmi_version=$(dpkg-query -W -f='${Version}' dmidecode 2>/dev/null || true)
json_list() { # json_list WORD...: ["WORD",...] (the words are module names and paths: nothing to escape)
	local sep='' w
	printf '['
	for w in "$@"; do
		printf '%s"%s"' "$sep" "$w"
		sep=,
	done
	printf ']'
}
{
	printf '{\n'
	printf '  "client": "%s",\n' "$client_version"
	printf '  "kernel": {"version": "%s", "package": "linux-image-%s", "packageVersion": "%s"},\n' "$kver" "$kver" "$kpkg_version"
	printf '  "busybox": "%s",\n' "$bb_version"
	printf '  "dmidecode": "%s",\n' "$dmi_version"
	printf '  "modules": %s,\n' "$(json_list "${load[@]}")"
	printf '  "programs": %s,\n' "$(json_list "${programs[@]}")"
	printf '  "compression": "gzip",\n'
	printf '  "initrdUnpackedBytes": %s,\n' "$unpacked"
	printf '  "files": {\n'
	printf '    "vmlinuz": {"size": %s, "sha256": "%s"},\n' "$k_size" "$k_sha"
	printf '    "initrd.img": {"size": %s, "sha256": "%s"}\n' "$i_size" "$i_sha"
	printf '  }\n}\n'
} >"$part_json"
mv -f "$part_vmlinuz" "$out/vmlinuz"
mv -f "$part_initrd" "$out/initrd.img"
mv -f "$part_json" "$out/client.json"
parts=()

note "client $client_version, kernel $kver ($kpkg_version), busybox $bb_version"
note "modules: ${load[*]} (${#copied[@]} files with dependencies)"
note "vmlinuz $((k_size / 1024)) KiB, initrd.img $((i_size / 1024)) KiB ($((unpacked / 1024)) KiB unpacked), $((SECONDS - started)) s"
note "wrote $out/vmlinuz, $out/initrd.img, $out/client.json"
