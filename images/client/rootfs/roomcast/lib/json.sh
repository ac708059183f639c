# Minimal JSON writing and reading for the boot client (busybox sh + awk).

# json_str VALUE: VALUE as a JSON string. Backslashes and quotes are escaped; control characters
# (tabs, newlines, ...) become spaces. Other bytes pass through unchanged (UTF-8 stays UTF-8).
json_str() {
	case $1 in
	*[\"\\]* | *[![:print:]]*)
		printf '%s' "$1" | awk '
			BEGIN { ORS = ""; printf "\"" }
			{
				if (NR > 1) printf " "
				gsub(/\\/, "\\\\&"); gsub(/"/, "\\\\&"); gsub(/[\001-\037\177]/, " ")
				print
			}
			END { printf "\"" }'
		;;
	*) printf '"%s"' "$1" ;;
	esac
}

# json_num VALUE: VALUE when it is a non-negative integer, else null.
json_num() {
	if is_uint "$1"; then printf '%s' "$1"; else printf 'null'; fi
}

# json_bool VALUE: true for 1/true/yes, else false.
json_bool() {
	case $1 in 1 | true | yes) printf 'true' ;; *) printf 'false' ;; esac
}

# json_get FILE KEY: the string value of the first "KEY": "..." in the JSON document FILE,
# unescaped (\uXXXX becomes "?"); empty when there is none. Enough for flat answers such as
# {"action":"poweroff"} and problem+json ({"title":...,"detail":...}); nested documents need a
# real parser (e.g. add jq to binaries.list).
json_get() {
	[ -r "$1" ] || return 0
	awk -v key="$2" '
		{ doc = doc $0 "\n" }
		END {
			if (!match(doc, "\"" key "\"[ \t\r\n]*:[ \t\r\n]*\"")) exit
			s = substr(doc, RSTART + RLENGTH)
			out = ""
			n = length(s)
			for (i = 1; i <= n; i++) {
				c = substr(s, i, 1)
				if (c == "\"") break
				if (c == "\\") {
					i++
					c = substr(s, i, 1)
					if (c == "n" || c == "r" || c == "t") c = " "
					else if (c == "b" || c == "f") c = ""
					else if (c == "u") { c = "?"; i += 4 }
				}
				out = out c
			}
			printf "%s", out
		}' "$1"
}
