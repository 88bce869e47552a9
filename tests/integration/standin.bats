#!/usr/bin/env bats
# standin.bats: conformance tests of the headscale and tailscale stand-ins.
# Every other suite trusts them to behave like headscale 0.28 and the
# tailscale client, so the contract they imitate is pinned here: JSON
# bytes, error shapes and exit codes, flag and alias handling, state
# round trips, faults, the call log and safety under concurrency.
# Each test runs in its own subshell, so exports stay local on purpose.
# shellcheck disable=SC2030,SC2031

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

setup() {
	HS="$TOP_BUILDDIR/tests/standin/headscale"
	TS="$TOP_SRCDIR/tests/standin/tailscale"
	mkdir -p "$BATS_TEST_TMPDIR/hs"
	export HEADSCALE_CONFIG="$BATS_TEST_TMPDIR/hs/config.yaml"
	# The real CLI refuses a named config file it cannot read.
	: >"$HEADSCALE_CONFIG"
	SD="$BATS_TEST_TMPDIR/hs/standin"
	export TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/ts"
	unset HEADSCALE_CLI_TIMEOUT HEADSCALE_STANDIN_STATE
	OUT="$BATS_TEST_TMPDIR/out"
	ERR="$BATS_TEST_TMPDIR/err"
}

teardown() {
	local pid
	if [ -f "$BATS_TEST_TMPDIR/pids" ]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || :
		done <"$BATS_TEST_TMPDIR/pids"
	fi
}

# Runs the stand-in with stdout and stderr in files; sets rc.
hs_files() {
	rc=0
	"$HS" "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
}

# Starts the stand-in in the background (bats needs fd 3 closed); sets pid.
hs_background() {
	"$HS" "$@" >/dev/null 2>&1 </dev/null 3>&- &
	pid=$!
	echo "$pid" >>"$BATS_TEST_TMPDIR/pids"
}

# Fixed state, so timestamps (and a zero nanos) are known in advance.
seed_users() {
	mkdir -p "$SD"
	cat >"$SD/state.json" <<-'EOF'
	{"next_user_id": 3, "users": [
	 {"id": 1, "name": "alice",
	  "created_at": {"seconds": 1770240000, "nanos": 123456789}},
	 {"id": 2, "name": "bob", "display_name": "Bob <b> & \"q\"",
	  "email": "bob@example.org",
	  "created_at": {"seconds": 1770240001, "nanos": 0}}]}
	EOF
}

# Asserts cobra's error shape: "Error: msg", usage, msg; nothing on stdout.
assert_cobra_error() {
	[ "$rc" -eq 1 ]
	[ ! -s "$OUT" ]
	assert_equal "$(head -n 1 "$ERR")" "Error: $1"
	assert_equal "$(tail -n 1 "$ERR")" "$1"
	grep -q '^Usage:$' "$ERR"
}

@test "users list -o json: Go's indented layout, byte for byte" {
	seed_users
	hs_files users list -o json
	[ "$rc" -eq 0 ]
	[ ! -s "$ERR" ]
	printf '%s\n' '[' '	{' '		"id": 1,' '		"name": "alice",' \
	    '		"created_at": {' '			"seconds": 1770240000,' \
	    '			"nanos": 123456789' '		}' '	},' '	{' \
	    '		"id": 2,' '		"name": "bob",' '		"created_at": {' \
	    '			"seconds": 1770240001' '		},' \
	    '		"display_name": "Bob \u003cb\u003e \u0026 \"q\"",' \
	    '		"email": "bob@example.org"' '	}' ']' >"$BATS_TEST_TMPDIR/want"
	diff -u "$BATS_TEST_TMPDIR/want" "$OUT"
}

@test "users list -o json-line: one compact line" {
	seed_users
	hs_files users list -o json-line
	[ "$rc" -eq 0 ]
	printf '%s\n' '[{"id":1,"name":"alice","created_at":{"seconds":1770240000,"nanos":123456789}},{"id":2,"name":"bob","created_at":{"seconds":1770240001},"display_name":"Bob \u003cb\u003e \u0026 \"q\"","email":"bob@example.org"}]' >"$BATS_TEST_TMPDIR/want"
	diff -u "$BATS_TEST_TMPDIR/want" "$OUT"
}

@test "empty lists print null and a newline" {
	local cmd
	for cmd in "users list" "preauthkeys list" "nodes list"; do
		# shellcheck disable=SC2086
		hs_files $cmd -o json
		[ "$rc" -eq 0 ]
		printf 'null\n' | cmp - "$OUT"
	done
}

@test "users create: ids from 1, object as created, listed by filters" {
	run -0 "$HS" users create alice -o json
	run -0 jq -e '.id == 1 and .name == "alice" and
	    (.created_at.seconds | type) == "number" and
	    (keys | sort) == ["created_at", "id", "name"]' <<<"$output"
	run -0 "$HS" users create bob -e bob@example.org -d Bob -o json
	run -0 jq -e '.id == 2 and .email == "bob@example.org" and
	    .display_name == "Bob"' <<<"$output"
	run -0 "$HS" users list -n bob -o json
	run -0 jq -e 'length == 1 and .[0].id == 2' <<<"$output"
	run -0 "$HS" users list -i 1 -o json
	run -0 jq -e 'length == 1 and .[0].name == "alice"' <<<"$output"
	run -0 "$HS" users list -e nobody@example.org -o json
	assert_output null
	run -0 "$HS" users create carol
	assert_output "User created"
}

@test "users create: an existing name is the UNIQUE constraint error" {
	"$HS" users create alice -o json >/dev/null
	hs_files users create alice -o json
	[ "$rc" -eq 1 ]
	[ ! -s "$OUT" ]
	printf '%s\n' '{' '	"error": "rpc error: code = Internal desc = failed to create user: creating user: constraint failed: UNIQUE constraint failed: users.name (2067)"' '}' |
	    diff -u - "$ERR"
	hs_files users create alice
	[ "$rc" -eq 1 ]
	assert_equal "$(cat "$ERR")" "Cannot create user: failed to create user: creating user: constraint failed: UNIQUE constraint failed: users.name (2067)"
}

@test "cobra errors: plain text on stderr and exit 1 whatever -o says" {
	hs_files users create -o json
	assert_cobra_error "missing parameters"
	hs_files users list --bogus -o json
	assert_cobra_error "unknown flag: --bogus"
	hs_files preauthkeys list --user 1 -o json
	assert_cobra_error "unknown flag: --user"
	hs_files preauthkeys list -u 1 -o json
	assert_cobra_error "unknown shorthand flag: 'u' in -u"
	hs_files preauthkeys create -u alice -o json
	assert_cobra_error 'invalid argument "alice" for "-u, --user" flag: strconv.ParseUint: parsing "alice": invalid syntax'
	hs_files nodes register -o json
	assert_cobra_error 'required flag(s) "key", "user" not set'
	hs_files nodes delete -o json
	assert_cobra_error 'required flag(s) "identifier" not set'
	hs_files users list -i
	assert_cobra_error "flag needs an argument: 'i' in -i"
	hs_files bogus
	[ "$rc" -eq 1 ]
	assert_equal "$(head -n 1 "$ERR")" 'Error: unknown command "bogus" for "headscale"'
}

@test "help and bare groups print usage on stdout and exit 0" {
	run -0 "$HS" users --help
	assert_line "Usage:"
	assert_line "  users, user, namespace, namespaces, ns"
	run -0 "$HS" nodes
	assert_line "  headscale nodes [command]"
	run -0 "$HS" preauthkeys create -h
	assert_line --partial '-e, --expiration string'
}

@test "flags before or after the subcommand, in every spelling" {
	local spelling
	"$HS" users create alice >/dev/null
	for spelling in "-o json" "-ojson" "-o=json" "--output=json" \
	    "--output json"; do
		# shellcheck disable=SC2086
		run -0 "$HS" users list $spelling
		run -0 jq -e '.[0].name == "alice"' <<<"$output"
		# shellcheck disable=SC2086
		run -0 "$HS" $spelling users list
		run -0 jq -e '.[0].name == "alice"' <<<"$output"
	done
	run -0 "$HS" --config="$HEADSCALE_CONFIG" users -n alice list -o json
	run -0 jq -e 'length == 1' <<<"$output"
	# A flag of the leaf may precede its name, as cobra allows.
	run -0 "$HS" preauthkeys -u 1 create -o json
	run -0 jq -e '.user.id == 1' <<<"$output"
}

@test "aliases of every group and command" {
	local words
	"$HS" users create alice >/dev/null
	for words in "user ls" "namespace show" "namespaces list" "ns ls" \
	    "users show"; do
		# shellcheck disable=SC2086
		run -0 "$HS" $words -o json
		run -0 jq -e '.[0].id == 1' <<<"$output"
	done
	for words in "preauthkey c" "authkey new" "pre create"; do
		# shellcheck disable=SC2086
		run -0 "$HS" $words -u 1 -o json
	done
	run -0 "$HS" pre ls -o json
	run -0 jq -e 'length == 3' <<<"$output"
	run -0 "$HS" authkey revoke -i 1 -o json
	run -0 "$HS" pre exp -i 2 -o json
	run -0 "$HS" pre e -i 3 -o json
	run -0 "$HS" pre del -i 1 -o json
	run -0 "$HS" pre rm -i 2 -o json
	run -0 "$HS" pre d -i 3 -o json
	run -0 "$HS" pre show -o json
	assert_output null
	for words in "node ls" "machine list" "machines show"; do
		# shellcheck disable=SC2086
		run -0 "$HS" $words -o json
		assert_output null
	done
}

@test "preauthkeys: create, list masked, expire, delete" {
	local key prefix created
	"$HS" users create alice >/dev/null
	run -0 --separate-stderr "$HS" preauthkeys create -u 1 -e 24h --reusable -o json
	[ -z "$stderr" ]
	created=$output
	key=$(jq -r .key <<<"$created")
	[[ "$key" =~ ^hskey-auth-[A-Za-z0-9_-]{12}-[A-Za-z0-9_-]{64}$ ]]
	[ "${#key}" -eq 88 ]
	prefix=${key:11:12}
	run -0 jq -e '.id == 1 and .user.id == 1 and .user.name == "alice" and
	    .reusable == true and (has("used") | not) and
	    (has("ephemeral") | not) and (has("acl_tags") | not) and
	    .expiration.seconds - .created_at.seconds == 86400 and
	    .expiration.nanos == .created_at.nanos' <<<"$created"
	run -0 jq -r '[keys_unsorted[]] | join(",")' <<<"$created"
	assert_output "user,id,key,reusable,expiration,created_at"

	run -0 "$HS" preauthkeys list -o json
	# shellcheck disable=SC2016
	run -0 jq -e --arg k "hskey-auth-$prefix-***" \
	    'length == 1 and .[0].key == $k' <<<"$output"

	run -0 "$HS" preauthkeys expire -i 1 -o json
	assert_output "{}"
	run -0 "$HS" preauthkeys list -o json
	run -0 jq -e '.[0].expiration.seconds <= now' <<<"$output"

	run -0 "$HS" preauthkeys delete --id 1 -o json
	assert_output "{}"
	run -0 "$HS" preauthkeys list -o json
	assert_output null
}

@test "preauthkeys create: text mode prints only the key" {
	"$HS" users create alice >/dev/null
	hs_files preauthkeys create -u 1
	[ "$rc" -eq 0 ]
	[ ! -s "$ERR" ]
	[ "$(wc -l <"$OUT")" -eq 1 ]
	grep -Eq '^hskey-auth-[A-Za-z0-9_-]{12}-[A-Za-z0-9_-]{64}$' "$OUT"
}

@test "preauthkeys create: owner rules and tags" {
	"$HS" users create alice >/dev/null
	hs_files preauthkeys create -o json
	[ "$rc" -eq 1 ]
	printf '%s\n' '{' '	"error": "rpc error: code = Unknown desc = auth-key must be either tagged or owned by user"' '}' |
	    diff -u - "$ERR"
	hs_files preauthkeys create -u 7 -o json
	[ "$rc" -eq 1 ]
	grep -qF '"error": "rpc error: code = Unknown desc = user not found"' "$ERR"
	run -0 "$HS" preauthkeys create --tags tag:web,tag:db --tags tag:web -o json
	run -0 jq -e '.acl_tags == ["tag:db", "tag:web"] and (has("user") | not)' <<<"$output"
	hs_files preauthkeys create --tags tag:Web -o json
	[ "$rc" -eq 1 ]
	grep -qF 'code = InvalidArgument' "$ERR"
}

@test "preauthkeys create -e: prometheus durations" {
	"$HS" users create alice >/dev/null
	run -0 "$HS" preauthkeys create -u 1 -e 0 -o json
	run -0 jq -e '.expiration == .created_at' <<<"$output"
	run -0 "$HS" preauthkeys create -u 1 -e 1d12h -o json
	run -0 jq -e '.expiration.seconds - .created_at.seconds == 129600' <<<"$output"
	run -0 "$HS" preauthkeys create -u 1 -e 1m30s500ms -o json
	run -0 jq -e '(.expiration.seconds - .created_at.seconds) * 1000000000 +
	    (.expiration.nanos // 0) - (.created_at.nanos // 0) == 90500000000' <<<"$output"
	hs_files preauthkeys create -u 1 -e 1.5h -o json
	[ "$rc" -eq 1 ]
	grep -qF '"error": "unknown unit \".\" in duration \"1.5h\""' "$ERR"
	hs_files preauthkeys create -u 1 -e 1h1d -o json
	grep -qF '"error": "not a valid duration string: \"1h1d\""' "$ERR"
	hs_files preauthkeys create -u 1 -e 300y -o json
	grep -qF '"error": "duration out of range"' "$ERR"
	hs_files preauthkeys create -u 1 -e 2x
	[ "$rc" -eq 1 ]
	grep -qF 'Could not parse duration: unknown unit "x" in duration "2x"' "$ERR"
}

@test "preauthkeys expire and delete: --id required, unknown ids succeed" {
	hs_files preauthkeys expire -o json
	[ "$rc" -eq 1 ]
	printf '%s\n' '{' '	"error": "missing parameters"' '}' | diff -u - "$ERR"
	hs_files preauthkeys delete
	[ "$rc" -eq 1 ]
	assert_equal "$(cat "$ERR")" "Error: missing --id parameter"
	run -0 "$HS" preauthkeys expire -i 42 -o json
	assert_output "{}"
	run -0 "$HS" preauthkeys delete -i 42
	assert_output "Key deleted"
}

@test "users destroy: flags, the prompt, and 0.28 wiping every key" {
	"$HS" users create alice >/dev/null
	"$HS" users create bob >/dev/null
	"$HS" preauthkeys create -u 1 >/dev/null
	"$HS" preauthkeys create -u 2 >/dev/null
	hs_files users destroy -o json
	[ "$rc" -eq 1 ]
	assert_equal "$(cat "$ERR")" "Cannot rename user: --name or --identifier flag is required"
	hs_files users destroy -n nobody -o json
	[ "$rc" -eq 1 ]
	grep -qF '"error": "Unable to determine user to delete, query returned multiple users, use ID"' "$ERR"
	hs_files users destroy -n alice -o json
	[ "$rc" -eq 0 ]
	printf '%s\n' '{' '	"Result": "User not destroyed"' '}' | diff -u - "$OUT"
	grep -qF 'Do you want to remove the user "alice" (1) and any associated preauthkeys? [y/n]' "$ERR"
	run -0 "$HS" users delete -i 1 --force -o json
	assert_output "{}"
	run -0 "$HS" users list -o json
	run -0 jq -e 'length == 1 and .[0].name == "bob"' <<<"$output"
	run -0 "$HS" preauthkeys list -o json
	assert_output null
}

@test "users rename: by id works, by name alone fails (0.28)" {
	"$HS" users create alice >/dev/null
	run -0 "$HS" users rename -i 1 -r alicia -o json
	run -0 jq -e '.id == 1 and .name == "alicia"' <<<"$output"
	hs_files users rename -n alicia -r alice -o json
	[ "$rc" -eq 1 ]
	grep -qF '"error": "rpc error: code = Unknown desc = user not found"' "$ERR"
}

@test "nodes: register a waiting client, list, rename, expire, delete" {
	local id
	export HEADSCALE_STANDIN_STATE="$SD"
	"$HS" users create alice >/dev/null
	"$TS" up --login-server=http://127.0.0.1:9 --hostname=Web-1 \
	    --timeout=60s 2>"$BATS_TEST_TMPDIR/ts.err" 3>&- &
	echo "$!" >>"$BATS_TEST_TMPDIR/pids"
	for _ in $(seq 100); do
		id=$(sed -n 's|^	http://127.0.0.1:9/register/||p' "$BATS_TEST_TMPDIR/ts.err")
		[ -z "$id" ] || break
		sleep 0.1
	done
	[ "${#id}" -eq 24 ]
	hs_files nodes register -u alice -k short -o json
	grep -qF 'registration ID must be 24 characters long' "$ERR"
	hs_files nodes register -u nobody -k "$id" -o json
	grep -qF 'looking up user: user not found' "$ERR"
	hs_files nodes register -u alice -k "$(printf 'x%.0s' $(seq 24))" -o json
	grep -qF 'node not found in registration cache' "$ERR"
	run -0 "$HS" nodes register -u alice -k "$id" -o json
	run -0 jq -e '.id == 1 and .name == "Web-1" and .given_name == "web-1" and
	    .register_method == 2 and .user.name == "alice" and
	    .ip_addresses == ["100.64.0.1", "fd7a:115c:a1e0::1"] and
	    (.machine_key | test("^mkey:[0-9a-f]{64}$")) and
	    (.node_key | test("^nodekey:[0-9a-f]{64}$")) and
	    (has("online") | not) and (has("expiry") | not)' <<<"$output"
	wait "$(tail -n 1 "$BATS_TEST_TMPDIR/pids")"
	run -0 "$TS" ip -4
	assert_output "100.64.0.1"

	run -0 "$HS" nodes list -u alice -o json
	run -0 jq -e 'length == 1' <<<"$output"
	hs_files nodes list -u nobody -o json
	grep -qF '"error": "rpc error: code = Unknown desc = user not found"' "$ERR"
	run -0 "$HS" nodes rename -i 1 db-1 -o json
	run -0 jq -e '.given_name == "db-1"' <<<"$output"
	hs_files nodes rename -i 1 Bad_Name -o json
	[ "$rc" -eq 1 ]
	run -0 "$HS" nodes expire -i 1 -o json
	run -0 jq -e '.expiry.seconds <= now' <<<"$output"
	run -0 "$HS" nodes expire -i 1 -e 2999-01-02T03:04:05Z
	assert_output "Node expiration updated"
	hs_files nodes expire -i 9 -o json
	grep -qF 'node no longer exists in NodeStore: 9' "$ERR"

	hs_files nodes delete -i 9 -o json
	[ "$rc" -eq 1 ]
	grep -qF '"error": "rpc error: code = NotFound desc = node not found"' "$ERR"
	hs_files nodes delete -i 1 -o json
	[ "$rc" -eq 0 ]
	printf '%s\n' '{' '	"Result": "Node not deleted"' '}' | diff -u - "$OUT"
	run -0 "$HS" nodes delete -i 1 --force -o json
	assert_output "{}"
	run -0 "$HS" nodes list -o json
	assert_output null
}

@test "no config file: warning, then the server is unreachable" {
	local start end
	unset HEADSCALE_CONFIG
	export HEADSCALE_CLI_TIMEOUT=300ms
	start=$(date +%s%N)
	hs_files users list -o json
	end=$(date +%s%N)
	[ "$rc" -eq 1 ]
	[ ! -s "$OUT" ]
	[ $((end - start)) -ge 300000000 ]
	grep -Eq '^[0-9TZ:-]+ WRN No config file found, using defaults$' "$ERR"
	grep -Eq '^[0-9TZ:-]+ FTL .* > Could not connect: context deadline exceeded error="context deadline exceeded"$' "$ERR"
	[ ! -e "$SD" ]
	# version needs neither a config nor a server.
	hs_files version -o json
	[ "$rc" -eq 0 ]
	[ ! -s "$ERR" ]
	jq -e '.version == "0.28.0"' "$OUT"
}

@test "a named config file that is missing: the FTL line, exit 1, no state" {
	rm "$HEADSCALE_CONFIG"
	hs_files users list -o json
	[ "$rc" -eq 1 ]
	[ ! -s "$OUT" ]
	# cmd/headscale/cli/root.go (initConfig) at v0.28.0.
	grep -Eqx '[0-9TZ:-]+ FTL cmd/headscale/cli/root.go:51 > Error loading config file '"$HEADSCALE_CONFIG"' error="fatal error reading config file: open '"$HEADSCALE_CONFIG"': no such file or directory"' "$ERR"
	[ ! -e "$SD/state.json" ]
	hs_files -c "$BATS_TEST_TMPDIR/nope.yaml" health
	[ "$rc" -eq 1 ]
	grep -qF 'nope.yaml' "$ERR"
	# version loads no config at all.
	run -0 "$HS" version -o json
}

@test "version: four lines of text (VersionInfo.String), JSON with -o json" {
	hs_files version
	[ "$rc" -eq 0 ]
	printf '%s\n' 'headscale version 0.28.0' 'commit: standin' \
	    'build time: 1970-01-01T00:00:00Z' \
	    'built with: go1.25 linux/amd64' '' | diff -u - "$OUT"
	run -0 "$HS" version -o json
	run -0 jq -e '.version == "0.28.0" and .dirty == false and
	    (.go | keys) == ["arch", "os", "version"]' <<<"$output"
}

@test "nodes list: online only while connected, routes only when set" {
	local key
	export HEADSCALE_STANDIN_STATE="$SD"
	"$HS" users create alice >/dev/null
	key=$("$HS" preauthkeys create -u 1)
	run -0 "$TS" up --login-server=http://127.0.0.1:9 --auth-key="$key" \
	    --hostname=web-1
	run -0 "$HS" nodes list -o json
	run -0 jq -e '.[0].online == true and .[0].pre_auth_key.id == 1' \
	    <<<"$output"
	# Proto order: given_name, online, the routes, tags.
	run -0 "$HS" nodes list -o json
	run -0 jq -r '.[0] | keys_unsorted | join(" ")' <<<"$output"
	assert_output --regexp 'given_name online$'
	run -0 "$TS" down
	run -0 "$HS" nodes list -o json
	run -0 jq -e '.[0] | has("online") | not' <<<"$output"
	run -0 "$TS" up --login-server=http://127.0.0.1:9 --hostname=web-1
	run -0 "$HS" nodes list -o json
	run -0 jq -e '.[0].online == true and length == 1' <<<"$output"
	run -0 "$TS" down
	# Routes as headscale keeps them: printed when set, in proto order.
	jq '.nodes[0] += {approved_routes: ["10.0.0.0/24"],
	    available_routes: ["10.0.0.0/24", "10.1.0.0/24"],
	    subnet_routes: ["10.0.0.0/24"], online: true}' "$SD/state.json" \
	    >"$SD/state.new" && mv "$SD/state.new" "$SD/state.json"
	run -0 "$HS" nodes list -o json
	run -0 jq -r '.[0] | keys_unsorted | join(" ")' <<<"$output"
	assert_output --regexp 'given_name online approved_routes available_routes subnet_routes$'
	run -0 "$HS" nodes list -o json
	run -0 jq -e '.[0].available_routes == ["10.0.0.0/24", "10.1.0.0/24"]' \
	    <<<"$output"
	# A failed delete as 0.28 shows it: null, exit 0, the node still there.
	echo null >"$SD/fault.nodes"
	run -0 "$HS" nodes delete -i 1 --force -o json
	assert_output null
	rm "$SD/fault.nodes"
	run -0 "$HS" nodes list -o json
	run -0 jq -e 'length == 1' <<<"$output"
}

@test "state lives in standin/ next to the config; -c wins over the environment" {
	local other="$BATS_TEST_TMPDIR/other"
	mkdir -p "$other"
	: >"$other/headscale.yaml"
	"$HS" users create alice >/dev/null
	[ -f "$SD/state.json" ]
	[ -f "$SD/calls.log" ]
	run -0 "$HS" -c "$other/headscale.yaml" users list -o json
	assert_output null
	[ -f "$other/standin/calls.log" ]
	run -0 "$HS" users list -o json
	run -0 jq -e 'length == 1' <<<"$output"
}

@test "configtest: succeeds only when the config file is readable" {
	rm "$HEADSCALE_CONFIG"
	hs_files configtest
	[ "$rc" -eq 1 ]
	grep -q ' FTL ' "$ERR"
	: >"$HEADSCALE_CONFIG"
	run -0 "$HS" configtest
}

@test "fault fail: a JSON error on stderr, exit 1" {
	mkdir -p "$SD"
	echo fail >"$SD/fault"
	hs_files users list -o json
	[ "$rc" -eq 1 ]
	[ ! -s "$OUT" ]
	jq -e '.error | startswith("rpc error: code = ")' "$ERR"
	hs_files version
	[ "$rc" -eq 0 ]
}

@test "fault garbage: non-JSON on stdout, exit 0" {
	mkdir -p "$SD"
	echo garbage >"$SD/fault"
	hs_files preauthkeys create -u 1 -o json
	[ "$rc" -eq 0 ]
	[ -s "$OUT" ]
	run ! jq -e . "$OUT"
}

@test "fault huge: 10 MiB on stdout, exit 0" {
	mkdir -p "$SD"
	echo huge >"$SD/fault"
	hs_files users list -o json
	[ "$rc" -eq 0 ]
	[ "$(stat -c %s "$OUT")" -eq 10485760 ]
}

@test "fault slow N: answers after N seconds, and does the work" {
	local start end
	mkdir -p "$SD"
	echo "slow 0.5" >"$SD/fault"
	start=$(date +%s%N)
	run -0 "$HS" users create alice -o json
	end=$(date +%s%N)
	[ $((end - start)) -ge 500000000 ]
	rm "$SD/fault"
	run -0 "$HS" users list -n alice -o json
	run -0 jq -e 'length == 1' <<<"$output"
}

@test "fault down N: the FTL line after N seconds, exit 1" {
	local start end
	mkdir -p "$SD"
	echo "down 0.3" >"$SD/fault"
	start=$(date +%s%N)
	hs_files users create alice -o json
	end=$(date +%s%N)
	[ "$rc" -eq 1 ]
	[ ! -s "$OUT" ]
	[ $((end - start)) -ge 300000000 ]
	grep -q ' FTL .*Could not connect: context deadline exceeded' "$ERR"
	echo down >"$SD/fault"
	export HEADSCALE_CLI_TIMEOUT=0.2s
	hs_files health
	[ "$rc" -eq 1 ]
	rm "$SD/fault"
	run -0 "$HS" users list -o json
	assert_output null
}

@test "fault exit N and unreadable fault files" {
	mkdir -p "$SD"
	echo "exit 3" >"$SD/fault"
	hs_files nodes list -o json
	[ "$rc" -eq 3 ]
	[ ! -s "$OUT" ]
	echo "sometimes" >"$SD/fault"
	hs_files nodes list -o json
	[ "$rc" -eq 1 ]
	grep -q 'fault file not understood' "$ERR"
}

@test "fault hang: never answers, dies promptly on SIGTERM, still logged" {
	mkdir -p "$SD"
	echo hang >"$SD/fault.health"
	hs_background health
	sleep 1
	kill -0 "$pid"
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	run ! kill -0 "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 143 ]
	run -0 grep -c ' health$' "$SD/calls.log"
	assert_output 1
}

@test "fault.<command> applies to that command only" {
	mkdir -p "$SD"
	echo fail >"$SD/fault.preauthkeys"
	run -0 "$HS" users create alice -o json
	hs_files preauthkeys create -u 1 -o json
	[ "$rc" -eq 1 ]
	echo "exit 4" >"$SD/fault"
	hs_files preauthkeys list -o json
	[ "$rc" -eq 1 ]
	hs_files users list -o json
	[ "$rc" -eq 4 ]
}

@test "calls.log: one line per call with times, pid and arguments" {
	"$HS" users create alice -o json >/dev/null
	"$HS" users list --output=json >/dev/null
	"$HS" users list -o bogus-format >/dev/null
	"$HS" users list --nope 2>/dev/null || :
	run -0 wc -l <"$SD/calls.log"
	assert_output 4
	run -0 sed -n 1p "$SD/calls.log"
	assert_output --regexp '^[0-9]{19} [0-9]{19} [0-9]+ users create alice -o json$'
	read -r start end _ <"$SD/calls.log"
	[ "$start" -le "$end" ]
	# Machine output asked for without a bare "json" argument is marked.
	run -0 sed -n 2p "$SD/calls.log"
	assert_output --regexp ' users list --output=json output-equals$'
	run -0 sed -n 4p "$SD/calls.log"
	assert_output --regexp ' users list --nope$'
}

@test "calls.log: concurrent calls overlap in time" {
	local s1 e1 s2 e2
	mkdir -p "$SD"
	echo "slow 1" >"$SD/fault.users"
	hs_background users list -o json
	local p1=$pid
	hs_background users list -o json
	wait "$p1"
	wait "$pid"
	run -0 wc -l <"$SD/calls.log"
	assert_output 2
	{ read -r s1 e1 _; read -r s2 e2 _; } <"$SD/calls.log"
	[ "$s1" -lt "$e2" ]
	[ "$s2" -lt "$e1" ]
}

@test "20 concurrent creates: distinct ids, nothing lost" {
	local i pids=()
	mkdir -p "$SD"
	for i in $(seq 1 20); do
		hs_background users create "u$i" -o json
		pids+=("$pid")
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	"$HS" users list -o json >"$OUT"
	run -0 jq -r '[.[].id] | sort | map(tostring) | join(",")' "$OUT"
	assert_output "$(seq -s , 1 20)"
	run -0 jq -r '[.[].name] | unique | length' "$OUT"
	assert_output 20
	run -0 wc -l <"$SD/calls.log"
	assert_output 21
}

@test "a created key appears only on stdout: not stderr, calls.log or state" {
	local key
	"$HS" users create alice >/dev/null
	hs_files preauthkeys create -u 1 -o json
	key=$(jq -r .key "$OUT")
	[ "${#key}" -eq 88 ]
	[ ! -s "$ERR" ]
	run ! grep -rqF "${key:24}" "$SD"
}

@test "tailscale: needs its state directory" {
	unset TAILSCALE_STANDIN_DIR
	run -1 "$TS" ip -4
	assert_output --partial "tailscaled"
}

@test "tailscale up: key from a file, recorded with its mode, never printed" {
	local key
	key="hskey-auth-$(printf 'A%.0s' $(seq 12))-$(printf 'b%.0s' $(seq 64))"
	printf '%s\n' "$key" >"$BATS_TEST_TMPDIR/key"
	chmod 0600 "$BATS_TEST_TMPDIR/key"
	run -0 "$TS" up --login-server=https://hs.example.net \
	    --auth-key="file:$BATS_TEST_TMPDIR/key" --hostname=web-1 \
	    --accept-dns=false --reset --timeout=60s
	refute_output --partial "$key"
	run -0 cat "$TAILSCALE_STANDIN_DIR/authkey.seen"
	assert_output "$key"
	run -0 cat "$TAILSCALE_STANDIN_DIR/authkey.mode"
	assert_output 600
	run -0 tail -n 1 "$TAILSCALE_STANDIN_DIR/argv.log"
	assert_output "up --login-server=https://hs.example.net --auth-key=file:$BATS_TEST_TMPDIR/key --hostname=web-1 --accept-dns=false --reset --timeout=60s"
	run -0 "$TS" ip -4
	assert_output --regexp '^100\.64\.[0-9]+\.[0-9]+$'
	run -0 "$TS" status
	assert_output --partial "web-1"
	run -0 "$TS" down
	run -1 "$TS" ip -4
	run -1 "$TS" status
	run -0 "$TS" logout
	run -0 "$TS" status --json
	run -0 jq -e '.BackendState == "NeedsLogin"' <<<"$output"
}

@test "tailscale up: hostnames must be DNS labels" {
	local name
	for name in web- -web web_1 "web 1" "$(printf 'a%.0s' $(seq 64))"; do
		run -1 "$TS" up --auth-key=k --hostname="$name"
		assert_output --partial "hostname"
	done
	run -0 "$TS" up --authkey k --hostname "$(printf 'a%.0s' $(seq 63))"
}

@test "tailscale up: same server is a no-op, another needs --force-reauth" {
	run -0 "$TS" up --login-server=https://a.example.net --auth-key=k1
	run -0 "$TS" up --login-server=https://a.example.net --auth-key=k2
	run -1 "$TS" up --login-server=https://b.example.net --auth-key=k3
	assert_output "can't change --login-server without --force-reauth"
	run -0 "$TS" up --login-server=https://b.example.net --auth-key=k3 \
	    --force-reauth
	run -0 cat "$TAILSCALE_STANDIN_DIR/authkey.seen"
	assert_output k3
	run -0 "$TS" debug prefs
	run -0 jq -e '.ControlURL == "https://b.example.net" and
	    .WantRunning == true and .LoggedOut == false' <<<"$output"
}

@test "tailscale: fault fail and unknown flags" {
	mkdir -p "$TAILSCALE_STANDIN_DIR"
	run -1 "$TS" up --bogus
	assert_output "flag provided but not defined: -bogus"
	echo fail >"$TAILSCALE_STANDIN_DIR/fault"
	run -1 "$TS" up --auth-key=k
	run -1 "$TS" ip -4
}

@test "tailscale up against the headscale stand-in: keys are checked and used" {
	local once many
	export HEADSCALE_STANDIN_STATE="$SD"
	"$HS" users create alice >/dev/null
	once=$("$HS" preauthkeys create -u 1)
	many=$("$HS" preauthkeys create -u 1 --reusable)
	run -0 "$TS" up --login-server=http://127.0.0.1:9 --auth-key="$once" \
	    --hostname=web-1
	run -0 "$TS" ip -4
	assert_output 100.64.0.1
	run -0 "$HS" nodes list -o json
	run -0 jq -e 'length == 1 and .[0].name == "web-1" and
	    .[0].register_method == 1 and .[0].user.name == "alice" and
	    .[0].pre_auth_key.id == 1 and .[0].pre_auth_key.used == true and
	    (.[0].pre_auth_key.key | endswith("-***"))' <<<"$output"
	# A one-use key cannot enrol a second machine.
	TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/ts2" run -1 "$TS" up \
	    --login-server=http://127.0.0.1:9 --auth-key="$once"
	assert_output --partial "already used"
	refute_output --partial "$once"
	for dir in ts2 ts3; do
		TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/$dir" run -0 "$TS" up \
		    --login-server=http://127.0.0.1:9 --auth-key="$many" \
		    --hostname="$dir"
	done
	TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/ts3" run -0 "$TS" ip -4
	assert_output 100.64.0.3
	"$HS" preauthkeys expire -i 2 >/dev/null
	TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/ts4" run -1 "$TS" up \
	    --login-server=http://127.0.0.1:9 --auth-key="$many"
	assert_output --partial "expired"
	TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/ts4" run -1 "$TS" up \
	    --login-server=http://127.0.0.1:9 --auth-key=hskey-auth-unknown
	assert_output --partial "not found"
	run -0 "$HS" nodes list -o json
	run -0 jq -e 'length == 3' <<<"$output"
}

@test "tailscale stand-in is shellcheck-clean" {
	command -v "$SHELLCHECK" >/dev/null || skip "shellcheck not installed"
	run -0 "$SHELLCHECK" "$TS"
}
