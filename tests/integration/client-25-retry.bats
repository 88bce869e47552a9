#!/usr/bin/env bats
#
# client-25-retry.bats: sovran-auto-provision waiting for a provisioning API
# that is not there yet, and for a rate limit to let it through. The stack
# allows one registration attempt per client address every 2 seconds.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helper

setup_file() {
	stack_start RATE_LIMIT_MAX=1 RATE_LIMIT_WINDOW=2
}

teardown_file() {
	stack_stop
}

setup() {
	CONF="$BATS_TEST_TMPDIR/etc-sovran"
	SYSFS="$BATS_TEST_TMPDIR/sys"
	CLIENT_LOG="$BATS_TEST_TMPDIR/client.log"
	export TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/tailscaled"
	mkdir -p "$CONF" "$SYSFS/devices/pci0000:00/net/eth0" "$SYSFS/class/net" \
	    "$TAILSCALE_STANDIN_DIR"
	chmod 0700 "$CONF"
	(umask 077 && printf '%s\n' "$STACK_TOKEN" >"$CONF/enroll-token")
	printf '%s\n' "$STACK_URL" >"$CONF/provisioner-url"
	echo 52:54:00:ab:cd:ef >"$SYSFS/devices/pci0000:00/net/eth0/address"
	echo 1 >"$SYSFS/devices/pci0000:00/net/eth0/type"
	ln -s ../../devices/pci0000:00/net/eth0 "$SYSFS/class/net/eth0"
}

# Whatever a failed test left running in the background is stopped here.
teardown() {
	touch "$BATS_TEST_TMPDIR/stop"
	local pid
	for pid in ${CLIENT_PID:-} ${OTHER_PID:-}; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# client_bg [VAR=value...]: starts the client in the background with short
# backoff and many attempts; CLIENT_PID is its pid.
client_bg() {
	: >"$CLIENT_LOG"
	env -i PATH="$TOP_SRCDIR/tests/standin:/usr/bin:/bin" \
	    TMPDIR="$BATS_TEST_TMPDIR" SOVRAN_CONFIG_DIR="$CONF" \
	    SOVRAN_SYSFS_NET="$SYSFS/class/net" \
	    TAILSCALE_STANDIN_DIR="$TAILSCALE_STANDIN_DIR" \
	    HEADSCALE_STANDIN_STATE="$STACK_HS_STATE" \
	    SOVRAN_RETRY_BASE=1 SOVRAN_RETRY_CAP=2 SOVRAN_MAX_ATTEMPTS=100 \
	    SOVRAN_UP_TIMEOUT=10 "$@" \
	    "$TOP_SRCDIR/client/sovran-auto-provision" \
	    </dev/null >>"$CLIENT_LOG" 2>&1 3>&- &
	CLIENT_PID=$!
}

# client_wait: waits for the client; fails unless it exited 0.
client_wait() {
	local rc=0
	wait "$CLIENT_PID" || rc=$?
	if ((rc != 0)); then
		cat "$CLIENT_LOG" >&2
		fail "client exited $rc"
	fi
}

@test "a server that is down at first is waited for" {
	RESTART_PORT=$STACK_PORT
	# Caddy stops: connections to the API's port are refused.
	pid_stop "$(cat "$STACK_DIR/pids/caddy")"
	rm -f "$STACK_DIR/pids/caddy"
	client_bg
	wait_until "$STACK_WAIT" grep -q 'server unreachable, retrying' "$CLIENT_LOG"

	# Caddy comes back on the same port (free_port is what start_caddy
	# asks for one).
	free_port() { echo "$RESTART_PORT"; }
	start_caddy
	assert_equal "$STACK_PORT" "$RESTART_PORT"
	client_wait
	run -0 grep -c 'Joined the tailnet as sovran-deploy-' "$CLIENT_LOG"
}

@test "429 waits as long as Retry-After says, then succeeds" {
	local codes="$BATS_TEST_TMPDIR/codes" wait_s try
	: >"$codes"
	# Another client on the same address keeps the window full: its one
	# attempt per window is taken again as soon as the window frees it.
	(
		while [[ ! -e $BATS_TEST_TMPDIR/stop ]]; do
			curl -s -o /dev/null -w '%{http_code}\n' -X POST \
			    "$STACK_URL/register" >>"$codes" || true
			sleep 0.05
		done
	) 3>&- &
	OTHER_PID=$!
	wait_until "$STACK_WAIT" grep -q '^429$' "$codes"

	# The client can still slip into the moment the window frees; then
	# it simply joins, and the next try (a fresh node) runs into a 429.
	for try in 1 2 3; do
		export TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/tailscaled-$try"
		# Backoff alone would wait 5 to 9 seconds.
		client_bg SOVRAN_RETRY_BASE=9 SOVRAN_RETRY_CAP=9
		wait_until "$STACK_WAIT" saw_429_or_exited
		! grep -q 'HTTP 429, retrying' "$CLIENT_LOG" || break
		client_wait
	done
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$OTHER_PID"
	client_wait

	# The wait came from the header: within the 2-second window and the
	# one-second slice the limiter counts in, not the backoff's 5 to 9.
	wait_s=$(sed -n 's/.*HTTP 429, retrying in \([0-9]*\)s$/\1/p' \
	    "$CLIENT_LOG" | head -n 1)
	[[ -n $wait_s ]] || fail "no 429 in $try tries"
	((wait_s >= 1 && wait_s <= 3)) || fail "waited ${wait_s}s"
	run -0 grep -c 'Joined the tailnet' "$CLIENT_LOG"
}

saw_429_or_exited() {
	grep -q 'HTTP 429, retrying' "$CLIENT_LOG" || ! pid_alive "$CLIENT_PID"
}
