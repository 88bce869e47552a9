#!/usr/bin/env bats
#
# rel-clock.bats: the rate limiter when the wall clock steps. The programs
# run under libfaketime (Debian package faketime) reading their offset from
# a file on every call, so the test steps their clock while they serve;
# Caddy and the test keep the real time, and monotonic clocks are left
# alone so the programs' own timeouts are not disturbed.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
	export FAKETIME_LIB
	[[ -n $FAKETIME_LIB ]] || return 0
	export FAKE_OFFSET="$BATS_FILE_TMPDIR/faketime"
	# In the sanitizer build libfaketime is preloaded ahead of ASan's
	# runtime, which ASan refuses by default. The order does no harm here:
	# libfaketime wraps only the clock calls, none that ASan intercepts.
	if [[ -n ${ASAN_OPTIONS:-} ]]; then
		export ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
	fi
	echo "+0" >"$FAKE_OFFSET"
	stack_start RATE_LIMIT_MAX=2 RATE_LIMIT_WINDOW=60 \
	    LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$FAKE_OFFSET" \
	    FAKETIME_NO_CACHE=1 DONT_FAKE_MONOTONIC=1
}

teardown_file() {
	stack_stop
}

setup() {
	[[ -n $FAKETIME_LIB ]] || skip "libfaketime is not installed (package faketime)"
}

# attempt ADDR: one registration from ADDR without a token.
attempt() {
	register clock-host aa:bb:cc:00:40:01 "" --from "$1"
}

@test "a clock stepped back an hour lets a limited client in within window + slice" {
	echo "+0" >"$FAKE_OFFSET"
	attempt 127.0.0.51
	assert_equal "$HTTP_STATUS" 401
	attempt 127.0.0.51
	assert_equal "$HTTP_STATUS" 401
	attempt 127.0.0.51
	assert_equal "$HTTP_STATUS" 429

	# The step: the two attempts now lie an hour in the programs' future.
	echo "-3600" >"$FAKE_OFFSET"
	attempt 127.0.0.51
	assert_equal "$HTTP_STATUS" 429
	ra=$(header Retry-After)
	echo "Retry-After after the step: $ra"
	# Window (60 s) and one slice (1 s) at most.
	((ra >= 1 && ra <= 61))
	# The attempts still count a little later...
	echo "-3590" >"$FAKE_OFFSET"
	attempt 127.0.0.51
	assert_equal "$HTTP_STATUS" 429
	# ...and the client is let in when Retry-After said (real seconds
	# that pass meanwhile only move the fake clock further on), not an
	# hour later.
	echo "-$((3600 - ra))" >"$FAKE_OFFSET"
	attempt 127.0.0.51
	assert_equal "$HTTP_STATUS" 401
}

@test "a clock stepped forward frees a limited client, never locks it out" {
	echo "+0" >"$FAKE_OFFSET"
	attempt 127.0.0.52
	attempt 127.0.0.52
	attempt 127.0.0.52
	assert_equal "$HTTP_STATUS" 429
	echo "+1h" >"$FAKE_OFFSET"
	attempt 127.0.0.52
	assert_equal "$HTTP_STATUS" 401
	# And back again: the attempt made an hour ahead counts as made now.
	echo "+0" >"$FAKE_OFFSET"
	attempt 127.0.0.52
	assert_equal "$HTTP_STATUS" 401
	attempt 127.0.0.52
	assert_equal "$HTTP_STATUS" 429
	ra=$(header Retry-After)
	((ra >= 1 && ra <= 61))
}
