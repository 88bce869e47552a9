#!/usr/bin/env bats
#
# api-30-ratelimit.bats: the /register rate limit through Caddy, with two
# workers per program so attempts land in different processes. Every
# attempt counts, authorised or not; the limit is per client address (each
# test uses its own loopback address), exact across workers, and kept in
# sqlite so a restart does not reset it.

bats_require_minimum_version 1.5.0
load helper

LIMIT=5

setup_file() {
	stack_start --workers 2 RATE_LIMIT_MAX=$LIMIT RATE_LIMIT_WINDOW=600
}

teardown_file() {
	stack_stop
}

# attempt ADDR [TOKEN]: one registration from ADDR (no token by default).
attempt() {
	register rl-host aa:bb:cc:00:30:01 "${2-}" --from "$1"
}

@test "the attempt after RATE_LIMIT_MAX is 429 with Retry-After" {
	local i
	for ((i = 1; i <= LIMIT; i++)); do
		attempt 127.0.0.31
		echo "attempt $i"
		assert_equal "$HTTP_STATUS" 401
	done
	attempt 127.0.0.31
	assert_equal "$HTTP_STATUS" 429
	assert_json_error
	assert_regex "$(header Retry-After)" '^[0-9]+$'
	# At most the window and one slice of it (600 s / 60).
	(($(header Retry-After) >= 1 && $(header Retry-After) <= 610))
	# A right token does not get past the limit either.
	attempt 127.0.0.31 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 429
}

@test "successful and refused attempts count alike" {
	attempt 127.0.0.32 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 200
	attempt 127.0.0.32 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 200
	attempt 127.0.0.32
	assert_equal "$HTTP_STATUS" 401
	http POST /register --from 127.0.0.32 -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary 'not json'
	assert_equal "$HTTP_STATUS" 400
	attempt 127.0.0.32 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 200
	attempt 127.0.0.32 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 429
}

@test "two client addresses do not share a window" {
	local i
	for ((i = 0; i <= LIMIT; i++)); do
		attempt 127.0.0.33
	done
	assert_equal "$HTTP_STATUS" 429
	attempt 127.0.0.34
	assert_equal "$HTTP_STATUS" 401
	attempt 127.0.0.34 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 200
	attempt 127.0.0.33 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 429
}

@test "the count is exact across workers under parallel attempts" {
	local i out="$BATS_TEST_TMPDIR/codes" pids=()
	for ((i = 0; i < 3 * LIMIT; i++)); do
		curl -sS -o /dev/null -w '%{http_code}\n' --interface 127.0.0.35 \
		    -X POST --data-binary '{}' "$STACK_URL/register" >>"$out" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	assert_equal "$(grep -c '^401$' "$out")" "$LIMIT"
	assert_equal "$(grep -c '^429$' "$out")" $((2 * LIMIT))
}

@test "the window survives a restart of the programs" {
	local i
	for ((i = 1; i <= LIMIT; i++)); do
		attempt 127.0.0.36
		assert_equal "$HTTP_STATUS" 401
	done
	stack_restart_programs
	attempt 127.0.0.36
	assert_equal "$HTTP_STATUS" 429
	attempt 127.0.0.37
	assert_equal "$HTTP_STATUS" 401
}

@test "/health and /machines are not rate limited" {
	local i
	for ((i = 0; i <= LIMIT; i++)); do
		attempt 127.0.0.38
	done
	assert_equal "$HTTP_STATUS" 429
	for ((i = 0; i <= 2 * LIMIT; i++)); do
		http GET /health --from 127.0.0.38
		assert_equal "$HTTP_STATUS" 200
		http GET /machines --from 127.0.0.38 -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
		assert_equal "$HTTP_STATUS" 200
	done
}

@test "a refused attempt is one log line with 429; no token in any log" {
	local log="$STACK_LOGS/register.log" before
	before=$(wc -l <"$log")
	attempt 127.0.0.31 "$STACK_TOKEN"
	assert_equal "$HTTP_STATUS" 429
	wait_until 10 lines_exceed "$log" "$before"
	assert_equal "$(wc -l <"$log")" $((before + 1))
	assert_regex "$(tail -n 1 "$log")" '127\.0\.0\.31 429 [0-9]+ms'
	assert_no_secrets "$STACK_LOGS"/*.log
}
