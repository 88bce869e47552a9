#!/usr/bin/env bats
#
# api-47-metrics.bats: GET /metrics through Caddy: the admin token, the
# Prometheus text format (promtool check metrics), counters shared by every
# program and worker that move by exactly what was done, and that survive
# a restart.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	stack_start --workers 2 RATE_LIMIT_MAX=5 RATE_LIMIT_WINDOW=600
}

teardown_file() {
	stack_stop
}

# scrape FILE: GET /metrics into FILE.
scrape() {
	http GET /metrics -H "@$STACK_ADMIN_HEADER"
	assert_equal "$HTTP_STATUS" 200
	printf '%s\n' "$HTTP_BODY" >"$1"
}

# value FILE SERIES: the sample of SERIES (name and labels, exactly as
# exposed), 0 when absent.
value() {
	awk -v s="$2 " 'index($0, s) == 1 { v = $NF } END { print v + 0 }' "$1"
}

# delta SERIES: how much SERIES moved between before and after.
delta() {
	echo $(($(value "$BATS_TEST_TMPDIR/after" "$1") - \
	    $(value "$BATS_TEST_TMPDIR/before" "$1")))
}

@test "metrics: admin token only, Prometheus text, promtool is happy" {
	http GET /metrics -H @"$(auth_file "$STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 403
	assert_json_error
	http GET /metrics
	assert_equal "$HTTP_STATUS" 401
	register m-first aa:bb:cc:47:00:01
	scrape "$BATS_TEST_TMPDIR/m"
	assert_equal "$(header Content-Type)" 'text/plain; version=0.0.4; charset=utf-8'
	run -0 promtool check metrics <"$BATS_TEST_TMPDIR/m"
	for name in requests_total registrations_total rate_limited_total \
	    headscale_calls_total headscale_duration_seconds machines; do
		grep -q "^# TYPE sovran_provisioner_$name " "$BATS_TEST_TMPDIR/m"
	done
}

@test "metrics move by exactly what was done, across programs and workers" {
	local i
	scrape "$BATS_TEST_TMPDIR/before"
	register m-a aa:bb:cc:47:01:01 "$STACK_TOKEN" --from 127.0.0.71
	assert_equal "$HTTP_STATUS" 200
	register m-b aa:bb:cc:47:01:02 "$STACK_TOKEN" --from 127.0.0.71
	assert_equal "$HTTP_STATUS" 200
	for i in 1 2 3; do
		register m-x aa:bb:cc:47:01:03 "$(new_token)" --from 127.0.0.72
		assert_equal "$HTTP_STATUS" 401
	done
	# Five attempts pass the limiter (and fail the token), the sixth not.
	for i in 1 2 3 4 5 6; do
		register m-y aa:bb:cc:47:01:04 "$(new_token)" --from 127.0.0.73
	done
	assert_equal "$HTTP_STATUS" 429
	for i in 1 2 3 4; do
		http GET /health
	done
	http GET /machines -H "@$STACK_ADMIN_HEADER"
	assert_equal "$HTTP_STATUS" 200
	scrape "$BATS_TEST_TMPDIR/after"

	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="register",code="200"}')" 2
	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="register",code="401"}')" 8
	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="register",code="429"}')" 1
	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="health",code="200"}')" 4
	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="machines",code="200"}')" 1
	# The first scrape counts once it is answered.
	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="metrics",code="200"}')" 1
	assert_equal "$(delta sovran_provisioner_registrations_total)" 2
	assert_equal "$(delta sovran_provisioner_rate_limited_total)" 1
	assert_equal "$(delta 'sovran_provisioner_headscale_calls_total{command="preauthkeys create",outcome="ok"}')" 2
	assert_equal "$(delta 'sovran_provisioner_machines{state="pending"}')" 2
	# Every headscale run is in the histogram, whatever command it was.
	local calls
	calls=$(awk '/^sovran_provisioner_headscale_calls_total\{/ { n += $NF }
	    END { print n + 0 }' "$BATS_TEST_TMPDIR/after")
	assert_equal "$(value "$BATS_TEST_TMPDIR/after" \
	    sovran_provisioner_headscale_duration_seconds_count)" "$calls"
	assert_equal "$(value "$BATS_TEST_TMPDIR/after" \
	    'sovran_provisioner_headscale_duration_seconds_bucket{le="+Inf"}')" "$calls"
}

@test "a failed headscale call counts as an error" {
	scrape "$BATS_TEST_TMPDIR/before"
	hs_fault fail
	register m-f aa:bb:cc:47:02:01 "$STACK_TOKEN" --from 127.0.0.74
	hs_fault_clear
	assert_equal "$HTTP_STATUS" 502
	scrape "$BATS_TEST_TMPDIR/after"
	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="register",code="502"}')" 1
	run -0 test "$(delta 'sovran_provisioner_headscale_calls_total{command="preauthkeys create",outcome="error"}')" -ge 1
}

@test "counters keep counting across a restart" {
	scrape "$BATS_TEST_TMPDIR/before"
	stack_restart_programs
	scrape "$BATS_TEST_TMPDIR/after"
	assert_equal "$(delta 'sovran_provisioner_requests_total{endpoint="register",code="200"}')" 0
	run -0 test "$(value "$BATS_TEST_TMPDIR/after" sovran_provisioner_registrations_total)" -ge 3
}
