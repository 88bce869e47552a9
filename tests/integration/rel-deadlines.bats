#!/usr/bin/env bats
#
# rel-deadlines.bats: the deadlines the programs keep themselves, whatever
# front end is in place (docs/design.md, "Deadlines"). Two connections
# that stop sending their body hold no register worker past
# REQUEST_BODY_TIMEOUT; a client that never reads /machines holds the one
# machines worker no longer than RESPONSE_TIMEOUT; under a slow headscale
# and a front end that gives up, no answer but a 200 leaves a row or a
# live key; a key whose answer could not be written is expired and its
# row removed; a failing headscale's own words reach the log.
#
# The timeouts are small so the suite is quick; each bound is the setting
# plus a second, and without the deadlines each wait is Caddy's
# read_timeout or longer.

bats_require_minimum_version 1.5.0
load helper

BODY_TIMEOUT=2
RESPONSE_TIMEOUT=2

setup_file() {
	stack_start --workers 2 REQUEST_BODY_TIMEOUT=$BODY_TIMEOUT \
	    RESPONSE_TIMEOUT=$RESPONSE_TIMEOUT HEADSCALE_TIMEOUT=2 \
	    REQUEST_TIMEOUT=4
}

teardown_file() {
	stack_stop
}

teardown() {
	hs_fault_clear
	local pid
	for pid in "${HELD[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	HELD=()
}

HELD=()

rows() {
	sqlite3 "$STACK_DB" 'SELECT count(*) FROM machines'
}

# live_keys: pre-auth keys the stand-in holds that are neither used nor
# expired.
live_keys() {
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys list \
	    -o json | jq --argjson now "$(date +%s)" \
	    '[.[]? | select((.used | not) and
		(.expiration.seconds // 0) > $now)] | length'
}

# workers N: every program restarted with N workers.
workers() {
	printf '%s' "$1" >"$STACK_DIR/workers"
	stack_restart_programs
}

# within SECONDS BOUND: SECONDS (a decimal) is below BOUND.
within() {
	awk -v t="$1" -v max="$2" 'BEGIN { exit !(t < max) }' ||
	    fail "took ${1}s, bound ${2}s"
}

# slow_bodies: how many registrations were given up on for their body.
slow_bodies() {
	grep -c ' 408 .*REQUEST_BODY_TIMEOUT' "$STACK_LOGS/register.log" || true
}

slow_bodies_reach() {
	(($(slow_bodies) >= $1))
}

# stall_body: a registration with a valid token whose chunked body sends
# exactly 64 KiB and then nothing, its connection held open. Adds the
# holder's pid to HELD.
stall_body() {
	(
		exec 3>&-
		exec 5<>"/dev/tcp/127.0.0.1/$STACK_PORT"
		printf 'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\n' >&5
		printf 'Authorization: Bearer %s\r\n' "$STACK_TOKEN" >&5
		printf 'Content-Type: application/json\r\n' >&5
		printf 'Transfer-Encoding: chunked\r\n\r\n%x\r\n' 65536 >&5
		head -c 65536 /dev/zero | tr '\0' ' ' >&5
		sleep 120
	) &
	HELD+=("$!")
}

# stall_read PATH: a GET with the admin token that is sent and never read.
stall_read() {
	(
		exec 3>&-
		exec 5<>"/dev/tcp/127.0.0.1/$STACK_PORT"
		printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n' "$1" >&5
		printf 'Authorization: Bearer %s\r\n\r\n' "$STACK_ADMIN_TOKEN" >&5
		sleep 120
	) &
	HELD+=("$!")
}

@test "two stalled bodies do not hold up a third registration" {
	local before line status elapsed
	before=$(slow_bodies)
	stall_body
	stall_body
	# Both are in a worker, waiting for the rest of their bodies.
	sleep 1
	line=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' \
	    -X POST -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary "$(register_body third aa:bb:cc:00:80:01)" \
	    "$STACK_URL/register")
	read -r status elapsed <<<"$line"
	echo "third registration: $status after ${elapsed}s"
	assert_equal "$status" 200
	within "$elapsed" $((BODY_TIMEOUT + 1))
	# Each stalled body was given up on, with a 408 and the reason.
	wait_until 5 slow_bodies_reach $((before + 2))
}

@test "a body that stops is a JSON 408 in plain CGI too" {
	local -a STACK_ENV
	local out="$BATS_TEST_TMPDIR/408" start end
	_stack_env_array
	start=$(date +%s)
	# Part of a declared body, then nothing while the pipe stays open.
	{ printf '{"hostname"'; sleep 8; } | env -i "${STACK_ENV[@]}" \
	    REQUEST_BODY_TIMEOUT=$BODY_TIMEOUT GATEWAY_INTERFACE=CGI/1.1 \
	    REQUEST_METHOD=POST SCRIPT_NAME=/register PATH_INFO= \
	    CONTENT_LENGTH=40 HTTP_AUTHORIZATION="Bearer $STACK_TOKEN" \
	    REMOTE_ADDR=127.0.0.1 "$TOP_BUILDDIR/cgi-bin/register" >"$out" \
	    2>"$out.err" &
	wait_until 6 grep -q '^Status: 408' "$out"
	end=$(date +%s)
	within $((end - start)) $((BODY_TIMEOUT + 2))
	sed '1,/^\r*$/d' "$out" | jq -e '.error | length > 0'
	wait
}

@test "a client that never reads /machines holds its one worker at most RESPONSE_TIMEOUT" {
	local log="$STACK_LOGS/machines.log" line status first
	workers 1
	# 60,000 rows: far more than the socket buffers between here and the
	# client hold.
	sqlite3 "$STACK_DB" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL
	    SELECT i + 1 FROM n WHERE i < 60000)
	    INSERT INTO machines (hostname, mac, ip, registered_at, key_id,
	    key_expires_at) SELECT 'bulk-' || i,
	    printf('02:00:00:%02x:%02x:%02x', i / 65536, i / 256 % 256,
	    i % 256), '127.0.0.1', 1700000000 + i, 900000 + i,
	    1700003600 + i FROM n"
	stall_read '/machines?all=1'
	sleep 1
	line=$(curl -sS -o "$BATS_TEST_TMPDIR/list" \
	    -w '%{http_code} %{time_starttransfer}' \
	    -H @"$STACK_ADMIN_HEADER" "$STACK_URL/machines?all=1")
	read -r status first <<<"$line"
	echo "second listing: $status, first byte after ${first}s"
	assert_equal "$status" 200
	within "$first" $((RESPONSE_TIMEOUT + 1))
	jq -e 'length >= 60000' "$BATS_TEST_TMPDIR/list" >/dev/null
	grep -q ' 200 .*response abandoned: not read within RESPONSE_TIMEOUT' \
	    "$log" || fail "no log line says the response was abandoned"
	sqlite3 "$STACK_DB" "DELETE FROM machines WHERE hostname LIKE 'bulk-%'"
	workers 2
}

@test "slow headscale and a front end that gives up: only 200s leave rows and live keys" {
	local caddyfile="$BATS_TEST_TMPDIR/Caddyfile" i ok rows_before keys_before
	local lines_before
	# Caddy gives up after 3 s, counted from connect: most of the burst
	# waits in the socket's queue longer than that.
	sed 's/read_timeout [0-9]*s/read_timeout 3s/' \
	    "$TOP_SRCDIR/caddy/Caddyfile.local" >"$caddyfile"
	# A Caddy of its own for this test; the suite's goes on after it.
	mv "$STACK_DIR/pids/caddy" "$STACK_DIR/caddy.pid"
	STACK_CADDYFILE=$caddyfile start_caddy
	rows_before=$(rows)
	keys_before=$(live_keys)
	lines_before=$(wc -l <"$STACK_LOGS/register.log")
	printf 'slow 1\n' >"$STACK_HS_STATE/fault.preauthkeys"
	local -a burst=()
	local auth
	auth=$(auth_file "$STACK_TOKEN")
	for ((i = 0; i < 12; i++)); do
		curl -s -o /dev/null -w '%{http_code}\n' -m 20 -X POST \
		    -H @"$auth" \
		    --data-binary "$(register_body burst-$i "aa:bb:cc:00:81:$(printf %02x "$i")")" \
		    "$STACK_URL/register" >"$BATS_TEST_TMPDIR/status-$i" 3>&- &
		burst+=("$!")
	done
	wait "${burst[@]}" || true
	echo "statuses: $(sort "$BATS_TEST_TMPDIR"/status-* | uniq -c | xargs)"
	ok=$(cat "$BATS_TEST_TMPDIR"/status-* | grep -c '^200$' || true)
	hs_fault_clear
	stop_program caddy
	mv "$STACK_DIR/caddy.pid" "$STACK_DIR/pids/caddy"
	# Some were answered, some were not; the books balance.
	((ok > 0 && ok < 12))
	# The workers are done with the burst once each request has its line.
	wait_until 30 lines_exceed "$STACK_LOGS/register.log" \
	    $((lines_before + 11))
	echo "rows: $(($(rows) - rows_before)), live keys:" \
	    "$(($(live_keys) - keys_before)), key creates: $(hs_calls create)"
	assert_equal "$(rows)" $((rows_before + ok))
	assert_equal "$(live_keys)" $((keys_before + ok))
}

@test "out of budget before minting: 503, nothing minted" {
	local creates
	# A fresh worker looks its user up first: 1.5 s of a 4 s budget,
	# which leaves less than one HEADSCALE_TIMEOUT and a second.
	stack_restart_programs
	printf 'slow 1.5\n' >"$STACK_HS_STATE/fault.users"
	creates=$(hs_calls create)
	register budget-1 aa:bb:cc:00:82:01
	assert_equal "$HTTP_STATUS" 503
	assert_json_error
	assert_equal "$(hs_calls create)" "$creates"
	grep -q ' 503 .*no time left for minting' "$STACK_LOGS/register.log"
}

@test "an answer that cannot be written: the key is expired, the row removed" {
	local -a STACK_ENV
	local rows_before keys_before expires length
	_stack_env_array
	rows_before=$(rows)
	keys_before=$(live_keys)
	expires=$(hs_calls expire)
	register_body unwritten aa:bb:cc:00:83:01 >"$BATS_TEST_TMPDIR/body"
	length=$(stat -c %s "$BATS_TEST_TMPDIR/body")
	# /dev/full takes nothing: every write fails with ENOSPC.
	env -i "${STACK_ENV[@]}" GATEWAY_INTERFACE=CGI/1.1 \
	    REQUEST_METHOD=POST SCRIPT_NAME=/register PATH_INFO= \
	    CONTENT_LENGTH="$length" \
	    HTTP_AUTHORIZATION="Bearer $STACK_TOKEN" REMOTE_ADDR=127.0.0.1 \
	    "$TOP_BUILDDIR/cgi-bin/register" <"$BATS_TEST_TMPDIR/body" \
	    >/dev/full 2>"$BATS_TEST_TMPDIR/err" || true
	cat "$BATS_TEST_TMPDIR/err"
	grep -q 'not delivered, so not returned (expired)' "$BATS_TEST_TMPDIR/err"
	assert_equal "$(rows)" "$rows_before"
	assert_equal "$(live_keys)" "$keys_before"
	assert_equal "$(hs_calls expire)" $((expires + 1))
}

@test "a failing headscale's own error text is in the log, cleaned" {
	local log="$STACK_LOGS/register.log"
	hs_fault fail
	register diag-1 aa:bb:cc:00:84:01
	assert_equal "$HTTP_STATUS" 502
	tail -n 5 "$log" | grep -q ' 502 .*headscale exited 1: .*injected failure'
	# A headscale that cannot be reached: its FTL line, not just "exited 1".
	hs_fault down 0
	register diag-2 aa:bb:cc:00:84:02
	assert_equal "$HTTP_STATUS" 502
	tail -n 5 "$log" | grep -q ' 502 .*headscale exited 1: Could not connect'
	tail -n 2 "$log"
}

@test "headscale not answering is our 504, not the CLI's own timeout" {
	# headscale's CLI gives up after cli.timeout (5 s unless
	# HEADSCALE_CLI_TIMEOUT says otherwise) with "exited 1". Ours is set
	# two seconds past HEADSCALE_TIMEOUT, so with HEADSCALE_TIMEOUT=6 the
	# answer is our 504, not a 502.
	hs_fault down
	cgi register POST "$(register_body slow-1 aa:bb:cc:00:85:01)" \
	    HEADSCALE_TIMEOUT=6 REQUEST_TIMEOUT=12
	assert_equal "$CGI_STATUS" 504
	assert_json_error "$CGI_BODY"
}
