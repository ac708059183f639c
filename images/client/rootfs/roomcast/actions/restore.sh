#!/bin/sh
# Action "restore": write an image version to this PC's disk (actions/image.sh).
RC_ACTION=restore
. /roomcast/actions/image.sh
