#!/usr/bin/env bash
# Puts the iPXE binaries that PXE firmware loads over TFTP into DEST_DIR:
#   undionly.kpxe (BIOS), ipxe.efi and snponly.efi (x86-64 UEFI)
# taken from Debian's `ipxe` package (the version named in SHA256SUMS, next to this script) and
# checked against the checksums recorded there. Nothing is committed to the repository.
#
#   bash images/ipxe/fetch.sh DEST_DIR          (npm run ipxe: DEST_DIR=${ROOMCAST_TFTP_ROOT:-data/tftp})
#
# Needs only apt-get and dpkg-deb (a Debian bookworm container is enough; no curl). Works as root
# and as an ordinary user. As root, when the package lists are missing (a slim image), it runs
# `apt-get update` first. IPXE_DEB=/path/to/ipxe_….deb uses that package file instead of
# downloading (offline builds). Nothing is written to DEST_DIR unless all three files match their
# checksums, and each is written under a temporary name, checked again, then renamed into place.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sums="$here/SHA256SUMS"
files=(undionly.kpxe ipxe.efi snponly.efi)
me="images/ipxe/fetch.sh"

die() {
  printf '%s: %s\n' "$me" "$*" >&2
  exit 1
}

[[ $# -eq 1 && -n "$1" ]] || die "usage: bash $me DEST_DIR"
dest=$1
[[ -r "$sums" ]] || die "cannot read $sums"
pin=$(sed -n 's/^# package: *\(ipxe=[^ ]*\) *$/\1/p' "$sums")
[[ -n "$pin" ]] || die "$sums has no '# package: ipxe=VERSION' line"
for tool in dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is required (Debian: dpkg, coreutils)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/roomcast-ipxe.XXXXXX")
part=
trap 'rm -rf "$tmp"; [[ -z "$part" ]] || rm -f "$part"' EXIT

download() {
  # apt-get download writes into the current directory. As root it drops to the _apt user to
  # download, which must be able to write there (otherwise it warns and downloads as root).
  mkdir -p "$tmp/dl"
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$tmp/dl"; fi
  (cd "$tmp/dl" && apt-get -q download "$pin") >"$tmp/apt.log" 2>&1
}

if [[ -n "${IPXE_DEB:-}" ]]; then
  [[ -f "$IPXE_DEB" ]] || die "IPXE_DEB=$IPXE_DEB: no such file"
  deb=$IPXE_DEB
else
  command -v apt-get >/dev/null || die "apt-get is required (or set IPXE_DEB to a downloaded ipxe .deb)"
  if ! download; then
    if [[ $(id -u) -eq 0 ]] && grep -qE 'Unable to locate|Can.t select|Can.t find a source|not found' "$tmp/apt.log"; then
      echo "$me: package lists missing or stale; running apt-get update" >&2
      apt-get -q update >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; die "apt-get update failed"; }
      download || { cat "$tmp/apt.log" >&2; die "apt-get download $pin failed"; }
    else
      cat "$tmp/apt.log" >&2
      die "apt-get download $pin failed (stale package lists: run 'apt-get update' as root; Debian no longer has this version: update SHA256SUMS)"
    fi
  fi
  shopt -s nullglob
  debs=("$tmp"/dl/ipxe_*.deb)
  shopt -u nullglob
  [[ ${#debs[@]} -eq 1 ]] || die "apt-get download $pin produced no .deb"
  deb=${debs[0]}
fi

origin=$(basename "$deb")
mkdir -p "$tmp/x"
dpkg-deb -x "$deb" "$tmp/x" || die "dpkg-deb could not unpack $deb"

# Inside the package some names are symlinks with absolute targets (usr/lib/ipxe/ipxe.efi ->
# /boot/ipxe.efi): resolve them inside the unpacked tree, never on this machine.
resolve() {
  local p="$tmp/x/usr/lib/ipxe/$1" hops=0 target
  while [[ -L "$p" ]]; do
    ((hops++ < 8)) || die "$1: too many symlinks in the package"
    target=$(readlink "$p")
    if [[ $target == /* ]]; then p="$tmp/x$target"; else p="$(dirname "$p")/$target"; fi
  done
  [[ -f "$p" ]] || die "$1 is not in $origin (looked for usr/lib/ipxe/$1)"
  printf '%s\n' "$p"
}

expected_sum() {
  awk -v f="$1" '$1 !~ /^#/ && $2 == f { print $1 }' "$sums"
}

declare -A src
for f in "${files[@]}"; do
  src[$f]=$(resolve "$f")
  want=$(expected_sum "$f")
  [[ -n "$want" ]] || die "no checksum recorded for $f in $sums"
  got=$(sha256sum "${src[$f]}" | cut -d' ' -f1)
  [[ "$got" == "$want" ]] || die "checksum mismatch for $f from $origin: expected sha256 $want, got $got (nothing was written to $dest)"
done

mkdir -p "$dest"
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
echo "$me: ${files[*]} from $origin placed in $dest (sha256 checked)"
