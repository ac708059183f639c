#!/bin/sh
# Shared by the capture and restore actions (sourced with RC_ACTION set): runs the imaging client
# (Node.js and /roomcast/client.mjs, which come from imaging.img, the second initramfs iPXE loads
# for these tasks), then powers off or reboots as the task says. The client reports progress and the final result to the api
# itself; this script only shows the outcome and keeps a failure on screen for RC_FAILDELAY s.
. /roomcast/lib/common.sh
. /roomcast/lib/json.sh

if [ ! -x /usr/local/bin/node ] || [ ! -r /roomcast/client.mjs ]; then
	log "error: the imaging part of the boot client (imaging.img) is missing: the api's iPXE script must load it for $RC_ACTION tasks"
	sleep "${RC_FAILDELAY:-15}"
	exec sh /roomcast/actions/poweroff.sh
fi
# hello answers a fresh task token for the whole job (a capture can outlast the boot token).
token=$(json_get "$RC_RUN/hello.response.json" token)
[ -n "$token" ] || token=$RC_TOKEN
printf '%s' "$token" >"$RC_RUN/task.token"
chmod 600 "$RC_RUN/task.token"

modprobe -q loop 2>/dev/null
modprobe -q fuse 2>/dev/null
log "$RC_ACTION: starting the imaging client"
# The client writes what the PC does next to $RC_RUN/end: the task's end action when it is done
# (poweroff, or reboot when a room run leaves the PCs on), poweroff when it failed.
rm -f "$RC_RUN/end"
# GLIBC_TUNABLES: services/imaging/malloc.ts (buffers of megabytes from the heap, not fresh mappings).
if GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456 ROOMCAST_BOOT_CLIENT=1 /usr/local/bin/node /roomcast/client.mjs run --api "$RC_API" --token-file "$RC_RUN/task.token" --disk "${RC_DISK:-auto}" --end-file "$RC_RUN/end"; then
	log "$RC_ACTION: done"
else
	log "$RC_ACTION: failed (the reason is above and in the web interface); powering off in ${RC_FAILDELAY:-15}s"
	sleep "${RC_FAILDELAY:-15}"
fi
case "$(cat "$RC_RUN/end" 2>/dev/null)" in
reboot) exec sh /roomcast/actions/reboot.sh ;;
*) exec sh /roomcast/actions/poweroff.sh ;;
esac
