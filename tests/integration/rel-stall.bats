#!/usr/bin/env bats
#
# rel-stall.bats: a client that asks for a large /machines and never reads
# the answer holds the machines worker, but not the database: the listing
# is read a page per transaction and the page's transaction ends before
# the worker blocks writing it, so checkpoints keep resetting the WAL
# while everyone else writes. Before, the one long statement kept its read
# snapshot for as long as the client stalled and the WAL grew with every
# write (about 9 KB per rate-limited attempt).

bats_require_minimum_version 1.5.0
load helper

ROWS=60000

setup_file() {
	stack_start --workers 1 RATE_LIMIT_MAX=100000
	sqlite3 "$STACK_DB" <<EOF
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $ROWS)
INSERT INTO machines (hostname, mac, ip, registered_at, key_id, key_expires_at)
SELECT printf('stall-%06d', i),
    printf('52:54:%02x:%02x:%02x:%02x', (i >> 24) & 255, (i >> 16) & 255,
        (i >> 8) & 255, i & 255),
    printf('10.%d.%d.%d', (i >> 16) & 255, (i >> 8) & 255, i & 255),
    1700000000 + i, i, 1700003600 + i
FROM seq;
PRAGMA wal_checkpoint(TRUNCATE);
EOF
}

teardown_file() {
	stack_stop
}

teardown() {
	if [[ -n ${STALL_PID:-} ]]; then
		kill "$STALL_PID" 2>/dev/null || true
		wait "$STALL_PID" 2>/dev/null || true
	fi
}

# stall: GET /machines?all=1 with the admin token from a client that reads
# nothing, with the smallest receive buffer the kernel allows. Its pid in
# STALL_PID; it gives up after 120 s.
stall() {
	python3 - "$STACK_PORT" "$STACK_ADMIN_TOKEN_FILE" \
	    >"$BATS_TEST_TMPDIR/stall.out" 2>&1 3>&- <<'EOF' &
import socket, sys, time
port, tokfile = int(sys.argv[1]), sys.argv[2]
token = open(tokfile).read().strip()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.sendall(("GET /machines?all=1 HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Bearer " + token + "\r\n\r\n").encode())
print("sent", flush=True)
time.sleep(120)
EOF
	STALL_PID=$!
}

wal_size() {
	stat -c %s "$STACK_DB-wal" 2>/dev/null || echo 0
}

@test "a stalled /machines reader does not hold the WAL open" {
	local urls="$BATS_TEST_TMPDIR/urls" i wal
	stall
	wait_until 10 grep -q sent "$BATS_TEST_TMPDIR/stall.out"
	# Let the worker fill every buffer on the way and block.
	sleep 3
	# 3000 limiter writes (attempts with a wrong token), one curl.
	for ((i = 0; i < 3000; i++)); do
		printf 'url = "%s/register"\n-o /dev/null\n' "$STACK_URL"
	done >"$urls"
	curl -sS -X POST -H 'Authorization: Bearer wrong' -H 'Content-Type: application/json' \
	    --data-binary '{}' -K "$urls"
	# The reader is still stalled: the worker is still busy with it.
	pid_alive "$STALL_PID"
	run -0 sqlite3 "$STACK_DB" "SELECT sum(n) FROM attempt_counts"
	((output >= 3000))
	wal=$(wal_size)
	echo "# WAL after 3000 writes beside a stalled reader: $wal bytes" >&3
	((wal <= 8 * 1024 * 1024))
}
