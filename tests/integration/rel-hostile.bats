#!/usr/bin/env bats
#
# rel-hostile.bats: malformed and hostile requests, each its own case,
# through Caddy and (for what Caddy would never pass on) straight to the
# programs as CGI. Every case must be refused with the expected 4xx and a
# JSON error body, and leave no trace: no row recorded, no headscale run,
# the programs still the same processes. The last cases check the logs
# for a 5xx or a crash over the whole file.
#
# The programs run without --workers, so a crash cannot hide behind a
# respawn: it would end the one process, and the pid checks would fail.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	stack_start
}

teardown_file() {
	stack_stop
}

rows() {
	sqlite3 "$STACK_DB" 'SELECT count(*) FROM machines'
}

setup() {
	ROWS_BEFORE=$(rows)
	CALLS_BEFORE=$(hs_calls)
	BODY_FILE="$BATS_TEST_TMPDIR/body"
	TOKEN_HDR=@$(auth_file "$STACK_TOKEN")
	GOOD='{"hostname":"hostile-ok","mac":"aa:bb:cc:dd:ee:01"}'
}

# no_trace: nothing recorded, headscale not run, every process the same.
no_trace() {
	local name
	assert_equal "$(rows)" "$ROWS_BEFORE"
	assert_equal "$(hs_calls)" "$CALLS_BEFORE"
	for name in health register machines caddy; do
		pid_alive "$(cat "$STACK_DIR/pids/$name")" ||
		    fail "$name is no longer running"
	done
}

# refused STATUS: the last http call got STATUS with a JSON error body
# that does not echo the request, and left no trace.
refused() {
	assert_equal "$HTTP_STATUS" "$1"
	assert_equal "$(header Content-Type)" application/json
	assert_json_error
	no_trace
}

# post_file STATUS [curl args...]: POST /register with the body in
# $BODY_FILE and the right token, expecting STATUS.
post_file() {
	local status=$1
	shift
	http POST /register -H "$TOKEN_HDR" -H 'Content-Type: application/json' \
	    --data-binary "@$BODY_FILE" "$@"
	refused "$status"
}

# post STATUS BODY: the same with BODY given as printf(1) format-free text.
post() {
	printf '%s' "$2" >"$BODY_FILE"
	post_file "$1"
}

# post_bytes STATUS FORMAT: the body is printf FORMAT, for bytes that a
# shell string cannot hold (NUL, invalid UTF-8).
post_bytes() {
	# shellcheck disable=SC2059
	printf "$2" >"$BODY_FILE"
	post_file "$1"
}

# not_echoed VALUE: the last response does not quote VALUE back (values of
# four bytes or more; shorter ones occur in any text).
not_echoed() {
	if ((${#1} >= 4)) && [[ $HTTP_BODY == *"$1"* ]]; then
		fail "the response quotes the input: $HTTP_BODY"
	fi
}

# with_host STATUS HOSTNAME: a body whose hostname is HOSTNAME.
with_host() {
	register_body "$2" aa:bb:cc:dd:ee:02 | tr -d '\n' >"$BODY_FILE"
	post_file "$1"
	not_echoed "$2"
}

# with_mac STATUS MAC
with_mac() {
	register_body hostile-mac "$2" | tr -d '\n' >"$BODY_FILE"
	post_file "$1"
	not_echoed "$2"
}

# auth_as STATUS [curl header args...]: a good body with the given
# Authorization (or none).
auth_as() {
	local status=$1
	shift
	http POST /register -H 'Content-Type: application/json' \
	    --data-binary "$GOOD" "$@"
	refused "$status"
}

# --- methods ---------------------------------------------------------

@test "method: GET /register is 405" {
	http GET /register -H "$TOKEN_HDR"
	refused 405
	assert_equal "$(header Allow)" POST
}

@test "method: PUT /register is 405" {
	http PUT /register -H "$TOKEN_HDR" --data-binary "$GOOD"
	refused 405
}

@test "method: DELETE /register is 405" {
	http DELETE /register -H "$TOKEN_HDR"
	refused 405
}

@test "method: PATCH /register is 405" {
	http PATCH /register -H "$TOKEN_HDR" --data-binary "$GOOD"
	refused 405
}

@test "method: OPTIONS /register is 405" {
	http OPTIONS /register -H "$TOKEN_HDR"
	refused 405
}

@test "method: an invented method is 405" {
	http FROBNICATE /register -H "$TOKEN_HDR" --data-binary "$GOOD"
	refused 405
}

@test "method: HEAD /register is 405 with the JSON error's headers" {
	http HEAD /register -H "$TOKEN_HDR"
	assert_equal "$HTTP_STATUS" 405
	assert_equal "$(header Content-Type)" application/json
	assert_equal "$(header Allow)" POST
	no_trace
}

@test "method: POST /machines is 405" {
	http POST /machines -H "$TOKEN_HDR" --data-binary "$GOOD"
	refused 405
}

@test "method: DELETE /machines (no id) is 405" {
	http DELETE /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	refused 405
}

@test "method: POST /health is 405" {
	http POST /health --data-binary "$GOOD"
	refused 405
}

# --- bodies ----------------------------------------------------------

@test "body: empty, with Content-Length: 0" {
	post 400 ''
}

@test "body: none at all, no Content-Length" {
	http POST /register -H "$TOKEN_HDR"
	refused 400
}

@test "body: only whitespace" {
	post_bytes 400 ' \n\t\r\n '
}

@test "body: 70000 bytes with a Content-Length is 413" {
	head -c 70000 /dev/zero | tr '\0' 'a' >"$BODY_FILE"
	post_file 413
}

@test "body: 70000 bytes chunked is 413" {
	head -c 70000 /dev/zero | tr '\0' 'a' >"$BODY_FILE"
	post_file 413 -H 'Transfer-Encoding: chunked'
}

@test "body: 1 MB of valid-looking JSON is 413" {
	{
		printf '{"hostname":"big","mac":"aa:bb:cc:dd:ee:03","pad":"'
		head -c 1000000 /dev/zero | tr '\0' 'x'
		printf '"}'
	} >"$BODY_FILE"
	post_file 413
}

@test "body: not JSON" {
	post 400 'hostname=x&mac=aa:bb:cc:dd:ee:ff'
}

@test "body: a JSON array" {
	post 400 '[{"hostname":"a","mac":"aa:bb:cc:dd:ee:ff"}]'
}

@test "body: a JSON string" {
	post 400 '"hostname"'
}

@test "body: a JSON number" {
	post 400 '42'
}

@test "body: JSON null" {
	post 400 'null'
}

@test "body: a truncated object" {
	post 400 '{"hostname":"a","mac":"aa:bb:cc:dd:ee:ff"'
}

@test "body: two objects" {
	post 400 "$GOOD$GOOD"
}

@test "body: garbage after the object" {
	post 400 "$GOOD x"
}

@test "body: single quotes" {
	post 400 "{'hostname':'a','mac':'aa:bb:cc:dd:ee:ff'}"
}

@test "body: a comment inside the object" {
	post 400 '{"hostname":"a",/* x */"mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "body: a trailing comma" {
	post 400 '{"hostname":"a","mac":"aa:bb:cc:dd:ee:ff",}'
}

@test "body: a UTF-8 byte order mark before the object" {
	post_bytes 400 '\357\273\277{"hostname":"a","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "body: invalid UTF-8 in a string" {
	post_bytes 400 '{"hostname":"a\377\376","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "body: overlong UTF-8 encoding of '/'" {
	post_bytes 400 '{"hostname":"a\300\257b","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "body: invalid UTF-8 outside strings" {
	post_bytes 400 '{"hostname":"a","mac":"aa:bb:cc:dd:ee:ff"}\377'
}

@test "body: a lone surrogate escape" {
	post 400 '{"hostname":"\ud800","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "body: 1000 levels of arrays" {
	{
		head -c 1000 /dev/zero | tr '\0' '['
		head -c 1000 /dev/zero | tr '\0' ']'
	} >"$BODY_FILE"
	post_file 400
}

@test "body: hostname nested 20 objects deep" {
	local open close
	open=$(head -c 20 /dev/zero | tr '\0' '{' | sed 's/{/{"a":/g')
	close=$(head -c 20 /dev/zero | tr '\0' '}')
	post 400 "{\"hostname\":${open}1${close},\"mac\":\"aa:bb:cc:dd:ee:ff\"}"
}

@test "body: 3000 members and no hostname" {
	{
		printf '{'
		seq 1 3000 | sed 's/.*/"k&":&/' | paste -sd, -
		printf ',"mac":"aa:bb:cc:dd:ee:ff"}'
	} >"$BODY_FILE"
	post_file 400
}

@test "body: a number too large for any type" {
	post 400 '{"hostname":1e999999,"mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "duplicate keys: the last hostname counts, and is validated" {
	post 400 "{\"hostname\":\"fine\",\"hostname\":\"\$(id)\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}"
}

@test "duplicate keys: the last mac counts, and is validated" {
	post 400 '{"hostname":"fine","mac":"aa:bb:cc:dd:ee:ff","mac":"nope"}'
}

# --- field types -----------------------------------------------------

@test "field: hostname missing" {
	post 400 '{"mac":"aa:bb:cc:dd:ee:ff"}'
}

# (A missing, empty or "unknown" mac is an unknown one: legacy-10-iso-client.bats.)
@test "field: mac \"unknown\" in another case" {
	post 400 '{"hostname":"a","mac":"UNKNOWN"}'
}

@test "field: hostname null" {
	post 400 '{"hostname":null,"mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "field: hostname a number" {
	post 400 '{"hostname":12345,"mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "field: hostname true" {
	post 400 '{"hostname":true,"mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "field: hostname an array of strings" {
	post 400 '{"hostname":["a"],"mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "field: hostname an object" {
	post 400 '{"hostname":{"a":"b"},"mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "field: mac a number" {
	post 400 '{"hostname":"a","mac":112233445566}'
}

@test "field: mac null" {
	post 400 '{"hostname":"a","mac":null}'
}

# --- NUL and control characters --------------------------------------

@test "NUL: escaped \\u0000 inside the hostname" {
	post 400 '{"hostname":"good\u0000bad","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "NUL: a raw NUL byte inside the hostname" {
	post_bytes 400 '{"hostname":"good\000bad","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "NUL: a raw NUL byte after the object" {
	post_bytes 400 '{"hostname":"good","mac":"aa:bb:cc:dd:ee:ff"}\000'
}

@test "control: a raw control byte inside a string" {
	post_bytes 400 '{"hostname":"a\001b","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "control: escaped newline and tab in the hostname" {
	post 400 '{"hostname":"a\nb\tc","mac":"aa:bb:cc:dd:ee:ff"}'
}

@test "control: escaped DEL and a C1 control in the mac" {
	post 400 '{"hostname":"a","mac":"aa:bb:cc:dd:ee:\u007f\u0085"}'
}

# --- hostnames -------------------------------------------------------

@test "hostname: empty" {
	with_host 400 ''
}

@test "hostname: 64 characters" {
	with_host 400 "$(head -c 64 /dev/zero | tr '\0' a)"
}

@test "hostname: 10000 characters" {
	with_host 400 "$(head -c 10000 /dev/zero | tr '\0' a)"
}

@test "hostname: leading hyphen (would read as an option)" {
	with_host 400 -node
}

@test "hostname: trailing hyphen" {
	with_host 400 node-
}

@test "hostname: a dotted name" {
	with_host 400 node.example.com
}

@test "hostname: an underscore" {
	with_host 400 node_1
}

@test "hostname: a space" {
	with_host 400 'node 1'
}

@test "hostname: non-ASCII letters" {
	with_host 400 'nöde'
}

@test "hostname: a path" {
	with_host 400 ../../etc/passwd
}

# --- shell and SQL ---------------------------------------------------

@test "shell: command substitution" {
	with_host 400 "\$(touch $BATS_TEST_TMPDIR/pwned)"
	[[ ! -e $BATS_TEST_TMPDIR/pwned ]]
}

@test "shell: backticks" {
	with_host 400 "\`touch $BATS_TEST_TMPDIR/pwned\`"
	[[ ! -e $BATS_TEST_TMPDIR/pwned ]]
}

@test "shell: separators, pipes and redirections" {
	with_host 400 "a; touch $BATS_TEST_TMPDIR/pwned | cat > /dev/null &"
	[[ ! -e $BATS_TEST_TMPDIR/pwned ]]
}

@test "shell: an option for headscale in the hostname" {
	with_host 400 '--user=admin'
}

@test "SQL: quote and statement in the hostname" {
	with_host 400 "a'); DROP TABLE machines; --"
	run -0 sqlite3 "$STACK_DB" "SELECT count(*) FROM sqlite_master WHERE name = 'machines'"
	assert_output 1
}

@test "SQL: double quotes and a comment in the mac" {
	with_mac 400 'aa:bb:cc:dd:"e/*'
}

# --- MAC addresses ---------------------------------------------------

@test "mac: non-hex digits" {
	with_mac 400 zz:bb:cc:dd:ee:ff
}

@test "mac: five octets" {
	with_mac 400 aa:bb:cc:dd:ee
}

@test "mac: seven octets" {
	with_mac 400 aa:bb:cc:dd:ee:ff:00
}

@test "mac: mixed separators" {
	with_mac 400 aa:bb-cc:dd:ee:ff
}

@test "mac: no separators" {
	with_mac 400 aabbccddeeff
}

@test "mac: padded with spaces" {
	with_mac 400 ' aa:bb:cc:dd:ee:ff '
}

# --- Authorization ---------------------------------------------------

@test "auth: no Authorization header" {
	auth_as 401
	assert_equal "$(header WWW-Authenticate)" Bearer
}

@test "auth: Basic with the token as password" {
	auth_as 401 -H @"$(header_file "Authorization: Basic $(printf 'x:%s' "$STACK_TOKEN" | base64 -w0)")"
}

@test "auth: the scheme alone" {
	auth_as 401 -H 'Authorization: Bearer'
}

@test "auth: the token without a scheme" {
	auth_as 401 -H @"$(header_file "Authorization: $STACK_TOKEN")"
}

@test "auth: no space between scheme and token" {
	auth_as 401 -H @"$(header_file "Authorization: Bearer$STACK_TOKEN")"
}

@test "auth: the token with a prefix" {
	auth_as 401 -H @"$(auth_file "x$STACK_TOKEN")"
}

@test "auth: the token with a suffix" {
	auth_as 401 -H @"$(auth_file "${STACK_TOKEN}0")"
}

@test "auth: the token and a second word" {
	auth_as 401 -H @"$(auth_file "$STACK_TOKEN extra")"
}

@test "auth: the token one character short" {
	auth_as 401 -H @"$(auth_file "${STACK_TOKEN%?}")"
}

@test "auth: the token in upper case" {
	auth_as 401 -H @"$(auth_file "${STACK_TOKEN^^}")"
}

@test "auth: a 10 KB token" {
	auth_as 401 -H @"$(auth_file "$(head -c 10240 /dev/zero | tr '\0' a)")"
}

@test "auth: the right token 160 times over" {
	local long i
	for ((i = 0; i < 160; i++)); do
		long+=$STACK_TOKEN
	done
	auth_as 401 -H @"$(auth_file "$long")"
}

@test "auth: two Authorization headers, both right" {
	auth_as 401 -H "$TOKEN_HDR" -H "$TOKEN_HDR"
}

@test "auth: a wrong header and a right one" {
	auth_as 401 -H 'Authorization: Bearer wrong' -H "$TOKEN_HDR"
}

@test "auth: the token in the query string" {
	http POST "/register?access_token=$STACK_TOKEN" --data-binary "$GOOD"
	refused 401
}

@test "auth: the token in another header" {
	auth_as 401 -H @"$(auth_file "$STACK_TOKEN" X-Authorization)"
}

@test "auth: the token as Proxy-Authorization" {
	auth_as 401 -H @"$(auth_file "$STACK_TOKEN" Proxy-Authorization)"
}

@test "auth: the token in a cookie" {
	auth_as 401 -H @"$(header_file "Cookie: token=$STACK_TOKEN")"
}

@test "auth: GET /machines with a wrong token, Basic, or none" {
	http GET /machines -H 'Authorization: Bearer wrong'
	refused 401
	http GET /machines -H @"$(header_file "Authorization: Basic $(printf 'admin:%s' \
	    "$STACK_TOKEN" | base64 -w0)")"
	refused 401
	http GET /machines
	refused 401
}

@test "auth: the accepted spellings are RFC 7235's and no others" {
	# Not hostile: the boundary. Scheme case and the blanks after it are
	# free; everything the cases above change is not. These register.
	local rows0 h
	rows0=$(rows)
	for h in "bearer $STACK_TOKEN" "BEARER $STACK_TOKEN" \
	    "Bearer    $STACK_TOKEN" "Bearer	$STACK_TOKEN"; do
		http POST /register -H @"$(header_file "Authorization: $h")" \
		    --data-binary "$GOOD"
		echo "Authorization: $h"
		assert_equal "$HTTP_STATUS" 200
	done
	assert_equal "$(rows)" $((rows0 + 4))
}

# --- injection -------------------------------------------------------

@test "injection: CR LF and a header inside the hostname" {
	with_host 400 $'a\r\nSet-Cookie: pwned=1'
	[[ -z $(header Set-Cookie) ]]
	[[ $HTTP_BODY != *pwned* ]]
}

@test "injection: CR LF in the Authorization header" {
	auth_as 401 -H $'Authorization: Bearer wrong\r\nX-Injected: 1'
}

@test "injection: encoded CR LF in the path" {
	http POST '/register%0d%0aX-Injected:%201' -H "$TOKEN_HDR" \
	    --data-binary "$GOOD"
	refused 404
	[[ -z $(header X-Injected) ]]
}

@test "injection: a forged X-Forwarded-For does not change the client" {
	local log="$STACK_LOGS/register.log" before
	before=$(wc -l <"$log")
	auth_as 401 -H 'X-Forwarded-For: 10.9.8.7'
	wait_until 10 lines_exceed "$log" "$before"
	assert_regex "$(tail -n 1 "$log")" '^register 127\.0\.0\.1 401 '
	run ! grep -F 10.9.8.7 "$log"
}

@test "path: /register/extra is a JSON 404" {
	http POST /register/extra -H "$TOKEN_HDR" --data-binary "$GOOD"
	refused 404
}

# --- straight to the programs as CGI ---------------------------------

# cgi_refused STATUS: the last cgi run answered STATUS with a JSON error,
# exited 0, ended its log with the request line, and left no trace.
cgi_refused() {
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" "$1"
	assert_json_error "$CGI_BODY"
	assert_regex "$(tail -n 1 <<<"$CGI_STDERR")" "^register [^ ]+ $1 [0-9]+ms"
	no_trace
}

@test "CGI: REQUEST_METHOD in lower case is 405" {
	cgi register post "$GOOD"
	cgi_refused 405
}

@test "CGI: an empty REQUEST_METHOD is 405" {
	cgi register '' "$GOOD"
	cgi_refused 405
}

@test "CGI: CONTENT_LENGTH not a number is 400" {
	cgi register POST "$GOOD" CONTENT_LENGTH=4e1
	cgi_refused 400
}

@test "CGI: a negative CONTENT_LENGTH is 400" {
	cgi register POST "$GOOD" CONTENT_LENGTH=-5
	cgi_refused 400
}

@test "CGI: a CONTENT_LENGTH past 2^64 is 413" {
	cgi register POST "$GOOD" CONTENT_LENGTH=99999999999999999999999
	cgi_refused 413
}

@test "CGI: CONTENT_LENGTH longer than the body is 400" {
	cgi register POST "$GOOD" CONTENT_LENGTH=$((${#GOOD} + 10))
	cgi_refused 400
}

@test "CGI: CONTENT_LENGTH shorter than the body is 400" {
	cgi register POST "$GOOD" CONTENT_LENGTH=$((${#GOOD} - 10))
	cgi_refused 400
}

@test "CGI: a PATH_INFO is 404" {
	cgi register POST "$GOOD" PATH_INFO=/../machines
	cgi_refused 404
}

@test "CGI: a control byte inside the token is 401" {
	cgi register POST "$GOOD" \
	    HTTP_AUTHORIZATION="Bearer ${STACK_TOKEN:0:8}"$'\001'"${STACK_TOKEN:8}"
	cgi_refused 401
}

@test "CGI: a raw NUL in the body is 400" {
	printf '{"hostname":"a\0b","mac":"aa:bb:cc:dd:ee:ff"}' >"$BODY_FILE"
	cgi register POST "@$BODY_FILE"
	cgi_refused 400
}

@test "CGI: a REMOTE_ADDR with a newline cannot forge a log line" {
	cgi register POST "$GOOD" REMOTE_ADDR=$'1.2.3.4\nregister 6.6.6.6 200 1ms' \
	    HTTP_AUTHORIZATION='Bearer wrong'
	cgi_refused 401
	assert_regex "$(tail -n 1 <<<"$CGI_STDERR")" '^register unknown 401 [0-9]+ms$'
	run ! grep -F 6.6.6.6 <<<"$CGI_STDERR"
}

@test "CGI: a 10 KB Authorization is 401" {
	cgi register POST "$GOOD" \
	    HTTP_AUTHORIZATION="Bearer $(head -c 10240 /dev/zero | tr '\0' a)"
	cgi_refused 401
}

# --- afterwards ------------------------------------------------------

@test "afterwards: no request was answered 5xx, nothing crashed" {
	local f
	for f in register machines health; do
		run ! grep -E "^$f [^ ]+ 5[0-9][0-9] " "$STACK_LOGS/$f.log"
		run ! grep -Ei 'signal|sanitizer|runtime error' "$STACK_LOGS/$f.log"
	done
	run ! grep -E '"status": ?5[0-9][0-9]' "$STACK_LOGS/access.log"
	run ! grep -E '^[^ ]+ [^ ]+ 5[0-9][0-9] ' "$STACK_LOGS/cgi.log"
	# Not access.log: some cases above put the token where Caddy logs
	# what a client sends (the query string, a header of another name).
	assert_no_secrets "$STACK_LOGS"/{register,machines,health,cgi}.log
}

@test "afterwards: the programs still serve a real registration" {
	register hostile-after aa:bb:cc:dd:ee:09
	assert_equal "$HTTP_STATUS" 200
	http GET /health
	assert_equal "$HTTP_STATUS" 200
}
