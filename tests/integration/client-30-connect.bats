#!/usr/bin/env bats
#
# client-30-connect.bats: deploy-tailscale-connect, run at every boot of an
# installed machine, with keys minted by the headscale stand-in and the
# tailscale stand-in as tailscale. When the stand-ins share state, tailscale
# joins only with a key headscale issued and nobody has used, as the real
# control server would.
#
# The script runs in a clean environment whose PATH holds only sh and the
# tools its NixOS unit provides (coreutils, sed, jq, tailscale).

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helper

CONNECT_TOOLS=(sh head tr sed cut sha256sum stat id wc jq)

setup_file() {
	# Directories, token and headscale users only: no programs are needed.
	stack_init
	export CONNECT_BIN="$BATS_FILE_TMPDIR/bin"
	client_bin "$CONNECT_BIN" "${CONNECT_TOOLS[@]}"
}

setup() {
	export TAILSCALE_STANDIN_DIR="$BATS_TEST_TMPDIR/tailscaled"
	SECRETS="$BATS_TEST_TMPDIR/secrets"
	KEYFILE="$SECRETS/headscale-authkey"
	HOSTNAME_FILE="$BATS_TEST_TMPDIR/hostname"
	MACHINE_ID_FILE="$BATS_TEST_TMPDIR/machine-id"
	CONNECT_LOG="$BATS_TEST_TMPDIR/connect.log"
	mkdir -p "$SECRETS" "$TAILSCALE_STANDIN_DIR"
	chmod 0700 "$SECRETS"
	echo web-01 >"$HOSTNAME_FILE"
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$MACHINE_ID_FILE"
	echo >>"$MACHINE_ID_FILE"
	mint_key >"$KEYFILE"
	chmod 0600 "$KEYFILE"
}

# mint_key: a fresh one-use key from the headscale stand-in, on stdout.
mint_key() {
	local uid
	uid=$(HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" users list -o json |
	    jq -r '.[] | select(.name == "sovran-deploy") | .id')
	HEADSCALE_CONFIG="$STACK_HS_CONFIG" "$HS_STANDIN" preauthkeys create \
	    -u "$uid" -e 1h -o json | jq -r .key
}

# connect [VAR=value...]: runs deploy-tailscale-connect in a clean
# environment; its log (stderr) is $stderr and also $CONNECT_LOG.
connect() {
	run --separate-stderr env -i PATH="$CONNECT_BIN" \
	    SOVRAN_AUTHKEY_FILE="$KEYFILE" \
	    SOVRAN_HEADSCALE_SERVER="$HEADSCALE_TEST_URL" \
	    SOVRAN_CONFIG_DIR="$BATS_TEST_TMPDIR/etc-sovran" \
	    SOVRAN_HOSTNAME_FILE="$HOSTNAME_FILE" \
	    SOVRAN_MACHINE_ID_FILE="$MACHINE_ID_FILE" \
	    SOVRAN_UP_TIMEOUT=10 \
	    TAILSCALE_STANDIN_DIR="$TAILSCALE_STANDIN_DIR" \
	    HEADSCALE_STANDIN_STATE="$STACK_HS_STATE" \
	    "$@" "$TOP_SRCDIR/client/deploy-tailscale-connect"
	# shellcheck disable=SC2154 # set by run --separate-stderr
	printf '%s\n' "$stderr" >"$CONNECT_LOG"
}

# up_arg NAME: the value of --NAME= in the stand-in's last "up" call.
up_arg() {
	grep '^up ' "$TAILSCALE_STANDIN_DIR/argv.log" | tail -n 1 |
	    tr ' ' '\n' | sed -n "s/^--$1=//p"
}

up_count() {
	grep -c '^up ' "$TAILSCALE_STANDIN_DIR/argv.log" 2>/dev/null || true
}

refute_tailscale_run() {
	[[ ! -e $TAILSCALE_STANDIN_DIR/argv.log ]] || fail "tailscale was run"
}

@test "joins as sovran-<hostname> with the installer's key, by file" {
	local key
	key=$(cat "$KEYFILE")
	connect
	assert_success
	assert_equal "$(up_arg login-server)" "$HEADSCALE_TEST_URL"
	assert_equal "$(up_arg auth-key)" "file:$KEYFILE"
	assert_equal "$(up_arg hostname)" sovran-web-01
	assert_equal "$(up_arg accept-dns)" false
	assert_equal "$(cat "$TAILSCALE_STANDIN_DIR/authkey.seen")" "$key"
	assert_equal "$(cat "$TAILSCALE_STANDIN_DIR/authkey.mode")" 600
	# headscale took the key and knows the node by that name.
	# shellcheck disable=SC2016 # $n is jq's
	run -0 jq -e --arg n sovran-web-01 'any(.nodes[]; .name == $n)' \
	    "$STACK_HS_STATE/state.json"
	run -0 grep -c '^Tailscale IP: 100\.64\.' "$CONNECT_LOG"
	local f
	for f in "$TAILSCALE_STANDIN_DIR/argv.log" "$CONNECT_LOG"; do
		if grep -qF "$key" "$f"; then
			fail "$f holds the key"
		fi
	done
}

@test "already connected to the same server: nothing happens" {
	connect
	assert_success
	assert_equal "$(up_count)" 1
	# Every later boot: the key is spent, and must not be offered again.
	connect
	assert_success
	assert_equal "$stderr" "Already connected to $HEADSCALE_TEST_URL, nothing to do"
	assert_equal "$(up_count)" 1
	connect SOVRAN_HEADSCALE_SERVER="$HEADSCALE_TEST_URL/"
	assert_success
	assert_equal "$(up_count)" 1
}

@test "connected to another server: re-authenticates with the key" {
	# The stand-in's own record of a node running elsewhere.
	echo Running >"$TAILSCALE_STANDIN_DIR/state"
	echo https://old.example.test >"$TAILSCALE_STANDIN_DIR/login-server"
	echo 100.64.9.9 >"$TAILSCALE_STANDIN_DIR/ip"
	connect
	assert_success
	assert_equal "$(up_arg login-server)" "$HEADSCALE_TEST_URL"
	run -0 grep -c '^up .*--force-reauth' "$TAILSCALE_STANDIN_DIR/argv.log"
	assert_equal "$(cat "$TAILSCALE_STANDIN_DIR/login-server")" "$HEADSCALE_TEST_URL"
}

@test "a stopped node is brought up again" {
	connect
	assert_success
	echo Stopped >"$TAILSCALE_STANDIN_DIR/state"
	connect
	assert_success
	assert_equal "$(up_count)" 2
	assert_equal "$(cat "$TAILSCALE_STANDIN_DIR/state")" Running
}

# expect_name HOSTNAME NAME: from this kernel hostname, the node is NAME
# (and tailscale, which checks DNS labels, accepts it).
expect_name() {
	printf '%s\n' "$1" >"$HOSTNAME_FILE"
	rm -rf "$TAILSCALE_STANDIN_DIR"
	connect HEADSCALE_STANDIN_STATE=
	assert_success
	assert_equal "$(up_arg hostname)" "$2"
}

@test "hostnames become DNS labels" {
	local a56 x55
	a56=$(printf 'a%.0s' {1..56})
	x55=$(printf 'x%.0s' {1..55})
	expect_name WebServer sovran-webserver
	expect_name My_Host.example.com sovran-my-host-example-com
	expect_name web- sovran-web
	expect_name --a--b-- sovran-a-b
	expect_name 'héllo wörld' sovran-h-llo-w-rld
	expect_name "$(printf 'a%.0s' {1..80})" "sovran-$a56"
	# Cut at 63 right after a '-': the '-' goes too.
	expect_name "$x55-$(printf 'y%.0s' {1..24})" "sovran-$x55"
}

@test "a hostname that leaves nothing falls back to the machine id" {
	local name mid
	mid=$(cut -c 1-12 "$MACHINE_ID_FILE")
	for h in '' '!!!' '(none)' 'ÄÖÜ' '---'; do
		printf '%s\n' "$h" >"$HOSTNAME_FILE"
		rm -rf "$TAILSCALE_STANDIN_DIR"
		connect HEADSCALE_STANDIN_STATE=
		assert_success
		name=$(up_arg hostname)
		[[ $name =~ ^sovran-[0-9a-f]{12}$ ]] || fail "$h gave $name"
		# Derived from the machine id, not a copy of it: that stays private.
		[[ $name != "sovran-$mid" ]] || fail "the machine id is exposed"
	done
	# The same machine gets the same name every time.
	local first=$name
	rm -rf "$TAILSCALE_STANDIN_DIR"
	connect HEADSCALE_STANDIN_STATE=
	assert_equal "$(up_arg hostname)" "$first"
}

@test "no usable hostname and no machine id: sovran-host" {
	: >"$HOSTNAME_FILE"
	rm "$MACHINE_ID_FILE"
	connect HEADSCALE_STANDIN_STATE=
	assert_success
	assert_equal "$(up_arg hostname)" sovran-host
}

@test "a key file others can read or write is refused" {
	local mode
	for mode in 0644 0640 0604 0660 0602; do
		chmod "$mode" "$KEYFILE"
		connect
		assert_failure 1
		run -0 grep -c "has mode ${mode#0}; refusing" "$CONNECT_LOG"
		refute_tailscale_run
	done
	chmod 0400 "$KEYFILE"
	connect
	assert_success
}

@test "a key file owned by another user is refused" {
	[[ $(id -u) == 0 ]] || skip "needs root to give the file away"
	chown 65534 "$KEYFILE"
	connect
	assert_failure 1
	run -0 grep -c 'owned by uid 65534' "$CONNECT_LOG"
	refute_tailscale_run
}

@test "no key file, or an empty one: nothing to do, exit 0" {
	rm "$KEYFILE"
	connect
	assert_success
	assert_equal "$stderr" "Headscale auth key file not found: $KEYFILE, skipping tailnet enrollment"
	refute_tailscale_run
	: >"$KEYFILE"
	chmod 0600 "$KEYFILE"
	connect
	assert_success
	assert_equal "$stderr" "Auth key file $KEYFILE is empty, skipping tailnet enrollment"
	printf ' \n\n' >"$KEYFILE"
	connect
	assert_success
	refute_tailscale_run
}

@test "the server comes from the config file when not in the environment" {
	mkdir -p "$BATS_TEST_TMPDIR/etc-sovran"
	echo https://hs.config.test >"$BATS_TEST_TMPDIR/etc-sovran/headscale-server"
	connect SOVRAN_HEADSCALE_SERVER= HEADSCALE_STANDIN_STATE=
	assert_success
	assert_equal "$(up_arg login-server)" https://hs.config.test
}

@test "no server, or one that is not an http(s) URL: exit 1" {
	local url
	for url in '' ftp://hs.test 'https://hs.test/ x' 'hs.test'; do
		connect SOVRAN_HEADSCALE_SERVER="$url"
		assert_failure 1
		refute_tailscale_run
	done
}

@test "tailscale failing is exit 5" {
	echo fail >"$TAILSCALE_STANDIN_DIR/fault"
	connect
	assert_failure 5
	run -0 grep -c 'tailscale up failed' "$CONNECT_LOG"
}
