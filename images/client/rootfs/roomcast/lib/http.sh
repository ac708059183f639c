# A small HTTP/1.0 client on busybox nc.
#
# Why not busybox wget: it exits on any status >= 400 without saving the body, and the client must
# show the api's problem+json "detail" on 401/403. HTTP/1.0 keeps the answer simple: no chunked
# encoding, the server closes the connection after the body. http:// only (no TLS in the client).

HTTP_TIMEOUT=${HTTP_TIMEOUT:-30}

# http_url URL: splits an http:// URL into HTTP_HOST, HTTP_PORT, HTTP_HOSTPORT and HTTP_PATH.
# Returns 1 for anything else (https://, user@host, IPv6 literals are not supported).
http_url() {
	case $1 in
	http://*) ;;
	*) return 1 ;;
	esac
	_rest=${1#http://}
	HTTP_HOSTPORT=${_rest%%/*}
	case $_rest in
	*/*) HTTP_PATH=/${_rest#*/} ;;
	*) HTTP_PATH=/ ;;
	esac
	case $HTTP_HOSTPORT in
	'' | *@* | *\[* | *[!A-Za-z0-9.:-]*) return 1 ;;
	*:*)
		HTTP_HOST=${HTTP_HOSTPORT%:*}
		HTTP_PORT=${HTTP_HOSTPORT##*:}
		;;
	*)
		HTTP_HOST=$HTTP_HOSTPORT
		HTTP_PORT=80
		;;
	esac
	[ -n "$HTTP_HOST" ] && is_uint "$HTTP_PORT"
}

# http_request METHOD URL BODY_FILE OUT_FILE [CONTENT_TYPE]
# Sends the request with the client's bearer token ($RC_TOKEN) and writes the response body to
# OUT_FILE. Prints the HTTP status, or 000 when there was no valid answer (connection refused,
# timeout, network down; OUT_FILE then says which). BODY_FILE may be "" for no body.
http_request() {
	_method=$1 _url=$2 _body=$3 _out=$4 _ctype=${5:-application/json}
	: >"$_out"
	if ! http_url "$_url"; then
		echo 000
		return 0
	fi
	# Per-call files (steps may report progress in the background while another request runs).
	_req=$(mktemp "$RC_RUN/http.XXXXXX")
	_resp=$_req.resp
	{
		printf '%s %s HTTP/1.0\r\n' "$_method" "$HTTP_PATH"
		printf 'Host: %s\r\n' "$HTTP_HOSTPORT"
		printf 'User-Agent: roomcast-client/%s\r\n' "$RC_VERSION"
		printf 'Accept: application/json, application/problem+json\r\n'
		[ -z "$RC_TOKEN" ] || printf 'Authorization: Bearer %s\r\n' "$RC_TOKEN"
		if [ -n "$_body" ]; then
			printf 'Content-Type: %s\r\n' "$_ctype"
			printf 'Content-Length: %s\r\n' "$(wc -c <"$_body" | tr -d ' ')"
		fi
		printf 'Connection: close\r\n\r\n'
		[ -z "$_body" ] || cat "$_body"
	} >"$_req"
	# nc -e runs the program with the connected socket as its stdin and stdout: it sends the
	# request, then reads the answer until the server closes. Not `nc <request`: at the end of its
	# input nc half-closes the socket, and Node's http server (httpAllowHalfOpen false) then ends
	# the connection before a handler that awaits anything (the database) has answered.
	: >"$_resp"
	timeout "$HTTP_TIMEOUT" nc -w 10 "$HTTP_HOST" "$HTTP_PORT" \
		-e /bin/sh -c 'cat "$1" && exec cat >"$2"' http "$_req" "$_resp" 2>/dev/null
	_rc=$?
	_status=$(head -n 1 "$_resp" | sed -n 's|^HTTP/[0-9.]* \([1-5][0-9][0-9]\).*|\1|p')
	if [ -n "$_status" ]; then
		# Body: everything after the first empty line (CRs dropped: JSON does not need them).
		tr -d '\r' <"$_resp" | sed '1,/^$/d' >"$_out"
	elif [ "$_rc" = 124 ] || [ "$_rc" = 143 ]; then # coreutils timeout: 124; busybox: killed by TERM
		echo "no answer within ${HTTP_TIMEOUT}s" >"$_out"
	elif [ -s "$_resp" ]; then
		echo "not an HTTP answer" >"$_out"
	else
		echo "cannot connect to $HTTP_HOSTPORT" >"$_out"
	fi
	rm -f "$_req" "$_resp"
	echo "${_status:-000}"
}
