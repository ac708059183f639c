# shellcheck shell=bash disable=SC2034,SC2154 # sets and uses the sourcing script's variables
# Shared by build.sh and build-imaging.sh: sourced right after `set -euo pipefail`, with $here (this
# folder) and $me (the script, as its messages name it) set; it sets $repo (the checkout).
repo=$(cd "$here/../.." && pwd)

die() {
	printf '%s: %s\n' "$me" "$*" >&2
	exit 1
}
note() { printf '%s: %s\n' "$me" "$*"; }

# start_build ARG...: the usage check (one argument, OUT_DIR); sets $out and $started, and LC_ALL=C.
start_build() {
	[[ $# -eq 1 && -n "$1" ]] || die "usage: bash $me OUT_DIR"
	out=$1
	started=$SECONDS
	export LC_ALL=C
}

# need_tools PACKAGES TOOL...: dies when a TOOL is not on PATH, naming the Debian PACKAGES to install.
need_tools() {
	local packages=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null || die "$tool is required (apt-get install $packages)"
	done
}

# make_tmp NAME: $tmp, a new directory ${TMPDIR:-/tmp}/NAME.XXXXXX, and $root=$tmp/root (not made
# yet). On exit $tmp is removed, and so are the output files still listed in the array `parts`
# (written under temporary names; empty it once they are renamed).
make_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	parts=()
	trap cleanup EXIT
	root=$tmp/root
}
cleanup() {
	rm -rf "$tmp"
	((${#parts[@]} == 0)) || rm -f "${parts[@]}"
}

# copy_libs PATH: the shared libraries ldd finds for PATH, at the same paths under $root.
copy_libs() {
	local lib
	while read -r lib; do
		[[ -e "$root$lib" ]] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done < <(ldd "$1" | sed -n -e 's/^.* => \(\/[^ ]*\) (0x.*$/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (0x.*$/\1/p')
}

# copy_elf PATH: PATH and its shared libraries, at the same paths under $root.
copy_elf() {
	install -D -m 0755 "$1" "$root$1"
	copy_libs "$1"
}

# copy_listed FILE: copy_elf for every "PATH PACKAGE" line of FILE ("#" starts a comment); the
# copied paths are appended to the array `programs`.
copy_listed() {
	local path pkg
	while read -r path pkg _; do
		[[ -n "$path" ]] || continue
		[[ -x "$path" ]] || die "$path is missing: apt-get install ${pkg:-the package that has it}"
		copy_elf "$path"
		programs+=("$path")
	done < <(sed -e 's/#.*//' "$1")
}
