#!/usr/bin/env bats
#
# rel-faults.bats: the service when its parts fail. headscale failing,
# hanging, printing garbage or 10 MB, answering too late, missing or not
# executable: each is a JSON 502 or 504 within HEADSCALE_TIMEOUT plus a
# second (a bound, not a benchmark), nothing is recorded, and the same
# worker serves the next request. Workers killed with SIGKILL fifty times
# in the middle of registrations: the database stays whole, no row is half
# written, every 200 has its row, and the socket keeps answering. A
# database that cannot be written: 503 with a JSON error, and the rows
# already there intact.

bats_require_minimum_version 1.5.0
load helper

TIMEOUT=2

setup_file() {
	# headscale is reached through a link the tests can break or replace.
	export HS_LINK="$BATS_FILE_TMPDIR/hsbin/headscale"
	mkdir -p "${HS_LINK%/*}"
	ln -s "$HS_STANDIN" "$HS_LINK"
	# One worker, so "the worker still serves" is about the same process.
	stack_start --workers 1 HEADSCALE_TIMEOUT=$TIMEOUT \
	    HEADSCALE_BIN="$HS_LINK"
}

teardown_file() {
	stack_stop
}

# relink: headscale back where the programs look for it.
relink() {
	rm -rf "$HS_LINK"
	ln -s "$HS_STANDIN" "$HS_LINK"
}

teardown() {
	hs_fault_clear
	relink
}

has_child() {
	[[ -n $(pgrep -P "$1") ]]
}

childless() {
	[[ -z $(pgrep -P "$1") ]]
}

# children_are PID N: PID has exactly N child processes.
children_are() {
	(($(pgrep -c -P "$1") == $2))
}

# busy_worker SUPERVISOR: "WORKER CHILD" for one of its workers in the
# middle of a registration (running headscale), or "WORKER" for any one
# when none is.
busy_worker() {
	local w c
	for w in $(pgrep -P "$1" | shuf); do
		c=$(pgrep -P "$w" | head -n 1)
		if [[ -n $c ]]; then
			echo "$w $c"
			return
		fi
	done
	pgrep -P "$1" | shuf -n 1
}

# attempts_at_least N: the load clients have made N attempts between them.
attempts_at_least() {
	(($(cat "$BATS_FILE_TMPDIR"/client-* 2>/dev/null | wc -l) >= $1))
}

rows() {
	sqlite3 "$STACK_DB" 'SELECT count(*) FROM machines'
}

# key_creates: how many pre-auth keys the stand-in was asked to mint.
key_creates() {
	grep -c ' preauthkeys create ' "$STACK_HS_STATE/calls.log" || true
}

# machines: every recorded row, every column.
machines() {
	sqlite3 "$STACK_DB" 'SELECT * FROM machines ORDER BY id'
}

# worker: the pid of the register program's one worker.
worker() {
	pgrep -P "$(cat "$STACK_DIR/pids/register")"
}

# timed_register HOSTNAME MAC: POST /register; sets HTTP_STATUS, HTTP_BODY
# and ELAPSED (seconds, as curl measured the whole exchange).
timed_register() {
	local out="$BATS_TEST_TMPDIR/response" line
	line=$(curl -sS -o "$out" -w '%{http_code} %{time_total}' -X POST \
	    -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary "$(register_body "$1" "$2")" "$STACK_URL/register")
	read -r HTTP_STATUS ELAPSED <<<"$line"
	HTTP_BODY=$(cat "$out")
}

# fails_in_time STATUS: run after breaking headscale. One registration is
# STATUS with a JSON error, answered within HEADSCALE_TIMEOUT + 1 s,
# records nothing, leaves no headscale process behind, and the same worker
# answers the next one (after teardown-style repair by the caller's
# REPAIR command) with 200.
fails_in_time() {
	local status=$1 before pid
	shift
	before=$(rows)
	pid=$(worker)
	timed_register fault-host aa:bb:cc:00:70:01
	echo "status $HTTP_STATUS after ${ELAPSED}s"
	assert_equal "$HTTP_STATUS" "$status"
	assert_json_error
	awk -v t="$ELAPSED" -v max=$((TIMEOUT + 1)) 'BEGIN { exit !(t < max) }' ||
	    fail "answered after ${ELAPSED}s, bound $((TIMEOUT + 1))s"
	assert_equal "$(rows)" "$before"
	# Whatever headscale started is gone with it.
	wait_until 5 childless "$pid"

	"$@"
	timed_register after-fault aa:bb:cc:00:70:02
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(worker)" "$pid"
	assert_equal "$(rows)" $((before + 1))
}

@test "headscale exits 1: 502 in time, nothing recorded, worker serves on" {
	hs_fault fail
	fails_in_time 502 hs_fault_clear
}

@test "headscale hangs: 504 in time, killed, worker serves on" {
	hs_fault hang
	fails_in_time 504 hs_fault_clear
}

@test "headscale hangs in preauthkeys only, user known: 504 in time" {
	timed_register warm-cache aa:bb:cc:00:70:03
	assert_equal "$HTTP_STATUS" 200
	echo hang >"$STACK_HS_STATE/fault.preauthkeys"
	fails_in_time 504 hs_fault_clear
}

@test "headscale answers after 10 s: 504 in time" {
	hs_fault slow 10
	fails_in_time 504 hs_fault_clear
}

@test "headscale server unreachable for 10 s: 504 in time" {
	hs_fault down 10
	fails_in_time 504 hs_fault_clear
}

@test "headscale prints garbage: 502 in time" {
	hs_fault garbage
	fails_in_time 502 hs_fault_clear
}

@test "headscale prints 10 MB: 502 in time" {
	hs_fault huge
	fails_in_time 502 hs_fault_clear
}

@test "headscale missing: 502 in time" {
	rm -f "$HS_LINK"
	fails_in_time 502 ln -s "$HS_STANDIN" "$HS_LINK"
}

@test "headscale not executable: 502 in time" {
	rm -f "$HS_LINK"
	cp "$HS_STANDIN" "$HS_LINK"
	chmod 0644 "$HS_LINK"
	fails_in_time 502 chmod 0755 "$HS_LINK"
}

@test "headscale a directory: 502 in time" {
	rm -f "$HS_LINK"
	mkdir "$HS_LINK"
	fails_in_time 502 relink
}

@test "a client trickling its body holds no worker" {
	local slow
	# 300 bytes at 20 bytes a second: 15 s of upload, on the one worker
	# if Caddy passed the body on as it came.
	head -c 300 /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/slow-body"
	curl -s -o /dev/null --limit-rate 20 -m 30 -X POST \
	    -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary "@$BATS_TEST_TMPDIR/slow-body" \
	    "$STACK_URL/register" 3>&- &
	slow=$!
	sleep 2
	timed_register beside-slow aa:bb:cc:00:70:0d
	kill "$slow" 2>/dev/null || true
	wait "$slow" || true
	echo "status $HTTP_STATUS after ${ELAPSED}s"
	assert_equal "$HTTP_STATUS" 200
	awk -v t="$ELAPSED" 'BEGIN { exit !(t < 5) }'
}

@test "a worker killed while headscale hangs takes headscale with it" {
	local pid child before
	hs_fault hang
	before=$(key_creates)
	pid=$(worker)
	curl -s -o /dev/null -m 20 -X POST \
	    -H @"$(auth_file "$STACK_TOKEN")" \
	    --data-binary "$(register_body orphan-host aa:bb:cc:00:70:0b)" \
	    "$STACK_URL/register" 3>&- &
	wait_until 10 has_child "$pid"
	child=$(pgrep -P "$pid")
	# Should it outlive the test, stack_stop ends it.
	echo "$child" >"$STACK_DIR/pids/orphan-$child"
	kill -KILL "$pid"
	# No orphan left hanging (or, had it not hung, minting a key that
	# nobody records, returns or expires).
	wait_until 5 eval "! pid_alive $child"
	hs_fault_clear
	wait
	wait_until "$STACK_WAIT" has_child "$(cat "$STACK_DIR/pids/register")"
	timed_register after-orphan aa:bb:cc:00:70:0c
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(key_creates)" $((before + 1))
}

# --- SIGKILL under load ----------------------------------------------

# client N: registers distinct machines until the file "stop" appears, one
# "status hostname" line per attempt in client-N.
client() {
	local n=$1 i=0 host code
	while [[ ! -e $BATS_FILE_TMPDIR/stop ]]; do
		host=kill-$n-$i
		code=$(curl -s -o /dev/null -w '%{http_code}' -m 30 -X POST \
		    -H @"$(auth_file "$STACK_TOKEN")" \
		    --data-binary "$(register_body "$host" \
		    "$(printf '02:00:00:%02x:%02x:%02x' "$n" $((i / 256)) $((i % 256)))")" \
		    "$STACK_URL/register")
		echo "$code $host" >>"$BATS_FILE_TMPDIR/client-$n"
		i=$((i + 1))
	done
}

@test "50 SIGKILLs of workers during registrations: database whole, every 200 recorded" {
	local sup victim child kills=0 busy=0 n pids=() bad dup missing
	printf 4 >"$STACK_DIR/workers"
	stack_restart_programs
	sup=$(cat "$STACK_DIR/pids/register")
	wait_until "$STACK_WAIT" children_are "$sup" 4

	# Minting a key takes a second, so most kills find a request in
	# flight.
	echo 'slow 1' >"$STACK_HS_STATE/fault.preauthkeys"
	for n in 1 2 3 4 5 6; do
		client "$n" 3>&- &
		pids+=($!)
	done
	# Let the load build up before the first kill.
	wait_until "$STACK_WAIT" attempts_at_least 10
	while ((kills < 50)); do
		read -r victim child <<<"$(busy_worker "$sup")"
		# Half the kills land while headscale mints the key, half just
		# after it is reaped: during the insert, the commit or the
		# answer.
		if ((kills % 2)) && [[ -n $child ]]; then
			while [[ -e /proc/$child ]]; do
				:
			done
		fi
		if [[ -n $victim ]] && kill -KILL "$victim" 2>/dev/null; then
			kills=$((kills + 1))
			if [[ -n $child ]]; then
				busy=$((busy + 1))
			fi
			sleep 0.1
		fi
	done
	touch "$BATS_FILE_TMPDIR/stop"
	wait "${pids[@]}"
	hs_fault_clear

	echo "kills: $kills, $busy of them of a worker running headscale; statuses:"
	cat "$BATS_FILE_TMPDIR"/client-* | cut -d' ' -f1 | sort | uniq -c
	# The load was real: registrations went through during the kills,
	# and kills hit requests in flight.
	(($(grep -h -c '^200 ' "$BATS_FILE_TMPDIR"/client-* |
	    awk '{ s += $1 } END { print s }') >= 20))
	((busy >= 25))

	run -0 sqlite3 "$STACK_DB" 'PRAGMA integrity_check'
	assert_output ok
	# No half-written row: every column of every row is whole and sane.
	bad=$(sqlite3 "$STACK_DB" "SELECT count(*) FROM machines WHERE
	    typeof(hostname) != 'text' OR length(hostname) NOT BETWEEN 1 AND 63 OR
	    typeof(mac) != 'text' OR mac NOT GLOB
	    '[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]' OR
	    typeof(ip) != 'text' OR ip = '' OR
	    typeof(registered_at) != 'integer' OR registered_at <= 0 OR
	    typeof(key_id) != 'integer' OR key_id <= 0 OR
	    typeof(key_expires_at) != 'integer' OR key_expires_at <= registered_at")
	assert_equal "$bad" 0
	dup=$(sqlite3 "$STACK_DB" "SELECT hostname FROM machines
	    WHERE hostname GLOB 'kill-*' GROUP BY hostname HAVING count(*) > 1")
	assert_equal "$dup" ""
	# Every 200 a client got has its row. (A worker killed after its
	# commit but before its answer leaves a row whose client saw a 502:
	# recorded, never handed out. The reverse must not happen.)
	missing=$(sort -u <(sqlite3 "$STACK_DB" 'SELECT hostname FROM machines') |
	    comm -13 - <(grep -h '^200 ' "$BATS_FILE_TMPDIR"/client-* |
	    cut -d' ' -f2 | sort -u))
	assert_equal "$missing" ""
	echo "rows recorded for a client that saw no 200:" \
	    "$(sort -u <(sqlite3 "$STACK_DB" "SELECT hostname FROM machines
	    WHERE hostname GLOB 'kill-*'") | comm -23 - <(grep -h '^200 ' \
	    "$BATS_FILE_TMPDIR"/client-* | cut -d' ' -f2 | sort -u) | wc -l)"

	# The socket kept its supervisor, which keeps four workers.
	pid_alive "$sup"
	wait_until "$STACK_WAIT" children_are "$sup" 4
	timed_register after-kills aa:bb:cc:00:70:04
	assert_equal "$HTTP_STATUS" 200
}

# --- a database that cannot be written -------------------------------

@test "a read-only data directory: register 503, health 503, reads served, rows intact" {
	local before wrapper="$BATS_FILE_TMPDIR/ro-data"
	# Root writes through any file mode, so chmod proves nothing here.
	# Each program gets a private mount namespace in which the data
	# directory is a read-only bind mount of itself: the kernel refuses
	# every write, for root too, and nothing outside changes.
	if ! unshare -m true 2>/dev/null; then
		skip "cannot create a mount namespace here"
	fi
	cat >"$wrapper" <<-'EOF'
	#!/bin/sh
	mount --bind "$PROVISIONER_DATA_DIR" "$PROVISIONER_DATA_DIR" &&
	    mount -o remount,bind,ro "$PROVISIONER_DATA_DIR" || exit 97
	exec "$@"
	EOF
	chmod 0755 "$wrapper"
	before=$(machines)
	[[ -n $before ]]

	PROV_TEST_WRAPPER="unshare -m --propagation private $wrapper" \
	    stack_restart_programs
	timed_register ro-host aa:bb:cc:00:70:05
	echo "$HTTP_BODY"
	assert_equal "$HTTP_STATUS" 503
	assert_json_error
	http GET '/machines?all=1' -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(jq length <<<"$HTTP_BODY")" "$(rows)"
	# A monitor watching /health sees that registrations cannot land.
	http GET /health
	assert_equal "$HTTP_STATUS" 503
	assert_json_error
	run -0 grep -c 'health .* 503 .*registrations cannot be recorded' \
	    "$STACK_LOGS/health.log"
	stack_restart_programs
	http GET /health
	assert_equal "$HTTP_STATUS" 200

	assert_equal "$(machines)" "$before"
	run -0 sqlite3 "$STACK_DB" 'PRAGMA integrity_check'
	assert_output ok
	timed_register rw-again aa:bb:cc:00:70:06
	assert_equal "$HTTP_STATUS" 200
}

@test "a write refused inside sqlite: 503, the minted key withheld and expired" {
	local before creates log="$STACK_LOGS/register.log" lines id expiry
	before=$(machines)
	creates=$(key_creates)
	lines=$(wc -l <"$log")
	sqlite3 "$STACK_DB" "CREATE TRIGGER rel_refuse BEFORE INSERT ON machines
	    BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
	timed_register refused-host aa:bb:cc:00:70:07
	sqlite3 "$STACK_DB" 'DROP TRIGGER rel_refuse'
	assert_equal "$HTTP_STATUS" 503
	assert_json_error
	[[ $HTTP_BODY != *hskey* ]]
	assert_equal "$(machines)" "$before"
	# The key was made, then withheld because it could not be recorded,
	# and expired at once: headscale lists it as expired.
	assert_equal "$(key_creates)" $((creates + 1))
	wait_until 10 lines_exceed "$log" "$lines"
	id=$(tail -n +$((lines + 1)) "$log" |
	    sed -n 's/^register .* 503 .*key \([0-9]*\) not recorded, so not returned (expired).*/\1/p')
	[[ -n $id ]]
	expiry=$(HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys \
	    list -o json | jq --argjson id "$id" '.[] | select(.id == $id) |
	    .expiration.seconds')
	((expiry <= $(date +%s)))
	timed_register after-refusal aa:bb:cc:00:70:08
	assert_equal "$HTTP_STATUS" 200
}

@test "a writer holding the lock past the busy timeout: 503, then served" {
	local before locker
	before=$(rows)
	# Another process takes the write lock and sits on it for 8 s, longer
	# than the programs' 5 s busy timeout.
	{
		echo 'BEGIN IMMEDIATE;'
		sleep 8
		echo 'COMMIT;'
	} | sqlite3 "$STACK_DB" &
	locker=$!
	sleep 1
	timed_register locked-host aa:bb:cc:00:70:09
	echo "status $HTTP_STATUS after ${ELAPSED}s"
	assert_equal "$HTTP_STATUS" 503
	assert_json_error
	wait "$locker"
	timed_register unlocked-host aa:bb:cc:00:70:0a
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(rows)" $((before + 1))
}
