#!/usr/bin/env bats
#
# rel-durable.bats: a 200 from /register means its row is on disk. The
# register program runs under strace, counting the calls that reach the
# disk (fsync, fdatasync): a registration's commit is followed by one
# before the answer, while a refused request (401), whose only write is the
# rate limiter's, syncs nothing.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	command -v strace >/dev/null || return 0
	stack_start --workers 1
	# Only register runs under strace: a log of its own, with the time of
	# each call, so the test can tell which request made it.
	export SYNC_LOG="$BATS_FILE_TMPDIR/sync.log"
	stop_program register
	PROV_TEST_WRAPPER="strace -f -qq -ttt -e trace=fsync,fdatasync,syncfs,sync_file_range -o $SYNC_LOG" \
	    start_program register
}

teardown_file() {
	stack_stop
}

setup() {
	command -v strace >/dev/null || skip "strace is not installed"
}

# syncs_between T0 T1: disk syncs register made between the two times.
syncs_between() {
	awk -v a="$1" -v b="$2" '$2 + 0 >= a && $2 + 0 <= b && $3 !~ /resumed/' "$SYNC_LOG" |
	    grep -c -E 'f(data)?sync\(' || true
}

@test "a registration's commit is synced before the 200; a 401 syncs nothing" {
	# Warm up: the worker opens its statements and checkpoints nothing yet.
	register warm-up aa:bb:cc:00:50:00
	assert_equal "$HTTP_STATUS" 200

	t0=$(date +%s.%N)
	register durable-1 aa:bb:cc:00:50:01 "not-the-token"
	assert_equal "$HTTP_STATUS" 401
	t1=$(date +%s.%N)
	register durable-1 aa:bb:cc:00:50:01
	assert_equal "$HTTP_STATUS" 200
	t2=$(date +%s.%N)
	# strace writes each line as the call returns; let it catch up.
	sleep 0.5
	echo "401: $(syncs_between "$t0" "$t1") syncs; 200: $(syncs_between "$t1" "$t2") syncs"
	(($(syncs_between "$t0" "$t1") == 0))
	(($(syncs_between "$t1" "$t2") >= 1))
	# And the row is there.
	run -0 sqlite3 "$STACK_DATA_DIR/provisioner.db" \
	    "SELECT count(*) FROM machines WHERE hostname = 'durable-1'"
	assert_output 1
}
