#!/usr/bin/env bats
#
# api-10-cgi.bats: the API contract checked on the built programs run
# directly as plain CGI, with no web server in front: methods, the bearer
# token, body limits (including CONTENT_LENGTH=-1, which Caddy sends for
# chunked bodies), validation, headscale use and the JSON error bodies. The
# same contract is checked through Caddy by the api-2x..4x suites.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	stack_init
}

teardown_file() {
	stack_stop
}

# A data directory of its own, so a test can break its database without
# disturbing the others.
private_data_dir() {
	local d="$BATS_TEST_TMPDIR/data"
	mkdir -p "$d"
	cp -p "$STACK_TOKEN_FILE" "$d/enroll-token"
	echo "$d"
}

@test "health: GET is 200 {\"status\":\"ok\"} without a token" {
	cgi health GET '' HTTP_AUTHORIZATION=
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" 200
	jq -e '. == {"status": "ok"}' <<<"$CGI_BODY"
	assert_equal "$(cgi_header Content-Type)" application/json
}

@test "health: HEAD is 200 with no body" {
	cgi health HEAD ''
	assert_equal "$CGI_STATUS" 200
	assert_equal "$CGI_BODY" ''
}

@test "health: other methods are 405 with Allow" {
	local m
	for m in POST PUT DELETE; do
		cgi health "$m" ''
		assert_equal "$CGI_STATUS" 405
		assert_json_error "$CGI_BODY"
		assert_regex "$(cgi_header Allow)" 'GET'
		assert_regex "$(cgi_header Allow)" 'HEAD'
	done
}

@test "health: 503 with a JSON error when the database is a directory" {
	local d
	d=$(private_data_dir)
	mkdir "$d/provisioner.db"
	cgi health GET '' PROVISIONER_DATA_DIR="$d"
	assert_equal "$CGI_STATUS" 503
	assert_json_error "$CGI_BODY"
}

@test "health: 503 with a JSON error when the database is not sqlite" {
	local d
	d=$(private_data_dir)
	head -c 8192 /dev/urandom >"$d/provisioner.db"
	cgi health GET '' PROVISIONER_DATA_DIR="$d"
	assert_equal "$CGI_STATUS" 503
	assert_json_error "$CGI_BODY"
}

@test "register: a valid request is 200 with a key for the login server" {
	cgi register POST "$(register_body cgi-ok aa:bb:cc:00:00:01)"
	assert_equal "$CGI_RC" 0
	assert_equal "$CGI_STATUS" 200
	assert_equal "$(cgi_header Content-Type)" application/json
	jq -e --arg url "$HEADSCALE_TEST_URL" '
		(.headscale_key | test("^hskey-auth-[A-Za-z0-9_-]{12}-[A-Za-z0-9_-]{64}$")) and
		.login_server == $url and .hostname == "cgi-ok" and
		(.expires_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"))' \
	    <<<"$CGI_BODY"
	assert_equal "$(sqlite3 "$STACK_DB" \
	    "SELECT count(*) FROM machines WHERE hostname = 'cgi-ok'")" 1
}

@test "register: other methods are 405 with Allow: POST" {
	local m
	for m in GET HEAD PUT DELETE; do
		cgi register "$m" ''
		assert_equal "$CGI_STATUS" 405
		assert_equal "$(cgi_header Allow)" POST
	done
	cgi register GET ''
	assert_json_error "$CGI_BODY"
}

@test "register: a missing or wrong token is 401 with WWW-Authenticate: Bearer" {
	local body auth before
	body=$(register_body cgi-auth aa:bb:cc:00:00:02)
	before=$(hs_calls)
	for auth in '' 'Bearer' 'Bearer ' "Bearer ${STACK_TOKEN:0:63}" \
	    "Bearer ${STACK_TOKEN}0" "Bearer $(new_token)" "Basic $STACK_TOKEN" \
	    "$STACK_TOKEN" "Bearer  $STACK_TOKEN x"; do
		cgi register POST "$body" HTTP_AUTHORIZATION="$auth"
		assert_equal "$CGI_STATUS" 401
		assert_json_error "$CGI_BODY"
		assert_regex "$(cgi_header WWW-Authenticate)" '^Bearer'
	done
	assert_equal "$(hs_calls)" "$before"
}

@test "register: without a token file, or with an empty one, everyone gets 401" {
	local d auth
	d=$(private_data_dir)
	rm "$d/enroll-token"
	cgi register POST "$(register_body cgi-notoken aa:bb:cc:00:00:08)" \
	    PROVISIONER_DATA_DIR="$d" HTTP_AUTHORIZATION='Bearer '
	assert_equal "$CGI_STATUS" 401
	assert_json_error "$CGI_BODY"
	: >"$d/enroll-token"
	for auth in 'Bearer ' 'Bearer' ''; do
		cgi register POST "$(register_body cgi-notoken aa:bb:cc:00:00:08)" \
		    PROVISIONER_DATA_DIR="$d" HTTP_AUTHORIZATION="$auth"
		assert_equal "$CGI_STATUS" 401
	done
}

@test "register: a body over 64 KiB is 413, by CONTENT_LENGTH or by reading" {
	local big="$BATS_TEST_TMPDIR/big"
	head -c 70000 /dev/zero | tr '\0' 'x' >"$big"
	cgi register POST "@$big"
	assert_equal "$CGI_STATUS" 413
	assert_json_error "$CGI_BODY"
	# Caddy sends CONTENT_LENGTH=-1 for chunked bodies: the cap must hold
	# while reading to the end of input.
	cgi register POST "@$big" CONTENT_LENGTH=-1
	assert_equal "$CGI_STATUS" 413
	assert_json_error "$CGI_BODY"
	# One byte over the limit is enough.
	head -c 65537 /dev/zero | tr '\0' ' ' >"$big"
	cgi register POST "@$big" CONTENT_LENGTH=-1
	assert_equal "$CGI_STATUS" 413
}

@test "register: a body of exactly 64 KiB is read, unknown fields ignored" {
	local body pad
	body=$(register_body cgi-64k aa:bb:cc:00:00:03)
	# Pad with an unknown member up to 65536 bytes in all.
	pad=$((65536 - ${#body} - 9))
	body="${body%\}},\"pad\":\"$(head -c "$pad" /dev/zero | tr '\0' x)\"}"
	assert_equal "${#body}" 65536
	cgi register POST "$body"
	assert_equal "$CGI_STATUS" 200
	cgi register POST "$body" CONTENT_LENGTH=-1
	assert_equal "$CGI_STATUS" 200
}

@test "register: CONTENT_LENGTH=-1 with a small body is read to the end" {
	cgi register POST "$(register_body cgi-chunked aa:bb:cc:00:00:04)" \
	    CONTENT_LENGTH=-1
	assert_equal "$CGI_STATUS" 200
	jq -e '.hostname == "cgi-chunked"' <<<"$CGI_BODY"
}

@test "register: a body that is not a JSON object is 400" {
	local body
	for body in '' '[]' '"x"' 42 null 'not json' '{' \
	    '{"hostname":"a","mac":"aa:bb:cc:dd:ee:ff"} trailing' \
	    '[{"hostname":"a","mac":"aa:bb:cc:dd:ee:ff"}]'; do
		cgi register POST "$body"
		echo "body: $body"
		assert_equal "$CGI_STATUS" 400
		assert_json_error "$CGI_BODY"
	done
}

@test "register: a bad hostname is 400" {
	local h body
	for h in '' - -web web- 'web 1' web_1 web.example 'wéb' \
	    "$(head -c 64 /dev/zero | tr '\0' a)"; do
		cgi register POST "$(register_body "$h" aa:bb:cc:00:00:05)"
		echo "hostname: $h"
		assert_equal "$CGI_STATUS" 400
		assert_json_error "$CGI_BODY"
	done
	for body in '{"mac":"aa:bb:cc:00:00:05"}' \
	    '{"hostname":42,"mac":"aa:bb:cc:00:00:05"}' \
	    '{"hostname":null,"mac":"aa:bb:cc:00:00:05"}' \
	    '{"hostname":["a"],"mac":"aa:bb:cc:00:00:05"}'; do
		cgi register POST "$body"
		echo "body: $body"
		assert_equal "$CGI_STATUS" 400
	done
	# 63 characters is still a label.
	cgi register POST "$(register_body "$(head -c 63 /dev/zero | tr '\0' a)" \
	    aa:bb:cc:00:00:05)"
	assert_equal "$CGI_STATUS" 200
}

@test "register: a bad MAC address is 400" {
	local m
	for m in Unknown 'unknown ' aa:bb:cc:dd:ee aa:bb:cc:dd:ee:ff:00 aa:bb:cc:dd:ee:gg \
	    aabbccddeeff aa-bb:cc-dd:ee-ff 'aa:bb:cc:dd:ee:ff ' a:bb:cc:dd:ee:ff \
	    aaa:bb:cc:dd:ee:ff; do
		cgi register POST "$(register_body cgi-mac "$m")"
		echo "mac: $m"
		assert_equal "$CGI_STATUS" 400
		assert_json_error "$CGI_BODY"
	done
	cgi register POST '{"hostname":"cgi-mac","mac":42}'
	assert_equal "$CGI_STATUS" 400
	cgi register POST '{"hostname":"cgi-mac","mac":null}'
	assert_equal "$CGI_STATUS" 400
}

@test "register: shell metacharacters in the hostname are 400 and run nothing" {
	local before h canary="$BATS_TEST_TMPDIR/canary"
	before=$(hs_calls)
	for h in "\$(touch $canary)" "\`touch $canary\`" "a;touch $canary" \
	    "a|touch $canary" "a&&touch $canary" "-u x" "--help" "a
b" 'a"b' "a'b" 'a\b' 'a>b' '*'; do
		cgi register POST "$(register_body "$h" aa:bb:cc:00:00:06)"
		echo "hostname: $h"
		assert_equal "$CGI_STATUS" 400
		assert_json_error "$CGI_BODY"
	done
	assert_equal "$(hs_calls)" "$before"
	[[ ! -e $canary ]]
}

@test "every CGI request logs exactly one request line, and never a secret" {
	cgi register POST "$(register_body cgi-log aa:bb:cc:00:00:07)" \
	    REMOTE_ADDR=127.0.0.77
	assert_equal "$CGI_STATUS" 200
	assert_equal "$(grep -cE ' [0-9]{3} [0-9]+ms' <<<"$CGI_STDERR")" 1
	assert_regex "$CGI_STDERR" 'register 127\.0\.0\.77 200 [0-9]+ms'
	cgi register POST '{}' REMOTE_ADDR=127.0.0.78 HTTP_AUTHORIZATION=x
	assert_equal "$(grep -cE ' [0-9]{3} [0-9]+ms' <<<"$CGI_STDERR")" 1
	assert_regex "$CGI_STDERR" 'register 127\.0\.0\.78 401 [0-9]+ms'
	assert_no_secrets "$STACK_LOGS/cgi.log"
}

@test "rate limit as CGI: 429 with Retry-After, and allowed again after it" {
	local env=(REMOTE_ADDR=10.10.0.1 RATE_LIMIT_MAX=2 RATE_LIMIT_WINDOW=2
		HTTP_AUTHORIZATION=)
	cgi register POST '{}' "${env[@]}"
	assert_equal "$CGI_STATUS" 401
	cgi register POST '{}' "${env[@]}"
	assert_equal "$CGI_STATUS" 401
	cgi register POST '{}' "${env[@]}"
	assert_equal "$CGI_STATUS" 429
	assert_json_error "$CGI_BODY"
	assert_regex "$(cgi_header Retry-After)" '^[1-3]$'
	# Waiting as long as Retry-After says is enough.
	sleep "$(cgi_header Retry-After)"
	sleep 0.2
	cgi register POST '{}' "${env[@]}"
	assert_equal "$CGI_STATUS" 401
}
