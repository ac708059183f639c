#!/bin/sh
# Action "poweroff": switch the PC off. Runs the shutdown hooks first (none yet: the imaging steps
# will add unmounting and syncing of the target disk here or before dispatching).
. /roomcast/lib/common.sh
log "powering off"
sync
poweroff -f
# poweroff -f does not return; if the firmware refuses, stay quiet instead of letting /init exit.
sleep 5
log "power off failed; halting"
halt -f
