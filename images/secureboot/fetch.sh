#!/usr/bin/env bash
# Puts the Secure Boot chain that x64 UEFI PCs with Secure Boot on load over TFTP into DEST_DIR:
#   shimx64.efi      Microsoft-signed shim, from Debian's shim-signed (shimx64.efi.signed)
#   grubx64.efi      Debian-signed network GRUB, from grub-efi-amd64-signed (grubnetx64.efi.signed);
#                    shim loads it by TFTP under this name, from the same server
#   grub/grub.cfg    what that GRUB reads first ($prefix/grub.cfg): it asks the api for the PC's
#                    configuration (images/secureboot/grub.cfg, with the api's HTTP port filled in)
# The two binaries are taken from the package versions named in SHA256SUMS (next to this script)
# and checked against the checksums recorded there. No boot loader is installed on this machine.
#
#   bash images/secureboot/fetch.sh DEST_DIR     (npm run secureboot: DEST_DIR=${ROOMCAST_TFTP_ROOT:-data/tftp})
#
# Needs only apt-get and dpkg-deb, like images/ipxe/fetch.sh. A pin may name a Debian suite after
# the version ("# package: grub-efi-amd64-signed=VERSION trixie"): that package is downloaded
# through a private, temporary apt state (its own sources list and package lists under the
# script's temporary directory, nothing of the host's apt configuration read or changed besides its
# keyrings), so a bookworm machine or image build can take GRUB from trixie. The mirror:
# DEBIAN_MIRROR (default http://deb.debian.org/debian; security updates from
# DEBIAN_SECURITY_MIRROR, default http://deb.debian.org/debian-security). SHIM_DEB=/path/to/shim-signed_….deb
# and GRUB_DEB=/path/to/grub-efi-amd64-signed_….deb use those package files instead of
# downloading (offline builds). The api's port in grub.cfg: ROOMCAST_BOOT_HTTP_PORT, else
# ROOMCAST_HTTP_PORT, else 8080. Nothing is written to DEST_DIR unless both binaries match.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sums="$here/SHA256SUMS"
me="images/secureboot/fetch.sh"
# Served name, package, path inside the package.
files=(shimx64.efi grubx64.efi)
declare -A pkg_of=([shimx64.efi]=shim-signed [grubx64.efi]=grub-efi-amd64-signed)
declare -A path_of=([shimx64.efi]=usr/lib/shim/shimx64.efi.signed [grubx64.efi]=usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed)
declare -A env_of=([shim-signed]=SHIM_DEB [grub-efi-amd64-signed]=GRUB_DEB)

die() {
  printf '%s: %s\n' "$me" "$*" >&2
  exit 1
}

[[ $# -eq 1 && -n "$1" ]] || die "usage: bash $me DEST_DIR"
dest=$1
[[ -r "$sums" ]] || die "cannot read $sums"
port=${ROOMCAST_BOOT_HTTP_PORT:-${ROOMCAST_HTTP_PORT:-8080}}
[[ $port =~ ^[1-9][0-9]{0,4}$ && $port -le 65535 ]] || die "not a TCP port for the api: $port"
for tool in dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is required (Debian: dpkg, coreutils)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/roomcast-secureboot.XXXXXX")
part=
trap 'rm -rf "$tmp"; [[ -z "$part" ]] || rm -f "$part"' EXIT

pin_of() {
  sed -n "s/^# package: *\\($1=[^ ]*\\).*\$/\\1/p" "$sums"
}

# The suite named after the pinned version, if any (empty: the host's apt sources).
suite_of() {
  sed -n "s/^# package: *$1=[^ ]* \\+\\([a-z0-9-]\\+\\) *\$/\\1/p" "$sums"
}

download() {
  # As root, apt-get download drops to _apt, which must be able to write the directory.
  mkdir -p "$tmp/dl"
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$tmp/dl"; fi
  (cd "$tmp/dl" && apt-get -q "${apt_opts[@]}" download "$@") >"$tmp/apt.log" 2>&1
}

# A private apt state for one suite: its sources list, lists and cache under $tmp, the host's
# sources.list.d ignored; only `apt-get update` and `apt-get download` use it.
private_apt() {
  local suite=$1 state="$tmp/apt-$1" mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
  local security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [[ -r $keyring ]] || die "$keyring is required to download from $suite (Debian: debian-archive-keyring)"
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/parts"
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown -R _apt "$state/lists" "$state/cache"; fi
  {
    echo "deb [signed-by=$keyring] $mirror $suite main"
    echo "deb [signed-by=$keyring] $mirror $suite-updates main"
    echo "deb [signed-by=$keyring] $security $suite-security main"
  } >"$state/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$state/sources.list" -o "Dir::Etc::SourceParts=$state/parts"
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o "Dir::State::status=/dev/null")
  # As a user other than root, apt cannot drop to _apt; the private state is the user's own.
  [[ $(id -u) -eq 0 ]] || apt_opts+=(-o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1)
  apt-get -q "${apt_opts[@]}" update >"$tmp/update-$suite.log" 2>&1 || { cat "$tmp/update-$suite.log" >&2; die "apt-get update of the private $suite sources failed (no network? set GRUB_DEB/SHIM_DEB to downloaded .debs)"; }
}
apt_opts=()

declare -A deb_of
pins=()
declare -A suite_pins
for pkg in shim-signed grub-efi-amd64-signed; do
  var=${env_of[$pkg]}
  if [[ -n "${!var:-}" ]]; then
    [[ -f "${!var}" ]] || die "$var=${!var}: no such file"
    deb_of[$pkg]=${!var}
  else
    pin=$(pin_of "$pkg")
    [[ -n "$pin" ]] || die "$sums has no '# package: $pkg=VERSION' line"
    suite=$(suite_of "$pkg")
    if [[ -n "$suite" ]]; then suite_pins[$suite]+=" $pin"; else pins+=("$pin"); fi
  fi
done

# Packages pinned from another suite first, each suite through its own private apt state.
for suite in "${!suite_pins[@]}"; do
  command -v apt-get >/dev/null || die "apt-get is required (or set SHIM_DEB and GRUB_DEB to downloaded .debs)"
  read -ra these <<<"${suite_pins[$suite]}"
  private_apt "$suite"
  download "${these[@]}" || { cat "$tmp/apt.log" >&2; die "apt-get download ${these[*]} from $suite failed ($suite no longer has this version: update SHA256SUMS)"; }
  apt_opts=()
done

if [[ ${#pins[@]} -gt 0 ]]; then
  command -v apt-get >/dev/null || die "apt-get is required (or set SHIM_DEB and GRUB_DEB to downloaded .debs)"
  if ! download "${pins[@]}"; then
    if [[ $(id -u) -eq 0 ]] && grep -qE 'Unable to locate|Can.t select|Can.t find a source|not found' "$tmp/apt.log"; then
      echo "$me: package lists missing or stale; running apt-get update" >&2
      apt-get -q update >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; die "apt-get update failed"; }
      download "${pins[@]}" || { cat "$tmp/apt.log" >&2; die "apt-get download ${pins[*]} failed"; }
    else
      cat "$tmp/apt.log" >&2
      die "apt-get download ${pins[*]} failed (stale package lists: run 'apt-get update' as root; Debian no longer has this version: update SHA256SUMS)"
    fi
  fi
fi
shopt -s nullglob
for pkg in shim-signed grub-efi-amd64-signed; do
  [[ -z "${deb_of[$pkg]:-}" ]] || continue
  debs=("$tmp"/dl/"${pkg}"_*.deb)
  [[ ${#debs[@]} -eq 1 ]] || die "apt-get download $(pin_of "$pkg") produced no .deb"
  deb_of[$pkg]=${debs[0]}
done
shopt -u nullglob

expected_sum() {
  awk -v f="$1" '$1 !~ /^#/ && $2 == f { print $1 }' "$sums"
}

declare -A src
for f in "${files[@]}"; do
  pkg=${pkg_of[$f]}
  deb=${deb_of[$pkg]}
  mkdir -p "$tmp/x-$pkg"
  [[ -d "$tmp/x-$pkg/usr" ]] || dpkg-deb -x "$deb" "$tmp/x-$pkg" || die "dpkg-deb could not unpack $deb"
  src[$f]="$tmp/x-$pkg/${path_of[$f]}"
  # A regular file only: a symlink would point outside the unpacked package.
  [[ -f "${src[$f]}" && ! -L "${src[$f]}" ]] || die "$f is not in $(basename "$deb") (looked for ${path_of[$f]})"
  want=$(expected_sum "$f")
  [[ -n "$want" ]] || die "no checksum recorded for $f in $sums"
  got=$(sha256sum "${src[$f]}" | cut -d' ' -f1)
  [[ "$got" == "$want" ]] || die "checksum mismatch for $f from $(basename "$deb"): expected sha256 $want, got $got (nothing was written to $dest)"
done

mkdir -p "$dest/grub"
for f in "${files[@]}"; do
  part="$dest/.$f.part.$$"
  cp "${src[$f]}" "$part"
  chmod 0644 "$part"
  got=$(sha256sum "$part" | cut -d' ' -f1)
  if [[ "$got" != "$(expected_sum "$f")" ]]; then
    rm -f "$part"
    die "checksum mismatch for $f after copying to $dest: expected sha256 $(expected_sum "$f"), got $got"
  fi
  mv -f "$part" "$dest/$f"
  part=
done
part="$dest/grub/.grub.cfg.part.$$"
sed "s/@HTTP_PORT@/$port/g" "$here/grub.cfg" >"$part"
chmod 0644 "$part"
mv -f "$part" "$dest/grub/grub.cfg"
part=
echo "$me: ${files[*]} from ${deb_of[shim-signed]##*/} and ${deb_of[grub-efi-amd64-signed]##*/} placed in $dest (sha256 checked), grub/grub.cfg asks the api on port $port"
