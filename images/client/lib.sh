# Shared by build.sh and build-imaging.sh (sourced; expects $root).

# copy_elf PATH: PATH and the shared libraries ldd finds for it, at the same paths under $root.
copy_elf() {
	install -D -m 0755 "$1" "$root$1"
	local lib
	while read -r lib; do
		[[ -e "$root$lib" ]] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done < <(ldd "$1" | sed -n -e 's/^.* => \(\/[^ ]*\) (0x.*$/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (0x.*$/\1/p')
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
