#!/usr/bin/env bats
#
# api-70-local-stack.bats: the README's first quick-start command works.
# scripts/local-stack.sh --check runs against the tree already built (no
# package installation, no rebuild), with the stand-in, on a free port,
# and must bring the stack up, print how to use it, pass its self-check
# without showing the key, and leave nothing running.

bats_require_minimum_version 1.5.0
load helper

teardown() {
	stack_stop
}

@test "local-stack.sh --check brings the stack up, self-checks and stops" {
	local port state="$BATS_TEST_TMPDIR/ls"
	port=$(free_port)
	run env BUILD_DIR="$TOP_BUILDDIR" LOCAL_STACK_DIR="$state" \
	    PROVISIONER_HTTP_PORT="$port" CADDY="$CADDY" \
	    timeout 300 "$TOP_SRCDIR/scripts/local-stack.sh" --check --no-deps \
	    --no-build --standin 3>&-
	assert_success
	assert_output --partial "http://127.0.0.1:$port"
	assert_output --partial "$state/data/enroll-token"
	assert_output --partial "curl -sS http://127.0.0.1:$port/health"
	assert_output --partial "http://127.0.0.1:$port/register"
	assert_output --partial "http://127.0.0.1:$port/machines"
	assert_output --partial "http://127.0.0.1:$port/metrics"
	assert_output --partial "$state/data/admin-token"
	# Tokens reach curl on stdin: no printed command carries one.
	refute_line --regexp 'curl .*Bearer'
	assert_output --partial 'self-check passed'
	assert_output --regexp 'POST /register -> 200 .*"headscale_key":"hskey-auth-[A-Za-z0-9_-]{12}-\*\*\*"'
	# The token and the full key stay out of what is printed.
	refute_output --partial "$(tr -d '\n' <"$state/data/enroll-token")"
	refute_output --partial "$(tr -d '\n' <"$state/data/admin-token")"
	refute_output --regexp 'hskey-auth-[A-Za-z0-9_-]{12}-[A-Za-z0-9_-]{64}'
	# The registration was recorded, and everything was stopped.
	assert_equal "$(sqlite3 "$state/data/provisioner.db" \
	    "SELECT count(*) FROM machines WHERE hostname = 'local-check'")" 1
	assert_equal "$(stat -c %a "$state/data/enroll-token")" 600
	assert_equal "$(stat -c %a "$state/data/admin-token")" 600
	run ss -ltnH "sport = :$port"
	assert_output ''
	run ! compgen -G "$state/sock/*.sock"
}

@test "local-stack.sh refuses a port that is already taken" {
	stack_start
	run env BUILD_DIR="$TOP_BUILDDIR" \
	    LOCAL_STACK_DIR="$BATS_TEST_TMPDIR/ls" PROVISIONER_HTTP_PORT="$STACK_PORT" \
	    "$TOP_SRCDIR/scripts/local-stack.sh" --check --no-deps --no-build \
	    --standin 3>&-
	stack_stop
	assert_failure
	assert_output "local-stack.sh: something already listens on port $STACK_PORT (set PROVISIONER_HTTP_PORT)"
}
