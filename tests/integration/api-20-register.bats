#!/usr/bin/env bats
#
# api-20-register.bats: POST /register through Caddy and the running
# register program: the success body, what is recorded (and what never is),
# the bearer token and its rotation, body limits with Content-Length and
# chunked, validation, how many headscale calls a registration costs, and
# every way headscale can fail. The tests run in order and share one stack.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	# HEADSCALE_TIMEOUT short, so the hang test waits little.
	stack_start HEADSCALE_TIMEOUT=2
}

teardown_file() {
	stack_stop
}

machine_count() {
	sqlite3 "$STACK_DB" 'SELECT count(*) FROM machines'
}

@test "the first registration is 200 and costs two headscale calls" {
	register web-1 AA:BB:CC:0D:EE:01 '' --from 127.0.0.21 \
	    -H @"$(auth_file "$STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(header Content-Type)" application/json
	# users list (once per process) and preauthkeys create.
	assert_equal "$(hs_calls)" 2
	assert_equal "$(hs_calls users)" 1
	assert_equal "$(hs_calls preauthkeys)" 1
}

@test "the success body carries the key, login server, hostname and expiry" {
	local key expires now
	register web-2 aa:bb:cc:0d:ee:02
	assert_equal "$HTTP_STATUS" 200
	jq -e --arg url "$HEADSCALE_TEST_URL" '
		.login_server == $url and .hostname == "web-2" and
		(.expires_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"))' \
	    <<<"$HTTP_BODY"
	key=$(jq -r .headscale_key <<<"$HTTP_BODY")
	assert_equal "${#key}" 88
	assert_regex "$key" '^hskey-auth-[A-Za-z0-9_-]{12}-[A-Za-z0-9_-]{64}$'
	# KEY_EXPIRY defaults to 1h.
	expires=$(date -d "$(jq -r .expires_at <<<"$HTTP_BODY")" +%s)
	now=$(date +%s)
	((expires > now + 3000 && expires < now + 4200))
	# The key is one headscale knows, for the deploy user, one-use.
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys list -o json |
	    jq -e --arg p "${key:0:23}" '
		map(select(.key | startswith($p))) | length == 1 and
		(.[0].user.name == "sovran-deploy") and (.[0].reusable | not)'
}

@test "a registration is recorded once, MAC normalised, with the client address" {
	local before
	before=$(machine_count)
	register rec-1 'AA-BB-CC-0D-EE-03' '' --from 127.0.0.23 \
	    -H @"$(auth_file "$STACK_TOKEN")" \
	    -H 'X-Forwarded-For: 203.0.113.9'
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(machine_count)" $((before + 1))
	# The peer address, not a header the client made up.
	assert_equal "$(sqlite3 -separator ' ' "$STACK_DB" \
	    "SELECT mac, ip FROM machines WHERE hostname = 'rec-1'")" \
	    'aa:bb:cc:0d:ee:03 127.0.0.23'
}

@test "the database never holds a key" {
	local key
	register nokey-1 aa:bb:cc:0d:ee:04
	assert_equal "$HTTP_STATUS" 200
	key=$(jq -r .headscale_key <<<"$HTTP_BODY")
	sqlite3 "$STACK_DB" .dump >"$BATS_TEST_TMPDIR/dump"
	run ! grep -qF -e "${key:23}" -e hskey-auth "$BATS_TEST_TMPDIR/dump"
	run ! grep -qaF "${key:23}" "$STACK_DB" "$STACK_DB-wal"
}

@test "steady state: N registrations cost N headscale calls" {
	local before i
	before=$(hs_calls)
	for i in 1 2 3 4; do
		register steady-$i aa:bb:cc:0d:ee:1$i
		assert_equal "$HTTP_STATUS" 200
	done
	assert_equal "$(hs_calls)" $((before + 4))
	assert_equal "$(hs_calls users)" 1
}

@test "a missing or wrong token is 401 with WWW-Authenticate: Bearer" {
	local before
	before=$(machine_count)
	register auth-1 aa:bb:cc:0d:ee:05 ''
	assert_equal "$HTTP_STATUS" 401
	assert_json_error
	assert_regex "$(header WWW-Authenticate)" '^Bearer'
	register auth-1 aa:bb:cc:0d:ee:05 "$(new_token)"
	assert_equal "$HTTP_STATUS" 401
	assert_json_error
	assert_regex "$(header WWW-Authenticate)" '^Bearer'
	register auth-1 aa:bb:cc:0d:ee:05 '' -H @"$(header_file "Authorization: Basic $STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 401
	assert_equal "$(machine_count)" "$before"
}

@test "a rewritten token file takes effect without a restart" {
	local old=$STACK_TOKEN new
	new=$(new_token)
	register rot-1 aa:bb:cc:0d:ee:06 "$old"
	assert_equal "$HTTP_STATUS" 200
	# Same length, same second: the change must still be seen.
	printf '%s\n' "$new" >"$STACK_TOKEN_FILE"
	register rot-2 aa:bb:cc:0d:ee:06 "$old"
	assert_equal "$HTTP_STATUS" 401
	register rot-3 aa:bb:cc:0d:ee:06 "$new"
	assert_equal "$HTTP_STATUS" 200
	# Replaced by rename, as an operator's tooling would.
	printf '%s\n' "$old" >"$STACK_TOKEN_FILE.new"
	mv "$STACK_TOKEN_FILE.new" "$STACK_TOKEN_FILE"
	register rot-4 aa:bb:cc:0d:ee:06 "$new"
	assert_equal "$HTTP_STATUS" 401
	register rot-5 aa:bb:cc:0d:ee:06 "$old"
	assert_equal "$HTTP_STATUS" 200
}

@test "a body over 64 KiB is 413, with Content-Length and chunked" {
	local big="$BATS_TEST_TMPDIR/big" before
	before=$(hs_calls)
	head -c 65537 /dev/zero | tr '\0' ' ' >"$big"
	http POST /register -H @"$(auth_file "$STACK_TOKEN")" \
	    -H 'Content-Type: application/json' --data-binary "@$big"
	assert_equal "$HTTP_STATUS" 413
	assert_json_error
	assert_equal "$(header Content-Type)" application/json
	http POST /register -H @"$(auth_file "$STACK_TOKEN")" \
	    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
	    --data-binary "@$big"
	assert_equal "$HTTP_STATUS" 413
	assert_json_error
	assert_equal "$(hs_calls)" "$before"
}

@test "a body of exactly 64 KiB passes, chunked or not; unknown fields ignored" {
	local body pad
	body=$(register_body big-1 aa:bb:cc:0d:ee:07)
	pad=$((65536 - ${#body} - 9))
	body="${body%\}},\"pad\":\"$(head -c "$pad" /dev/zero | tr '\0' x)\"}"
	printf '%s' "$body" >"$BATS_TEST_TMPDIR/body"
	http POST /register -H @"$(auth_file "$STACK_TOKEN")" \
	    -H 'Content-Type: application/json' --data-binary "@$BATS_TEST_TMPDIR/body"
	assert_equal "$HTTP_STATUS" 200
	http POST /register -H @"$(auth_file "$STACK_TOKEN")" \
	    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
	    --data-binary "@$BATS_TEST_TMPDIR/body"
	assert_equal "$HTTP_STATUS" 200
	jq -e '.hostname == "big-1" and (has("pad") | not)' <<<"$HTTP_BODY"
}

@test "malformed bodies are 400 with a JSON error" {
	local body
	for body in '' '[]' 'nope' '{"hostname":"bad_name","mac":"aa:bb:cc:dd:ee:ff"}' \
	    '{"hostname":"ok","mac":"aa:bb:cc:dd:ee"}' '{"hostname":"ok","mac":"unknown "}'; do
		http POST /register -H @"$(auth_file "$STACK_TOKEN")" \
		    -H 'Content-Type: application/json' --data-binary "$body"
		echo "body: $body"
		assert_equal "$HTTP_STATUS" 400
		assert_json_error
	done
}

@test "other methods are 405 with Allow: POST" {
	local m
	for m in GET PUT DELETE PATCH; do
		http "$m" /register -H @"$(auth_file "$STACK_TOKEN")"
		assert_equal "$HTTP_STATUS" 405
		assert_equal "$(header Allow)" POST
		assert_json_error
	done
}

@test "shell metacharacters in the hostname are 400 and run no headscale" {
	local before h canary="$BATS_TEST_TMPDIR/canary"
	before=$(hs_calls)
	for h in "\$(touch $canary)" "\`touch $canary\`" "x;touch $canary" \
	    "x|touch $canary" "-e 1s" "--user=admin"; do
		register "$h" aa:bb:cc:0d:ee:08
		echo "hostname: $h"
		assert_equal "$HTTP_STATUS" 400
		assert_json_error
	done
	assert_equal "$(hs_calls)" "$before"
	[[ ! -e $canary ]]
}

# A stand-in process of this stack still running.
hs_leftovers() {
	local p
	for p in $(pgrep -f -- "$HS_STANDIN" || true); do
		if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
		    grep -qxF "HEADSCALE_CONFIG=$STACK_HS_CONFIG"; then
			return 0
		fi
	done
	return 1
}

# headscale_fails WORD [N] STATUS: with the fault set, a registration gets
# STATUS with a JSON error and nothing is recorded.
headscale_fails() {
	local status=${*: -1} before listed
	before=$(machine_count)
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	listed=$HTTP_BODY
	hs_fault "${@:1:$#-1}"
	register fault-1 aa:bb:cc:0d:ee:09
	hs_fault_clear
	assert_equal "$HTTP_STATUS" "$status"
	assert_json_error
	assert_equal "$(machine_count)" "$before"
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_BODY" "$listed"
	# The program is fine afterwards.
	register fault-ok aa:bb:cc:0d:ee:0a
	assert_equal "$HTTP_STATUS" 200
}

@test "headscale failing is 502 and records nothing" {
	headscale_fails fail 502
}

@test "headscale printing garbage is 502 and records nothing" {
	headscale_fails garbage 502
}

@test "headscale printing 10 MB is 502 and records nothing" {
	headscale_fails huge 502
}

@test "headscale unreachable is 502 and records nothing" {
	headscale_fails down 0 502
}

@test "headscale hanging is 504 after HEADSCALE_TIMEOUT, and is killed" {
	headscale_fails hang 504
	wait_until 10 eval '! hs_leftovers'
}

@test "a key that cannot be recorded is expired, not returned" {
	local before id expires
	before=$(machine_count)
	expires=$(hs_calls expire)
	# The insert itself fails, after headscale has minted the key.
	sqlite3 "$STACK_DB" "CREATE TRIGGER refuse BEFORE INSERT ON machines
	    BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
	register lost-1 aa:bb:cc:0d:ee:0c
	sqlite3 "$STACK_DB" 'DROP TRIGGER refuse'
	assert_equal "$HTTP_STATUS" 503
	assert_json_error
	refute_regex "$HTTP_BODY" hskey
	assert_equal "$(machine_count)" "$before"
	# The newest key is the one just minted, and it no longer works.
	id=$(HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys list -o json |
	    jq 'max_by(.id).id')
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys list -o json |
	    jq -e --argjson id "$id" --argjson now "$(date +%s)" '
		map(select(.id == $id))[0].expiration.seconds <= $now'
	assert_equal "$(hs_calls expire)" $((expires + 1))
}

@test "each request is one log line; no token, key or body in any log" {
	local log="$STACK_LOGS/register.log" before
	before=$(wc -l <"$log")
	register log-1 aa:bb:cc:0d:ee:0b '' --from 127.0.0.29 \
	    -H @"$(auth_file "$STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	# The line is written after the response; give it a moment.
	wait_until 10 lines_exceed "$log" "$before"
	assert_equal "$(wc -l <"$log")" $((before + 1))
	assert_regex "$(tail -n 1 "$log")" '127\.0\.0\.29 200 [0-9]+ms'
	assert_no_secrets "$STACK_LOGS"/*.log
}

# The two tests below reach mint_key's second chance: after a failed key
# creation the user is looked up again, and only a different id is tried.

@test "a failing headscale costs exactly one key creation" {
	local users keys
	register warm-1 aa:bb:cc:0d:ee:20
	assert_equal "$HTTP_STATUS" 200
	users=$(hs_calls users)
	keys=$(hs_calls preauthkeys)
	echo fail >"$STACK_HS_STATE/fault.preauthkeys"
	register fail-once aa:bb:cc:0d:ee:21
	hs_fault_clear
	assert_equal "$HTTP_STATUS" 502
	assert_json_error
	# The cached user id was tried, failed, and one lookup found the
	# same id: no second create.
	assert_equal "$(hs_calls preauthkeys)" $((keys + 1))
	assert_equal "$(hs_calls users)" $((users + 1))
}

@test "a user deleted and made again meanwhile gets its key on the new id" {
	local old new keys
	register cache-1 aa:bb:cc:0d:ee:22
	assert_equal "$HTTP_STATUS" 200
	old=$(HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" users list \
	    -o json | jq '.[] | select(.name == "sovran-deploy") | .id')
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" users destroy \
	    --identifier "$old" --force -o json >/dev/null
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" users create \
	    sovran-deploy -o json >/dev/null
	new=$(HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" users list \
	    -o json | jq '.[] | select(.name == "sovran-deploy") | .id')
	[[ -n $old && -n $new && $old != "$new" ]]
	keys=$(hs_calls preauthkeys)
	register cache-2 aa:bb:cc:0d:ee:23
	assert_equal "$HTTP_STATUS" 200
	# One create on the stale id, one on the new.
	assert_equal "$(hs_calls preauthkeys)" $((keys + 2))
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys list \
	    -o json | jq -e --argjson u "$new" 'map(select(.user.id == $u)) |
		length == 1'
	# And the next registration goes straight to the new id.
	keys=$(hs_calls preauthkeys)
	register cache-3 aa:bb:cc:0d:ee:24
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(hs_calls preauthkeys)" $((keys + 1))
}
