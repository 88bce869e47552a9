#!/usr/bin/env bats
#
# api-45-operator.bats: the operator's endpoints through Caddy: the admin
# token (403 for the enrollment token, 401 for anything else), GET
# /machines joined with headscale (every state, filters, newest per MAC,
# pages following Link while registrations arrive, headscale unreachable),
# DELETE /machines/<id> (idempotent, 404, 502 without marking) and one live
# key per MAC, counted in the headscale stand-in's own state.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	stack_start --workers 1
}

teardown_file() {
	stack_stop
}

teardown() {
	hs_fault_clear
}

# admin METHOD PATH [curl args...]: a request with the admin token, read
# from a file so it is on no command line.
admin() {
	local method=$1 path=$2
	shift 2
	http "$method" "$path" -H "@$STACK_ADMIN_HEADER" "$@"
}

# enrol HOSTNAME MAC: registers; the key goes to $BATS_TEST_TMPDIR/HOSTNAME.key.
enrol() {
	register "$1" "$2"
	assert_equal "$HTTP_STATUS" 200
	(umask 077 && jq -j .headscale_key <<<"$HTTP_BODY" \
	    >"$BATS_TEST_TMPDIR/$1.key")
}

# ts HOSTNAME ARGS...: the tailscale stand-in as machine HOSTNAME, talking
# to the headscale stand-in's state.
ts() {
	local host=$1
	shift
	HEADSCALE_STANDIN_STATE="$STACK_HS_STATE" \
	    TAILSCALE_STANDIN_DIR="$BATS_FILE_TMPDIR/ts-$host" \
	    "$TOP_SRCDIR/tests/standin/tailscale" "$@"
}

# join HOSTNAME: the machine uses its key, as the ISO does.
join() {
	ts "$1" up --login-server=https://hs.example.test \
	    --auth-key="file:$BATS_TEST_TMPDIR/$1.key" --hostname="$1"
}

# row HOSTNAME: that machine's row in the last listing.
row() {
	jq -c --arg h "$1" 'map(select(.hostname == $h)) | .[0]' <<<"$HTTP_BODY"
}

# hs JSON-ARGS...: the headscale stand-in on the stack's state.
hs() {
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" "$@"
}

@test "admin token only: enrollment token 403, anything else 401" {
	http GET /machines -H @"$(auth_file "$STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 403
	assert_json_error
	http DELETE /machines/1 -H @"$(auth_file "$STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 403
	http GET /machines -H @"$(auth_file "$(new_token)")"
	assert_equal "$HTTP_STATUS" 401
	assert_regex "$(header WWW-Authenticate)" '^Bearer'
	http GET /machines
	assert_equal "$HTTP_STATUS" 401
	admin GET /machines
	assert_equal "$HTTP_STATUS" 200
	# /register keeps taking the enrollment token only.
	register op-admin aa:bb:cc:45:00:01 "$STACK_ADMIN_TOKEN"
	assert_equal "$HTTP_STATUS" 401
}

@test "an admin token equal to the enrollment token opens nothing" {
	cp "$STACK_TOKEN_FILE" "$STACK_ADMIN_TOKEN_FILE.new"
	mv "$STACK_ADMIN_TOKEN_FILE" "$BATS_TEST_TMPDIR/admin.saved"
	mv "$STACK_ADMIN_TOKEN_FILE.new" "$STACK_ADMIN_TOKEN_FILE"
	http GET /machines -H @"$(auth_file "$STACK_TOKEN")"
	assert_equal "$HTTP_STATUS" 403
	# Rotated back without a restart.
	mv "$BATS_TEST_TMPDIR/admin.saved" "$STACK_ADMIN_TOKEN_FILE"
	admin GET /machines
	assert_equal "$HTTP_STATUS" 200
}

@test "every state, with the node's fields joined from headscale" {
	local id
	enrol st-pending aa:bb:cc:45:01:01
	enrol st-joined aa:bb:cc:45:01:02
	enrol st-gone aa:bb:cc:45:01:03
	enrol st-expired aa:bb:cc:45:01:04
	enrol st-revoked aa:bb:cc:45:01:05
	run -0 join st-joined
	run -0 join st-gone
	id=$(hs nodes list -o json | jq '.[] | select(.name == "st-gone") | .id')
	run -0 hs nodes delete -i "$id" --force -o json
	id=$(hs preauthkeys list -o json | jq 'max_by(.id) | .id')
	run -0 hs preauthkeys expire -i $((id - 1)) -o json
	sleep 5.2	# the worker's cached view of headscale ages out
	admin GET '/machines?hostname=st-revoked'
	id=$(jq '.[0].id' <<<"$HTTP_BODY")
	admin DELETE "/machines/$id"
	assert_equal "$HTTP_STATUS" 200

	admin GET /machines
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(header Headscale-Status)" ""
	row st-pending | jq -e '.state == "pending" and .node_id == null and
	    .tailscale_ip == null and .online == null and .revoked_at == null'
	row st-joined | jq -e '.state == "joined" and (.node_id | type) == "number" and
	    (.tailscale_ip | test("^100\\.64\\.")) and
	    (.ip_addresses | length == 2) and .online == true and
	    .node_name == "st-joined" and (.last_seen | type) == "string" and
	    (.id | type) == "number" and .ip == "127.0.0.1"'
	row st-gone | jq -e '.state == "gone" and .node_id == null'
	row st-expired | jq -e '.state == "expired"'
	row st-revoked | jq -e '.state == "revoked" and (.revoked_at | type) == "string"'

	# Offline: the node stays, "online" turns false.
	run -0 ts st-joined down
	sleep 5.2
	admin GET '/machines?state=joined'
	jq -e 'length == 1 and .[0].hostname == "st-joined" and
	    .[0].online == false' <<<"$HTTP_BODY"
	for st in pending gone expired revoked; do
		admin GET "/machines?state=$st"
		jq -e --arg st "$st" 'length >= 1 and all(.[]; .state == $st)' \
		    <<<"$HTTP_BODY"
	done
}

@test "headscale unreachable: own records, node fields null, and a header" {
	enrol hs-down aa:bb:cc:45:02:01
	sleep 5.2
	hs_fault fail
	admin GET '/machines?hostname=hs-down'
	assert_equal "$HTTP_STATUS" 200
	assert_equal "$(header Headscale-Status)" unreachable
	row hs-down | jq -e '.state == "pending" and .node_id == null and
	    .online == null'
}

@test "the view of headscale is asked once per listing and reused for 5 s" {
	local before
	sleep 5.2
	before=$(hs_calls nodes)
	admin GET /machines
	admin GET /machines
	admin GET /machines?all=1
	# One worker: one "nodes list" for the three (a busy machine may
	# cross the 5 s line once).
	run -0 test $(($(hs_calls nodes) - before)) -ge 1
	run -0 test $(($(hs_calls nodes) - before)) -le 2
}

@test "newest registration per MAC by default; all=1 lists every one; filters" {
	enrol mac-a1 aa:bb:cc:45:03:01
	enrol mac-a2 aa:bb:cc:45:03:01
	enrol mac-b aa:bb:cc:45:03:02
	admin GET '/machines?mac=AA-BB-CC-45-03-01'
	jq -e 'length == 1 and .[0].hostname == "mac-a2"' <<<"$HTTP_BODY"
	admin GET '/machines?mac=aa%3Abb%3Acc%3A45%3A03%3A01&all=1'
	jq -e 'map(.hostname) == ["mac-a2", "mac-a1"]' <<<"$HTTP_BODY"
	admin GET '/machines?hostname=mac-b'
	jq -e 'length == 1 and .[0].mac == "aa:bb:cc:45:03:02"' <<<"$HTTP_BODY"
	admin GET /machines
	jq -e 'map(select(.hostname == "mac-a1")) | length == 0' <<<"$HTTP_BODY"
	for q in 'limit=0' 'limit=1001' 'limit=x' 'state=lost' 'mac=zz' \
	    'hostname=-x' 'all=2' 'cursor=5' 'bogus=1' 'limit=1&limit=2' \
	    'mac=%zz'; do
		admin GET "/machines?$q"
		assert_equal "$HTTP_STATUS" 400
		assert_json_error
	done
}

@test "pages: following Link yields every row once while registrations arrive" {
	local i url ids="" page n=0 before_ids
	for i in $(seq 1 23); do
		register "page-$i" "$(printf 'aa:bb:cc:45:04:%02x' "$i")"
		assert_equal "$HTTP_STATUS" 200
	done
	admin GET '/machines?all=1'
	before_ids=$(jq -c 'map(.id)' <<<"$HTTP_BODY")
	url='/machines?all=1&limit=5'
	while [[ -n $url ]]; do
		admin GET "$url"
		assert_equal "$HTTP_STATUS" 200
		page=$(jq -c 'map(.id)' <<<"$HTTP_BODY")
		jq -e 'length <= 5' <<<"$page"
		ids=$(jq -cn --argjson a "${ids:-[]}" --argjson b "$page" '$a + $b')
		url=$(header Link | sed -n 's/^<\([^>]*\)>; rel="next"$/\1/p')
		# Someone enrols between every two pages.
		n=$((n + 1))
		register "page-new-$n" "$(printf 'aa:bb:cc:45:05:%02x' "$n")"
		((n < 20))
	done
	# Every row that existed at the start, exactly once, none twice.
	jq -en --argjson got "$ids" --argjson want "$before_ids" \
	    '($got | length) == ($got | unique | length) and
	     ($want - $got) == [] and ($got - $want) == []'
	# Filters ride along in the link.
	admin GET '/machines?limit=2&hostname=page-1'
	jq -e 'length == 1' <<<"$HTTP_BODY"
	assert_equal "$(header Link)" ""
	admin GET '/machines?limit=1&state=pending&all=1'
	assert_regex "$(header Link)" '^</machines\?limit=1&cursor=[0-9]+&all=1&state=pending>; rel="next"$'
}

@test "revoking: key expired, node deleted, row kept; again is a no-op; 404" {
	local id calls node
	enrol rv-1 aa:bb:cc:45:06:01
	run -0 join rv-1
	node=$(hs nodes list -o json | jq '.[] | select(.name == "rv-1") | .id')
	admin GET '/machines?hostname=rv-1'
	id=$(jq '.[0].id' <<<"$HTTP_BODY")
	admin DELETE "/machines/$id"
	assert_equal "$HTTP_STATUS" 200
	jq -e --argjson id "$id" '.id == $id and .state == "revoked" and
	    (.revoked_at | type) == "string" and .hostname == "rv-1"' <<<"$HTTP_BODY"
	run -0 hs nodes list -o json
	jq -e --argjson n "$node" 'map(select(.id == $n)) | length == 0' <<<"${output/#null/[]}"
	# The row stays, as the audit trail.
	admin GET '/machines?hostname=rv-1'
	jq -e '.[0].state == "revoked"' <<<"$HTTP_BODY"
	# Again: 200, the same row, nothing expired or deleted again.
	local first expires deletes
	first=$(row rv-1 | jq -c '.revoked_at')
	expires=$(hs_calls expire)
	deletes=$(hs_calls delete)
	admin DELETE "/machines/$id"
	assert_equal "$HTTP_STATUS" 200
	jq -e --argjson t "$first" '.revoked_at == $t' <<<"$HTTP_BODY"
	assert_equal "$(hs_calls expire)" "$expires"
	assert_equal "$(hs_calls delete)" "$deletes"
	admin DELETE /machines/99999999
	assert_equal "$HTTP_STATUS" 404
	assert_json_error
	admin DELETE /machines/abc
	assert_equal "$HTTP_STATUS" 404
}

@test "revoking: a pending key is expired in headscale and can no longer join" {
	local id
	enrol rv-2 aa:bb:cc:45:06:02
	admin GET '/machines?hostname=rv-2'
	id=$(jq '.[0].id' <<<"$HTTP_BODY")
	admin DELETE "/machines/$id"
	assert_equal "$HTTP_STATUS" 200
	run ! join rv-2
	assert_output --partial expired
}

@test "revoking: headscale failing is 502 and the row stays unmarked" {
	local id
	enrol rv-3 aa:bb:cc:45:06:03
	run -0 join rv-3
	admin GET '/machines?hostname=rv-3'
	id=$(jq '.[0].id' <<<"$HTTP_BODY")
	# 0.28's failed delete: null and exit 0; the node is still listed.
	printf 'null\n' >"$STACK_HS_STATE/fault.nodes.delete"
	admin DELETE "/machines/$id"
	assert_equal "$HTTP_STATUS" 502
	assert_json_error
	hs_fault_clear
	run sqlite3 "$STACK_DB" "SELECT revoked_at IS NULL FROM machines WHERE id = $id"
	assert_output 1
	hs_fault fail
	admin DELETE "/machines/$id"
	assert_equal "$HTTP_STATUS" 502
	hs_fault_clear
	run sqlite3 "$STACK_DB" "SELECT revoked_at IS NULL FROM machines WHERE id = $id"
	assert_output 1
	admin DELETE "/machines/$id"
	assert_equal "$HTTP_STATUS" 200
}

# live_keys MAC: keys headscale would still accept, among this MAC's rows.
live_keys() {
	local ids
	ids=$(sqlite3 "$STACK_DB" "SELECT group_concat(key_id) FROM machines
	    WHERE mac = '$1'")
	hs preauthkeys list -o json | jq --argjson ids "[$ids]" --argjson now \
	    "$(date +%s)" '[.[] | select(.id as $i | $ids | index($i)) |
	    select((.used // false) | not) | select(.expiration.seconds > $now)]
	    | length'
}

@test "one live key per MAC: registering again expires the earlier key" {
	enrol again-1 aa:bb:cc:45:07:01
	assert_equal "$(live_keys aa:bb:cc:45:07:01)" 1
	enrol again-2 aa:bb:cc:45:07:01
	assert_equal "$(live_keys aa:bb:cc:45:07:01)" 1
	enrol again-3 aa:bb:cc:45:07:01
	assert_equal "$(live_keys aa:bb:cc:45:07:01)" 1
	# The key that still works is the newest one handed out.
	run -0 join again-3
	run ! join again-2
	assert_output --partial expired
	# Another MAC is not touched.
	enrol again-other aa:bb:cc:45:07:02
	assert_equal "$(live_keys aa:bb:cc:45:07:01)" 0
	assert_equal "$(live_keys aa:bb:cc:45:07:02)" 1
}

@test "one live key per MAC: if the earlier key cannot be expired, no new key" {
	local before
	enrol again-f aa:bb:cc:45:07:03
	before=$(hs_calls create)
	printf 'fail\n' >"$STACK_HS_STATE/fault.preauthkeys"
	register again-f aa:bb:cc:45:07:03
	assert_equal "$HTTP_STATUS" 502
	assert_equal "$(hs_calls create)" "$before"
	hs_fault_clear
	assert_equal "$(live_keys aa:bb:cc:45:07:03)" 1
}
