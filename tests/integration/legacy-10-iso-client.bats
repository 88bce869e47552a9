#!/usr/bin/env bats
#
# legacy-10-iso-client.bats: the ISOs built for the Flask provisioner keep
# enrolling. Their client sends "mac": "unknown" (its MAC pipeline needs an
# awk its unit does not carry); /register records that as an unknown MAC,
# JSON null in /machines, and says so in the log. The exact request goes
# through the real Caddy byte for byte, and tests/legacy/flask-iso-client,
# a re-telling of that client's behaviour, runs with a PATH without awk
# and joins with the tailscale stand-in, which accepts only a key the
# headscale stand-in issued and has not seen used.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helper

# What the client's NixOS unit puts on PATH (tailscale, curl, jq,
# coreutils, iproute2, xxd, then the defaults: findutils, grep, sed).
LEGACY_TOOLS=(curl jq cat head sleep tr od ip xxd find grep sed mktemp rm)

setup_file() {
	stack_start
	export LEGACY_BIN="$BATS_FILE_TMPDIR/bin"
	client_bin "$LEGACY_BIN" "${LEGACY_TOOLS[@]}"
}

teardown_file() {
	stack_stop
}

# raw_register BODY: POST /register as the bytes the original client's curl
# puts on the wire (curl 7.88's header order), on a plain socket; sets
# HTTP_STATUS and HTTP_BODY.
raw_register() {
	local body=$1 line len=0 sock
	# Not fd 3: bats reports on it.
	exec {sock}<>"/dev/tcp/127.0.0.1/$STACK_PORT"
	printf 'POST /register HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
	    "$STACK_PORT" "$STACK_TOKEN" "${#body}" "$body" >&"$sock"
	IFS= read -r -t 20 line <&"$sock"
	HTTP_STATUS=$(cut -d ' ' -f 2 <<<"$line")
	while IFS= read -r -t 20 line <&"$sock"; do
		line=${line%$'\r'}
		[[ -n $line ]] || break
		if [[ ${line,,} == content-length:* ]]; then
			len=${line#*: }
		fi
	done
	HTTP_BODY=$(head -c "$len" <&"$sock")
	exec {sock}<&-
}

@test "the original ISO's exact request registers, MAC unknown" {
	local name body
	name=sovran-deploy-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	body="{\"hostname\": \"$name\", \"mac\": \"unknown\"}"
	assert_equal "${#body}" 64
	raw_register "$body"
	assert_equal "$HTTP_STATUS" 200
	jq -e --arg url "$HEADSCALE_TEST_URL" --arg n "$name" \
	    '(.headscale_key | startswith("hskey-auth-")) and
	     .login_server == $url and .hostname == $n' <<<"$HTTP_BODY"
	# Unknown is NULL in the store, null in /machines, said in the log.
	assert_equal "$(sqlite3 "$STACK_DB" "SELECT count(*) FROM machines
	    WHERE hostname = '$name' AND mac IS NULL")" 1
	http GET /machines -H @"$(auth_file "$STACK_ADMIN_TOKEN")"
	assert_equal "$HTTP_STATUS" 200
	jq -e --arg n "$name" 'map(select(.hostname == $n)) |
	    length == 1 and .[0].mac == null and (.[0].key_id | type) == "number"' \
	    <<<"$HTTP_BODY"
	run -0 grep -c 'register .* 200 .*mac unknown$' "$STACK_LOGS/register.log"
}

@test "an absent or empty MAC is unknown; any other malformed one is 400" {
	local body
	for body in '{"hostname": "legacy-absent"}' \
	    '{"hostname": "legacy-empty", "mac": ""}'; do
		http POST /register -H @"$(auth_file "$STACK_TOKEN")" \
		    -H 'Content-Type: application/json' --data-binary "$body"
		assert_equal "$HTTP_STATUS" 200
	done
	assert_equal "$(sqlite3 "$STACK_DB" "SELECT count(*) FROM machines
	    WHERE hostname IN ('legacy-absent', 'legacy-empty')
	    AND mac IS NULL")" 2
	for body in '{"hostname": "x", "mac": "Unknown"}' \
	    '{"hostname": "x", "mac": "none"}' '{"hostname": "x", "mac": null}' \
	    '{"hostname": "x", "mac": "aa:bb:cc:dd:ee"}'; do
		http POST /register -H @"$(auth_file "$STACK_TOKEN")" \
		    -H 'Content-Type: application/json' --data-binary "$body"
		echo "body: $body"
		assert_equal "$HTTP_STATUS" 400
		assert_json_error
	done
}

@test "the original client, without awk, enrolls and its key joins" {
	local conf="$BATS_TEST_TMPDIR/etc-sovran" name
	export TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/tailscaled"
	mkdir -p "$conf" "$TAILSCALE_STANDIN_DIR"
	(umask 077 && printf '%s\n' "$STACK_TOKEN" >"$conf/enroll-token")
	printf '%s\n' "$STACK_URL" >"$conf/provisioner-url"
	run ! env -i PATH="$LEGACY_BIN" sh -c 'command -v awk'

	run -0 env -i PATH="$LEGACY_BIN" LEGACY_CONFIG_DIR="$conf" \
	    LEGACY_PAUSE=0 TAILSCALE_STANDIN_DIR="$TAILSCALE_STANDIN_DIR" \
	    HEADSCALE_STANDIN_STATE="$STACK_HS_STATE" \
	    /bin/bash "$TOP_SRCDIR/tests/legacy/flask-iso-client"
	assert_output --regexp 'Successfully joined Tailnet as sovran-deploy-[0-9a-f]{16} \(100\.64\.'
	refute_output --partial 'Attempt 1 failed'
	name=$(sed -n 's/^Successfully joined Tailnet as \([^ ]*\) .*/\1/p' <<<"$output")

	# The stand-in took the key the server minted for this machine.
	assert_equal "$(cat "$TAILSCALE_STANDIN_DIR/state")" Running
	local key_id
	key_id=$(sqlite3 "$STACK_DB" "SELECT key_id FROM machines
	    WHERE hostname = '$name' AND mac IS NULL")
	[[ -n $key_id ]] || fail "no machine record for $name"
	run -0 jq -e --argjson id "$key_id" --arg name "$name" \
	    '(.keys[] | select(.id == $id) | .used) and
	     any(.nodes[]; .key_id == $id and .name == $name)' \
	    "$STACK_HS_STATE/state.json"
	assert_no_secrets "$STACK_LOGS/register.log"
}
