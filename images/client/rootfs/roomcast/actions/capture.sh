#!/bin/sh
# Action "capture": copy this PC's disk into a new version of an image (actions/image.sh).
RC_ACTION=capture
. /roomcast/actions/image.sh
