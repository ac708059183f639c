#!/bin/sh
# Action "reboot": restart the PC (its next PXE boot asks the api again).
. /roomcast/lib/common.sh
log "rebooting"
sync
reboot -f
sleep 5
log "reboot failed; halting"
halt -f
