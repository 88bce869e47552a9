#!/usr/bin/env bats
#
# api-40-machines.bats: GET /machines and /health through Caddy: the token,
# the listing's shape and order, and health's answer when the database stops
# answering (the last tests, since they break the stack's database).

bats_require_minimum_version 1.5.0
load helper

RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'

setup_file() {
	stack_start
}

teardown_file() {
	stack_stop
}

# machines [--from ADDR] [curl args...]: GET /machines with the token.
machines() {
	http GET /machines "$@" -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
}

@test "health: GET and HEAD are 200 without a token" {
	http GET /health
	assert_equal "$HTTP_STATUS" 200
	jq -e '. == {"status": "ok"}' <<<"$HTTP_BODY"
	assert_equal "$(header Content-Type)" application/json
	http HEAD /health
	assert_equal "$HTTP_STATUS" 200
	http POST /health
	assert_equal "$HTTP_STATUS" 405
	assert_json_error
	assert_regex "$(header Allow)" GET
}

@test "machines: 401 with WWW-Authenticate: Bearer without the right token" {
	http GET /machines
	assert_equal "$HTTP_STATUS" 401
	assert_json_error
	assert_regex "$(header WWW-Authenticate)" '^Bearer'
	http GET /machines -H @"$(auth_file "$(new_token)")"
	assert_equal "$HTTP_STATUS" 401
	assert_json_error
}

@test "machines: an empty store is an empty array" {
	machines
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(header Content-Type)" application/json
	jq -e '. == []' <<<"$HTTP_BODY"
}

@test "machines: other methods are 405 with Allow" {
	local m
	for m in POST PUT DELETE; do
		http "$m" /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
		assert_equal "$HTTP_STATUS" 405
		assert_json_error
		assert_regex "$(header Allow)" GET
	done
}

@test "machines: every registration listed, newest first, with its fields" {
	local i expires=()
	for i in 1 2 3; do
		register "list-$i" "AA:BB:CC:00:40:0$i" '' --from "127.0.0.4$i" \
		    -H @"$(auth_file "$STACK_TOKEN")"
		assert_equal "$HTTP_STATUS" 200
		expires+=("$(jq -r .expires_at <<<"$HTTP_BODY")")
	done
	machines
	assert_equal "$HTTP_STATUS" 200
	jq -e 'type == "array" and length == 3' <<<"$HTTP_BODY"
	assert_equal "$(jq -r 'map(.hostname) | join(" ")' <<<"$HTTP_BODY")" \
	    'list-3 list-2 list-1'
	for i in 0 1 2; do
		jq -e --argjson i "$i" --arg re "$RFC3339" '.[$i] |
		    (keys | contains(["hostname", "mac", "ip", "registered_at",
		        "key_id", "key_expires_at"])) and
		    (.registered_at | test($re)) and
		    (.key_expires_at | test($re)) and
		    (.key_id | type == "number" and . > 0)' <<<"$HTTP_BODY"
	done
	jq -e '.[0].mac == "aa:bb:cc:00:40:03" and .[0].ip == "127.0.0.43" and
	    .[2].mac == "aa:bb:cc:00:40:01" and .[2].ip == "127.0.0.41"' <<<"$HTTP_BODY"
	# The expiry recorded is the one handed out.
	assert_equal "$(date -d "$(jq -r '.[0].key_expires_at' <<<"$HTTP_BODY")" +%s)" \
	    "$(date -d "${expires[2]}" +%s)"
	# Never the key itself.
	run ! grep -q hskey <<<"$HTTP_BODY"
}

@test "machines: the key ids are headscale's" {
	machines
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys list -o json \
	    >"$BATS_TEST_TMPDIR/keys"
	jq -e --slurpfile keys "$BATS_TEST_TMPDIR/keys" '
		($keys[0] | map(.id)) as $ids | all(.[]; .key_id as $k | $ids | index($k))' \
	    <<<"$HTTP_BODY"
}

@test "machines: the listing survives a restart" {
	machines
	local before=$HTTP_BODY
	stack_restart_programs
	machines
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$HTTP_BODY" "$before"
}

@test "no token or key in any log; one line per request" {
	local log="$STACK_LOGS/machines.log" before
	before=$(wc -l <"$log")
	machines --from 127.0.0.49
	wait_until 10 lines_exceed "$log" "$before"
	assert_equal "$(wc -l <"$log")" $((before + 1))
	assert_regex "$(tail -n 1 "$log")" '127\.0\.0\.49 200 [0-9]+ms'
	assert_no_secrets "$STACK_LOGS"/*.log
}

# now_us: the wall clock in microseconds.
now_us() {
	echo "${EPOCHREALTIME//[!0-9]/}"
}

# health_is STATUS: GET /health answers STATUS (for wait_until).
health_is() {
	http GET /health
	[[ $HTTP_STATUS == "$1" ]]
}

# A program's sqlite handle reads the file again only when the WAL index
# shows that another connection wrote since its last read; until then it
# may answer from its page cache. So the store is broken and repaired with
# a write through sqlite3 first, which every handle notices.
store_write() {
	sqlite3 -cmd '.timeout 5000' "$STACK_DB" "INSERT INTO machines (hostname, mac, ip,
	    registered_at, key_id, key_expires_at) VALUES ('health-$1',
	    'aa:bb:cc:00:40:99', '127.0.0.1', 0, 1, 0);
	    PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
}

# store_break: the stack's database overwritten in place with random bytes,
# after a write; its good bytes are kept in $BATS_TEST_TMPDIR/good.db.
store_break() {
	local size
	store_write break
	cp "$STACK_DB" "$BATS_TEST_TMPDIR/good.db"
	size=$(stat -c %s "$STACK_DB")
	head -c "$size" /dev/urandom | dd of="$STACK_DB" conv=notrunc status=none
}

# store_repair: the good bytes back, then a write.
store_repair() {
	dd if="$BATS_TEST_TMPDIR/good.db" of="$STACK_DB" conv=notrunc status=none
	store_write repair
}

@test "health: a worker answers from its last good ping for at most a second" {
	local t0 t1 done_first status_cached wait_us
	# A new process: its first request always pings.
	stop_program health
	start_program health
	t0=$(now_us)
	http GET /health
	assert_equal "$HTTP_STATUS" 200
	done_first=$(now_us)
	store_break
	http GET /health
	status_cached=$HTTP_STATUS
	t1=$(now_us)
	# Plain CGI is a new process each time, so it pings: the store really
	# is broken now.
	cgi health GET ''
	assert_equal "$CGI_STATUS" 503
	# The good ping began after t0, so it stands until after t0 + 1 s; an
	# answer complete before that came from it. A machine too slow to get
	# there in time cannot tell, and says so rather than failing.
	if ((t1 - t0 < 1000000)); then
		assert_equal "$status_cached" 200
	else
		echo "# health: the second request took over a second; not checked" >&3
	fi
	# The good ping began before done_first, so a second after that it no
	# longer stands: the next request pings and must see the damage.
	wait_us=$((done_first + 1050000 - $(now_us)))
	if ((wait_us > 0)); then
		sleep "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))"
	fi
	http GET /health
	assert_equal "$HTTP_STATUS" 503
	assert_json_error
	assert_equal "$(header Content-Type)" application/json
	# A failure is never reused: repaired, the store is ok at once.
	store_repair
	http GET /health
	assert_equal "$HTTP_STATUS" 200
	jq -e '. == {"status": "ok"}' <<<"$HTTP_BODY"
}

@test "health: 503 with a JSON error once the database stops answering" {
	# Overwrite the database in place with garbage while the program runs;
	# the program notices within a second.
	store_break
	wait_until 5 health_is 503
	assert_json_error
	assert_equal "$(header Content-Type)" application/json
}
