#!/usr/bin/env bats
#
# api-60-modes.bats: how the programs run, rather than what they answer:
# --listen's socket (refusing a live one, replacing a stale one, mode 0660,
# removed on exit), SIGTERM with a request in flight, serving a listening
# socket inherited on fd 0, the --workers supervisor respawning a killed
# worker, and two registrations served at the same time.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	stack_start --workers 2 HEADSCALE_TIMEOUT=20
}

teardown_file() {
	stack_stop
}

teardown() {
	hs_fault_clear
}

# fcgi_health SOCKET: one GET /health over FastCGI, straight to SOCKET.
fcgi_health() {
	env -i REQUEST_METHOD=GET SCRIPT_NAME=/health PATH_INFO= \
	    REMOTE_ADDR=127.0.0.1 CONTENT_LENGTH=0 SERVER_PROTOCOL=HTTP/1.1 \
	    cgi-fcgi -bind -connect "$1" </dev/null
}

fcgi_up() {
	# cgi-fcgi exits with errno (2 while the socket does not exist yet),
	# and wait_until takes 2 as "never": report plain failure instead.
	fcgi_health "$1" >/dev/null 2>&1 || return 1
}

# children_are PID N: PID has exactly N child processes.
children_are() {
	(($(pgrep -c -P "$1") == $2))
}

# replaced SUPERVISOR OLD N: OLD is no longer among SUPERVISOR's N children.
replaced() {
	! pgrep -P "$1" | grep -qx "$2" && children_are "$1" "$3"
}

# own_program NAME SOCKET [ARGS...]: NAME on SOCKET as a child of this test,
# with the stack's environment; sets OWN_PID.
own_program() {
	local name=$1 sock=$2
	shift 2
	local -a STACK_ENV
	_stack_env_array
	setsid env -i "${STACK_ENV[@]}" "$TOP_BUILDDIR/cgi-bin/$name" \
	    --listen "$sock" "$@" </dev/null \
	    >>"$STACK_LOGS/own-$name.log" 2>&1 3>&- &
	OWN_PID=$!
	echo "$OWN_PID" >"$STACK_DIR/pids/own-$name-$OWN_PID"
}

# hs_in_flight SUBCOMMAND: a stand-in of this stack is running SUBCOMMAND.
hs_in_flight() {
	local p
	for p in $(pgrep -f -- "$HS_STANDIN.* $1" || true); do
		if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
		    grep -qxF "HEADSCALE_CONFIG=$STACK_HS_CONFIG"; then
			return 0
		fi
	done
	return 1
}

@test "--listen: the socket is mode 0660" {
	assert_equal "$(stat -c %a "$STACK_SOCK_DIR/health.sock")" 660
	assert_equal "$(stat -c %F "$STACK_SOCK_DIR/health.sock")" socket
}

@test "--listen: a second instance refuses a live socket; the first keeps serving" {
	local sock="$STACK_SOCK_DIR/health.sock" inode
	inode=$(stat -c %i "$sock")
	local -a STACK_ENV
	_stack_env_array
	run timeout 20 env -i "${STACK_ENV[@]}" \
	    "$TOP_BUILDDIR/cgi-bin/health" --listen "$sock"
	refute [ "$status" -eq 0 ]
	refute [ "$status" -eq 124 ]
	assert_equal "$(stat -c %i "$sock")" "$inode"
	http GET /health
	assert_equal "$HTTP_STATUS" 200
	run fcgi_health "$sock"
	assert_success
	assert_output --partial '{"status":"ok"}'
}

@test "--listen: a stale socket is replaced; SIGTERM removes it, exit 0" {
	local sock="$BATS_TEST_TMPDIR/h.sock" rc=0
	own_program health "$sock"
	wait_until "$STACK_WAIT" test -S "$sock"
	# SIGKILL leaves the socket file behind with nobody listening.
	kill -KILL "$OWN_PID"
	wait "$OWN_PID" || true
	[[ -S $sock ]]
	run ! fcgi_health "$sock"
	own_program health "$sock"
	wait_until "$STACK_WAIT" fcgi_up "$sock"
	run fcgi_health "$sock"
	assert_output --partial '{"status":"ok"}'
	assert_equal "$(stat -c %a "$sock")" 660
	kill -TERM "$OWN_PID"
	wait "$OWN_PID" || rc=$?
	assert_equal "$rc" 0
	[[ ! -e $sock ]]
}

@test "--listen: a regular file at the path is refused and left alone" {
	local path="$BATS_TEST_TMPDIR/file.sock"
	local -a STACK_ENV
	_stack_env_array
	echo precious >"$path"
	run timeout 20 env -i "${STACK_ENV[@]}" "$TOP_BUILDDIR/cgi-bin/health" \
	    --listen "$path"
	refute [ "$status" -eq 0 ]
	refute [ "$status" -eq 124 ]
	assert_equal "$(cat "$path")" precious
}

@test "--listen --workers: SIGTERM removes the socket, exit 0" {
	local sock="$BATS_TEST_TMPDIR/w.sock" rc=0
	own_program health "$sock" --workers 3
	wait_until "$STACK_WAIT" fcgi_up "$sock"
	wait_until "$STACK_WAIT" children_are "$OWN_PID" 3
	kill -TERM "$OWN_PID"
	wait "$OWN_PID" || rc=$?
	assert_equal "$rc" 0
	[[ ! -e $sock ]]
}

@test "SIGTERM during a slow registration: it finishes with 200, exit 0" {
	local pid rc=0 out="$BATS_TEST_TMPDIR/slow" curl_pid
	# Take the stack's register program over as a child of this test, so
	# its exit status can be read.
	stop_program register
	start_program register
	pid=$(cat "$STACK_DIR/pids/register")
	# Warm up: the deploy user's id is looked up once per worker.
	register warm-1 aa:bb:cc:00:60:01
	register warm-2 aa:bb:cc:00:60:02
	hs_fault slow 2
	curl -sS -o "$out.body" -w '%{http_code}' -X POST \
	    -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary "$(register_body slow-1 aa:bb:cc:00:60:03)" \
	    "$STACK_URL/register" >"$out.code" &
	curl_pid=$!
	wait_until "$STACK_WAIT" hs_in_flight preauthkeys
	kill -TERM "$pid"
	wait "$curl_pid"
	assert_equal "$(cat "$out.code")" 200
	jq -e '.hostname == "slow-1"' "$out.body"
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	[[ ! -e $STACK_SOCK_DIR/register.sock ]]
	rm -f "$STACK_DIR/pids/register"
	hs_fault_clear
	start_program register
	register after-1 aa:bb:cc:00:60:04
	assert_equal "$HTTP_STATUS" 200
}

@test "fd 0 mode: a listening socket on stdin (spawn-fcgi -n) serves through Caddy" {
	local -a STACK_ENV
	local sock="$STACK_SOCK_DIR/health.sock" pid rc=0
	_stack_env_array
	stop_program health
	[[ ! -e $sock ]]
	setsid spawn-fcgi -n -s "$sock" -M 0660 -- \
	    /usr/bin/env -i "${STACK_ENV[@]}" "$TOP_BUILDDIR/cgi-bin/health" \
	    </dev/null >>"$STACK_LOGS/health-fd0.log" 2>&1 3>&- &
	pid=$!
	echo "$pid" >"$STACK_DIR/pids/health"
	wait_until "$STACK_WAIT" test -S "$sock"
	# /proc shows the program itself holding the socket on fd 0.
	wait_until "$STACK_WAIT" grep -qx 'health' "/proc/$pid/comm"
	assert_regex "$(readlink "/proc/$pid/fd/0")" '^socket:'
	http GET /health
	assert_equal "$HTTP_STATUS" 200
	jq -e '. == {"status": "ok"}' <<<"$HTTP_BODY"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	rm -f "$STACK_DIR/pids/health"
	# The program does not own the path in this mode; --listen replaces
	# the stale socket spawn-fcgi left.
	start_program health
	http GET /health
	assert_equal "$HTTP_STATUS" 200
}

@test "--workers: a worker killed with SIGKILL is respawned, the socket keeps answering" {
	local sup victim i
	sup=$(cat "$STACK_DIR/pids/machines")
	wait_until "$STACK_WAIT" children_are "$sup" 2
	victim=$(pgrep -P "$sup" | head -n 1)
	kill -KILL "$victim"
	wait_until "$STACK_WAIT" replaced "$sup" "$victim" 2
	for i in 1 2 3 4 5 6; do
		http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
		assert_equal "$HTTP_STATUS" 200
	done
	pid_alive "$sup"
}

@test "--workers 2: two registrations run at the same time" {
	local out="$BATS_TEST_TMPDIR/par" before i
	before=$(hs_calls)
	hs_fault slow 2
	for i in 1 2; do
		curl -sS -o /dev/null -w '%{http_code}\n' -X POST \
		    -H @"$(auth_file "$STACK_TOKEN")" \
		    --data-binary "$(register_body par-$i aa:bb:cc:00:60:2$i)" \
		    "$STACK_URL/register" >>"$out" &
	done
	wait
	hs_fault_clear
	assert_equal "$(sort "$out" | tr '\n' ' ')" '200 200 '
	# Among the stand-in runs these two requests caused (a worker may also
	# have looked the user up), two [start, end] intervals overlap: one
	# began before another had ended.
	tail -n +$((before + 1)) "$STACK_HS_STATE/calls.log" | sort -n -k1,1 |
	    awk 'NR > 1 && $1 < max_end { overlap = 1 }
		 $2 > max_end { max_end = $2 }
		 END { exit !overlap }'
}

@test "--workers outside 1..64, or not a plain number, is refused: exit 2" {
	local w
	# A data directory that cannot exist: were the value taken, the
	# program would stop at the database (exit 1), not start serving.
	for w in 0 00 65 -1 +2 2x ''; do
		run env -i PATH=/usr/bin:/bin \
		    PROVISIONER_DATA_DIR="$BATS_TEST_TMPDIR/no/such/dir" \
		    "$TOP_BUILDDIR/cgi-bin/health" \
		    --listen "$BATS_TEST_TMPDIR/w.sock" --workers "$w"
		echo "--workers '$w': exit $status"
		assert_equal "$status" 2
		assert_output --partial "--workers must be a number from 1 to"
	done
	run -2 "$TOP_BUILDDIR/cgi-bin/health" --workers
	[[ ! -e $BATS_TEST_TMPDIR/w.sock ]]
}

# health_is STATUS: GET /health answers STATUS.
health_is() {
	http GET /health
	[[ $HTTP_STATUS == "$1" ]]
}

@test "a database gone bad after healthy answers shows on /health within seconds" {
	local i
	for i in 1 2 3 4; do
		http GET /health
		assert_equal "$HTTP_STATUS" 200
	done
	# A success stands for a second at most; then every worker asks again.
	sqlite3 "$STACK_DB" 'ALTER TABLE machines RENAME TO machines_away'
	wait_until 10 health_is 503
	sqlite3 "$STACK_DB" 'ALTER TABLE machines_away RENAME TO machines'
	wait_until 10 health_is 200
}
