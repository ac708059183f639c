#!/bin/sh
# Step "hello": POST the hardware facts to ${RC_API}/api/v1/boot/hello and record what the api
# wants next in $RC_RUN/action (one word: poweroff, reboot, ...; /init runs
# /roomcast/actions/<action>.sh). The whole answer stays in $RC_RUN/hello.response.json for the
# steps that come after.
#
# Retries with backoff (1, 2, 4, 8, 15, 15 ... s) for RC_HELLO_SECONDS (120) on network errors,
# 5xx, 408 and 429. 401/403: the api's problem detail is shown. Exit status: 0 ok, 1 failed (api unreachable, refused, or an unexpected answer; the reason
# is on the console).
. /roomcast/lib/common.sh
. /roomcast/lib/json.sh
. /roomcast/lib/http.sh
. /roomcast/lib/facts.sh

RC_HELLO_SECONDS=${RC_HELLO_SECONDS:-120}
body=$RC_RUN/hello.json
answer=$RC_RUN/hello.response.json
url=${RC_API%/}/api/v1/boot/hello

log "collecting hardware facts"
facts_json "$RC_MAC" >"$body"
# One short summary line (the details are in the body).
mem=$(sed -n 's/.*"memoryBytes":\([0-9]*\).*/\1/p' "$body")
serial=$(dmi product_serial)
log "facts: $(dmi sys_vendor) $(dmi product_name), serial ${serial:-?}, $(firmware_type), $((${mem:-0} / 1048576)) MiB, disks: $(echo $(disk_names)), nics: $(echo $(nic_names))"

deadline=$(($(now) + RC_HELLO_SECONDS))
delay=1
attempt=0
while :; do
	attempt=$((attempt + 1))
	log "hello: POST $url (attempt $attempt)"
	status=$(http_request POST "$url" "$body" "$answer")
	case $status in
	2??)
		break
		;;
	401 | 403)
		detail=$(json_get "$answer" detail)
		[ -n "$detail" ] || detail=$(json_get "$answer" title)
		log "hello refused by the api (HTTP $status): ${detail:-no detail given}"
		exit 1
		;;
	000 | 408 | 429 | 5??)
		if [ "$status" = 000 ]; then why=$(head -n 1 "$answer"); else why="HTTP $status"; fi
		if [ "$(now)" -ge "$deadline" ]; then
			log "hello: the api did not accept the facts after $attempt attempts ($why); giving up"
			exit 1
		fi
		log "hello: $why, retrying in ${delay}s"
		sleep "$delay"
		delay=$((delay * 2))
		[ "$delay" -le 15 ] || delay=15
		;;
	*)
		detail=$(json_get "$answer" detail)
		log "hello: unexpected answer from the api (HTTP $status): ${detail:-no detail given}"
		exit 1
		;;
	esac
done

action=$(json_get "$answer" action)
case $action in
'' | *[!a-z0-9_-]*)
	log "hello: the api gave no usable action ($(printf '%s' "$action" | tr -cd 'A-Za-z0-9_ -' | cut -c1-40)); doing poweroff"
	action=poweroff
	;;
esac
if [ ! -f "$RC_ACTIONS/$action.sh" ]; then
	log "hello: unknown action '$action'; doing poweroff"
	action=poweroff
fi
echo "$action" >"$RC_RUN/action"
log "hello ok, action=$action"
exit 0
