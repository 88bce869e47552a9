#!/usr/bin/env bats
#
# rel-concurrency.bats: the rate limit and the record under concurrent
# load, through Caddy, with four worker processes per program.
#
# 200 authorised registrations at once from one address with
# RATE_LIMIT_MAX=10: exactly 10 succeed and 190 are 429, however the
# workers interleave; the window survives a restart of the programs; two
# addresses bursting at the same time each get their own 10. Then, with
# the limit out of the way, 8 clients registering distinct machines for
# 10 s: every 200 a client saw is exactly one row, in sqlite and in
# /machines, with that client's address, and every key headscale minted
# was handed out.

bats_require_minimum_version 1.5.0
load helper

LIMIT=10

setup_file() {
	stack_start --workers 4 RATE_LIMIT_MAX=$LIMIT RATE_LIMIT_WINDOW=600
}

teardown_file() {
	stack_stop
}

# key_creates: how many pre-auth keys the stand-in was asked to mint.
key_creates() {
	grep -c ' preauthkeys create ' "$STACK_HS_STATE/calls.log" || true
}

# sql QUERY: one value from the database.
sql() {
	sqlite3 "$STACK_DB" "$1"
}

# burst ADDR N HOSTNAME: N authorised registrations of HOSTNAME from ADDR,
# all sent at once by one curl; one status per line on stdout.
burst() {
	local addr=$1 n=$2 host=$3 cfg i
	cfg="$BATS_TEST_TMPDIR/burst-$addr"
	for ((i = 0; i < n; i++)); do
		printf 'url = "%s/register"\noutput = "/dev/null"\n' "$STACK_URL"
	done >"$cfg"
	curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max "$n" \
	    --interface "$addr" -X POST -H @"$(auth_file "$STACK_TOKEN")" \
	    -H 'Content-Type: application/json' \
	    --data-binary "$(register_body "$host" aa:bb:cc:00:80:01)" \
	    -w '%{http_code}\n' -K "$cfg"
}

# tally FILE: "count status" lines, as uniq -c prints them, joined.
tally() {
	sort "$1" | uniq -c | awk '{ printf "%s%s×%s", sep, $1, $2; sep = " " }'
}

@test "200 attempts at once from one address: exactly 10 pass, 190 are 429" {
	local out="$BATS_TEST_TMPDIR/codes" keys
	keys=$(key_creates)
	burst 127.0.0.41 200 burst-41 >"$out"
	echo "statuses: $(tally "$out")"
	assert_equal "$(wc -l <"$out")" 200
	assert_equal "$(tally "$out")" "10×200 190×429"
	assert_equal "$(sql "SELECT count(*) FROM machines WHERE ip = '127.0.0.41'")" 10
	assert_equal "$(sql "SELECT sum(n) FROM attempt_counts WHERE key = '127.0.0.41'")" 10
	# A refused attempt never reaches headscale.
	assert_equal "$(key_creates)" $((keys + 10))
}

@test "after the programs restart, the window still holds" {
	local retry
	stack_restart_programs
	register burst-41 aa:bb:cc:00:80:02 "$STACK_TOKEN" --from 127.0.0.41
	assert_equal "$HTTP_STATUS" 429
	assert_json_error
	retry=$(header Retry-After)
	assert_regex "$retry" '^[0-9]+$'
	# At most the window and one slice of it (600 s / 60).
	((retry >= 1 && retry <= 610))
	assert_equal "$(sql "SELECT count(*) FROM machines WHERE ip = '127.0.0.41'")" 10
}

@test "two addresses bursting at once do not share a window" {
	local a="$BATS_TEST_TMPDIR/a" b="$BATS_TEST_TMPDIR/b" pa pb
	burst 127.0.0.42 100 burst-42 >"$a" &
	pa=$!
	burst 127.0.0.43 100 burst-43 >"$b" &
	pb=$!
	wait "$pa"
	wait "$pb"
	echo "127.0.0.42: $(tally "$a"); 127.0.0.43: $(tally "$b")"
	assert_equal "$(tally "$a")" "10×200 90×429"
	assert_equal "$(tally "$b")" "10×200 90×429"
	assert_equal "$(sql "SELECT count(*) FROM machines WHERE ip = '127.0.0.42'")" 10
	assert_equal "$(sql "SELECT count(*) FROM machines WHERE ip = '127.0.0.43'")" 10
	# The first address is still held to its window.
	register burst-41 aa:bb:cc:00:80:03 "$STACK_TOKEN" --from 127.0.0.41
	assert_equal "$HTTP_STATUS" 429
}

# client N DEADLINE: from 127.0.0.(50+N), registers distinct machines
# until SECONDS reaches DEADLINE; one "status hostname address" line per
# attempt in client-N.
client() {
	local n=$1 deadline=$2 addr=127.0.0.$((50 + $1)) i=0 host code
	while ((SECONDS < deadline)); do
		host=lost-$n-$i
		code=$(curl -s -o /dev/null -w '%{http_code}' -m 20 \
		    --interface "$addr" -X POST \
		    -H @"$(auth_file "$STACK_TOKEN")" \
		    --data-binary "$(register_body "$host" \
		    "$(printf '02:00:01:%02x:%02x:%02x' "$n" $((i / 256)) $((i % 256)))")" \
		    "$STACK_URL/register")
		echo "$code $host $addr" >>"$BATS_FILE_TMPDIR/client-$n"
		i=$((i + 1))
	done
}

@test "8 clients for 10 s: exactly one row per 200, nothing lost or mixed up" {
	local n pids=() keys end ok rows listed
	# The limit out of the way; everything else as before.
	sed -i 's/^RATE_LIMIT_MAX=.*/RATE_LIMIT_MAX=1000000/' "$STACK_DIR/env"
	stack_restart_programs
	keys=$(key_creates)

	end=$((SECONDS + 10))
	for n in 1 2 3 4 5 6 7 8; do
		client "$n" "$end" 3>&- &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$BATS_FILE_TMPDIR"/client-* >"$BATS_TEST_TMPDIR/all"
	echo "attempts: $(wc -l <"$BATS_TEST_TMPDIR/all")," \
	    "statuses: $(cut -d' ' -f1 "$BATS_TEST_TMPDIR/all" | sort | uniq -c | tr -s ' \n' ' ')"

	# Every attempt was served.
	run ! grep -v '^200 ' "$BATS_TEST_TMPDIR/all"
	ok=$(grep -c '^200 ' "$BATS_TEST_TMPDIR/all")
	((ok >= 8))

	# The clients' own records against the database: the same set of
	# (hostname, address) pairs, each once.
	awk '{ print $2, $3 }' "$BATS_TEST_TMPDIR/all" | sort >"$BATS_TEST_TMPDIR/seen"
	sql "SELECT hostname || ' ' || ip FROM machines
	    WHERE hostname GLOB 'lost-*'" | sort >"$BATS_TEST_TMPDIR/rows"
	rows=$(wc -l <"$BATS_TEST_TMPDIR/rows")
	assert_equal "$rows" "$ok"
	run -0 diff "$BATS_TEST_TMPDIR/seen" "$BATS_TEST_TMPDIR/rows"

	# The same through /machines.
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	jq -r '.[] | select(.hostname | startswith("lost-")) | "\(.hostname) \(.ip)"' \
	    <<<"$HTTP_BODY" | sort >"$BATS_TEST_TMPDIR/listed"
	listed=$(wc -l <"$BATS_TEST_TMPDIR/listed")
	assert_equal "$listed" "$ok"
	run -0 diff "$BATS_TEST_TMPDIR/seen" "$BATS_TEST_TMPDIR/listed"

	# One key minted per 200, each key id recorded once.
	assert_equal "$(key_creates)" $((keys + ok))
	assert_equal "$(sql "SELECT count(DISTINCT key_id) FROM machines
	    WHERE hostname GLOB 'lost-*'")" "$ok"
	run -0 sqlite3 "$STACK_DB" 'PRAGMA integrity_check'
	assert_output ok
}
